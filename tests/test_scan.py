"""tr.scan: one node equal to the plain Python loop, in values and in derivatives of both
modes to second order; its size does not grow with T."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn.graph.traverse import toposort
from tinygrad_rnn.testing import check_grads


def rnn_step(W, U):
    def step(h, x):
        h = tr.tanh(x @ W + h @ U)
        return h, h
    return step


def loop(step, h, xs, reverse=False):
    ys = [None] * xs.shape[0]
    for t in (reversed(range(xs.shape[0])) if reverse else range(xs.shape[0])):
        h, ys[t] = step(h, xs[t])
    return h, tr.stack(ys)


@given(T=st.integers(1, 5), B=st.integers(1, 3), I=st.integers(1, 3), H=st.integers(1, 4),
       reverse=st.booleans(), seed=st.integers(0, 1000))
def test_scan_equals_the_python_loop_in_values_and_gradients(T, B, I, H, reverse, seed):
    rng = np.random.default_rng(seed)
    vals = [rng.standard_normal((T, B, I)), rng.standard_normal((B, H)),
            rng.standard_normal((I, H)), rng.standard_normal((H, H)) * 0.7]
    ph = [tr.placeholder(v.shape) for v in vals]
    xs, h0, W, U = ph
    outs = []
    for fn in (tr.scan, loop):
        h, ys = fn(rnn_step(W, U), h0, xs, reverse=reverse)
        loss = (ys * ys).sum() + h.sum()
        outs.append([loss] + tr.grad(loss, ph))
    for backend in ("numpy", "numba"):
        a = tr.function(ph, outs[0], backend)(*vals)
        b = tr.function(ph, outs[1], backend)(*vals)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_second_order_both_modes(reverse, rng):
    T, B, I, H = 3, 2, 2, 3

    def f(xs, h0, W, U):
        h, ys = tr.scan(rnn_step(W, U), h0, xs, reverse=reverse)
        return ys.sum(axis=0) * h

    vals = [rng.standard_normal((T, B, I)), rng.standard_normal((B, H)),
            rng.standard_normal((I, H)), rng.standard_normal((H, H))]
    check_grads(f, vals, order=2)


def test_tuple_carry_tuple_ys_and_no_xs(rng):
    """A two-part carry (an LSTM-like (h, c)), two stacked outputs, and length without xs."""
    a = tr.placeholder((2,))

    def step(carry, _):
        h, c = carry
        c = c * 0.5 + tr.sigmoid(h) * a
        h = tr.tanh(c)
        return (h, c), (h, c.sum())

    (h, c), (hs, csum) = tr.scan(step, (tr.zeros((2,)), tr.ones((2,))), None, length=4)
    assert hs.shape == (4, 2) and csum.shape == (4,)
    av = np.array([0.3, -0.2])
    hv, cv = np.zeros(2), np.ones(2)
    want = []
    for _ in range(4):
        cv = cv * 0.5 + 1 / (1 + np.exp(-hv)) * av
        hv = np.tanh(cv)
        want.append(cv.sum())
    got = tr.function([a], [h, c, csum])(av)
    np.testing.assert_allclose(got[0], hv, rtol=1e-14)
    np.testing.assert_allclose(got[2], want, rtol=1e-14)
    check_grads(lambda t: tr.scan(step_with(t), (tr.zeros((2,)), tr.ones((2,))), None,
                                  length=4)[1][1], [av], order=2)


def step_with(a):
    def step(carry, _):
        h, c = carry
        c = c * 0.5 + tr.sigmoid(h) * a
        h = tr.tanh(c)
        return (h, c), (h, c.sum())
    return step


def test_graph_size_does_not_depend_on_T():
    sizes = []
    for T in (10, 1000):
        xs, W, U = tr.placeholder((T, 2, 3)), tr.parameter(np.ones((3, 4))), tr.parameter(np.eye(4))
        h, ys = tr.scan(rnn_step(W, U), tr.zeros((2, 4)), xs)
        grads = tr.grad(ys.sum(), [W, U])
        sizes.append(len(toposort([g.node for g in grads])))
    assert sizes[0] == sizes[1]


def test_long_scan_runs(rng):
    T = 1000
    xs = rng.standard_normal((T, 1, 2)) * 0.1
    W, U = tr.parameter(rng.standard_normal((2, 3))), tr.parameter(np.eye(3) * 0.5)
    x = tr.placeholder(xs.shape)
    h, ys = tr.scan(rnn_step(W, U), tr.zeros((1, 3)), x)
    (gU,) = tr.grad(ys.sum(), [U])
    got = tr.function([x], [gU])(xs)[0]
    assert np.all(np.isfinite(got))


def test_scan_errors():
    W = tr.placeholder((3, 3))
    with pytest.raises(tr.GraphError, match="at least 1, got T=0"):
        tr.scan(rnn_step(W, W), tr.zeros((1, 3)), tr.placeholder((0, 1, 3)))
    with pytest.raises(tr.GraphError, match=r"carry 0 of shape \(1, 4\).*entering it is \(1, 3\)"):
        tr.scan(lambda h, x: (tr.concat([h, x[:, :1]], 1), h), tr.zeros((1, 3)),
                tr.placeholder((2, 1, 3)))
    with pytest.raises(tr.GraphError, match="step must return a pair"):
        tr.scan(lambda h, x: h, tr.zeros((1, 3)), tr.placeholder((2, 1, 3)))
    with pytest.raises(tr.GraphError, match=r"xs\[1\] has shape \(3, 1\)"):
        tr.scan(lambda h, x: (h, None), tr.zeros((1,)), (tr.placeholder((2, 1)), tr.placeholder((3, 1))))


@given(T=st.integers(1, 9), k=st.integers(1, 4), reverse=st.booleans(), seed=st.integers(0, 99))
def test_checkpointed_scan_equals_the_plain_one(T, k, reverse, seed):
    """Segments of k steps (a scan of scans, T not always a multiple of k): same values,
    same gradients to every input, first and second order."""
    rng = np.random.default_rng(seed)
    vals = [rng.standard_normal((T, 2, 3)), rng.standard_normal((2, 4)),
            rng.standard_normal((3, 4)), rng.standard_normal((4, 4)) * 0.7]
    ph = [tr.placeholder(v.shape) for v in vals]
    xs, h0, W, U = ph
    outs = []
    for kw in ({}, {"checkpoint": k}):
        h, ys = tr.scan(rnn_step(W, U), h0, xs, reverse=reverse, **kw)
        loss = (ys * ys).sum() + h.sum()
        g = tr.grad(loss, ph)
        outs.append([loss] + g + tr.grad(tr.dot(g[3], g[3]), [U]))
    for backend in ("numpy", "numba"):
        plain, segmented = (tr.function(ph, o, backend)(*vals) for o in outs)
        for a, b in zip(plain, segmented):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_checkpointing_keeps_the_state_of_each_segment_only(rng):
    """BPTT memory: a 256-step scan keeps 256 steps of residuals; with checkpoint=16 its
    gradient keeps the 16 segment-entry states and one segment's residuals at a time."""
    import tracemalloc

    T, B, H = 256, 16, 64
    xs, W = tr.placeholder((T, B, H)), tr.placeholder((H, H))
    x, w = rng.standard_normal((T, B, H)), rng.standard_normal((H, H)) / np.sqrt(H)
    peaks = {}
    for kw in ({}, {"checkpoint": 16}):
        _, ys = tr.scan(rnn_step(tr.tensor(np.eye(H)), W), tr.zeros((B, H)), xs, **kw)
        f = tr.function([xs, W], tr.grad((ys * ys).sum(), [W]), "numpy")
        f(x, w)
        tracemalloc.start()
        f(x, w)
        peaks[bool(kw)] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    step_bytes = B * H * 8
    assert peaks[False] > 3 * T * step_bytes  # states, residuals, the ys and their cotangent
    assert peaks[True] < peaks[False] / 2


