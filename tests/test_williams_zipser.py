"""The Williams & Zipser fully recurrent network: the cell, its loss, and the textbook
gradients (RTRL, BPTT by hand) against each other, against our engine and against finite
differences."""
import importlib
import importlib.util
import os

import numpy as np
import pytest

import tinygrad_rnn as tr

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(module, relpath):
    try:
        return importlib.import_module(module)
    except ImportError:  # package __init__ not there yet: load the file itself
        spec = importlib.util.spec_from_file_location(module, os.path.join(_ROOT, relpath))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


wz = _load("tinygrad_rnn.nn.williams_zipser", "tinygrad_rnn/nn/williams_zipser.py")
tb = _load("tinygrad_rnn.learn.textbook_rtrl", "tinygrad_rnn/learn/textbook_rtrl.py")
WilliamsZipserNet, wz_loss_fn = wz.WilliamsZipserNet, wz.wz_loss_fn

T, N, M, B = 20, 4, 2, 3


def _sigmoid(s):
    return 1.0 / (1.0 + np.exp(-s))


def _np_forward(W, xs, y0, bias=True):
    """Reference: y(t+1) = sigmoid(W concat(x_net(t), [1], y(t))), rows of the batch."""
    ys, y = [], y0
    for x_net in xs:
        ones = [np.ones((x_net.shape[0], 1))] if bias else []
        y = _sigmoid(np.concatenate([x_net] + ones + [y], axis=1) @ W.T)
        ys.append(y)
    return np.stack(ys)


@pytest.fixture
def problem():
    rng = np.random.default_rng(7)
    net = WilliamsZipserNet(N, M, seed=3, init_scale=1.0)
    xs = rng.standard_normal((T, B, M))
    targets = rng.uniform(0.0, 1.0, (T, B, N))
    mask = rng.random((T, B, N)) < 0.4
    mask[5] = False                        # a step with no target at all
    targets[~mask] = np.nan                # ignored where not in T(t)
    y0 = rng.uniform(0.0, 1.0, (B, N))
    return net, xs, targets, mask, y0


def _engine(net, xs, targets, mask, y0, backend="numba"):
    """Hand-unrolled graph: sum of wz_loss_fn over T steps, tr.grad w.r.t. W."""
    xs_ph = tr.placeholder(xs.shape, name="xs")
    y0_ph = tr.placeholder(y0.shape, name="y0")
    loss_fn = wz_loss_fn(targets, mask)
    state, total = (y0_ph,), None
    for t in range(xs.shape[0]):
        y_t, state = net(xs_ph[t], state)
        loss = loss_fn(t, y_t)
        if loss is not None:
            total = loss if total is None else total + loss
    (gW,) = tr.grad(total, [net.W])
    loss_val, g = tr.function([xs_ph, y0_ph], [total, gW], backend=backend)(xs, y0)
    return float(loss_val), g


# ---- the cell ---------------------------------------------------------------------------

def test_layout_and_protocol():
    net = WilliamsZipserNet(4, 2, seed=0)
    assert net.W.shape == (4, 2 + 1 + 4) and net.W.dtype == np.float64
    assert net.I == (0, 1, 2) and net.U == (3, 4, 5, 6)
    assert (net.input_size, net.hidden_size) == (2, 4)
    assert set(net.parameters()) == {"W"} and net.parameters()["W"] is net.W
    nb = WilliamsZipserNet(4, 2, bias=False, seed=0)
    assert nb.W.shape == (4, 6) and nb.I == (0, 1) and nb.U == (2, 3, 4, 5)
    (y0,) = net.initial_state(5)
    assert y0.shape == (5, 4) and np.all(y0.numpy() == 0)
    assert np.abs(net.W.value).max() <= 1 / np.sqrt(7)
    np.testing.assert_array_equal(WilliamsZipserNet(4, 2, seed=0).W.value, net.W.value)


