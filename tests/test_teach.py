"""tr.teach: the traces' numbers are the library's (BPTT, RTRL, autodiff), and their text
walks through them."""
import numpy as np
import pytest

import tinygrad_rnn as tr

CELLS = {
    "rnn": lambda: tr.nn.RNNCell(2, 3, seed=1),
    "lstm": lambda: tr.nn.LSTMCell(2, 3, seed=1),
    "gru": lambda: tr.nn.GRUCell(2, 3, seed=1),
    "wz": lambda: tr.nn.WilliamsZipserNet(3, 2, seed=1),
}


def _loss(t, y):
    return (y * y).sum() * (t + 1)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_bptt_trace_numbers_are_bptts(name):
    cell = CELLS[name]()
    xs = np.random.default_rng(0).standard_normal((4, 2, 2))
    trace = tr.teach.bptt_trace(cell, xs, None, _loss)
    loss, grads = tr.learn.bptt(cell, xs, None, _loss)
    assert trace.grads.keys() == grads.keys()
    for k in grads:
        assert np.array_equal(trace.grads[k], grads[k])
        # the steps' contributions add up to the gradient of the shared weight
        total = sum(c[k] for c in trace.contributions)
        np.testing.assert_allclose(total, grads[k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(trace.accumulated[0][k], grads[k], rtol=1e-12, atol=1e-14)
        assert not np.allclose(trace.contributions[0][k], grads[k])  # steps differ
    assert trace.loss == pytest.approx(loss, rel=1e-12)
    # delta_t: the total derivative at each state, as the error-flow analysis computes it
    flow = tr.learn.error_flow_data(cell, xs, _loss)
    for t in range(4):
        for i, s in enumerate(cell.state_names):
            np.testing.assert_allclose(trace.deltas[t][s], flow.grads[t][i], rtol=1e-10,
                                       atol=1e-14)
    ys, _ = tr.unroll(cell, xs)
    for t in range(4):
        np.testing.assert_allclose(trace.forward[t]["y"], ys[t].numpy(), rtol=1e-12)
    text = str(trace)
    assert "forward pass" in text and "backward pass" in text and "δ" in text
    assert text.count("-- step t=") == 8


def test_bptt_trace_names_the_gates():
    trace = tr.teach.bptt_trace(tr.nn.LSTMCell(2, 2, seed=0), np.ones((2, 1, 2)), None, _loss)
    names = " ".join(trace.forward[1])
    for gate in ("input gate", "forget gate", "output gate", "candidate", "pre-activations"):
        assert gate in names


def test_rtrl_trace_gives_rtrls_gradient_and_the_textbook_sensitivities():
    net = tr.nn.WilliamsZipserNet(3, 2, seed=4)
    rng = np.random.default_rng(0)
    T = 5
    xs, targets = rng.standard_normal((T, 1, 2)), rng.uniform(0, 1, (T, 1, 3))
    loss_fn = tr.nn.wz_loss_fn(targets)
    trace = tr.teach.rtrl_trace(net, xs, None, loss_fn)
    loss, grads = tr.learn.rtrl(net, xs, None, loss_fn)
    assert np.array_equal(trace.grads["W"], grads["W"]) and trace.loss == loss
    assert trace.max_difference < 1e-12
    # p^k_ij(t+1) = f'(s_k(t)) [ sum_l w_kl p^l_ij(t) + delta_ik x_j(t) ] in plain NumPy
    W = net.W.numpy()
    n, m = 3, 2
    y, p = np.zeros(n), np.zeros((n, n, m + 1 + n))
    for t in range(T):
        x = np.concatenate([xs[t, 0], [1.0], y])
        y = 1 / (1 + np.exp(-(W @ x)))
        new = np.einsum("kl,lij->kij", W[:, m + 1:], p)
        for k in range(n):
            new[k, k, :] += x
        p = (y * (1 - y))[:, None, None] * new
        np.testing.assert_allclose(trace.p[t][0], p, rtol=1e-10, atol=1e-14)
        # the weight change of real-time learning: dw_ij = lr sum_k e_k(t+1) p^k_ij(t+1)
        e = targets[t, 0] - y
        np.testing.assert_allclose(trace.changes[t]["W"], np.einsum("k,kij->ij", e, p),
                                   rtol=1e-9, atol=1e-14)
    text = str(trace)
    assert "p^0_ij" in text and "largest |RTRL - BPTT|" in text and "weight change ΔW(4)" in text
    halved = tr.teach.rtrl_trace(net, xs, None, loss_fn, lr=0.5)
    np.testing.assert_allclose(halved.changes[2]["W"], 0.5 * trace.changes[2]["W"])


def test_rtrl_trace_of_a_gated_cell():
    cell = tr.nn.GRUCell(2, 2, seed=0)
    xs = np.random.default_rng(1).standard_normal((3, 1, 2))
    trace = tr.teach.rtrl_trace(cell, xs, None, _loss)
    assert trace.max_difference < 1e-12 and trace.p[0] is None
    assert "P(2) = ∂state(2)/∂θ" in str(trace) and "weight_hh[z1,h0]" in str(trace)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_path_sum_equals_the_jacobian(nonlinearity, q):
    cell = tr.nn.RNNCell(1, 3, nonlinearity=nonlinearity, seed=2)
    xs = np.random.default_rng(q).standard_normal((6, 1, 1))
    for u, v in ((0, 0), (1, 2)):
        flow = tr.teach.error_flow_paths(cell, xs, q=q, u=u, v=v)
        assert len(flow.paths) == 3 ** (q - 1)
        assert flow.total == pytest.approx(flow.autodiff, rel=1e-10, abs=1e-15)
    if q == 1:
        (units, factors, product), = flow.paths
        assert units == (1, 2) and product == pytest.approx(factors[0])
    assert "sum over paths" in str(flow)


def test_path_sum_errors():
    xs = np.zeros((4, 1, 1))
    with pytest.raises(tr.GraphError, match="simple RNN"):
        tr.teach.error_flow_paths(tr.nn.LSTMCell(1, 2), xs, q=1)
    with pytest.raises(tr.GraphError, match="1 <= q"):
        tr.teach.error_flow_paths(tr.nn.RNNCell(1, 2), xs, q=4)
    with pytest.raises(tr.GraphError, match="max_paths"):
        tr.teach.error_flow_paths(tr.nn.RNNCell(1, 50), np.zeros((9, 1, 1)), q=5)
