"""Random primitives: ``dropout_mask`` draws a fresh inverted-dropout mask at every run.

It is impure (never merged by common-subexpression elimination) and carries no derivative.
Both backends draw from the same NumPy generator held in the node, so a seeded model is
reproducible on either backend.
"""
from __future__ import annotations

from .registry import primitive


def _mask(shape, p, dtype, rng):
    keep = 1.0 - p
    return ((rng.random(shape) < keep) / keep).astype(dtype)


def _rule(shape, p, dtype, rng):
    from .registry import check
    check(0.0 <= p < 1.0, f"dropout probability must be in [0, 1), got {p}")
    return shape, dtype


dropout_mask = primitive(
    name="dropout_mask", leaf=True, arity=0, pure=False, shape_rule=_rule,
    numpy=_mask, numba=_mask)
