"""Online RTRL and truncated BPTT(h; h'): with the weights held still they are exact
(per-step gradients equal each other and sum to full BPTT); with updates they learn."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.nn.williams_zipser import wz_loss_fn


class Recorder:
    """An optimizer that records the gradients and leaves the weights alone."""

    def __init__(self):
        self.grads = []

    def step(self, grads):
        self.grads.append({k: np.array(v) for k, v in grads.items()})


def _problem(seed=0, T=7, B=2):
    rng = np.random.default_rng(seed)
    net = tr.nn.WilliamsZipserNet(3, 2, seed=seed, init_scale=1.0)
    xs = rng.standard_normal((T, B, 2))
    targets = rng.uniform(size=(T, B, 3))
    mask = rng.uniform(size=(T, B, 3)) < 0.6
    return net, xs, targets, mask


def _sum(grads):
    return {k: sum(g[k] for g in grads) for k in grads[0]}


def test_rtrl_and_bptt_infinity_1_give_the_same_gradient_at_every_step():
    net, xs, targets, mask = _problem()
    rtrl, bptt = Recorder(), Recorder()
    l1 = tr.learn.online_rtrl(net, xs, targets, rtrl, mask=mask)
    l2 = tr.learn.online_truncated_bptt(net, xs, targets, bptt, h=len(xs), h_prime=1, mask=mask)
    np.testing.assert_allclose(l1, l2, rtol=1e-13)
    assert len(rtrl.grads) == len(bptt.grads) == len(xs)
    for a, b in zip(rtrl.grads, bptt.grads):
        np.testing.assert_allclose(a["W"], b["W"], rtol=1e-11, atol=1e-14)
    total, full = tr.learn.bptt(net, xs, None, wz_loss_fn(targets, mask))
    np.testing.assert_allclose(_sum(rtrl.grads)["W"], full["W"], rtol=1e-11, atol=1e-14)
    assert np.isclose(l1.sum(), total)


def test_truncated_windows_match_williams_peng_schedule():
    net, xs, targets, mask = _problem(seed=1, T=9)
    mine = Recorder()
    tr.learn.online_truncated_bptt(net, xs, targets, mine, h=3, h_prime=2, mask=mask)
    ref = tr.learn.online_bptt(net, xs, None, wz_loss_fn(targets, mask), h=3, h_prime=2)
    assert len(mine.grads) == len(ref) == 5  # after steps 2, 4, 6, 8 and at the end (9)
    for g, (_, _, r) in zip(mine.grads, ref):
        np.testing.assert_allclose(g["W"], r["W"], rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("learner", ["rtrl", "tbptt"])
def test_online_learning_reduces_the_loss(learner):
    """Predict the input of the previous step: a task one unit of memory solves."""
    rng = np.random.default_rng(0)
    T = 600
    bits = rng.integers(0, 2, (T, 1, 1)).astype(float)
    targets = np.zeros((T, 1, 3))
    targets[1:, 0, 0] = bits[:-1, 0, 0]
    mask = np.zeros((T, 1, 3), bool)
    mask[1:, 0, 0] = True
    net = tr.nn.WilliamsZipserNet(3, 1, seed=0)
    opt = tr.optim.SGD(net.parameters(), lr=0.5)
    if learner == "rtrl":
        losses = tr.learn.online_rtrl(net, bits, targets, opt, mask=mask)
    else:
        losses = tr.learn.online_truncated_bptt(net, bits, targets, opt, h=4, mask=mask)
    assert losses[-100:].mean() < 0.2 * losses[1:101].mean()


def test_online_learners_refuse_bad_input():
    net, xs, targets, mask = _problem()
    with pytest.raises(tr.GraphError, match=r"targets must have shape \(T, B, out\) = \(7, 2, 3\)"):
        tr.learn.online_rtrl(net, xs, targets[:, :, :2], Recorder())
    with pytest.raises(tr.GraphError, match="mask must have the shape"):
        tr.learn.online_rtrl(net, xs, targets, Recorder(), mask=mask[:3])
    with pytest.raises(tr.GraphError, match="needs h >= h'"):
        tr.learn.online_truncated_bptt(net, xs, targets, Recorder(), h=2, h_prime=3)
    with pytest.raises(tr.GraphError, match="h must be a positive int"):
        tr.learn.online_truncated_bptt(net, xs, targets, Recorder(), h=0)


def test_every_loss_is_back_propagated_once_even_in_a_last_partial_window():
    """h >= T, h' = 2, T odd: the updates' gradients add up to full BPTT exactly (the last
    window holds one new step, not two)."""
    net, xs, targets, mask = _problem(seed=2, T=7)
    full = tr.learn.bptt(net, xs, None, wz_loss_fn(targets, mask))[1]["W"]
    mine = Recorder()
    tr.learn.online_truncated_bptt(net, xs, targets, mine, h=7, h_prime=2, mask=mask)
    ref = tr.learn.online_bptt(net, xs, None, wz_loss_fn(targets, mask), h=7, h_prime=2)
    np.testing.assert_allclose(_sum(mine.grads)["W"], full, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(sum(g["W"] for _, _, g in ref), full, rtol=1e-11, atol=1e-14)
