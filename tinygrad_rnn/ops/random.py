"""Random primitives, drawn afresh at every run of a graph (never when it is built):

- ``dropout_mask``: an inverted-dropout mask (a leaf: its probability is fixed when built);
- ``bernoulli``: coins, True with probability ``p`` where ``p`` is an *input* node, so it can
  be fed at run time (a placeholder) and changed between calls of one compiled function
  (scheduled sampling decays it while training, Bengio et al. 2015).

Both are impure (never merged by common-subexpression elimination) and carry no derivative.
Every backend draws from the same NumPy ``Generator`` held in the node (a compiled loop is
handed the Generator itself: Numba advances the same stream), so a seeded graph gives the
same draws on either backend and in either tier of a loop, as long as the draws happen in
the same order.

Inside a scan's step, a random node that reads nothing of the step (only consts) is hoisted
out of the loop like any loop-invariant value: it is drawn once per run, not once per step.
Draw per-step randomness before the loop, with a leading time axis, and pass it as xs (or
make it read the step's values). The forward-mode (JVP) scan recomputes the step, so it
would redraw a random node inside a step; coins drawn before the loop avoid that too.
"""
from __future__ import annotations

import numpy as np

from .registry import check, primitive


def _mask(shape, p, dtype, rng):
    keep = 1.0 - p
    return ((rng.random(shape) < keep) / keep).astype(dtype)


def _rule(shape, p, dtype, rng):
    check(0.0 <= p < 1.0, f"dropout probability must be in [0, 1), got {p}")
    return shape, dtype


dropout_mask = primitive(
    name="dropout_mask", leaf=True, arity=0, pure=False, shape_rule=_rule,
    numpy=_mask, numba=_mask)


# ---- bernoulli(p, shape=, dtype=, rng=) -------------------------------------------------

def _coins(p, shape, dtype, rng):
    """(shape) coins: u < p for u ~ U[0, 1), one u per entry drawn in C order (so p <= 0
    never and p >= 1 always gives True; p broadcasts against ``shape``)."""
    return np.asarray(rng.random(shape) < p, dtype=dtype)


def _coins_rule(p, shape, dtype, rng):
    check(p.dtype.kind == "f", f"p (input 0) must be a floating probability, got dtype {p.dtype}")
    try:
        fits = np.broadcast_shapes(p.shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    check(fits, f"p (input 0) of shape {p.shape} must broadcast to the coins' shape {shape}")
    check(np.dtype(dtype) == np.bool_ or np.dtype(dtype).kind == "f",
          f"dtype must be bool or floating, got {dtype}")
    check(isinstance(rng, np.random.Generator),
          f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return tuple(shape), np.dtype(dtype)


def _coins_batch(xs, batched, size, shape, dtype, rng):
    """A leading axis of ``size`` on p: as many independent draws of ``shape``."""
    from .shape import reshape
    (p,) = xs
    rest = p.shape[1:]
    p = reshape(p, shape=(size,) + (1,) * (len(shape) - len(rest)) + rest)
    return bernoulli(p, shape=(size,) + tuple(shape), dtype=dtype, rng=rng)


bernoulli = primitive(
    name="bernoulli", arity=1, pure=False, shape_rule=_coins_rule,
    numpy=_coins, numba=_coins,
    # a coin is not a differentiable function of p: no cotangent or tangent reaches p
    vjp=(None,), jvp=(None,), batch=_coins_batch)
# its lowering into compiled loops is runtime.codegen's EMIT[bernoulli]
