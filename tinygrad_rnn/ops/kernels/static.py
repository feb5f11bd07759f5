"""Hand-written Numba kernels (cached on disk beside this file): row reductions and
batched matmul through BLAS (Numba calls SciPy's BLAS for ``np.dot``)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def sum_rows(out, x, zero):
    """out[r] = sum(x[r, :]) for a C-contiguous (rows, n) array, added up in the type of
    ``zero`` (``accumulator_zero``: float64 for float32 data), rounded once into ``out``."""
    for r in range(x.shape[0]):
        acc = zero  # (not x[r, 0] * 0: inf * 0 is nan)
        for j in range(x.shape[1]):
            acc += x[r, j]
        out[r] = acc


def accumulator_zero(dtype):
    """The zero a sum of ``dtype`` values starts from: float32 sums add up in float64 (a
    float32 running sum of a million squares was off by 6e-4 relative; NumPy's pairwise sum,
    PyTorch's cascade and XLA's tree are within float32 rounding, and so is this); every
    other dtype in itself."""
    dtype = np.dtype(dtype)
    return np.float64(0) if dtype == np.float32 else dtype.type(0)


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
def matmul(out, a, b):
    """out = a @ b for 2-D a and b, each C- or F-contiguous (BLAS reads either order, as in
    the compiled loops: the same call, so the same bits)."""
    np.dot(a, b, out)


@njit(cache=True, nogil=True, error_model="numpy")
def batched_matmul(out, a, b):
    """out[k] = a[k] @ b[k] for C-contiguous (B, m, n) = (B, m, p) @ (B, p, n)."""
    for k in range(a.shape[0]):
        np.dot(a[k], b[k], out[k])
