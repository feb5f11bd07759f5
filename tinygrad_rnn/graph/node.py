"""The intermediate representation: an immutable ``Node`` and the errors raised while building.

A node records which primitive made it, from which inputs and attributes, the shape and dtype
its shape rule derived, an optional name, and the line of the user's code that built it, so
that every error and every picture can point back to that line.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GraphError(ValueError):
    """Bad input found while building a graph: says what was expected, what was given, where."""


_OURS: dict[str, bool] = {}


def _ours(filename: str) -> bool:
    """The file is part of this package (cached: called for every frame walked)."""
    if filename not in _OURS:
        _OURS[filename] = os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)
    return _OURS[filename]


def user_site() -> str:
    """``file:line`` of the innermost stack frame outside this package (the user's code)."""
    frame = sys._getframe(1)
    while frame is not None:
        if not _ours(frame.f_code.co_filename):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


# The public functions the user's own code called, innermost last: an error raised anywhere
# underneath is told in the words of the last one (softmax on an int tensor is softmax's
# error, not that of the exp inside it).
_CALLED: list[str] = []


def from_user(depth: int) -> bool:
    """The function ``depth`` frames up was called by the user's code, or by nothing else
    that speaks for itself (no public function is running)."""
    frame = sys._getframe(depth + 1)
    return not _CALLED or frame is None or not _ours(frame.f_code.co_filename)


@contextlib.contextmanager
def calling(name: str, user: bool = True):
    """Errors raised inside are told as errors of ``name`` (the public function the user
    called); ``user=False`` when the library calls it on the user's behalf (the outer name
    stands)."""
    if not user:
        yield
        return
    _CALLED.append(name)
    try:
        yield
    finally:
        _CALLED.pop()


def in_words_of_caller(what: str) -> str:
    """``what`` told as an error of the function the user called (see ``api``)."""
    if not _CALLED:
        return what
    caller = _CALLED[-1]
    head, sep, rest = what.partition(": ")
    if head == caller:
        return what
    if sep and head.isidentifier():  # a primitive or helper underneath said it
        return f"{caller}: {rest} (from {head}, inside {caller})"
    return f"{caller}: {what}"


def rectangular(value, complain) -> np.ndarray:
    """np.asarray(value); for ragged nested lists, the exception ``complain(got)`` returns,
    ``got`` saying what was given."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise complain(f"a {type(value).__name__} that is not a rectangular array ({e})") \
            from None


def fail(what: str, site: str | None = None) -> GraphError:
    """A GraphError in the words of the function the user called, ending with the user's
    source line."""
    return GraphError(f"{in_words_of_caller(what)}\n  (node built at {site or user_site()})")


_SCOPES: list[str] = []


_CALLS: list[int] = []
_call_serials = itertools.count()
_node_serials = itertools.count()
_ENGINE = [0]


@contextlib.contextmanager
def engine_made():
    """Nodes built inside are the engine's own (``Node.engine``): differentiation and
    batching wrap their work in it."""
    _ENGINE[0] += 1
    try:
        yield
    finally:
        _ENGINE[0] -= 1


def next_serial() -> int:
    """A number no node built so far has reached (nodes built later have larger serials)."""
    return next(_node_serials)


class ScopeName(str):
    """A scope's name (it compares and prints as the name); ``call`` is the application of a
    recurrent step it was entered in (None outside one), so that the same gate at two time
    steps is told apart while two entries into one gate within a step are not."""

    def __new__(cls, name):
        self = super().__new__(cls, name)
        self.call = _CALLS[-1] if _CALLS else None
        return self


@contextlib.contextmanager
def step_call():
    """Mark the nodes built inside as one application of a step (``Cell.__call__`` uses it)."""
    _CALLS.append(next(_call_serials))
    try:
        yield
    finally:
        _CALLS.pop()


@contextlib.contextmanager
def scope(name: str):
    """Tag every node built inside with ``name`` (nested scopes stack), so that pictures can
    group them: a cell wraps each gate in one, and ``detail="gates"`` draws one box per gate.

    >>> with tr.scope("forget gate f"):
    ...     f = tr.sigmoid(x @ W_f + h @ U_f + b_f)
    """
    _SCOPES.append(ScopeName(name))
    try:
        yield
    finally:
        _SCOPES.pop()


@contextlib.contextmanager
def scope_as(scopes: tuple):
    """Build nodes with exactly ``scopes`` as their scope path (used by autodiff to file a
    derivative under the forward node it comes from)."""
    saved = list(_SCOPES)
    _SCOPES[:] = list(scopes)
    try:
        yield
    finally:
        _SCOPES[:] = saved


class Node:
    """One value in a graph: ``op(*inputs, **attrs)`` with a static ``shape`` and ``dtype``.

    Nodes never change after construction; graphs are shared freely between the forward
    pass, its gradients and the pictures. Identity is the node's identity (``is``); the
    structural key used for common-subexpression elimination is ``key()``.
    """

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "name", "site", "scope", "serial",
                 "engine")

    def __init__(self, op, inputs, attrs, shape, dtype, name=None, site=None, scope=None,
                 engine=None):
        set_ = object.__setattr__
        set_(self, "op", op)
        set_(self, "inputs", tuple(inputs))
        set_(self, "attrs", dict(attrs))
        set_(self, "shape", tuple(int(d) for d in shape))
        set_(self, "dtype", np.dtype(dtype))
        set_(self, "name", name)
        set_(self, "site", site or user_site())
        set_(self, "scope", tuple(_SCOPES) if scope is None else tuple(scope))
        set_(self, "serial", next(_node_serials))  # creation order: tells a fresh node from a fold's
        # built by a transformation (differentiation, batching), not by the user's code: only
        # such nodes may be looked through by a fold (neg(neg x) -> x would otherwise skip a
        # -x the user holds, and a gradient with respect to it would be lost)
        set_(self, "engine", _ENGINE[0] > 0 if engine is None else bool(engine))

    def __setattr__(self, key, value):
        raise AttributeError("Node is immutable; build a new node instead")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def key(self):
        """Structural identity: same primitive, same input nodes, equal attributes."""
        return (self.op.name, tuple(id(i) for i in self.inputs),
                tuple(sorted((k, _hashable(v)) for k, v in self.attrs.items())), self.dtype.str)

    def __repr__(self):
        label = f" '{self.name}'" if self.name else ""
        return f"<{self.op.name}{label} {self.shape} {self.dtype}>"


def _hashable(v):
    if isinstance(v, np.ndarray):
        return ("array", id(v))
    if isinstance(v, (float, np.floating)) and v == 0:
        return ("zero", math.copysign(1.0, v))  # -0.0 == 0.0 in Python, not in a result
    try:
        hash(v)
        return v
    except TypeError:
        return ("object", id(v))