def test_state_dict_roundtrip_and_errors():
    a, b = WilliamsZipserNet(3, 2, seed=0), WilliamsZipserNet(3, 2, seed=1)
    sd = a.state_dict()
    sd["W"][0, 0] = 99.0                   # a copy: the net is unchanged
    assert a.W.value[0, 0] != 99.0
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.W.value, b.W.value)
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({})
    with pytest.raises(ValueError, match="unexpected"):
        b.load_state_dict({"W": a.W.value, "b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"W has shape \(3, 5\), expected \(3, 6\)"):
        b.load_state_dict({"W": np.zeros((3, 5))})


@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_numpy(bias):
    rng = np.random.default_rng(1)
    net = WilliamsZipserNet(N, M, bias=bias, seed=2, init_scale=1.5)
    xs, y0 = rng.standard_normal((6, B, M)), rng.uniform(size=(B, N))
    xs_ph = tr.placeholder(xs.shape)
    state, outs = (tr.tensor(y0),), []
    for t in range(xs.shape[0]):
        y_t, state = net(xs_ph[t], state)
        assert state[0] is y_t and y_t.shape == (B, N)
        outs.append(y_t)
    got = tr.function([xs_ph], [tr.stack(outs)], backend="numpy")(xs)[0]
    np.testing.assert_allclose(got, _np_forward(net.W.value, xs, y0, bias), rtol=1e-13)
    # s(t) is W x(t) with x(t) = concat(x_net(t), [1], y(t))
    s = net.net_input(tr.tensor(xs[0]), (tr.tensor(y0),)).numpy("numpy")
    x0 = np.concatenate([xs[0]] + ([np.ones((B, 1))] if bias else []) + [y0], axis=1)
    np.testing.assert_allclose(s, x0 @ net.W.value.T, rtol=1e-13)
    np.testing.assert_allclose(s, x0[:, list(net.I)] @ net.W.value[:, list(net.I)].T
                               + x0[:, list(net.U)] @ net.W.value[:, list(net.U)].T, rtol=1e-12)


def test_bad_inputs():
    net = WilliamsZipserNet(N, M, seed=0)
    (y,) = net.initial_state(B)
    with pytest.raises(tr.GraphError, match=r"expected input of shape \(batch, 2\), got \(3, 5\)"):
        net(tr.zeros((B, 5)), (y,))
    with pytest.raises(tr.GraphError, match=r"expected input of shape \(batch, 2\), got \(2,\)"):
        net(tr.zeros((2,)), (y,))
    with pytest.raises(tr.GraphError, match=r"state y must be \(3, 4\) float64, got \(3, 5\)"):
        net(tr.zeros((B, M)), (tr.zeros((B, 5)),))
    with pytest.raises(tr.GraphError, match=r"state y must be \(2, 4\) float64, got \(3, 4\)"):
        net(tr.zeros((2, M)), (y,))
    with pytest.raises(tr.GraphError, match="tuple"):
        net(tr.zeros((B, M)), (y, y))
    with pytest.raises(tr.GraphError, match="tuple"):
        net(tr.zeros((B, M)), y)
    with pytest.raises(tr.GraphError, match="dtype"):
        net(tr.zeros((B, M), np.float32), (y,))
    with pytest.raises(ValueError):
        WilliamsZipserNet(0, 2)
    with pytest.raises(ValueError):
        WilliamsZipserNet(2, -1)
    loss_fn = wz_loss_fn(np.zeros((T, B, N)), np.ones((T, B, N), bool))
    with pytest.raises(tr.GraphError, match=r"expected shape \(3, 4\)"):
        loss_fn(0, tr.zeros((B, 5)))
    with pytest.raises(ValueError, match="bool"):
        wz_loss_fn(np.zeros((T, B, N)), np.ones((T, B, N)))
    with pytest.raises(ValueError, match="shape"):
        wz_loss_fn(np.zeros((T, B, N)), np.ones((T, B, 2), bool))
    with pytest.raises(ValueError, match=r"xs .*expected shape \(T, B, 2\)"):
        tb.williams_zipser_rtrl(net, np.zeros((T, B, 3)), np.zeros((T, B, N)), None)
    with pytest.raises(ValueError, match="targets"):
        tb.williams_zipser_bptt_numpy(net, np.zeros((T, B, M)), np.zeros((T, B, 1)), None)


def test_loss_fn_values():
    rng = np.random.default_rng(0)
    d, y = rng.uniform(size=(2, B, N)), rng.uniform(size=(B, N))
    mask = np.zeros((2, B, N), bool)
    mask[1, 0, 2] = mask[1, 2, 0] = True
    loss_fn = wz_loss_fn(d, mask)
    assert loss_fn(0, tr.tensor(y)) is None           # T(t) empty: no term
    got = loss_fn(1, tr.tensor(y)).numpy("numpy")
    want = 0.5 * ((d[1, 0, 2] - y[0, 2]) ** 2 + (d[1, 2, 0] - y[2, 0]) ** 2)
    assert got == pytest.approx(want, rel=1e-14)


# ---- gradients --------------------------------------------------------------------------

def test_rtrl_equals_bptt(problem):
    net, xs, targets, mask, y0 = problem
    loss_r, g_r = tb.williams_zipser_rtrl(net, xs, targets, mask, y0)
    loss_b, g_b = tb.williams_zipser_bptt_numpy(net, xs, targets, mask, y0)
    assert set(g_r) == set(g_b) == {"W"} and g_r["W"].shape == net.W.shape
    assert np.isfinite(loss_r) and loss_r > 0 and np.all(np.isfinite(g_r["W"]))
    assert loss_r == pytest.approx(loss_b, rel=1e-12)
    np.testing.assert_allclose(g_r["W"], g_b["W"], rtol=1e-10, atol=1e-14)
    assert np.abs(g_r["W"]).max() > 1e-3   # not trivially zero


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_engine_equals_textbook(problem, backend):
    net, xs, targets, mask, y0 = problem
    loss_e, g_e = _engine(net, xs, targets, mask, y0, backend)
    loss_r, g_r = tb.williams_zipser_rtrl(net, xs, targets, mask, y0)
    loss_b, g_b = tb.williams_zipser_bptt_numpy(net, xs, targets, mask, y0)
    assert loss_e == pytest.approx(loss_r, rel=1e-12)
    np.testing.assert_allclose(g_e, g_r["W"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_e, g_b["W"], rtol=1e-10, atol=1e-14)


def test_no_bias_and_default_y0():
    rng = np.random.default_rng(11)
    net = WilliamsZipserNet(3, 2, bias=False, seed=5, init_scale=1.0)
    xs, targets = rng.standard_normal((7, 2, 2)), rng.uniform(size=(7, 2, 3))
    mask = rng.random((7, 2, 3)) < 0.6
    loss_r, g_r = tb.williams_zipser_rtrl(net, xs, targets, mask)
    loss_b, g_b = tb.williams_zipser_bptt_numpy(net, xs, targets, mask)
    loss_e, g_e = _engine(net, xs, targets, mask, np.zeros((2, 3)), "numpy")
    assert loss_r == pytest.approx(loss_b, rel=1e-12) == loss_e
    np.testing.assert_allclose(g_r["W"], g_b["W"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_e, g_r["W"], rtol=1e-10, atol=1e-14)


def test_finite_differences(problem):
    net, xs, targets, mask, y0 = problem
    _, g = tb.williams_zipser_rtrl(net, xs, targets, mask, y0)
    W, eps = net.W.value.copy(), 1e-6
    try:
        # a recurrent weight (j in U), an external-input weight (j in I), a bias
        for i, j in [(1, net.U[2]), (3, net.I[0]), (0, net.I[-1])]:
            losses = []
            for sign in (1, -1):
                bumped = W.copy()
                bumped[i, j] += sign * eps
                net.W.assign(bumped)
                losses.append(tb.williams_zipser_bptt_numpy(net, xs, targets, mask, y0)[0])
            fd = (losses[0] - losses[1]) / (2 * eps)
            assert g["W"][i, j] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    finally:
        net.W.assign(W)


def test_gradient_ascent_on_J_reduces_loss(problem):
    """dW = eta dJ/dW = -eta grads['W'] lowers the total loss for a small eta."""
    net, xs, targets, mask, y0 = problem
    loss0, g = tb.williams_zipser_rtrl(net, xs, targets, mask, y0)
    W = net.W.value.copy()
    try:
        net.W.assign(W - 1e-2 * g["W"])
        loss1, _ = tb.williams_zipser_rtrl(net, xs, targets, mask, y0)
    finally:
        net.W.assign(W)
    assert loss1 < loss0