def test_truncated_scan_matches_truncated_unroll(rng):
    cell = tr.nn.RNNCell(3, 4, seed=2)
    xs = rng.standard_normal((11, 2, 3))
    params = list(cell.parameters().values())
    results = []
    for build in ("scan", "unroll"):
        if build == "scan":
            _, ys = tr.scan(lambda s, x: cell(x, s)[::-1], cell.initial_state(2), tr.tensor(xs),
                            truncate=4)
        else:
            ys = tr.stack(tr.unroll(cell, xs, truncate=4)[0])
        loss = (ys * ys).sum()
        results.append(tr.function([], [loss] + tr.grad(loss, params))())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # cutting changes the gradient (else the test could not fail)
    _, ys = tr.scan(lambda s, x: cell(x, s)[::-1], cell.initial_state(2), tr.tensor(xs))
    loss = (ys * ys).sum()
    full = tr.function([], tr.grad(loss, params))()
    assert not np.allclose(full[1], results[0][2])


def test_segment_options_are_checked():
    h0, xs = tr.zeros((1, 2)), tr.zeros((4, 1, 2))
    step = lambda h, x: (h + x, h)  # noqa: E731
    for kw in ({"checkpoint": 0}, {"truncate": -1}, {"checkpoint": 2.0}, {"checkpoint": True}):
        with pytest.raises(tr.GraphError, match="positive int"):
            tr.scan(step, h0, xs, **kw)
    with pytest.raises(tr.GraphError, match="not both"):
        tr.scan(step, h0, xs, checkpoint=2, truncate=2)


def test_layers_take_checkpoint_and_truncate(rng):
    layer = tr.nn.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    xs = rng.standard_normal((7, 2, 3))
    params = list(layer.parameters().values())
    values = []
    for kw in ({}, {"checkpoint": 3}, {"truncate": 3}):
        out, _ = layer(xs, **kw)
        loss = (out * out).sum()
        values.append(tr.function([], [loss] + tr.grad(loss, params))())
    for a, b in zip(values[0], values[1]):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    assert values[2][0] == pytest.approx(values[0][0], rel=1e-12)  # same forward
    assert not np.allclose(values[2][2], values[0][2])  # a cut gradient
