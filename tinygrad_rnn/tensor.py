"""``Tensor``: the user's handle on a graph node, with NumPy-style operators and methods,
and the leaf constructors ``tensor``, ``parameter``, ``placeholder``.

Building expressions builds nodes; nothing runs until ``t.numpy()`` or a compiled
``tr.function`` is called.
"""
from __future__ import annotations

import functools

import numpy as np

from .graph.node import GraphError, Node, calling, fail, from_user, next_serial
from .ops import leaves


class Tensor:
    """A symbolic array: ``shape``, ``dtype`` and the ``node`` that computes it."""

    __slots__ = ("node", "_realised")
    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor works
    __hash__ = object.__hash__  # __eq__ is elementwise, identity stays the hash

    def __init__(self, node: Node):
        self.node = node
        self._realised = None

    shape = property(lambda self: self.node.shape, doc="tuple of ints")
    dtype = property(lambda self: self.node.dtype, doc="numpy dtype")
    ndim = property(lambda self: self.node.ndim)
    size = property(lambda self: self.node.size)
    name = property(lambda self: self.node.name)
    op = property(lambda self: self.node.op.name, doc="name of the primitive that made it")

    def __repr__(self):
        label = f", name={self.name!r}" if self.name else ""
        return f"Tensor({self.op}, shape={self.shape}, dtype={self.dtype}{label})"

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        raise TypeError("the truth value of a symbolic Tensor is unknown until it runs; "
                        "use tr.where for data-dependent choices or .numpy() to look at it")

    def numpy(self, backend: str = "numba") -> np.ndarray:
        """Run the graph behind this tensor (compiled once, rerun only when a parameter it
        reads has been assigned) and return its value."""
        from .runtime import Function
        if self._realised is None or self._realised[0] != backend:
            fn = Function([], [self.node], backend, caller="numpy()")
            boxes = [s.node.attrs["box"] for s in fn.plan.steps if s.node.op is leaves.parameter]
            self._realised = [backend, fn, boxes, None, None]
        _, fn, boxes, versions, value = self._realised
        now = [b.version for b in boxes]
        if value is None or versions != now:
            value = fn()[0]
            value.flags.writeable = False
            self._realised[3:] = [now, value]
        return value.copy()

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    def item(self):
        return self.numpy().item()

    def assign(self, array) -> Tensor:
        """Overwrite a parameter's value in place (same shape; cast to its dtype)."""
        if self.node.op is not leaves.parameter:
            raise fail(f"assign: only parameters can be assigned, this is a {self.op} node "
                       f"(built at {self.node.site})")
        try:
            with calling("assign", user=from_user(1)):
                if isinstance(array, Tensor):
                    array = array.numpy()
            self.node.attrs["box"].assign(array)
        except (GraphError, ValueError, TypeError) as e:
            first = str(e).splitlines()[0]
            raise fail(f"{first} (parameter '{self.name}', built at {self.node.site})") from None
        return self

    @property
    def value(self) -> np.ndarray:
        """A parameter's current value (a read-only view of its storage)."""
        if self.node.op is not leaves.parameter:
            raise fail(f"value: only parameters hold a value, this is a {self.op} node",
                       self.node.site)
        view = self.node.attrs["box"].value.view()
        view.flags.writeable = False
        return view

    # operators: NumPy semantics, with Python numbers and arrays on either side
    def __add__(self, o): return F.add(self, o)
    def __radd__(self, o): return F.add(o, self)
    def __sub__(self, o): return F.sub(self, o)
    def __rsub__(self, o): return F.sub(o, self)
    def __mul__(self, o): return F.mul(self, o)
    def __rmul__(self, o): return F.mul(o, self)
    def __truediv__(self, o): return F.div(self, o)
    def __rtruediv__(self, o): return F.div(o, self)
    def __pow__(self, o): return F.pow(self, o)
    def __rpow__(self, o): return F.pow(o, self)
    def __matmul__(self, o): return F.matmul(self, o)
    def __rmatmul__(self, o): return F.matmul(o, self)
    def __neg__(self): return F.neg(self)
    def __pos__(self): return self
    def __abs__(self): return F.abs(self)
    def __lt__(self, o): return F.less(self, o)
    def __le__(self, o): return F.less_equal(self, o)
    def __gt__(self, o): return F.greater(self, o)
    def __ge__(self, o): return F.greater_equal(self, o)
    def __eq__(self, o): return F.equal(self, o)
    def __ne__(self, o): return F.not_equal(self, o)
    def __getitem__(self, index): return F.getitem(self, index)

    # methods
    def sum(self, axis=None, keepdims=False): return F.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return F.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return F.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return F.min(self, axis, keepdims)
    def logsumexp(self, axis=None, keepdims=False): return F.logsumexp(self, axis, keepdims)
    def softmax(self, axis=-1): return F.softmax(self, axis)
    def log_softmax(self, axis=-1): return F.log_softmax(self, axis)
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def tanh(self): return F.tanh(self)
    def sigmoid(self): return F.sigmoid(self)
    def relu(self): return F.relu(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def astype(self, dtype): return F.astype(self, dtype)
    def detach(self): return F.stop_gradient(self)
    def reshape(self, *shape): return F.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]  # t.transpose((1, 0)) as well as t.transpose(1, 0), like NumPy
        return F.transpose(self, axes or None)
    def broadcast_to(self, shape): return F.broadcast_to(self, shape)
    def flatten(self): return F.reshape(self, (self.size,))
    T = property(lambda self: F.transpose(self), doc="axes reversed, as numpy's .T")
    mT = property(lambda self: F.swapaxes(self, -1, -2), doc="last two axes swapped")


