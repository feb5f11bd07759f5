"""Data-parallel training on the jax backend: ``tr.train_step(..., backend="jax", devices=N)``
splits each batch across N JAX devices (here two CPU devices simulated through XLA_FLAGS, set
in conftest.py) and must give the one-device training trajectory.

JAX is an optional extra: these tests skip where it is missing, except in CI, whose .ci/run
installs it.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.graph.node import GraphError

try:
    import jax
except ImportError:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        raise
    pytest.skip("JAX is not installed (pip install -e '.[jax]')", allow_module_level=True)

from tinygrad_rnn.runtime.jax_backend import x64  # noqa: E402

T, B, I, H = 6, 4, 3, 5


def test_two_devices_are_there():
    """conftest.py asks XLA for two CPU devices; without them the tests below would prove
    nothing, so their absence is a failure, not a skip."""
    assert len(jax.devices()) >= 2, jax.devices()


def _model(seed=0, dropout=0.0, dtype=np.float64):
    """A two-layer LSTM with a linear head, a mean squared error over (T, B) and its step."""
    lstm = tr.nn.LSTM(I, H, num_layers=2, dropout=dropout, seed=seed, dtype=dtype)
    head = tr.nn.Linear(H, 1, seed=seed, dtype=dtype)
    xs = tr.placeholder((T, B, I), dtype, name="xs")
    ys = tr.placeholder((T, B, 1), dtype, name="ys")
    out, _ = lstm(xs)
    loss = ((head(out) - ys) ** 2).mean()
    params = {**lstm.parameters(), **{"head." + k: p for k, p in head.parameters().items()}}
    return xs, ys, loss, params


def _batches(n, dtype=np.float64):
    """Inputs and a learnable target: each step's first input, squashed."""
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((T, B, I)).astype(dtype) for _ in range(n)]
    return [(x, np.tanh(x[..., :1])) for x in xs]


def _trajectory(steps=20, dtype=np.float64, dropout=0.0, **options):
    xs, ys, loss, params = _model(dropout=dropout, dtype=dtype)
    step = tr.train_step([xs, ys], loss, params, **options)
    opt = tr.optim.Adam(params, lr=0.02)
    losses = []
    for x, y in _batches(steps, dtype):
        value, grads, _ = step(x, y)
        opt.step(grads)
        losses.append(value)
    return np.array(losses), {k: np.array(p.value) for k, p in params.items()}, step


def test_two_devices_give_the_one_device_trajectory():
    """20 Adam steps: the same losses and final parameters on one device, on two, and on
    the numba backend (float64: to 1e-12; only the order of the additions differs)."""
    one, p_one, s_one = _trajectory(backend="jax", devices=1)
    two, p_two, s_two = _trajectory(backend="jax", devices=2)
    ref, p_ref, _ = _trajectory(backend="numba")
    assert len(s_two.devices) == 2 and len(s_one.devices) == 1
    assert s_two.batch_axes == [1, 1]  # both are sequences a scan reads: (T, B, ...)
    np.testing.assert_allclose(two, one, rtol=1e-12, atol=0)
    np.testing.assert_allclose(one, ref, rtol=1e-12, atol=0)
    for k in p_ref:
        np.testing.assert_allclose(p_two[k], p_one[k], rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(p_one[k], p_ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert two[-5:].mean() < two[:5].mean()  # and it trains


def test_the_batch_really_is_split():
    """What XLA compiles for two devices: each holds half of the batch, and the shards'
    gradients are added across devices (an all-reduce); one device needs neither."""
    xs, ys, loss, params = _model()
    (x, y), = _batches(1)
    hlo = {}
    for n in (1, 2):
        step = tr.train_step([xs, ys], loss, params, backend="jax", devices=n)
        f = step._f
        with x64():
            args = f._args([x, y])
            hlo[n] = f._jitted.lower(*args).compile().as_text()
            placed = jax.device_put(args[3][0], f._shardings[0])
        assert placed.sharding.shard_shape(placed.shape) == (T, B // n, I)
    assert "all-reduce" in hlo[2] and "all-reduce" not in hlo[1]


def test_float32_and_dropout_follow_the_one_device_run():
    """float32 (to float32 rounding) and dropout between the layers: the masks are drawn from
    the same keys, whichever device holds which part of the batch."""
    one, _, _ = _trajectory(steps=5, dtype=np.float32, dropout=0.3, backend="jax", devices=1)
    two, _, _ = _trajectory(steps=5, dtype=np.float32, dropout=0.3, backend="jax", devices=2)
    np.testing.assert_allclose(two, one, rtol=2e-5)


def test_batch_axes_given_and_guessed():
    """A target of shape (B, 1) splits along axis 0, a scan's sequence along axis 1, a scalar
    is replicated; an explicit batch_axes is used as given and gives the same numbers."""
    lstm = tr.nn.LSTM(I, H, seed=1)
    xs = tr.placeholder((T, B, I))
    target = tr.placeholder((B, 1))
    scale = tr.placeholder(())
    out, _ = lstm(xs)
    loss = (((out[-1, :, :1] - target) ** 2) * scale).sum()
    x, t = np.random.default_rng(0).standard_normal((T, B, I)), np.ones((B, 1))
    guessed = tr.train_step([xs, target, scale], loss, lstm, backend="jax", devices=2)
    assert guessed.batch_axes == [1, 0, None]
    given = tr.train_step([xs, target, scale], loss, lstm, backend="jax", devices=2,
                          batch_axes=[1, None, None])
    ref = tr.train_step([xs, target, scale], loss, lstm)
    for _ in range(3):
        a, b, c = guessed(x, t, 2.0), given(x, t, 2.0), ref(x, t, 2.0)
        np.testing.assert_allclose(a[0], c[0], rtol=1e-12)
        np.testing.assert_allclose(b[0], c[0], rtol=1e-12)
        for k in c[1]:
            np.testing.assert_allclose(a[1][k], c[1][k], rtol=1e-11, atol=1e-14)
            np.testing.assert_allclose(b[1][k], c[1][k], rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("options, words", [
    (dict(backend="jax", devices=3), "XLA_FLAGS=--xla_force_host_platform_device_count=3"),
    (dict(backend="jax", devices=0), "devices must be a positive int"),
    (dict(backend="numba", devices=2), "needs backend='jax'"),
    (dict(backend="jax", batch_axes=[1, 1]), "batch_axes is given without devices"),
    (dict(backend="jax", devices=2, batch_axes=[1]), "one entry (an axis or None) per input"),
    (dict(backend="jax", devices=2, batch_axes=[3, 0]), "batch_axes[0] must be None or an axis"),
    (dict(backend="jax", devices=2, batch_axes=[2, 1]), "which 2 devices do not divide"),
])
def test_bad_data_parallel_options_are_clear_errors(options, words):
    xs, ys, loss, params = _model()
    with pytest.raises(GraphError) as e:
        tr.train_step([xs, ys], loss, params, **options)
    assert words in str(e.value) and "train_step" in str(e.value)
    assert "test_data_parallel.py" in str(e.value)  # the user's line


def test_function_takes_devices_too():
    """tr.function(..., backend="jax", devices=2): the outputs of the whole batch, three calls."""
    x = tr.placeholder((T, B, I))
    out, _ = tr.nn.GRU(I, H, seed=2)(x)
    y = (out * out).sum(axis=0)
    f = tr.function([x], [y], backend="jax", devices=2)
    g = tr.function([x], [y])
    v = np.random.default_rng(1).standard_normal((T, B, I))
    for _ in range(3):
        np.testing.assert_allclose(f(v)[0], g(v)[0], rtol=1e-12)
