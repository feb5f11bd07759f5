"""Compositions (softmax, log_softmax, logsumexp, cross-entropy, MSE, mean) against NumPy,
their gradients to second order against finite differences, Hessian-vector products, and
the absence of overflow for large inputs."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit

import tinygrad_rnn as tr
from tinygrad_rnn.testing import check_grads


def np_log_softmax(x, axis=-1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


matrices = st.tuples(st.integers(1, 4), st.integers(1, 5))


@given(shape=matrices, seed=st.integers(0, 1000), axis=st.sampled_from([0, 1, -1]))
def test_softmax_family_values_and_second_derivatives(shape, seed, axis):
    x = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_allclose(tr.log_softmax(x, axis).numpy(), np_log_softmax(x, axis), atol=1e-12)
    np.testing.assert_allclose(tr.softmax(x, axis).numpy(), np.exp(np_log_softmax(x, axis)),
                               atol=1e-12)
    np.testing.assert_allclose(tr.logsumexp(x, axis).numpy(),
                               np.log(np.exp(x).sum(axis)), atol=1e-12)
    for fn in (lambda t: tr.softmax(t, axis), lambda t: tr.log_softmax(t, axis),
               lambda t: tr.logsumexp(t, axis)):
        check_grads(fn, [x], order=2)


@given(shape=matrices, seed=st.integers(0, 1000))
def test_cross_entropy_is_pytorch_mean_over_batch(shape, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape)
    targets = rng.integers(0, shape[1], size=shape[0])
    want = -np.mean(np_log_softmax(logits)[np.arange(shape[0]), targets])
    np.testing.assert_allclose(tr.cross_entropy(logits, targets).numpy(), want, rtol=1e-12)
    check_grads(lambda t: tr.cross_entropy(t, targets), [logits], order=2)
    # gradient is (softmax - onehot) / B
    (g,) = tr.grad(tr.cross_entropy(tr.tensor(logits), targets), [tr.tensor(logits)])
    sm = np.exp(np_log_softmax(logits))
    lt = tr.tensor(logits)
    (g,) = tr.grad(tr.cross_entropy(lt, targets), [lt])
    np.testing.assert_allclose(g.numpy(), (sm - np.eye(shape[1])[targets]) / shape[0], atol=1e-12)


def test_cross_entropy_with_placeholder_targets():
    logits = tr.placeholder((3, 4))
    targets = tr.placeholder((3,), np.int64)
    f = tr.function([logits, targets], [tr.cross_entropy(logits, targets)])
    lv = np.random.default_rng(0).standard_normal((3, 4))
    want = -np.mean(np_log_softmax(lv)[np.arange(3), [1, 0, 3]])
    np.testing.assert_allclose(f(lv, np.array([1, 0, 3]))[0], want, rtol=1e-12)


def test_mse_and_mean(rng):
    p, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(tr.mse(p, t).numpy(), np.mean((p - t) ** 2), rtol=1e-14)
    np.testing.assert_allclose(tr.mean(p, axis=(0, 1)).numpy(), p.mean(), rtol=1e-14)
    check_grads(lambda a, b: tr.mse(a, b), [p, t], order=2)
    check_grads(lambda a: tr.mean(a, axis=1, keepdims=True), [p], order=2)


def test_softplus_is_exact_and_never_overflows(rng):
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 1e-3, 2.0, 40.0, 1000.0])
    xt = tr.placeholder(x.shape)
    y = tr.softplus(xt)
    (g,) = tr.grad(y.sum(), [xt])
    value, slope = tr.function([xt], [y, g])(x)
    # absolutely accurate (log(1 + tiny) keeps 1e-16 of absolute error: no log1p primitive)
    np.testing.assert_allclose(value, np.logaddexp(0.0, x), rtol=1e-14, atol=2e-16)
    np.testing.assert_allclose(slope, expit(x), rtol=1e-14)  # sigmoid, 0.5 at 0
    check_grads(tr.softplus, [rng.standard_normal((3, 4)) * 3], order=2)


def test_binary_cross_entropy_with_logits(rng):
    z, y = rng.standard_normal((4, 3)) * 4, rng.uniform(size=(4, 3))
    p = 1 / (1 + np.exp(-z))
    want = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    bce = tr.binary_cross_entropy_with_logits
    np.testing.assert_allclose(bce(z, y, reduction="none").numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(bce(z, y).numpy(), want.mean(), rtol=1e-12)
    np.testing.assert_allclose(bce(z, y, reduction="sum").numpy(), want.sum(), rtol=1e-12)
    check_grads(lambda a, b: bce(a, b), [z, y], order=2)
    with pytest.raises(tr.GraphError, match=r"logits \(4, 3\) and targets \(3,\) differ"):
        bce(z, y[0])
    with pytest.raises(tr.GraphError, match="reduction must be"):
        bce(z, y, reduction="avg")


def test_hessian_vector_product_of_an_rnn_step(rng):
    """H v by reverse-over-reverse and by forward-over-reverse equals the analytic Hessian."""
    W = tr.placeholder((3, 3))
    x0 = rng.standard_normal((2, 3))
    loss = (tr.tanh(tr.tanh(x0 @ W) @ W) ** 2).sum()
    (g,) = tr.grad(loss, [W])
    v = rng.standard_normal((3, 3))
    (hv_rr,) = tr.grad(tr.dot(g, v), [W])
    (hv_fr,) = tr.jvp([g], [W], [v])
    f = tr.function([W], [g, hv_rr, hv_fr])
    Wv = rng.standard_normal((3, 3)) * 0.5
    _, a, b = f(Wv)
    eps = 1e-6
    fd = (f(Wv + eps * v)[0] - f(Wv - eps * v)[0]) / (2 * eps)
    np.testing.assert_allclose(a, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_vjp_and_jvp_are_transposes(rng):
    """<v, J u> == <J^T v, u> for a random composite graph."""
    x = tr.placeholder((2, 4))
    w = tr.placeholder((4, 3))
    y = tr.softmax(tr.sigmoid(x @ w) * tr.exp(x[:, :3]), axis=0)
    u = [rng.standard_normal((2, 4)), rng.standard_normal((4, 3))]
    v = rng.standard_normal(y.shape)
    (ju,) = tr.jvp([y], [x, w], u)
    jtv = tr.vjp([y], [x, w], [v])
    vals = tr.function([x, w], [ju] + jtv)(rng.standard_normal((2, 4)), rng.standard_normal((4, 3)))
    np.testing.assert_allclose(np.sum(v * vals[0]), np.sum(vals[1] * u[0]) + np.sum(vals[2] * u[1]),
                               rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_inputs_do_not_overflow(backend, dtype):
    big = np.array([[1000.0, -1000.0, 0.0], [-800.0, 750.0, 3.0]], dtype)
    x = tr.placeholder(big.shape, dtype)
    outs = [tr.sigmoid(x), tr.softmax(x), tr.log_softmax(x), tr.logsumexp(x, 1),
            tr.cross_entropy(x, np.array([1, 0]))]
    outs += tr.grad(outs[-1] + tr.sigmoid(x).sum(), [x])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vals = tr.function([x], outs, backend)(big)
    for v in vals:
        assert np.all(np.isfinite(v))
    np.testing.assert_allclose(vals[0], [[1, 0, 0.5], [0, 1, 1 / (1 + np.exp(-3.0))]], rtol=1e-6)
    np.testing.assert_allclose(vals[3], [1000.0, 750.0], rtol=1e-6)
