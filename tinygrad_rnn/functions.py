"""The ``tr.*`` functions: every primitive with NumPy's broadcasting and argument
conventions, and the compositions built from them (mean, logsumexp, softmax, log_softmax,
cross_entropy, mse, stack, split). Compositions have no derivative rules of their own.

Binary operations accept Tensors, NumPy arrays and Python numbers on either side. Python
numbers take the tensor's dtype; bool tensors (masks) take the other operand's dtype; other
dtype mismatches are an error, not a silent promotion.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .graph.node import GraphError, fail, rectangular
from .ops import elementwise as ew
from .ops import leaves, linalg, reduce
from .ops import shape as sh
from .tensor import Tensor, _short, api, as_shape, tensor


def _build(prim, *inputs, **attrs):
    return Tensor(prim(*[t.node for t in inputs], **attrs))


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """x as a Tensor: Tensors pass through; Python numbers become a 0-d fill of ``like``'s
    dtype; arrays become constants (int/bool arrays take ``like``'s floating dtype)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating)):
        dtype = like.dtype if like is not None else np.asarray(x).dtype
        if isinstance(x, (float, np.floating)) and dtype.kind != "f":
            raise fail(f"cannot combine the float {x} with a {dtype} tensor without a cast")
        return Tensor(leaves.fill(value=x, shape=(), dtype=dtype, user=True))
    array = rectangular(x, lambda got: fail(f"expected a Tensor, an array or a number, got {got}"))
    if array.dtype.kind not in "biuf":
        raise fail(f"expected a Tensor, an array or a number, got {type(x).__name__} "
                   f"{_short(x)} (dtype {array.dtype}); only bool, integer and real floating "
                   "values make tensors")
    if like is not None and like.dtype.kind == "f" and array.dtype.kind in "biu":
        array = array.astype(like.dtype)
    return tensor(array)


def _pair(a, b, name):
    """Both operands as Tensors of one dtype, broadcast to one shape."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    a, b = as_tensor(a, like), as_tensor(b, like)
    if a.dtype != b.dtype:
        if a.dtype == np.bool_:
            a = astype(a, b.dtype)
        elif b.dtype == np.bool_:
            b = astype(b, a.dtype)
        else:
            raise fail(f"{name}: operands have dtypes {a.dtype} and {b.dtype} "
                       f"(shapes {a.shape}, {b.shape}); cast one with .astype()")
    return _broadcast_all([a, b], name)


def _broadcast_all(ts, name):
    try:
        target = sh.broadcast_shapes(*[t.shape for t in ts])
    except GraphError:
        raise fail(f"{name}: shapes {', '.join(str(t.shape) for t in ts)} do not broadcast "
                   "together") from None
    return [broadcast_to(t, target) for t in ts]


def _binary(prim):
    def op(a, b):
        x, y = _pair(a, b, prim.name)
        return _build(prim, x, y)
    op.__name__ = prim.name
    op.__doc__ = f"Elementwise {prim.name} with NumPy broadcasting: (...), (...) -> (...)."
    return op


def _unary(prim):
    def op(x):
        return _build(prim, as_tensor(x))
    op.__name__ = prim.name
    op.__doc__ = f"Elementwise {prim.name}: (...) -> (...)."
    return op


add, sub, mul, div, pow = map(_binary, (ew.add, ew.sub, ew.mul, ew.div, ew.pow))
maximum, minimum = _binary(ew.maximum), _binary(ew.minimum)
less, less_equal, greater, greater_equal, equal, not_equal = map(_binary, (
    ew.less, ew.less_equal, ew.greater, ew.greater_equal, ew.equal, ew.not_equal))
neg, exp, log, tanh, sigmoid, relu, sqrt, abs, sign = map(_unary, (
    ew.neg, ew.exp, ew.log, ew.tanh, ew.sigmoid, ew.relu, ew.sqrt, ew.abs, ew.sign))
subtract, multiply, divide, power, negative = sub, mul, div, pow, neg


def stop_gradient(x) -> Tensor:
    """x, with no derivative flowing through it (PyTorch's ``.detach()``)."""
    return _build(ew.stop_gradient, as_tensor(x))


def astype(x, dtype) -> Tensor:
    """x converted to ``dtype`` (bool masks to 0.0/1.0 floats, float32 <-> float64)."""
    return _build(ew.cast, as_tensor(x), dtype=_dtype(dtype, "astype"))


def _dtype(dtype, name):
    try:
        return np.dtype(dtype)
    except TypeError:
        raise fail(f"{name}: dtype must be a NumPy dtype, got {dtype!r}") from None


def where(condition, a, b) -> Tensor:
    """a where ``condition`` (a bool tensor or array) holds, else b; all three broadcast."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    c = as_tensor(condition)
    if c.dtype != np.bool_:
        raise fail(f"where: condition must be bool, got {c.dtype}")
    a, b = _pair(a, b, "where") if like is not None else (as_tensor(a), as_tensor(b))
    c, a, b = _broadcast_all([c, a, b], "where")
    return _build(ew.where, c, a, b)


# ---- shapes ---------------------------------------------------------------------------

def broadcast_to(x, shape) -> Tensor:
    """x broadcast to ``shape`` by NumPy's rules."""
    x = as_tensor(x)
    return _build(sh.broadcast_to, x, shape=as_shape(shape, "broadcast_to"))


def reshape(x, shape) -> Tensor:
    """x with a new shape of the same size; one dimension may be -1."""
    x = as_tensor(x)
    shape = as_shape(shape, "reshape", allow_minus_one=True)
    if shape.count(-1) > 1:
        raise fail(f"reshape: at most one -1 in {shape}")
    if -1 in shape:
        rest = math.prod(d for d in shape if d != -1)
        if rest == 0 or x.size % rest:
            raise fail(f"reshape: cannot reshape {x.shape} to {shape}")
        shape = tuple(x.size // rest if d == -1 else d for d in shape)
    return _build(sh.reshape, x, shape=shape)


def _axis(a, ndim, name):
    if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
        raise fail(f"{name}: axis must be an int, got {a!r}")
    if not -ndim <= a < ndim:
        raise fail(f"{name}: axis {a} is out of range for {ndim} dimensions")
    return a % ndim


def transpose(x, axes=None) -> Tensor:
    """x with its axes permuted (reversed when ``axes`` is None), like ``np.transpose``."""
    x = as_tensor(x)
    if axes is None:
        return _build(sh.transpose, x, axes=tuple(reversed(range(x.ndim))))
    if not isinstance(axes, (tuple, list)) or len(axes) != x.ndim:
        raise fail(f"transpose: axes must be a permutation of the {x.ndim} axes of {x.shape}, "
                   f"got {axes!r}")
    axes = tuple(_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise fail(f"transpose: axes {axes} is not a permutation of the axes of {x.shape}")
    return _build(sh.transpose, x, axes=axes)


def swapaxes(x, a, b) -> Tensor:
    x = as_tensor(x)
    axes = list(range(x.ndim))
    a, b = _axis(a, x.ndim, "swapaxes"), _axis(b, x.ndim, "swapaxes")
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def getitem(x, index) -> Tensor:
    """Basic indexing: integers, slices, ``...`` and ``None``; arrays are not accepted."""
    x = as_tensor(x)
    index = index if isinstance(index, tuple) else (index,)
    if builtins.sum(i is Ellipsis for i in index) > 1:
        raise fail("getitem: an index can only have one '...'")
    real = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if Ellipsis in [i for i in index if i is Ellipsis]:
        k = next(j for j, i in enumerate(index) if i is Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - real) + index[k + 1:]
    for i in index:
        if not (i is None or isinstance(i, slice) or
                (isinstance(i, (int, np.integer)) and not isinstance(i, bool))):
            raise fail(f"getitem: only integers, slices, ... and None index a tensor, got "
                       f"{type(i).__name__}; use tr.where / masks for data-dependent selection")
    try:
        norm = sh.normalize_index(x.shape, tuple(i for i in index if i is not None))
    except GraphError as e:
        raise fail(f"getitem: {e} (tensor of shape {x.shape})") from None
    out = _build(sh.getitem, x, index=norm)
    if any(i is None for i in index):
        # new axes: place a 1 for each None among the kept (sliced) dimensions
        shape, dims = [], iter(out.shape)
        for i in index:
            if i is None:
                shape.append(1)
            elif isinstance(i, slice):
                shape.append(next(dims))
        shape.extend(dims)
        out = reshape(out, shape)
    return out


def concat(ts, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis, like ``np.concatenate``."""
    if isinstance(ts, Tensor) or not isinstance(ts, (list, tuple)):
        raise fail(f"concat: expected a list or tuple of tensors, got {type(ts).__name__}")
    ts = [as_tensor(t) for t in ts]
    if not ts:
        raise fail("concat: needs at least one tensor")
    return _build(sh.concat, *ts, axis=_axis(axis, ts[0].ndim, "concat"))


concatenate = concat


def stack(ts, axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis, like ``np.stack``."""
    if isinstance(ts, Tensor) or not isinstance(ts, (list, tuple)):
        raise fail(f"stack: expected a list or tuple of tensors, got {type(ts).__name__}")
    ts = [as_tensor(t) for t in ts]
    if not ts:
        raise fail("stack: needs at least one tensor")
    for i, t in enumerate(ts[1:], 1):
        if t.shape != ts[0].shape or t.dtype != ts[0].dtype:
            raise fail(f"stack: every tensor must have the same shape and dtype; tensor 0 is "
                       f"{ts[0].shape} {ts[0].dtype}, tensor {i} is {t.shape} {t.dtype}")
    axis = _axis(axis, ts[0].ndim + 1, "stack")
    return concat([reshape(t, t.shape[:axis] + (1,) + t.shape[axis:]) for t in ts], axis)


def split(x, indices_or_sections, axis: int = 0) -> list[Tensor]:
    """Split into pieces along ``axis``, like ``np.split`` (equal sections or cut points)."""
    x = as_tensor(x)
    axis = _axis(axis, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise fail(f"split: axis of size {n} does not divide into {k} equal sections")
        cuts = [n // k * j for j in range(1, k)]
    elif isinstance(indices_or_sections, (list, tuple, np.ndarray)) and all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in indices_or_sections):
        cuts = [int(c) for c in indices_or_sections]
    else:
        raise fail(f"split: expected a number of sections (int) or a list of cut points (ints), "
                   f"got {indices_or_sections!r}")
    bounds = [0] + cuts + [n]
    pre = (slice(None),) * axis
    return [x[pre + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:])]


# ---- reductions -----------------------------------------------------------------------

def _axes(x, axis, name):
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
        raise fail(f"{name}: axis must be None, an int or a tuple of ints, got {axis!r}")
    norm = tuple(sorted(_axis(int(a), x.ndim, name) for a in axes))
    if len(set(norm)) != len(norm):
        raise fail(f"{name}: repeated axis in {axis}")
    return norm


def sum(x, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple, or None for all): (...) -> reduced shape."""
    x = as_tensor(x)
    return _build(reduce.reduce_sum, x, axis=_axes(x, axis, "sum"), keepdims=bool(keepdims))


def max(x, axis=None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; ties share the gradient equally."""
    x = as_tensor(x)
    return _build(reduce.reduce_max, x, axis=_axes(x, axis, "max"), keepdims=bool(keepdims))


def min(x, axis=None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis`` (the max of -x, negated)."""
    return neg(max(neg(x), axis, keepdims))


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    x = as_tensor(x)
    axes = _axes(x, axis, "mean")
    n = math.prod(x.shape[a] for a in axes)
    if x.dtype.kind != "f":
        raise fail(f"mean: expected a floating dtype, got {x.dtype}")
    return sum(x, axes, keepdims) * (1.0 / n if n else math.nan)


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, computed without overflow (the max is subtracted)."""
    x = _floating(x, "logsumexp")
    axes = _axes(x, axis, "logsumexp")
    m = _finite_shift(max(x, axes, keepdims=True))
    out = log(sum(exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else reshape(out, reduce.reduced_shape(x.shape, axes, False))


def _floating(x, name) -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise fail(f"{name}: expected a floating tensor, got {x.dtype} {x.shape} (cast it with "
                   ".astype(np.float64))")
    return x


def _finite_shift(m) -> Tensor:
    """The max used to shift exp's argument, with +-inf replaced by 0 (as PyTorch does): an
    infinite max would make inf - inf = nan, where logsumexp([inf, 0]) is inf and
    logsumexp([-inf, -inf]) is -inf. No gradient flows through the shift."""
    m = stop_gradient(m)
    return where(equal(abs(m), math.inf), 0.0, m)


def softmax(x, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, without overflow."""
    x = _floating(x, "softmax")
    _axis(axis, x.ndim, "softmax")
    e = exp(x - stop_gradient(max(x, axis, keepdims=True)))
    return e / sum(e, axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``."""
    x = _floating(x, "log_softmax")
    _axis(axis, x.ndim, "log_softmax")
    return x - logsumexp(x, axis, keepdims=True)


def one_hot(targets, num_classes: int, dtype=np.float64) -> Tensor:
    """(...) integer targets -> (..., num_classes) of 0/1 in ``dtype``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise fail(f"one_hot: num_classes must be an int >= 1, got {num_classes!r}")
    if not isinstance(targets, Tensor):
        _check_classes(targets, num_classes, "one_hot")
    t = as_tensor(targets)
    if t.dtype.kind not in "iu":
        raise fail(f"one_hot: expected integer targets, got {t.dtype}")
    classes = tensor(np.arange(num_classes, dtype=t.dtype))
    return astype(equal(reshape(t, t.shape + (1,)), classes), dtype)


def _check_classes(targets, c, name):
    """Known class targets as an integer array with values in [0, c), or an error."""
    if targets is None or isinstance(targets, (str, bytes, float)):
        raise fail(f"{name}: expected integer class targets, got {targets!r}")
    try:
        arr = np.asarray(targets)
    except (ValueError, TypeError):
        raise fail(f"{name}: expected integer class targets, got a ragged "
                   f"{type(targets).__name__}") from None
    if arr.dtype.kind not in "iu":
        raise fail(f"{name}: expected integer class targets, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= c):
        raise fail(f"{name}: targets must lie in [0, {c}), got values {arr.min()}..{arr.max()}")
    return arr


def cross_entropy(logits, targets) -> Tensor:
    """Mean over the batch of -log softmax(logits)[b, targets[b]], as PyTorch's
    ``F.cross_entropy``: logits (B, C) (or (C,)), integer targets (B,) (or a scalar)."""
    logits = as_tensor(logits)
    if logits.ndim not in (1, 2):
        raise fail(f"cross_entropy: expected logits of shape (B, C) or (C,), got {logits.shape}")
    if not isinstance(targets, Tensor):
        targets = tensor(_check_classes(targets, logits.shape[-1], "cross_entropy"))
    if targets.shape != logits.shape[:-1]:
        raise fail(f"cross_entropy: logits {logits.shape} need targets of shape "
                   f"{logits.shape[:-1]}, got {targets.shape}")
    # where, not one_hot * log_softmax: another class's -inf logit must not make 0 * -inf
    hit = one_hot(targets, logits.shape[-1], np.bool_)
    picked = where(hit, log_softmax(logits, -1), 0.0)
    return -mean(sum(picked, -1))


def mse(prediction, target) -> Tensor:
    """Mean of (prediction - target)**2 over all elements (PyTorch's ``mse_loss``)."""
    prediction = as_tensor(prediction)
    target = as_tensor(target, prediction)
    if prediction.shape != target.shape:
        raise fail(f"mse: prediction {prediction.shape} and target {target.shape} differ in "
                   "shape (no broadcasting in a loss)")
    d = prediction - target
    return mean(d * d)


mse_loss = mse


def softplus(x) -> Tensor:
    """log(1 + exp(x)) for any x without overflow, as logsumexp(0, x): its gradient is
    sigmoid(x) everywhere (no kink at 0, unlike relu(x) + log(1 + exp(-|x|))). Accurate to
    ~1e-16 absolute; for x < -30 not to full relative precision (there is no log1p)."""
    x = _floating(x, "softplus")
    m = _finite_shift(maximum(x, 0.0))
    return m + log(exp(-m) + exp(x - m))


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> Tensor:
    """-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] = softplus(z) - y z, elementwise, as
    PyTorch's ``F.binary_cross_entropy_with_logits``: logits and targets of one shape;
    reduction "mean" (default), "sum" or "none"."""
    logits = as_tensor(logits)
    targets = as_tensor(targets, logits)
    if logits.shape != targets.shape:
        raise fail(f"binary_cross_entropy_with_logits: logits {logits.shape} and targets "
                   f"{targets.shape} differ in shape (no broadcasting in a loss)")
    if reduction not in ("mean", "sum", "none"):
        raise fail(f"binary_cross_entropy_with_logits: reduction must be 'mean', 'sum' or "
                   f"'none', got {reduction!r}")
    loss = softplus(logits) - targets * logits
    return mean(loss) if reduction == "mean" else sum(loss) if reduction == "sum" else loss


# ---- linear algebra -------------------------------------------------------------------

def matmul(a, b) -> Tensor:
    """NumPy's matmul: (..., m, k) @ (..., k, n) -> (..., m, n), batch dimensions broadcast;
    a 1-d operand is a vector (its dimension is dropped from the result)."""
    like = a if isinstance(a, Tensor) else b
    a, b = as_tensor(a, like), as_tensor(b, like)
    if a.ndim == 0 or b.ndim == 0:
        raise fail(f"matmul: operands must have at least 1 dimension, got {a.shape} @ {b.shape}")
    if a.dtype != b.dtype:
        raise fail(f"matmul: operands have dtypes {a.dtype} and {b.dtype}; cast one")
    va, vb = a.ndim == 1, b.ndim == 1
    a2 = reshape(a, (1,) + a.shape) if va else a
    b2 = reshape(b, b.shape + (1,)) if vb else b
    if a2.shape[-1] != b2.shape[-2]:
        raise fail(f"matmul: {a.shape} @ {b.shape}: inner dimensions differ "
                   f"({a2.shape[-1]} != {b2.shape[-2]})")
    try:
        batch = sh.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except GraphError:
        raise fail(f"matmul: batch dimensions of {a.shape} and {b.shape} do not broadcast") from None
    a2 = broadcast_to(a2, batch + a2.shape[-2:])
    b2 = broadcast_to(b2, batch + b2.shape[-2:])
    out = _build(linalg.matmul, a2, b2)
    if va or vb:
        shape = batch + ((a2.shape[-2],) if not va else ()) + ((b2.shape[-1],) if not vb else ())
        out = reshape(out, shape)
    return out


def dot(a, b) -> Tensor:
    """Sum of a * b over all elements of two tensors of one shape (a scalar); for vectors,
    their dot product. Unequal shapes are refused (np.dot would multiply matrices)."""
    like = a if isinstance(a, Tensor) else b
    a, b = as_tensor(a, like), as_tensor(b, like)
    if a.shape != b.shape:
        raise fail(f"dot: expected two tensors of one shape, got {a.shape} and {b.shape} (use "
                   "matmul for matrix products)")
    x, y = _pair(a, b, "dot")
    return sum(x * y)


# ---- constructors ---------------------------------------------------------------------

def full(shape, value, dtype=np.float64, _caller: str = "full") -> Tensor:
    """A tensor of one repeated value: shape an int or a tuple of ints, like ``np.full``."""
    shape = as_shape(shape, _caller)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise fail(f"{_caller}: dtype must be a NumPy dtype, got {dtype!r}") from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or isinstance(value, (complex, np.complexfloating)):
        if not (dtype == np.bool_ and isinstance(value, (bool, np.bool_))):
            raise fail(f"{_caller}: value must be a real number, got {value!r}")
    if dtype.kind not in "biuf":
        raise fail(f"{_caller}: expected a bool, integer or floating dtype, got {dtype}")
    if isinstance(value, float) and dtype.kind != "f" and value != int(value):
        raise fail(f"{_caller}: the value {value} does not fit dtype {dtype}")
    return Tensor(leaves.fill(value=value, shape=shape, dtype=dtype, user=True))


def zeros(shape, dtype=np.float64) -> Tensor:
    """Zeros of ``shape`` (an int or a tuple of ints), like ``np.zeros``."""
    return full(shape, 0, dtype, _caller="zeros")


def ones(shape, dtype=np.float64) -> Tensor:
    """Ones of ``shape`` (an int or a tuple of ints), like ``np.ones``."""
    return full(shape, 1, dtype, _caller="ones")


def zeros_like(x) -> Tensor:
    """Zeros with x's shape and dtype."""
    x = as_tensor(x)
    return full(x.shape, 0, x.dtype, _caller="zeros_like")


def ones_like(x) -> Tensor:
    """Ones with x's shape and dtype."""
    x = as_tensor(x)
    return full(x.shape, 1, x.dtype, _caller="ones_like")


# every public function speaks for itself in errors (graph.node.api)
for _name in ("add sub mul div pow maximum minimum less less_equal greater greater_equal equal "
              "not_equal neg exp log tanh sigmoid relu sqrt abs sign stop_gradient astype where "
              "broadcast_to reshape transpose swapaxes getitem concat stack split sum max min mean "
              "logsumexp softmax log_softmax one_hot cross_entropy mse softplus "
              "binary_cross_entropy_with_logits matmul dot full zeros ones zeros_like ones_like "
              "as_tensor").split():
    globals()[_name] = api(globals()[_name])
subtract, multiply, divide, power, negative, concatenate, mse_loss = (
    sub, mul, div, pow, neg, concat, mse)
