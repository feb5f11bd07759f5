"""The IR itself: immutability, folding of zero/one cotangents, CSE, creation sites."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.graph.plan import make_plan
from tinygrad_rnn.graph.traverse import toposort


def test_nodes_are_immutable():
    x = tr.placeholder((2,))
    with pytest.raises(AttributeError, match="immutable"):
        x.node.shape = (3,)


def test_one_and_zero_cotangents_fold_away():
    x, w = tr.placeholder((3, 4)), tr.parameter(np.ones((3, 4)))
    (gw,) = tr.grad((x * w).sum(), [w])
    assert gw.node is x.node  # seed 1 -> broadcast 1 -> 1 * x -> x: no nodes at all
    (gx, gw) = tr.grad((x * 3.0 + w).sum(), [x, w])
    assert gw.op == "fill" and gw.node.attrs["value"] == 1
    assert gx.op == "fill" and gx.node.attrs["value"] == 3.0


def test_gradient_graph_of_a_matmul_chain_has_no_dead_weight():
    x, W = tr.placeholder((2, 3)), tr.parameter(np.ones((3, 3)))
    (gW,) = tr.grad(tr.tanh(x @ W).sum(), [W])
    ops = sorted(n.op.name for n in toposort([gW.node]) if not n.op.leaf)
    # transpose(x) @ (1 - tanh^2): the forward matmul and tanh, then mul, sub, transpose, matmul
    assert ops == ["matmul", "matmul", "mul", "sub", "tanh", "transpose"]


def test_common_subexpressions_run_once():
    x = tr.placeholder((2,))
    a, b = tr.exp(x) * 2, tr.exp(x) * 2
    plan = make_plan([(a + b).node])
    assert [s.node.op.name for s in plan.steps].count("exp") == 1
    np.testing.assert_allclose(tr.function([x], [a + b])(np.zeros(2))[0], [4.0, 4.0])


def test_creation_site_is_the_users_line():
    x = tr.placeholder((2,))
    y = x * 2
    assert y.node.site.startswith(__file__ + ":")
    assert x.node.site != y.node.site


def test_gate_cotangents_join_into_one_concat():
    """The four gates read blocks of one pre-activation; their cotangents, scattered into zeros
    and added, fold into a single concat (no zero arrays, no adds)."""
    cell = tr.nn.LSTMCell(3, 4)
    x, h, c = tr.placeholder((2, 3)), tr.placeholder((2, 4)), tr.placeholder((2, 4))
    _, (h2, c2) = cell(x, (h, c))
    (g,) = tr.grad((h2 * c2).sum(), [cell.weight_hh])
    ops = [n.op.name for n in toposort([g.node])]
    assert ops.count("unslice") == 0 and ops.count("concat") == 1
