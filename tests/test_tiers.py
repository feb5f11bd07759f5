"""A loop's first run (uncompiled: its plan run in Python over numba kernels) and its
compiled runs give the same bits, for every layer, cell and option, float32 and float64:
the tier that answers a call never changes its result."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.runtime import scan_runner

T, B, I, H = 7, 3, 4, 5


def _three_calls_identical(f, *args):
    runs = [f(*args) for _ in range(3)]
    for k, (a, b, c) in enumerate(zip(*runs)):
        assert a.tobytes() == b.tobytes() == c.tobytes(), (
            f"output {k}: first (uncompiled) and compiled calls differ by "
            f"{np.max(np.abs(a - b)):.3g}")
    return runs[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("model, options", [
    ("LSTM", {}), ("GRU", {}), ("RNN", {}),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("GRU", dict(bidirectional=True)),
])
def test_layers_loss_and_gradients(model, options, dtype):
    assert scan_runner.COMPILE_AFTER == 2  # call 1 uncompiled, calls 2 and 3 compiled
    layer = getattr(tr.nn, model)(I, H, seed=0, dtype=dtype, **options)
    xs = tr.placeholder((T, B, I), dtype)
    out = layer(xs)[0]
    loss = (out * out).sum() * 0.1 + tr.sigmoid(out).mean()  # literals: rounded as stored
    f = tr.function([xs], [out, loss] + tr.grad(loss, list(layer.parameters().values()) + [xs]))
    _three_calls_identical(f, np.random.default_rng(0).standard_normal((T, B, I)).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [dict(truncate=3), dict(checkpoint=3)])
def test_truncated_and_checkpointed_scans(options, dtype):
    cell = tr.nn.LSTMCell(I, H, seed=1, dtype=dtype)
    xs = tr.placeholder((T, B, I), dtype)

    def step(state, x):
        y, state = cell(x, state)
        return state, y

    _, ys = tr.scan(step, cell.initial_state(B), xs, **options)
    loss = (ys * ys).sum()
    f = tr.function([xs], [loss] + tr.grad(loss, list(cell.parameters().values())))
    _three_calls_identical(f, np.random.default_rng(1).standard_normal((T, B, I)).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_1997_cell_and_second_order(dtype):
    """The 1997 cell (its g = 4 sigma - 2 holds float literals) and a Hessian-vector product
    (a scan over the gradient's scan)."""
    cell = tr.nn.LSTM1997Cell(I, 2, cells_per_block=2, seed=2, dtype=dtype)
    xs = tr.placeholder((T, B, I), dtype)

    def step(state, x):
        y, state = cell(x, state)
        return state, y

    _, ys = tr.scan(step, cell.initial_state(B), xs)
    loss = (ys * ys).sum()
    params = list(cell.parameters().values())
    grads = tr.grad(loss, params)
    v = [tr.tensor(np.full(p.shape, 0.01, dtype)) for p in params]
    gv = sum((tr.sum(g * d) for g, d in zip(grads, v)), tr.tensor(np.zeros((), dtype)))
    f = tr.function([xs], [loss] + grads + tr.grad(gv, params))
    _three_calls_identical(f, np.random.default_rng(2).standard_normal((T, B, I)).astype(dtype))
