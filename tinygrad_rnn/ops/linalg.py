"""``matmul``: (..., m, p) @ (..., p, n) with equal batch dimensions (``tr.matmul`` handles
1-d operands and broadcasts batch dimensions before building the node)."""
from __future__ import annotations

import numpy as np

from .kernels import static
from .registry import check, primitive
from .shape import transpose


def _rule(a, b):
    check(a.ndim >= 2 and b.ndim >= 2, f"expects inputs of 2 or more dims, got {a.shape} @ {b.shape}")
    check(a.shape[:-2] == b.shape[:-2], f"batch dimensions differ: {a.shape} @ {b.shape}")
    check(a.shape[-1] == b.shape[-2],
          f"inner dimensions differ: {a.shape} @ {b.shape} ({a.shape[-1]} != {b.shape[-2]})")
    check(a.dtype == b.dtype and a.dtype.kind == "f",
          f"expects two inputs of the same floating dtype, got {a.dtype} and {b.dtype}")
    return a.shape[:-1] + b.shape[-1:], a.dtype


def _blas_ready(x):
    """x as it is when BLAS can read it (C or F order), else a C copy."""
    return x if x.flags.c_contiguous or x.flags.f_contiguous else np.ascontiguousarray(x)


def _numba_matmul(a, b):
    m, p, n = a.shape[-2], a.shape[-1], b.shape[-1]
    out = np.empty(a.shape[:-1] + (n,), a.dtype)
    if out.size == 0:
        return out
    if p == 0:
        out.fill(0)
        return out
    if a.ndim == 2:  # as the compiled loops call it: C or F operands as they are
        static.matmul(out, _blas_ready(a), _blas_ready(b))
        return out
    a3 = np.ascontiguousarray(a).reshape(-1, m, p)
    b3 = np.ascontiguousarray(b).reshape(-1, p, n)
    static.batched_matmul(out.reshape(-1, m, n), a3, b3)
    return out


def mT(x):
    """x with its last two axes swapped."""
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, axes=axes)


def _batch(xs, batched, size):
    """vmap rule. A batched (P, ..., m, k) times a shared 2-d (k, n) is one big matmul on
    (P*...*m, k), not P broadcast copies of the weights (RTRL's sensitivities hit this)."""
    from .elementwise import lift
    from .shape import reshape
    a, b = xs
    if batched == (True, False) and b.ndim == 2:
        flat = matmul(reshape(a, shape=(a.size // a.shape[-1], a.shape[-1])), b)
        return reshape(flat, shape=a.shape[:-1] + b.shape[-1:])
    if batched == (False, True) and a.ndim == 2:  # a @ b_p = (b_p^T a^T)^T, batched on the left
        return mT(_batch((mT(b), mT(a)), (True, False), size))
    return matmul(lift(a, batched[0], size), lift(b, batched[1], size))


matmul = primitive(
    name="matmul", arity=2, shape_rule=_rule, numpy=np.matmul, numba=_numba_matmul,
    vjp=(lambda g, out, a, b: matmul(g, mT(b)), lambda g, out, a, b: matmul(mT(a), g)),
    jvp=(lambda t, out, a, b: matmul(t, b), lambda t, out, a, b: matmul(a, t)),
    batch=lambda xs, batched, size: _batch(xs, batched, size), symbol="@")
