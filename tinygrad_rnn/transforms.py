"""Tensor-level transformations: ``grad`` / ``vjp`` (reverse mode), ``jvp`` (forward mode),
``function`` (compile a graph into a reusable callable)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .functions import as_tensor
from .graph.autodiff import jvp_graph, vjp_graph
from .graph.node import GraphError, fail
from .ops.leaves import full_like
from .runtime import Function
from .tensor import Tensor, api


def _tensor_list(xs, what):
    if isinstance(xs, Tensor) or not isinstance(xs, Sequence):
        raise fail(f"{what} must be a list of Tensors, got {type(xs).__name__}")
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise fail(f"{what}[{i}] must be a Tensor, got {type(x).__name__}")
    return list(xs)


def _value_list(values, what):
    if isinstance(values, (Tensor, np.ndarray)) or not isinstance(values, Sequence) \
            or isinstance(values, (str, bytes)):
        raise fail(f"{what} must be a list with one array or Tensor per entry, got "
                   f"{type(values).__name__}")
    return list(values)


def _like(value, x: Tensor, what: str) -> Tensor:
    """``value`` (array or Tensor) as a Tensor of x's shape and dtype."""
    try:
        v = as_tensor(value, x)
    except GraphError as e:
        raise fail(f"{what}: {str(e).splitlines()[0].split(': ', 1)[-1]}") from None
    if v.shape != x.shape:
        raise fail(f"{what} has shape {v.shape}, expected {x.shape} (the shape of the value it "
                   f"pairs with)")
    if v.dtype != x.dtype:
        if v.dtype.kind == "f" and x.dtype.kind == "f" and not isinstance(value, Tensor):
            v = as_tensor(np.asarray(value, dtype=x.dtype))
        else:
            raise fail(f"{what} has dtype {v.dtype}, expected {x.dtype}")
    return v


@api
def vjp(ys: Sequence[Tensor], wrt: Sequence[Tensor], cotangents) -> list[Tensor]:
    """sum_k cotangents[k] . d ys[k] / d wrt[j] as symbolic Tensors, one per ``wrt``."""
    ys, wrt = _tensor_list(ys, "ys"), _tensor_list(wrt, "wrt")
    cotangents = _value_list(cotangents, "cotangents")
    if len(cotangents) != len(ys):
        raise fail(f"vjp: {len(ys)} outputs but {len(cotangents)} cotangents")
    gs = [_like(g, y, f"cotangents[{k}]") for k, (y, g) in enumerate(zip(ys, cotangents))]
    return _pull_back(ys, wrt, gs)


def _pull_back(ys, wrt, gs):
    nodes = vjp_graph([y.node for y in ys], [g.node for g in gs], [w.node for w in wrt])
    return [Tensor(n) for n in nodes]


@api
def grad(y: Tensor, wrt: Sequence[Tensor], seed=None) -> list[Tensor]:
    """The gradient of y with respect to each tensor in ``wrt``, as new graphs.

    y: a scalar (size-1) Tensor, or any shape with ``seed`` of the same shape (then this is
    seed . dy/dwrt). Returns a list of Tensors shaped like ``wrt``; zeros where y does not
    depend on an entry (as JAX does). The result can be differentiated again.

    >>> (gw,) = tr.grad(tr.tanh(x @ w).sum(), [w])
    """
    if not isinstance(y, Tensor):
        raise fail(f"grad: y must be a Tensor, got {type(y).__name__}")
    if y.dtype.kind != "f":
        raise fail(f"grad: y must be a floating tensor (a derivative needs real numbers), got "
                   f"{y.dtype} {y.shape}")
    if seed is None:
        if y.size != 1:
            raise fail(f"grad: y has shape {y.shape}; a non-scalar y needs a seed of that shape "
                       "(the cotangent to pull back)", y.node.site)
        seed = Tensor(full_like(y.node, 1))  # the engine's seed: it may fold
    return _pull_back([y], _tensor_list(wrt, "wrt"), [_like(seed, y, "seed")])


@api
def jvp(ys: Sequence[Tensor], xs: Sequence[Tensor], tangents) -> list[Tensor]:
    """Forward mode: sum_j d ys[k] / d xs[j] . tangents[j], one Tensor per entry of ``ys``.

    tangents: arrays or Tensors shaped like ``xs``.
    """
    ys, xs = _tensor_list(ys, "ys"), _tensor_list(xs, "xs")
    tangents = _value_list(tangents, "tangents")
    if len(tangents) != len(xs):
        raise fail(f"jvp: {len(xs)} inputs but {len(tangents)} tangents")
    ts = [_like(t, x, f"tangents[{j}]") for j, (x, t) in enumerate(zip(xs, tangents))]
    nodes = jvp_graph([y.node for y in ys], [x.node for x in xs], [t.node for t in ts])
    return [Tensor(n) for n in nodes]


@api
def function(inputs: Sequence[Tensor], outputs: Sequence[Tensor], backend: str = "numba",
             devices: int | None = None, batch_axes=None):
    """Compile the graph from placeholders ``inputs`` to ``outputs`` once; the result is
    called with one array per input and returns a list of arrays, one per output.

    backend: "numba" (default), "numpy" (the reference) or "jax" (the whole graph as one
    jax.jit-compiled function, scans as lax.scan; needs ``pip install 'tinygrad_rnn[jax]'``).
    devices (jax only): split each call across this many JAX devices along the inputs' batch
    axes (``batch_axes``: one axis or None per input; default: axis 1 of a sequence a scan
    reads, else axis 0); the outputs are the one-device outputs on the whole batch.

    >>> f = tr.function([x], [y, gw]); y_value, gw_value = f(np.ones((3, 4)))
    """
    inputs, outputs = _tensor_list(inputs, "inputs"), _tensor_list(outputs, "outputs")
    return _function(inputs, outputs, backend, devices, batch_axes, "function")


def _function(inputs, outputs, backend, devices, batch_axes, caller):
    if devices is None and batch_axes is not None:
        raise fail(f"{caller}: batch_axes is given without devices")
    if devices is not None and backend != "jax":
        raise fail(f"{caller}: devices={devices!r} needs backend='jax' (the numba and numpy "
                   f"backends run on this CPU only), got backend={backend!r}")
    f = Function([x.node for x in inputs], [y.node for y in outputs], backend, caller=caller)
    return f if devices is None else f.data_parallel(devices, batch_axes, caller)
