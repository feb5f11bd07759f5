"""Shape primitives: reshape, transpose, broadcast_to, getitem (basic slices and integers),
unslice (its transpose: scatter into zeros), concat.

These move memory and compute nothing, so both backends run them as NumPy views or copies
(``numba=None``); the kernel generator of the compiling executor folds them into the
elementwise kernels around them.
"""
from __future__ import annotations

import math

import numpy as np

from ..graph.node import GraphError
from .registry import check, primitive


def _reshape_rule(x, shape):
    check(math.prod(shape) == x.size, f"cannot reshape {x.shape} ({x.size} elements) to {shape}")
    return shape, x.dtype


def _fold_reshape(x, shape):
    from .leaves import fill
    if tuple(shape) == x.shape:
        return x
    if x.op is fill and not x.attrs.get("user") and math.prod(shape) == x.size:
        return fill(**{**x.attrs, "shape": tuple(shape)})
    return None


reshape = primitive(
    name="reshape", moves=True, arity=1, shape_rule=_reshape_rule,
    numpy=lambda x, shape: np.reshape(x, shape),
    vjp=(lambda g, out, x, shape: reshape(g, shape=x.shape),),
    jvp=(lambda t, out, x, shape: reshape(t, shape=shape),),
    fold=_fold_reshape,
    batch=lambda xs, batched, size, shape: reshape(xs[0], shape=(size,) + tuple(shape)))


def _transpose_rule(x, axes):
    check(sorted(axes) == list(range(x.ndim)), f"axes {axes} is not a permutation for {x.shape}")
    return tuple(x.shape[a] for a in axes), x.dtype


def _inverse(axes):
    return tuple(int(i) for i in np.argsort(axes))


transpose = primitive(
    name="transpose", moves=True, arity=1, shape_rule=_transpose_rule, symbol="ᵀ",
    numpy=lambda x, axes: np.transpose(x, axes),
    vjp=(lambda g, out, x, axes: transpose(g, axes=_inverse(axes)),),
    jvp=(lambda t, out, x, axes: transpose(t, axes=axes),),
    fold=lambda x, axes: x if tuple(axes) == tuple(range(x.ndim)) else None,
    batch=lambda xs, batched, size, axes: transpose(xs[0], axes=(0,) + tuple(a + 1 for a in axes)))


