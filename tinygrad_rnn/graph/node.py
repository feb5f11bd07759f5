"""The intermediate representation: an immutable ``Node`` and the errors raised while building.

A node records which primitive made it, from which inputs and attributes, the shape and dtype
its shape rule derived, an optional name, and the line of the user's code that built it, so
that every error and every picture can point back to that line.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import sys

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GraphError(ValueError):
    """Bad input found while building a graph: says what was expected, what was given, where."""


def user_site() -> str:
    """``file:line`` of the innermost stack frame outside this package (the user's code)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


def fail(what: str, site: str | None = None) -> GraphError:
    """A GraphError whose message ends with the user's source line."""
    return GraphError(f"{what}\n  (node built at {site or user_site()})")


_SCOPES: list[str] = []


_CALLS: list[int] = []
_call_serials = itertools.count()


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

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "name", "site", "scope")

    def __init__(self, op, inputs, attrs, shape, dtype, name=None, site=None, scope=None):
        set_ = object.__setattr__
        set_(self, "op", op)
        set_(self, "inputs", tuple(inputs))
        set_(self, "attrs", dict(attrs))
        set_(self, "shape", tuple(int(d) for d in shape))
        set_(self, "dtype", np.dtype(dtype))
        set_(self, "name", name)
        set_(self, "site", site or user_site())
        set_(self, "scope", tuple(_SCOPES) if scope is None else tuple(scope))

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
    try:
        hash(v)
        return v
    except TypeError:
        return ("object", id(v))
