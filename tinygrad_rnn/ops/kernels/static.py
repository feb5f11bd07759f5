"""Hand-written Numba kernels (cached on disk beside this file): row reductions and
batched matmul through BLAS (Numba calls SciPy's BLAS for ``np.dot``)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def sum_rows(out, x):
    """out[r] = sum(x[r, :]) for a C-contiguous (rows, n) array."""
    zero = np.zeros(1, x.dtype)[0]  # (not x[r, 0] * 0: inf * 0 is nan)
    for r in range(x.shape[0]):
        acc = zero
        for j in range(x.shape[1]):
            acc += x[r, j]
        out[r] = acc


@njit(cache=True, nogil=True, error_model="numpy")
def max_rows(out, x):
    """out[r] = max(x[r, :]) (NaN propagates, as in NumPy); rows are non-empty."""
    for r in range(x.shape[0]):
        acc = x[r, 0]
        for j in range(1, x.shape[1]):
            v = x[r, j]
            if v > acc or v != v:
                acc = v
            if acc != acc:
                break
        out[r] = acc


@njit(cache=True, nogil=True, error_model="numpy")
def batched_matmul(out, a, b):
    """out[k] = a[k] @ b[k] for C-contiguous (B, m, n) = (B, m, p) @ (B, p, n)."""
    for k in range(a.shape[0]):
        np.dot(a[k], b[k], out[k])