def _leaf_array(value, dtype, what):
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise fail(f"{what}: dtype must be a NumPy dtype, got {dtype!r}") from None
    try:
        array = np.array(value, dtype=dtype)  # a copy: later changes to `value` are not seen
    except (ValueError, TypeError) as e:
        raise fail(f"{what}: expected an array of numbers, got {type(value).__name__} "
                   f"{_short(value)} ({e})") from None
    if array.dtype.kind not in "biuf":
        raise fail(f"{what}: expected bool, integer or real floating values, got "
                   f"{type(value).__name__} {_short(value)} of dtype {array.dtype}")
    if dtype is None and array.dtype.kind in "fc" and array.dtype != np.float32:
        array = array.astype(np.float64)
    return array


def _short(x) -> str:
    """repr(x) on one line, at most 40 characters (for error messages)."""
    text = " ".join(repr(x).split())
    return text if len(text) <= 40 else text[:37] + "..."


def tensor(value, dtype=None, name: str | None = None) -> Tensor:
    """A constant: ``tr.tensor(np.ones((3, 4)))``. The array is copied; floats stay float32
    if given as float32 and are float64 otherwise."""
    if isinstance(value, Tensor):
        return value
    array = _leaf_array(value, dtype, "tensor")
    array.flags.writeable = False
    return Tensor(leaves.constant(value=array, name=name))


def parameter(value, dtype=None, name: str | None = None) -> Tensor:
    """A trainable leaf holding a copy of ``value`` (float); ``p.assign(array)`` updates it
    in place, and every compiled function reading it sees the new value."""
    array = _leaf_array(value, dtype, "parameter")
    if array.dtype.kind != "f":
        raise fail(f"parameter: expected a floating value, got dtype {array.dtype}")
    return Tensor(leaves.parameter(box=leaves.ParamValue(array), name=name))


def api(fn=None, *, name: str | None = None):
    """Decorator for a public function. When the user's code calls it: errors raised while
    it runs are told in its name (``graph.node.calling``), and a Tensor it returns is a point
    of its own in the graph. A fold may have made the result an existing node (``x * 1`` is
    ``x``, ``x.reshape(x.shape)`` is ``x``); the user's new Tensor then gets an ``identity``
    node, or a gradient with respect to it would be one with respect to the other
    (PyTorch's retain_grad semantics). Plans treat identity as its input: it costs nothing."""
    def wrap(f):
        label = name or f.__name__

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            if not from_user(1):
                return f(*args, **kwargs)  # the library on the user's behalf
            mark = next_serial()
            with calling(label):
                result = f(*args, **kwargs)
            return _own(result, mark, args)
        return wrapper
    return wrap(fn) if fn is not None else wrap


def _own(result, mark, args):
    """``result`` with every Tensor whose node was built before ``mark`` (and that is not
    one of the arguments handed back) given an identity node of its own."""
    if isinstance(result, Tensor):
        if result.node.serial < mark and not any(result is a for a in args):
            from .ops.elementwise import identity
            return Tensor(identity(result.node))
        return result
    if isinstance(result, (tuple, list)) and type(result) in (tuple, list):
        return type(result)(_own(r, mark, args) for r in result)
    return result


def as_shape(shape, what: str, allow_minus_one: bool = False) -> tuple:
    """``shape`` (an int or a sequence of ints) as a tuple of non-negative ints, or a
    GraphError naming ``what`` the user called (-1 allowed where NumPy allows it)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise fail(f"{what}: shape must be an int or a tuple of ints, got {shape!r}")
    dims = tuple(shape)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise fail(f"{what}: shape must be a tuple of ints, got {dims!r} "
                       f"({type(d).__name__} {d!r} is not an int)")
        if d < 0 and not (allow_minus_one and d == -1):
            raise fail(f"{what}: dimensions must be non-negative"
                       f"{' (or one -1)' if allow_minus_one else ''}, got {dims!r}")
    return tuple(int(d) for d in dims)


def placeholder(shape, dtype=np.float64, name: str | None = None) -> Tensor:
    """A value fed at run time: ``x = tr.placeholder((3, 4), name="x")`` then
    ``tr.function([x], [...])(array)``."""
    shape = as_shape(shape, "placeholder")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise fail(f"placeholder: dtype must be a NumPy dtype, got {dtype!r}") from None
    if dtype.kind not in "biuf":
        raise fail(f"placeholder: expected a bool, integer or floating dtype, got {dtype}")
    return Tensor(leaves.placeholder(shape=shape, dtype=dtype, name=name))


from . import functions as F  # noqa: E402  (functions builds on Tensor)
