"""tr.training: the compiled step, the fit loop (progress, evaluation, early stop), and
parameter files (atomic writes, clear errors on corrupt or mismatched files)."""
import io
import os

import numpy as np
import pytest

import tinygrad_rnn as tr


def _regression(seed=0):
    """A linear least-squares problem: loss = mean((x w + b - y)^2)."""
    rng = np.random.default_rng(seed)
    w = tr.parameter(np.zeros((3, 1)), name="w")
    b = tr.parameter(np.zeros(1), name="b")
    x, y = tr.placeholder((8, 3), name="x"), tr.placeholder((8, 1), name="y")
    pred = x @ w + b
    loss = tr.mean((pred - y) ** 2)
    w_true = rng.standard_normal((3, 1))
    data = [(xb := rng.standard_normal((8, 3)), xb @ w_true + 0.5) for _ in range(64)]
    return {"w": w, "b": b}, (x, y), loss, pred, w_true, data


def test_train_step_returns_loss_grads_and_extras():
    params, (x, y), loss, pred, _, data = _regression()
    step = tr.train_step([x, y], loss, params, extras=[pred])
    value, grads, (p,) = step(*data[0])
    xb, yb = data[0]
    assert np.isclose(value, np.mean(yb ** 2))
    assert np.allclose(grads["w"], 2 * xb.T @ (0 - yb) / 8)
    assert np.allclose(grads["b"], [2 * np.mean(0 - yb)])
    assert p.shape == (8, 1) and np.all(p == 0)
    with pytest.raises(ValueError, match="expected 2 arrays"):
        step(data[0][0])


def test_train_step_rejects_non_scalar_loss_and_bad_params():
    params, (x, y), loss, pred, _, _ = _regression()
    with pytest.raises(tr.GraphError, match="scalar"):
        tr.train_step([x, y], pred, params)
    with pytest.raises(tr.GraphError, match="Module or a non-empty dict"):
        tr.train_step([x, y], loss, [params["w"]])


def test_fit_converges_logs_and_stops_early():
    params, (x, y), loss, _, w_true, data = _regression()
    step = tr.train_step([x, y], loss, params)
    opt = tr.optim.Adam(params, lr=0.05)
    log = io.StringIO()
    evaluate = lambda: {"error": float(np.abs(params["w"].value - w_true).max())}
    history = tr.fit(step, opt, lambda i: data[i % len(data)], steps=5000, log_every=50,
                     evaluate=evaluate, stop=lambda m: m["error"] < 1e-3, out=log)
    assert history.stopped_at is not None and history.stopped_at < 5000
    assert history.steps == history.stopped_at == opt.steps
    assert history.evals[-1][1]["error"] < 1e-3
    assert np.allclose(params["b"].value, 0.5, atol=1e-2)
    lines = log.getvalue().splitlines()
    assert lines and all(line.startswith("step ") and "loss" in line and "error" in line
                         for line in lines)
    assert history.losses[-1] < history.losses[0] / 100


def test_fit_takes_an_iterable_and_evaluates_at_the_end():
    params, (x, y), loss, _, _, data = _regression()
    step = tr.train_step([x, y], loss, params)
    calls = []
    history = tr.fit(step, tr.optim.SGD(params, lr=0.01), data[:7], steps=100, log_every=None,
                     evaluate=lambda: calls.append(1) or {"n": len(calls)}, eval_every=5)
    assert history.steps == 7  # the iterable ran out
    assert [s for s, _ in history.evals] == [5, 7]
    assert history.stopped_at is None


def test_fit_clips_and_refuses_bad_arguments():
    params, (x, y), loss, _, _, data = _regression()
    step = tr.train_step([x, y], loss, params)
    seen = []

    class Spy(tr.optim.SGD):
        def step(self, grads):
            seen.append(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
            super().step(grads)

    tr.fit(step, Spy(params, lr=1e-3), lambda i: (data[0][0], data[0][1] * 100), steps=3,
           clip=0.5, log_every=None)
    assert max(seen) <= 0.5 + 1e-9
    opt = tr.optim.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        tr.fit(step, opt, data, steps=0)
    with pytest.raises(ValueError, match="stop.*needs evaluate"):
        tr.fit(step, opt, data, steps=3, stop=lambda m: True)
    with pytest.raises(FloatingPointError, match="loss is nan at step 1"):
        tr.fit(step, opt, lambda i: (data[0][0], np.full((8, 1), np.nan)), steps=3, log_every=None)


def test_save_and_load_round_trip_a_module(tmp_path):
    cell = tr.nn.LSTMCell(3, 4, seed=0)
    path = tr.save_params(tmp_path / "lstm", cell)
    assert path.endswith("lstm.npz") and os.path.exists(path)
    assert [p.name for p in tmp_path.iterdir()] == ["lstm.npz"]  # no temporary file left
    other = tr.nn.LSTMCell(3, 4, seed=1)
    tr.load_params(path, other)
    for k, v in cell.state_dict().items():
        assert np.array_equal(other.state_dict()[k], v)


def test_save_replaces_atomically(tmp_path, monkeypatch):
    cell = tr.nn.RNNCell(2, 3, seed=0)
    path = tr.save_params(tmp_path / "m.npz", cell)
    before = open(path, "rb").read()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        tr.save_params(path, tr.nn.RNNCell(2, 3, seed=5))
    assert open(path, "rb").read() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_load_refuses_corrupt_and_mismatched_files(tmp_path):
    cell = tr.nn.RNNCell(2, 3, seed=0)
    original = cell.state_dict()
    path = tr.save_params(tmp_path / "m.npz", tr.nn.RNNCell(2, 3, seed=9))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(open(path, "rb").read()[:100])
    with pytest.raises(ValueError, match="not a readable parameter file"):
        tr.load_params(truncated, cell)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable parameter file"):
        tr.load_params(garbage, cell)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, **original)
    with pytest.raises(ValueError, match="no tinygrad_rnn marker"):
        tr.load_params(foreign, cell)
    with pytest.raises(ValueError, match=r"weight_ih.*shape \(4, 2\), expected \(3, 2\)"):
        tr.load_params(tr.save_params(tmp_path / "big", tr.nn.RNNCell(2, 4, seed=0)), cell)
    with pytest.raises(ValueError, match=r"missing \[\].*unexpected \['weight_c"):
        tr.load_params(tr.save_params(tmp_path / "peep", tr.nn.LSTMCell(2, 3, peephole=True)),
                       tr.nn.LSTMCell(2, 3))
    with pytest.raises(FileNotFoundError, match="no such file"):
        tr.load_params(tmp_path / "absent.npz", cell)
    for k, v in original.items():  # a refused load changes nothing
        assert np.array_equal(cell.state_dict()[k], v)


def test_load_casts_to_the_parameter_dtype(tmp_path):
    cell64 = tr.nn.GRUCell(2, 3, seed=0)
    cell32 = tr.nn.GRUCell(2, 3, seed=1, dtype=np.float32)
    tr.load_params(tr.save_params(tmp_path / "g", cell64), cell32)
    for k, v in cell64.state_dict().items():
        got = cell32.state_dict()[k]
        assert got.dtype == np.float32 and np.allclose(got, v, atol=1e-7)
