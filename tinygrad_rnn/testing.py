"""Gradient checking: the derivatives the engine builds against central finite differences.

``check_grads(build, args)`` checks reverse mode (<g, J u> from a VJP) and forward mode
(J u from a JVP) along random directions, then does the same for the derivative graphs
themselves up to ``order``, as HIPS autograd's ``check_grads`` does.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .functions import dot, tensor
from .tensor import Tensor, placeholder
from .transforms import function, jvp, vjp


class GradientCheckError(AssertionError):
    """A derivative disagreed with finite differences."""


def numerical_jvp(f, args, directions, eps=1e-6):
    """Central difference (f(x + eps u) - f(x - eps u)) / 2 eps for a function of arrays."""
    plus = f(*[a + eps * u for a, u in zip(args, directions)])
    minus = f(*[a - eps * u for a, u in zip(args, directions)])
    return (plus - minus) / (2 * eps)


def _close(a, b, rtol, atol, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    bad = np.abs(a - b) > atol + rtol * scale
    if np.any(bad):
        raise GradientCheckError(f"{what}: autodiff {a.ravel()[:6]} vs finite differences "
                                 f"{b.ravel()[:6]} (max abs error {np.max(np.abs(a - b)):.3g})")


def check_grads(build: Callable[..., Tensor], args: Sequence[np.ndarray], order: int = 2,
                modes: Sequence[str] = ("rev", "fwd"), eps: float = 1e-6, rtol: float = 1e-6,
                atol: float = 1e-9, backend: str = "numpy", seed: int = 0) -> None:
    """Check the derivatives of ``build(*tensors) -> Tensor`` at float64 ``args``.

    Raises GradientCheckError on the first disagreement. ``order=2`` also checks the
    derivatives of the derivative graphs (so Hessian-vector products are right).

    >>> check_grads(lambda x, w: tr.tanh(x @ w), [np.ones((2, 3)), np.ones((3, 4))])
    """
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, np.float64) for a in args]
    xs = [placeholder(a.shape, np.float64) for a in args]
    out = build(*xs)
    f_graph = function(xs, [out], backend)

    def f(*vals):
        return f_graph(*vals)[0]

    u = [rng.standard_normal(a.shape) for a in args]
    fd = numerical_jvp(f, args, u, eps)
    next_builds = []
    if "rev" in modes:
        g = rng.standard_normal(out.shape)
        cots = vjp([out], xs, [g])
        values = function(xs, cots, backend)(*args)
        _close(sum(np.sum(v * d) for v, d in zip(values, u)), np.sum(g * fd), rtol, atol,
               f"reverse mode (order {order})")

        w = [rng.standard_normal(a.shape) for a in args]

        def rev(*ys):
            cs = vjp([build(*ys)], list(ys), [tensor(g)])
            return sum(dot(c, wi) for c, wi in zip(cs, w))  # a scalar: <w, g^T J>
        next_builds.append(rev)
    if "fwd" in modes:
        (tangent,) = jvp([out], xs, u)
        value = function(xs, [tangent], backend)(*args)[0]
        _close(value, fd, rtol, atol, f"forward mode (order {order})")

        def fwd(*ys):
            return jvp([build(*ys)], list(ys), u)[0]
        next_builds.append(fwd)
    if order > 1:
        for b in next_builds:
            check_grads(b, args, order - 1, modes, eps, rtol, atol, backend, seed + 1)
