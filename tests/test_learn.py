"""BPTT (full, truncated, online) and RTRL agree with each other and with independent
constructions, for every cell; scan and unroll agree for every cell; bad input is caught."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.graph.traverse import toposort

I, H = 3, 4
CELLS = {
    "rnn_tanh": lambda: tr.nn.RNNCell(I, H, seed=1),
    "rnn_relu": lambda: tr.nn.RNNCell(I, H, nonlinearity="relu", seed=2),
    "irnn": lambda: tr.nn.RNNCell(I, H, nonlinearity="relu", init="identity", seed=3),
    "lstm": lambda: tr.nn.LSTMCell(I, H, seed=4),
    "lstm_1997": lambda: tr.nn.LSTMCell(I, H, forget_gate=False, seed=5),
    "lstm_peephole": lambda: tr.nn.LSTMCell(I, H, peephole=True, seed=6),
    "lstm_coupled": lambda: tr.nn.LSTMCell(I, H, coupled=True, peephole=True, seed=7),
    "lstm_forget_bias": lambda: tr.nn.LSTMCell(I, H, forget_bias=1.0, seed=8),
    "gru": lambda: tr.nn.GRUCell(I, H, seed=9),
    "gru_cho": lambda: tr.nn.GRUCell(I, H, reset_after=False, seed=10),
    "scrn": lambda: tr.nn.SCRNCell(I, H, context_size=2, seed=11),
    "williams_zipser": lambda: tr.nn.WilliamsZipserNet(H, I, seed=12),
}


def problem(cell, T=20, B=2, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((T, B, I))
    targets = rng.standard_normal((T, B, cell.output_size))
    state0 = tuple(rng.standard_normal((B, n)) * 0.5 for n in cell.state_sizes)

    def loss_fn(t, y):
        return tr.mse(y, targets[t]) if t % 3 != 1 else None
    return xs, state0, loss_fn


@pytest.mark.parametrize("name", sorted(CELLS))
def test_rtrl_equals_full_bptt(name):
    cell = CELLS[name]()
    xs, state0, loss_fn = problem(cell)
    loss_b, g_b = tr.learn.bptt(cell, xs, state0, loss_fn)
    loss_r, g_r = tr.learn.rtrl(cell, xs, state0, loss_fn)
    assert set(g_b) == set(g_r) == set(cell.parameters())
    np.testing.assert_allclose(loss_r, loss_b, rtol=1e-12)
    for k in g_b:
        np.testing.assert_allclose(g_r[k], g_b[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_scan_and_unroll_agree(name):
    cell = CELLS[name]()
    xs, state0, _ = problem(cell, T=6)
    x = tr.placeholder(xs.shape)
    s0 = tuple(tr.tensor(s) for s in state0)
    ys_u, final_u = tr.unroll(cell, x, s0)
    final_s, ys_s = tr.scan(lambda s, x_t: cell(x_t, s)[::-1], s0, x)
    params = list(cell.parameters().values())
    outs = []
    for ys, final in ((tr.stack(ys_u), final_u), (ys_s, final_s)):
        loss = (ys * ys).sum() + sum((f * f).sum() for f in final)
        outs.append([ys, *final] + tr.grad(loss, params + [x]))
    a, b = (tr.function([x], o)(xs) for o in outs)
    for u, s in zip(a, b):
        np.testing.assert_allclose(s, u, rtol=1e-12, atol=1e-13)


def test_williams_zipser_textbook_rtrl_equals_generic_rtrl():
    net = tr.nn.WilliamsZipserNet(4, 2, seed=0)
    rng = np.random.default_rng(1)
    T, B = 20, 3
    xs, targets = rng.standard_normal((T, B, 2)), rng.random((T, B, 4))
    mask = rng.random((T, B, 4)) < 0.5
    loss_fn = tr.nn.wz_loss_fn(targets, mask)
    textbook = tr.learn.williams_zipser_rtrl(net, xs, targets, mask)
    generic = tr.learn.rtrl(net, xs, None, loss_fn)
    np.testing.assert_allclose(generic[0], textbook[0], rtol=1e-12)
    np.testing.assert_allclose(generic[1]["W"], textbook[1]["W"], rtol=1e-10, atol=1e-13)


def forward_states(cell, xs, state0):
    states, s = [state0], tuple(tr.tensor(v) for v in state0)
    for t in range(xs.shape[0]):
        _, s = cell(tr.tensor(xs[t]), s)
        states.append(tuple(v.numpy() for v in s))
    return states


@pytest.mark.parametrize("k", [1, 3, 7])
def test_truncated_bptt_is_the_sum_of_independent_chunks(k):
    """Detaching every k steps == BPTT on each chunk from its (constant) entry state."""
    cell = tr.nn.LSTMCell(I, H, seed=0)
    xs, state0, loss_fn = problem(cell, T=10)
    loss, g = tr.learn.bptt(cell, xs, state0, loss_fn, truncate=k)
    states = forward_states(cell, xs, state0)
    total, acc = 0.0, {n: 0.0 for n in g}
    for start in range(0, 10, k):
        part, gp = tr.learn.bptt(cell, xs[start:start + k], states[start],
                                 lambda t, y, s=start: loss_fn(t + s, y))
        total += part
        for n in acc:
            acc[n] = acc[n] + gp[n]
    np.testing.assert_allclose(loss, total, rtol=1e-12)
    for n in g:
        np.testing.assert_allclose(g[n], acc[n], rtol=1e-10, atol=1e-13)
    full = tr.learn.bptt(cell, xs, state0, loss_fn)[1]
    if k < 10:
        assert not np.allclose(full["weight_hh"], g["weight_hh"])


def test_online_bptt_schedules():
    cell = tr.nn.GRUCell(I, H, seed=0)
    xs, state0, loss_fn = problem(cell, T=12)
    # h = h' = T: one update, epoch-wise BPTT
    ((t, loss, g),) = tr.learn.online_bptt(cell, xs, state0, loss_fn, h=12)
    full = tr.learn.bptt(cell, xs, state0, loss_fn)
    assert t == 12 and np.isclose(loss, full[0])
    for n in g:
        np.testing.assert_allclose(g[n], full[1][n], rtol=1e-10)
    # h = h' = 4 without updates: the windows are the chunks of truncated BPTT(4)
    updates = tr.learn.online_bptt(cell, xs, state0, loss_fn, h=4, h_prime=4)
    assert [u[0] for u in updates] == [4, 8, 12]
    trunc = tr.learn.bptt(cell, xs, state0, loss_fn, truncate=4)
    for n in trunc[1]:
        np.testing.assert_allclose(sum(u[2][n] for u in updates), trunc[1][n], rtol=1e-10)
    # BPTT(6; 2) with an optimizer: six updates, and training lowers the loss
    before = tr.learn.bptt(cell, xs, state0, loss_fn)[0]
    opt = tr.optim.SGD(cell.parameters(), lr=0.05)
    for _ in range(5):
        updates = tr.learn.online_bptt(cell, xs, state0, loss_fn, h=6, h_prime=2, optimizer=opt)
    assert len(updates) == 6
    assert tr.learn.bptt(cell, xs, state0, loss_fn)[0] < before


def test_bad_input_is_caught():
    cell = tr.nn.LSTMCell(I, H)
    xs = np.zeros((5, 2, I))

    def lf(t, y):
        return y.sum()
    with pytest.raises(tr.GraphError, match=r"expected xs of shape \(T, B, 3\) with T >= 1, got \(5, 2, 4\)"):
        tr.learn.bptt(cell, np.zeros((5, 2, 4)), None, lf)
    with pytest.raises(tr.GraphError, match=r"got \(0, 2, 3\)"):
        tr.learn.rtrl(cell, np.zeros((0, 2, I)), None, lf)
    with pytest.raises(tr.GraphError, match=r"state0 c must have shape \(2, 4\), got \(2, 5\)"):
        tr.learn.bptt(cell, xs, (np.zeros((2, 4)), np.zeros((2, 5))), lf)
    with pytest.raises(tr.GraphError, match="state0 has 1 parts, the cell's state has 2"):
        tr.learn.rtrl(cell, xs, (np.zeros((2, 4)),), lf)
    for k in (0, -2, 1.5):
        with pytest.raises(tr.GraphError, match="truncate must be None or a positive int"):
            tr.learn.bptt(cell, xs, None, lf, truncate=k)
    with pytest.raises(tr.GraphError, match="must return a scalar Tensor or None"):
        tr.learn.bptt(cell, xs, None, lambda t, y: y)
    with pytest.raises(tr.GraphError, match=r"LSTMCell: expected input of shape \(batch, 3\), got \(2, 4\)"):
        cell(tr.zeros((2, 4)), cell.initial_state(2))
    with pytest.raises(tr.GraphError, match=r"needs h >= h'"):
        tr.learn.online_bptt(cell, xs, None, lf, h=2, h_prime=3)


def test_unroll_builds_in_linear_time_and_scan_in_constant_size():
    cell = tr.nn.LSTMCell(2, 3)
    sizes = []
    for T in (100, 200, 400):
        ys, _ = tr.unroll(cell, tr.placeholder((T, 1, 2)))
        sizes.append(len(toposort([y.node for y in ys])))
    assert sizes[1] / sizes[0] < 2.05 and sizes[2] / sizes[1] < 2.05
