"""Training: a compiled loss-and-gradient step, a loop that prints its progress, and
parameter files.

``train_step`` compiles ``loss`` and its gradient once; ``fit`` calls it on batch after
batch, updates with an optimizer from ``tr.optim``, prints a progress line every
``log_every`` steps, evaluates every ``eval_every`` steps and stops early when ``stop``
says so. ``save_params`` / ``load_params`` write and read ``.npz`` files:

>>> step = tr.training.train_step([xs, ys], loss, layer.parameters())
>>> history = tr.training.fit(step, tr.optim.Adam(layer.parameters(), lr=1e-2),
...                           lambda i: make_batch(i), steps=1000, log_every=100)
>>> tr.save_params("model.npz", layer); tr.load_params("model.npz", layer)
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping

import numpy as np

from .functions import reshape
from .graph.node import fail, user_site
from .nn.module import Module
from .optim import clip_grad_norm
from .tensor import Tensor, api
from .transforms import _function, _tensor_list, grad

__all__ = ["TrainStep", "train_step", "History", "fit", "save_params", "load_params"]


def _path(path, caller: str) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{caller}: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}\n  (called at {user_site()})") from None


def _param_dict(params, caller: str) -> dict[str, Tensor]:
    if isinstance(params, Module):
        return params.parameters()
    if isinstance(params, Mapping) and params and all(
            isinstance(k, str) and isinstance(p, Tensor) and p.op == "parameter"
            for k, p in params.items()):
        return dict(params)
    if isinstance(params, Mapping) and params:
        for k, p in params.items():
            if not (isinstance(k, str) and isinstance(p, Tensor) and p.op == "parameter"):
                what = f"a {p.op} Tensor" if isinstance(p, Tensor) else type(p).__name__
                raise fail(f"{caller}: params[{k!r}] must be a parameter Tensor (tr.parameter) "
                           f"under a str name, got {what}")
    raise fail(f"{caller}: params must be a Module or a non-empty dict name -> parameter Tensor "
               f"(tr.parameter), got {type(params).__name__}")


class TrainStep:
    """A compiled step: ``step(*arrays) -> (loss: float, grads: dict name -> array,
    extras: list of arrays)``, one array per input placeholder, in order."""

    def __init__(self, inputs, loss, params, extras=(), backend="numba", devices=None,
                 batch_axes=None):
        self.inputs = _tensor_list(inputs, "train_step: inputs")
        if not isinstance(loss, Tensor) or loss.size != 1:
            got = loss.shape if isinstance(loss, Tensor) else type(loss).__name__
            raise fail(f"train_step: loss must be a scalar Tensor, got {got}")
        self.params = _param_dict(params, "train_step")
        self.extras = _tensor_list(list(extras), "train_step: extras")
        loss = reshape(loss, ())
        grads = grad(loss, list(self.params.values()))
        self._f = _function(self.inputs, [loss, *grads, *self.extras], backend, devices,
                            batch_axes, "train_step")
        # (jax, data-parallel: the devices used and each input's batch axis)
        self.devices = getattr(self._f, "devices", None)
        self.batch_axes = getattr(self._f, "batch_axes", None)

    def __call__(self, *arrays):
        if len(arrays) != len(self.inputs):
            raise ValueError(f"train step: expected {len(self.inputs)} arrays (one per input), got "
                             f"{len(arrays)}")
        values = self._f(*arrays)
        n = len(self.params)
        return float(values[0]), dict(zip(self.params, values[1:n + 1])), list(values[n + 1:])


@api
def train_step(inputs, loss, params, extras=(), backend: str = "numba",
               devices: int | None = None, batch_axes=None) -> TrainStep:
    """Compile ``loss`` (a scalar Tensor built on the placeholders ``inputs``) and its gradient
    with respect to ``params`` (a Module or dict name -> parameter); ``extras`` are more
    Tensors to return with them (predictions, accuracies).

    Data-parallel (``backend="jax"``): ``devices=N`` splits every batch across the first N
    JAX devices (GPUs, or CPU devices simulated with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``) along each input's batch axis
    (``batch_axes``: one axis or None per input; default: axis 1 of a sequence a scan reads,
    axis 0 of any other input), with the parameters replicated; the gradients of the shards
    are added across devices by XLA, so the step is the one-device step on the whole batch."""
    return TrainStep(inputs, loss, params, extras, backend, devices, batch_axes)


class History:
    """What ``fit`` saw: ``losses[i]`` is the training loss of step i+1; ``evals`` is a list of
    (step, metrics dict); ``stopped_at`` the step ``stop`` fired at (None if it never did);
    ``seconds`` the wall time."""

    def __init__(self):
        self.losses: list[float] = []
        self.evals: list[tuple[int, dict]] = []
        self.stopped_at: int | None = None
        self.seconds = 0.0

    @property
    def steps(self) -> int:
        return len(self.losses)

    def smoothed(self, window: int = 50) -> np.ndarray:
        """Running mean of the loss over the last ``window`` steps (for curves and logs)."""
        if not self.losses:
            return np.zeros(0)
        c = np.cumsum(np.r_[0.0, self.losses])
        idx = np.arange(1, len(self.losses) + 1)
        lo = np.maximum(idx - window, 0)
        return (c[idx] - c[lo]) / (idx - lo)

    def __repr__(self):
        end = f", stopped at step {self.stopped_at}" if self.stopped_at else ""
        return f"History({self.steps} steps, {self.seconds:.1f} s{end})"


def _format_metrics(metrics: Mapping) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, (float, np.floating)) else f"{k} {v}"
                     for k, v in metrics.items())


def fit(step: Callable, optimizer, batches, steps: int, log_every: int | None = 100,
        clip: float | None = None, evaluate: Callable | None = None,
        eval_every: int | None = None, stop: Callable | None = None, out=None,
        prefix: str = "") -> History:
    """Train for at most ``steps`` updates and return a ``History``.

    step(*batch) -> (loss, grads, ...) (a ``TrainStep`` or any callable of that form);
    optimizer: from ``tr.optim``, over the same parameter names as grads;
    batches: a callable i -> tuple of arrays (i = 0, 1, ...), or an iterable of tuples;
    clip: clip the gradient's total norm to this value (``tr.optim.clip_grad_norm``);
    evaluate() -> dict of metrics, called every ``eval_every`` steps (default log_every) and
    at the end; stop(metrics) -> True ends training early (the criterion was reached).
    Progress goes to ``out`` (a file, default stdout; pass ``log_every=None`` for silence).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"fit: steps must be a positive int, got {steps!r}")
    for name, v in (("log_every", log_every), ("eval_every", eval_every)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ValueError(f"fit: {name} must be None or a positive int, got {v!r}")
    if stop is not None and evaluate is None:
        raise ValueError("fit: stop(metrics) needs evaluate() to produce the metrics")
    out = sys.stdout if out is None else out
    eval_every = eval_every or log_every or steps
    source = batches if callable(batches) else iter(batches)
    history, start = History(), time.perf_counter()

    def log(line):
        if log_every is not None:
            print(prefix + line, file=out, flush=True)

    def run_eval(i):
        metrics = dict(evaluate())
        history.evals.append((i, metrics))
        done = stop is not None and bool(stop(metrics))
        return metrics, done

    metrics: dict = {}
    for i in range(1, steps + 1):
        try:
            batch = source(i - 1) if callable(source) else next(source)
        except StopIteration:
            break
        loss, grads, *_ = step(*(batch if isinstance(batch, tuple) else (batch,)))
        if not math.isfinite(loss):
            raise FloatingPointError(f"fit: the loss is {loss} at step {i}; lower the learning "
                                     "rate or clip the gradient (clip=...)")
        if clip is not None:
            grads, _ = clip_grad_norm(grads, clip)
        optimizer.step(grads)
        history.losses.append(loss)
        done = False
        if evaluate is not None and i % eval_every == 0:
            metrics, done = run_eval(i)
        if log_every is not None and (i % log_every == 0 or done):
            elapsed = time.perf_counter() - start
            extra = f"  {_format_metrics(metrics)}" if metrics else ""
            log(f"step {i:>{len(str(steps))}}/{steps}  loss {history.smoothed(log_every)[-1]:.4g}"
                f"{extra}  ({i / elapsed:.0f} steps/s)")
        if done:
            history.stopped_at = i
            break
    if evaluate is not None and history.stopped_at is None and (
            not history.evals or history.evals[-1][0] != history.steps):
        _, done = run_eval(history.steps)
        if done:
            history.stopped_at = history.steps
    history.seconds = time.perf_counter() - start
    return history


_FORMAT_KEY = "__tinygrad_rnn_params__"


@api
def save_params(path, params) -> str:
    """Write every parameter's value to ``path`` (.npz), atomically: the file is written
    beside the target and renamed over it, so a crash never leaves a half-written file.
    params: a Module or dict name -> parameter. Returns the path written."""
    values = {k: np.array(p.value) for k, p in _param_dict(params, "save_params").items()}
    if _FORMAT_KEY in values:
        raise fail(f"save_params: '{_FORMAT_KEY}' is reserved")
    path = _path(path, "save_params")
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".params-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **values, **{_FORMAT_KEY: np.array(1)})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


@api
def load_params(path, params) -> None:
    """Set every parameter of ``params`` (a Module or dict name -> parameter) from the file
    ``save_params`` wrote. Raises ValueError, and changes nothing, when the file is not such a
    file (corrupt, truncated, another format) or its names or shapes do not match."""
    target = _param_dict(params, "load_params")
    path = _path(path, "load_params")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy: one bare array
            raise ValueError(f"it holds one {type(loaded).__name__} of shape "
                             f"{getattr(loaded, 'shape', '?')}, not the .npz archive save_params "
                             "writes")
        with loaded as data:
            if _FORMAT_KEY not in data.files:
                raise ValueError("it has no tinygrad_rnn marker (not written by save_params)")
            values = {k: data[k] for k in data.files if k != _FORMAT_KEY}
    except FileNotFoundError:
        raise FileNotFoundError(f"load_params: no such file {path!r}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        why = ("it is not a NumPy .npz archive" if "pickled" in str(e) else str(e))
        raise ValueError(f"load_params: {path!r} is not a readable parameter file (one "
                         f"save_params writes): {why}") from None
    missing, extra = sorted(set(target) - set(values)), sorted(set(values) - set(target))
    if missing or extra:
        raise ValueError(f"load_params: {path!r} does not match the parameters: missing "
                         f"{missing}, unexpected {extra}")
    for k, p in target.items():
        if values[k].shape != p.shape:
            raise ValueError(f"load_params: {path!r}: '{k}' has shape {values[k].shape}, "
                             f"expected {p.shape}")
        if values[k].dtype.kind not in "iuf":
            raise ValueError(f"load_params: {path!r}: '{k}' has dtype {values[k].dtype}, "
                             "expected a real numeric array")
    for k, p in target.items():  # only once everything is checked
        p.assign(values[k].astype(p.dtype))
