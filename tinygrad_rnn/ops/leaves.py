"""Leaf primitives: the values a graph starts from.

- ``constant``: an array baked into the graph (read-only);
- ``parameter``: a trainable array held in a ``ParamValue`` box, updated in place;
- ``placeholder``: a value fed when a compiled function is called;
- ``fill``: an array of one repeated scalar (zeros, ones, the default seed of ``grad``), kept
  symbolic so that algebraic folding can see it.
"""
from __future__ import annotations

import numpy as np

from ..graph.node import GraphError, rectangular
from .registry import primitive


class ParamValue:
    """The mutable storage behind a parameter node; ``version`` counts in-place updates."""

    __slots__ = ("value", "version")

    def __init__(self, value: np.ndarray):
        self.value = value
        self.version = 0

    def assign(self, array) -> None:
        given = array
        array = rectangular(array, lambda got: GraphError(
            f"assign: expected an array of shape {self.value.shape}, got {got}"))
        if array.dtype.kind not in "biuf":
            text = " ".join(repr(given).split())[:40]
            raise GraphError(f"assign: expected real numbers, got {type(given).__name__} "
                             f"{text} of dtype {array.dtype}")
        if array.shape != self.value.shape:
            raise GraphError(f"assign: expected shape {self.value.shape}, got {array.shape}")
        self.value[...] = array
        self.version += 1


def _leaf_rule(**attrs):
    return attrs["shape"], attrs["dtype"]


def _no_feed(**attrs):
    raise GraphError("placeholder has no value: feed it through tr.function(inputs, outputs)")


constant = primitive(
    name="constant", leaf=True, arity=0,
    shape_rule=lambda value: (value.shape, value.dtype),
    numpy=lambda value: value,
    numba=lambda value: value,
)

parameter = primitive(
    name="parameter", leaf=True, arity=0,
    shape_rule=lambda box: (box.value.shape, box.value.dtype),
    numpy=lambda box: box.value,
    numba=lambda box: box.value,
)

placeholder = primitive(
    name="placeholder", leaf=True, fed=True, arity=0,
    shape_rule=_leaf_rule, numpy=_no_feed, numba=_no_feed,
)


def _fill_value(value, shape, dtype, user=False):
    out = np.empty(shape, dtype)
    out.fill(value)
    return out


fill = primitive(
    name="fill", leaf=True, arity=0,
    shape_rule=lambda value, shape, dtype, user=False: (shape, dtype),
    numpy=_fill_value, numba=_fill_value,
)
# user=True marks a value the user wrote (a Python number in ``x * 0.0``, ``tr.zeros``): it
# keeps IEEE semantics (nan * 0 is nan), so only fills the engine made itself (the symbolic
# zeros of differentiation, the seed of ``grad``) take part in folding.


def full_like(node, value):
    """An engine fill (which folding may use) with ``node``'s shape and dtype."""
    return fill(value=value, shape=node.shape, dtype=node.dtype)


def fill_value(node):
    """The scalar of an engine fill node, else None (a user's fill is never folded)."""
    return node.attrs["value"] if node.op is fill and not node.attrs.get("user") else None


def is_fill(node, value) -> bool:
    """``node`` is an engine fill of ``value``."""
    v = fill_value(node)
    return v is not None and v == value
