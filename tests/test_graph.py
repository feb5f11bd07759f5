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


def _held(t):
    """The node a Tensor handed to the user stands for: a result that a fold made an
    existing node is that node behind an identity of its own (costs nothing in a plan)."""
    if t.op == "identity":
        return t.node.inputs[0]
    return t.node


def test_one_and_zero_cotangents_fold_away():
    x, w = tr.placeholder((3, 4)), tr.parameter(np.ones((3, 4)))
    (gw,) = tr.grad((x * w).sum(), [w])
    assert _held(gw) is x.node  # seed 1 -> broadcast 1 -> 1 * x -> x: no computing nodes
    assert make_plan([gw.node]).steps[-1].node is x.node
    (gx, gw) = tr.grad((x * 3.0 + w).sum(), [x, w])
    assert _held(gw).op.name == "fill" and _held(gw).attrs["value"] == 1
    # the 3.0 is the user's: kept as written (a broadcast of their scalar), still no mul
    assert {n.op.name for n in toposort([gx.node])} <= {"identity", "broadcast_to", "fill"}
    np.testing.assert_array_equal(gx.numpy(), np.full((3, 4), 3.0))


def test_a_users_values_never_fold():
    """x * 0.0 is nan where x is nan or inf (IEEE, as PyTorch and JAX): only zeros and ones
    the engine made itself (symbolic zeros, the seed) fold."""
    x = tr.placeholder((3,))
    outs = [x * 0.0, 0.0 * x, x * tr.zeros(3), x + tr.zeros(3), x - 0.0, x / 1.0, x * 1.0]
    v = np.array([np.nan, np.inf, -0.0])
    f = tr.function([x], outs)
    with np.errstate(invalid="ignore"):
        want = [v * 0.0, 0.0 * v, v * 0.0, v + 0.0, v - 0.0, v / 1.0, v * 1.0]
    for got, w in zip(f(v) + f(v) + f(v), want * 3):
        np.testing.assert_array_equal(got, w)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(w))


def test_a_tensor_from_a_no_op_is_its_own_point():
    """r = q.reshape(q.shape) folds to q, but r is the user's own Tensor: the gradient with
    respect to r is what flows through r alone (PyTorch retain_grad: [6, 12], not [16, 22])."""
    p = tr.parameter(np.array([1.0, 2.0]))
    q = p * 3.0
    for make in (lambda q: q.reshape((2,)), lambda q: q * 1.0, lambda q: q + 0.0,
                 lambda q: q.astype(np.float64), lambda q: q.transpose(),
                 lambda q: tr.broadcast_to(q, (2,)), lambda q: tr.concat([q]), lambda q: -q.__neg__()):
        r = make(q)
        gr, gq = tr.grad(tr.sum(r * r) + tr.sum(q * 10.0), [r, q])
        np.testing.assert_allclose(gr.numpy(), [6.0, 12.0])
        np.testing.assert_allclose(gq.numpy(), [16.0, 22.0])


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


def test_folds_never_look_through_a_users_node():
    """-(-y), concat(concat(a, b), c) and a reshaped tr.zeros would fold to nodes that skip
    the inner value; when the user holds that value, the gradient with respect to it must
    still be what flows through it (as in PyTorch)."""
    x = tr.parameter(np.array([1.0, 2.0]))
    y = -x
    z = -y
    (gy,) = tr.grad(tr.sum(z * z), [y])
    np.testing.assert_allclose(gy.numpy(), [-2.0, -4.0])  # d/dy (y^2) = 2y, y = -x
    a = x * 2.0
    inner = tr.concat([a, x])
    outer = tr.concat([inner, x])
    (gi,) = tr.grad(tr.sum(outer * outer), [inner])
    np.testing.assert_allclose(gi.numpy(), [4.0, 8.0, 2.0, 4.0])
    zero = tr.zeros(2)
    (gz,) = tr.grad(tr.sum(zero.reshape((1, 2)) * x), [zero])
    np.testing.assert_allclose(gz.numpy(), [1.0, 2.0])


def test_default_initial_state_folds_but_a_users_zeros_do_not():
    """state0=None gives the library's own zeros: f * c_0 folds away at t = 0 (the tutorial
    says so). Zeros the user passes are values: f * c_0 is computed (nan * 0 stays nan)."""
    cell = tr.nn.LSTMCell(1, 2, seed=0)
    xs = np.ones((1, 1, 1))

    def muls(state0):
        _, (h, c) = tr.unroll(cell, xs, state0)
        return [n.op.name for n in toposort([c.node])].count("mul")
    assert muls(None) == 1  # i * g
    assert muls((tr.zeros((1, 2)), tr.zeros((1, 2)))) == 2  # f * c_0 + i * g


def test_gradient_nodes_point_at_the_users_line():
    """Nodes a derivative rule builds carry the line of the user's tr.grad call (never a
    frame of the library or of contextlib), so errors and pictures point there."""
    x = tr.placeholder((3,))
    (g,) = tr.grad(tr.sum(tr.tanh(x) * x), [x])  # this line
    line = [i for i, text in enumerate(open(__file__), 1) if "[x])  # this line" in text][0]
    sites = {n.site for n in toposort([g.node]) if n.op.name not in ("placeholder", "fill")}
    assert sites and all(s.startswith(__file__) for s in sites), sites
    assert f"{__file__}:{line}" in sites


def test_graph_never_imports_runtime():
    """Imports point down: the IR and its transformations (the loop planner included) know
    nothing of how plans run."""
    import ast
    import pathlib
    graph_dir = pathlib.Path(tr.__file__).parent / "graph"
    for path in graph_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "runtime" not in (node.module or ""), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any("runtime" in a.name for a in node.names), path.name
