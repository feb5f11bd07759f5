"""Reductions along axes: ``reduce_sum`` and ``reduce_max`` (``axis``: a sorted tuple of
non-negative axes; ``keepdims``). ``mean`` and ``logsumexp`` are compositions in
``tinygrad_rnn.functions``."""
from __future__ import annotations

import math

import numpy as np

from .elementwise import cast, div, equal, mul
from .kernels import static
from .registry import check, primitive
from .shape import broadcast_to, reshape


def _rule(x, axis, keepdims):
    check(all(0 <= a < x.ndim for a in axis) and list(axis) == sorted(set(axis)),
          f"axis {axis} is not a sorted tuple of axes of a {x.ndim}-d input")
    check(x.dtype.kind in "fiu", f"expected a numeric dtype, got {x.dtype}")
    return reduced_shape(x.shape, axis, keepdims), x.dtype


def reduced_shape(shape, axis, keepdims):
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axis)


def _rows(x, axis):
    """x with the reduced axes moved last, as a C-contiguous (rows, n) array."""
    keep = [i for i in range(x.ndim) if i not in axis]
    moved = np.transpose(x, keep + list(axis))
    n = math.prod(x.shape[a] for a in axis)
    rows = math.prod(x.shape[k] for k in keep)
    return np.ascontiguousarray(moved).reshape(rows, n)  # (not -1: n may be 0)


def _numba_reduce(kernel, empty_ok, *extra):
    def run(x, axis, keepdims):
        shape = reduced_shape(x.shape, axis, keepdims)
        out = np.empty(shape, x.dtype)
        rows = _rows(x, axis)
        if rows.shape[1] == 0:
            if not empty_ok:
                raise ValueError("max of an empty axis")
            out.fill(0)
            return out
        kernel(out.reshape(-1), rows, *[e(x.dtype) for e in extra])
        return out
    return run


def _shift(axis):
    """Axes of the same reduction once a leading batch axis is added."""
    return tuple(a + 1 for a in axis)


def expand_back(g, x, axis, keepdims):
    """g of the reduced shape, broadcast back to x's shape."""
    return broadcast_to(reshape(g, shape=reduced_shape(x.shape, axis, True)), shape=x.shape)


reduce_sum = primitive(
    name="reduce_sum", arity=1, shape_rule=_rule, reduction="sum",
    numpy=lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    numba=_numba_reduce(static.sum_rows, True, static.accumulator_zero),
    vjp=(lambda g, out, x, axis, keepdims: expand_back(g, x, axis, keepdims),),
    jvp=(lambda t, out, x, axis, keepdims: reduce_sum(t, axis=axis, keepdims=keepdims),),
    batch=lambda xs, batched, size, axis, keepdims: reduce_sum(
        xs[0], axis=_shift(axis), keepdims=keepdims), symbol="Σ")


def _argmax_share(out, x, axis, keepdims):
    """Where x attains the max, 1/count (ties share the gradient equally, like JAX)."""
    hits = cast(equal(x, expand_back(out, x, axis, keepdims)), dtype=x.dtype)
    count = reduce_sum(hits, axis=axis, keepdims=True)
    return div(hits, broadcast_to(count, shape=x.shape))


def _max_rule(x, axis, keepdims):
    check(all(x.shape[a] > 0 for a in axis if a < x.ndim), f"max over an empty axis of {x.shape}")
    return _rule(x, axis, keepdims)


reduce_max = primitive(
    name="reduce_max", arity=1, shape_rule=_max_rule, reduction="max",
    numpy=lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    numba=_numba_reduce(static.max_rows, empty_ok=False),
    vjp=(lambda g, out, x, axis, keepdims:
         mul(expand_back(g, x, axis, keepdims), _argmax_share(out, x, axis, keepdims)),),
    jvp=(lambda t, out, x, axis, keepdims:
         reduce_sum(mul(t, _argmax_share(out, x, axis, keepdims)), axis=axis, keepdims=keepdims),),
    batch=lambda xs, batched, size, axis, keepdims: reduce_max(
        xs[0], axis=_shift(axis), keepdims=keepdims), symbol="max")
