"""Scans compiled into Numba loops (forced here; elsewhere a loop compiles on its second
run): values and gradients equal the numpy reference backend for every layer and cell
kind, both directions, second order, hoisting and accumulator removal included."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.graph.plan import make_plan
from tinygrad_rnn.graph.traverse import toposort
from tinygrad_rnn.runtime import scan_runner as scan_module
from tinygrad_rnn.runtime.codegen import scan_source


@pytest.fixture(autouse=True)
def compile_at_once(monkeypatch):
    monkeypatch.setattr(scan_module, "COMPILE_AFTER", 1)


def both(inputs, outputs, values):
    ref = tr.function(inputs, outputs, "numpy")(*values)
    got = tr.function(inputs, outputs, "numba")(*values)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-12)
    return got


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layers_forward_and_backward(mode, bidirectional, rng):
    layer = getattr(tr.nn, mode)(3, 4, num_layers=2, bidirectional=bidirectional, seed=0)
    xs = tr.placeholder((6, 2, 3))
    out, state = layer(xs)
    h_n = state[0] if mode == "LSTM" else state
    loss = (out * out).sum() + (h_n * h_n).sum()
    both([xs], [out, loss] + tr.grad(loss, list(layer.parameters().values()) + [xs]),
         [rng.standard_normal((6, 2, 3))])


@pytest.mark.parametrize("name", ["lstm_peephole", "gru_cho", "scrn", "wz"])
def test_cells_with_sizes_that_change(name, rng):
    """One compiled loop serves other sizes of the same structure (sizes are run-time)."""
    make = {"lstm_peephole": lambda I, H: tr.nn.LSTMCell(I, H, peephole=True, seed=0),
            "gru_cho": lambda I, H: tr.nn.GRUCell(I, H, reset_after=False, seed=0),
            "scrn": lambda I, H: tr.nn.SCRNCell(I, H, context_size=2, seed=0),
            "wz": lambda I, H: tr.nn.WilliamsZipserNet(H, I, seed=0)}[name]
    for T, B, I, H in ((5, 2, 3, 4), (7, 1, 2, 6)):
        cell = make(I, H)
        xs = tr.placeholder((T, B, I))
        final, ys = tr.scan(lambda s, x: cell(x, s)[::-1], cell.initial_state(B), xs)
        loss = (ys * ys).sum() + sum((f * f).sum() for f in final)
        both([xs], [ys, loss] + tr.grad(loss, list(cell.parameters().values()) + [xs]),
             [rng.standard_normal((T, B, I))])


def test_second_order_and_forward_mode_through_compiled_loops(rng):
    W = tr.placeholder((3, 3))
    xs = tr.placeholder((4, 2, 3))
    h, ys = tr.scan(lambda h, x: (tr.tanh(x + h @ W), h), tr.zeros((2, 3)), xs)
    loss = (ys * ys).sum() + (h * h).sum()
    (g,) = tr.grad(loss, [W])
    v = rng.standard_normal((3, 3))
    (hv,) = tr.grad(tr.dot(g, v), [W])
    (jv,) = tr.jvp([g], [W], [v])
    both([W, xs], [g, hv, jv], [rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((4, 2, 3))])


def test_hoisting_and_accumulators_happen():
    """The BPTT scan of an LSTM layer reads the gate activations the forward scan stored
    (nothing recomputed), and the weight gradients are one matmul after the loop."""
    layer = tr.nn.LSTM(3, 4, seed=0)
    xs = tr.placeholder((5, 2, 3))
    out = layer(xs)[0]
    grads = tr.grad((out * out).sum(), list(layer.parameters().values()))
    backward = [n for n in toposort([g.node for g in grads]) if n.op.name == "scan"][-1]
    source, _, _ = scan_source(backward.attrs["body"], backward.attrs["reverse"], 5)
    body, loop = source.split("def loop(")
    assert body.count("np.dot") <= 3  # in the loop: the recurrent products only
    prologue, rest = loop.split("for step in range(length):")
    assert prologue.count("np.dot") == 0 and "math.exp" not in prologue  # no recomputation
    epilogue = rest.split("out = body(")[1]
    assert epilogue.count("np.dot") == 2  # g_W_ih and g_W_hh as one matmul each


def test_the_forward_runs_once_and_stores_what_the_backward_reads():
    """Residuals: the forward scan extended with the LSTM's 5 activations (i, f, g, o,
    tanh c) replaces the plain one, so one forward scan runs, and the gradient still matches
    the unrolled graph's."""
    layer = tr.nn.LSTM(3, 4, seed=0)
    xs = tr.placeholder((5, 2, 3))
    out = layer(xs)[0]
    loss = (out * out).sum()
    grads = tr.grad(loss, list(layer.parameters().values()))
    plan = make_plan([loss.node] + [g.node for g in grads])
    forward = [s.node for s in plan.steps if s.node.op.name == "scan" and not s.node.attrs["reverse"]]
    assert len(forward) == 1
    body = forward[0].attrs["body"]
    assert len(body.ys) - len(body.extends.ys) == 5
    params = list(layer.parameters().values())
    ys, _ = tr.unroll(layer.cells[0][0], xs)
    unrolled = sum((y * y).sum() for y in ys)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    values = tr.function([xs], [loss] + grads)(x)
    ref = tr.function([xs], [unrolled] + tr.grad(unrolled, params), "numpy")(x)
    for a, b in zip(values, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_loops_compile_on_their_second_run(monkeypatch, rng):
    monkeypatch.setattr(scan_module, "COMPILE_AFTER", 2)
    cell = tr.nn.GRUCell(2, 3, seed=4)
    xs = tr.placeholder((3, 1, 2))
    _, ys = tr.scan(lambda s, x: cell(x, s)[::-1], cell.initial_state(1), xs)
    body = [n for n in toposort([ys.node]) if n.op.name == "scan"][0].attrs["body"]
    f = tr.function([xs], [ys])
    x = rng.standard_normal((3, 1, 2))
    first = f(x)[0]
    assert not any(k[0] == "compiled" and v for k, v in body._functions.items())
    second = f(x)[0]
    assert any(k[0] == "compiled" and v for k, v in body._functions.items())
    np.testing.assert_allclose(second, first, rtol=1e-12)


@pytest.mark.parametrize("options", [dict(forget_gate=False), dict(coupled=True),
                                     dict(peephole=True), dict(peephole=True, forget_gate=False)])
def test_every_lstm_variant_compiles_its_loops(options, monkeypatch, rng):
    """No body falls back to the Python loop: c' = c + i g (the 1997 cell, no forget gate)
    looks like an accumulator but h reads c' in the same step, so it stays in the loop."""
    import tinygrad_rnn.runtime.codegen as codegen

    refused = []
    original = codegen.compile_scan

    def recording(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except codegen.Unsupported as e:
            refused.append(str(e))
            raise

    monkeypatch.setattr(codegen, "compile_scan", recording)
    layer = tr.nn.LSTM(3, 4, seed=0, **options)
    xs = tr.placeholder((6, 2, 3))
    out, (h_n, c_n) = layer(xs)
    loss = (out * out).sum() + (c_n * c_n).sum()
    both([xs], [out, loss] + tr.grad(loss, list(layer.parameters().values()) + [xs]),
         [rng.standard_normal((6, 2, 3))])
    assert refused == []


def test_a_carry_that_views_a_steps_temporary_is_not_overwritten(rng):
    """The new carry is a view of a step's temporary (the product c M, reshaped) and the
    next step's product reads it while writing its own result: a step's temporaries must
    not be reused across steps unless no output views them (a reuse tried and measured
    slower, which would have broken this)."""
    M = tr.tensor(rng.standard_normal((3, 3)) * 0.5)
    xs = tr.placeholder((7, 6))
    c0 = tr.placeholder((6,))

    def step(c, x):
        new = (c.reshape((2, 3)) @ M).reshape((6,))
        return new, new * 2.0 + x
    c_n, ys = tr.scan(step, c0, xs)
    values = [rng.standard_normal(6), rng.standard_normal((7, 6))]
    ref = tr.function([c0, xs], [c_n, ys], "numpy")(*values)
    f = tr.function([c0, xs], [c_n, ys], "numba")
    for call in range(3):  # uncompiled, compiling, compiled
        for r, g in zip(ref, f(*values)):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, err_msg=f"call {call + 1}")