def broadcast_shapes(*shapes):
    """NumPy's broadcast result shape, or a GraphError naming the shapes."""
    ndim = max(len(s) for s in shapes)
    out = []
    for k in range(ndim):
        dims = {s[len(s) - ndim + k] for s in shapes if len(s) - ndim + k >= 0} - {1}
        check(len(dims) <= 1, f"shapes {', '.join(map(str, shapes))} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _broadcast_rule(x, shape):
    check(len(shape) >= x.ndim and broadcast_shapes(x.shape, shape) == tuple(shape),
          f"cannot broadcast {x.shape} to {shape}")
    return shape, x.dtype


def sum_to(g, shape):
    """Undo broadcasting: sum g (broadcast from ``shape``) back down to ``shape``."""
    from .reduce import reduce_sum
    lead = g.ndim - len(shape)
    axis = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if axis:
        g = reduce_sum(g, axis=axis, keepdims=False)
    return reshape(g, shape=tuple(shape))


def _fold_broadcast(x, shape):
    from .leaves import fill
    if tuple(shape) == x.shape:
        return x
    if x.op is fill and not x.attrs.get("user"):  # (a user's fill stays a point of its own)
        return fill(**{**x.attrs, "shape": tuple(shape)})
    return None


broadcast_to = primitive(
    name="broadcast_to", moves=True, arity=1, shape_rule=_broadcast_rule,
    numpy=lambda x, shape: np.broadcast_to(x, shape),
    vjp=(lambda g, out, x, shape: sum_to(g, x.shape),),
    jvp=(lambda t, out, x, shape: broadcast_to(t, shape=shape),),
    fold=_fold_broadcast,
    batch=lambda xs, batched, size, shape: _batch_broadcast(xs[0], size, tuple(shape)), symbol="broadcast")


def _batch_broadcast(x, size, shape):
    # right-align x's own dims with ``shape`` behind the batch axis, then broadcast
    aligned = reshape(x, shape=(size,) + (1,) * (len(shape) - x.ndim + 1) + x.shape[1:])
    return broadcast_to(aligned, shape=(size,) + shape)


def normalize_index(shape, index):
    """A hashable, fully resolved form of a basic index: one entry per dimension,
    ``("i", k)`` for an integer, ``("s", start, stop, step)`` for a slice."""
    if not isinstance(index, tuple):
        index = (index,)
    check(len(index) <= len(shape), f"too many indices ({len(index)}) for shape {shape}")
    entries = []
    for dim, item in zip(shape, index + (slice(None),) * (len(shape) - len(index))):
        if isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                check(part is None or (isinstance(part, (int, np.integer))
                                       and not isinstance(part, bool)),
                      f"slice {item} has a bound or step that is not an int")
            check(item.step != 0, f"slice {item} has step 0")
            entries.append(("s",) + item.indices(dim))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            k = int(item)
            check(-dim <= k < dim, f"index {k} is out of bounds for an axis of size {dim}")
            entries.append(("i", k % dim))
        else:
            raise GraphError(f"only basic slices and integers index a tensor, got {item!r}")
    return tuple(entries)


def _py_index(index):
    out = []
    for e in index:
        if e[0] == "i":
            out.append(e[1])
        else:
            start, stop, step = e[1:]
            if not len(range(start, stop, step)):
                out.append(slice(0, 0))  # (a resolved start of -1 would read the last element)
            else:
                out.append(slice(start, None if stop < 0 else stop, step))
    return tuple(out)


def indexed_shape(index):
    return tuple(len(range(*e[1:])) for e in index if e[0] == "s")


def _getitem_rule(x, index):
    check(len(index) == x.ndim, f"index {index} does not match {x.shape}")
    return indexed_shape(index), x.dtype


def _unslice_rule(g, index, shape):
    check(indexed_shape(index) == g.shape,
          f"values of shape {g.shape} do not fit index {index} of shape {shape}")
    return shape, g.dtype


def _unslice_np(g, index, shape):
    out = np.zeros(shape, g.dtype)
    out[_py_index(index)] = g
    return out


getitem = primitive(
    name="getitem", moves=True, arity=1, shape_rule=_getitem_rule,
    numpy=lambda x, index: x[_py_index(index)],
    vjp=(lambda g, out, x, index: unslice(g, index=index, shape=x.shape),),
    jvp=(lambda t, out, x, index: getitem(t, index=index),),
    batch=lambda xs, batched, size, index: getitem(xs[0], index=(("s", 0, size, 1),) + index), symbol="[ ]")

def _covers(index, shape):
    """The index selects all of ``shape`` (every axis a full slice with step 1)."""
    return all(e[0] == "s" and e[1:] == (0, d, 1) for e, d in zip(index, shape))


def _fold_unslice(g, index, shape):
    return g if _covers(index, shape) and g.shape == tuple(shape) else None


def merge_unslices(x, y):
    """unslice(a) + unslice(b) over adjacent blocks of one axis (the gates' cotangents of a
    split pre-activation) is unslice(concat(a, b)) over both: no zeros, no add. None when
    the two are not such a pair."""
    if x.op is not unslice or y.op is not unslice or x.shape != y.shape or x.dtype != y.dtype \
            or not (x.engine and y.engine):
        return None
    ix, iy = x.attrs["index"], y.attrs["index"]
    differ = [k for k, (a, b) in enumerate(zip(ix, iy)) if a != b]
    if len(differ) != 1 or any(e[0] != "s" or e[3] != 1 or e[2] <= e[1]
                               for e in (ix[differ[0]], iy[differ[0]])):
        return None  # (only non-empty, increasing blocks are adjacent)
    k = differ[0]
    (a,), (b,) = x.inputs, y.inputs
    if ix[k][2] == iy[k][1]:
        first, second, start, stop = a, b, ix[k][1], iy[k][2]
    elif iy[k][2] == ix[k][1]:
        first, second, start, stop = b, a, iy[k][1], ix[k][2]
    else:
        return None
    axis = sum(1 for e in ix[:k] if e[0] == "s")  # integer entries drop their axis
    index = ix[:k] + (("s", start, stop, 1),) + ix[k + 1:]
    return unslice(concat(first, second, axis=axis), index=index, shape=x.shape)


unslice = primitive(
    name="unslice", moves=True, arity=1, shape_rule=_unslice_rule, numpy=_unslice_np, fold=_fold_unslice,
    vjp=(lambda g, out, x, index, shape: getitem(g, index=index),),
    jvp=(lambda t, out, x, index, shape: unslice(t, index=index, shape=shape),),
    batch=lambda xs, batched, size, index, shape: unslice(
        xs[0], index=(("s", 0, size, 1),) + index, shape=(size,) + tuple(shape)), symbol="[ ]ᵀ")


def _concat_rule(*xs, axis):
    check(len(xs) >= 1, "needs at least one input")
    first = xs[0]
    check(0 <= axis < first.ndim, f"axis {axis} out of range for {first.shape}")
    for i, x in enumerate(xs[1:], 1):
        check(x.ndim == first.ndim and all(
            a == b for k, (a, b) in enumerate(zip(x.shape, first.shape)) if k != axis),
            f"input {i} has shape {x.shape}, input 0 has {first.shape}: only axis {axis} may differ")
        check(x.dtype == first.dtype, f"input {i} has dtype {x.dtype}, input 0 has {first.dtype}")
    return first.shape[:axis] + (sum(x.shape[axis] for x in xs),) + first.shape[axis + 1:], first.dtype


def _flatten_concat(xs, axis):
    """concat(concat(a, b), c) along one axis is concat(a, b, c)."""
    def nested(x):  # only the engine's own concats are looked through
        return x.op is concat and x.attrs["axis"] == axis and x.engine

    if not any(nested(x) for x in xs):
        return None
    flat = [p for x in xs for p in (x.inputs if nested(x) else (x,))]
    return concat(*flat, axis=axis)


def _part(i, xs, axis, ndim):
    """The index selecting input i's block of a concat along ``axis``."""
    start = sum(x.shape[axis] for x in xs[:i])
    return tuple(("s", start, start + xs[i].shape[axis], 1) if k == axis
                 else ("s", 0, xs[0].shape[k], 1) for k in range(ndim))


concat = primitive(
    name="concat", moves=True, shape_rule=_concat_rule,
    numpy=lambda *xs, axis: np.concatenate(xs, axis=axis),
    vjp=lambda i, g, out, *xs, axis: getitem(g, index=_part(i, xs, axis, g.ndim)),
    jvp=lambda i, t, out, *xs, axis: unslice(t, index=_part(i, xs, axis, out.ndim), shape=out.shape),
    fold=lambda *xs, axis: xs[0] if len(xs) == 1 else _flatten_concat(xs, axis),
    batch=lambda xs, batched, size, axis: concat(
        *[x if b else broadcast_to(x, shape=(size,) + x.shape) for x, b in zip(xs, batched)],
        axis=axis + 1))
