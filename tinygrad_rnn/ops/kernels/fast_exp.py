"""``fast_exp``: exp that LLVM can vectorize, for the compiled loops' sigmoid, tanh and exp.

PyPI's llvmlite has no vector math library, so a loop calling ``math.exp`` runs one libm
call per element (~4 ns here); this is plain arithmetic and bit moves, which the loop
vectorizer turns into AVX code (~0.5 ns per element). The method is the textbook one:
exp(x) = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 split in
a high part exact in few bits and a low part, so n ln 2 loses nothing), e^r by its Taylor
polynomial (degree 7 reaches float32's precision on that interval, degree 13 float64's),
and 2^n built in the exponent bits, as 2^(n//2) 2^(n - n//2) so that both factors are normal
numbers even where the result is subnormal. n is rounded by adding 1.5 * 2^52 (2^23 in
float32): the sum's low bits then hold n. Inputs are clamped just past the range where exp
is finite and non-zero, so the last multiplication overflows to inf and underflows to 0 (or
a subnormal) exactly where libm's exp does; NaN stays NaN. A compiled loop therefore gives
the results of the uncompiled one to rounding, at the IEEE extremes too (exp(800) is inf,
sigmoid(-800) is 0). Relative error ~2 ulp where the result is normal.
"""
from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

# clamps: exp(89) overflows float32, exp(-104) underflows it to 0; exp(710) and exp(-746) float64
_F32 = (np.float32(-104.0), np.float32(89.0), np.float32(1.0 / math.log(2)),
        np.float32(12582912.0), np.float32(0.693359375), np.float32(-2.12194440e-4))
_TAYLOR32 = tuple(np.float32(1 / math.factorial(k)) for k in range(7, -1, -1))
_F64 = (-746.0, 710.0, 1.0 / math.log(2), 6755399441055744.0, 0.6931471803691238,
        1.9082149292705877e-10)
_TAYLOR64 = tuple(1 / math.factorial(k) for k in range(13, -1, -1))
_MAGIC32, _MAGIC64 = np.int32(0x4B400000), np.int64(0x4338000000000000)


def fast_exp(x):
    """exp(x) (scalar); inside Numba code, the vectorizable form for float32/float64."""
    return math.exp(x)


@overload(fast_exp)
def _fast_exp(x):
    if x == types.float32:
        lo, hi, log2e, shift, ln2_hi, ln2_lo = _F32
        c7, c6, c5, c4, c3, c2, c1, c0 = _TAYLOR32

        def exp32(x):
            x = hi if x > hi else (lo if x < lo else x)  # comparisons keep NaN
            t = x * log2e + shift
            n = t - shift
            r = x - n * ln2_hi - n * ln2_lo
            p = ((((((c7 * r + c6) * r + c5) * r + c4) * r + c3) * r + c2) * r + c1) * r + c0
            n = np.float32(t).view(np.int32) - _MAGIC32
            n1 = n >> np.int32(1)
            s1 = np.int32((n1 + np.int32(127)) << np.int32(23)).view(np.float32)
            s2 = np.int32((n - n1 + np.int32(127)) << np.int32(23)).view(np.float32)
            return p * s1 * s2
        return exp32
    if x == types.float64:
        lo, hi, log2e, shift, ln2_hi, ln2_lo = _F64
        c13, c12, c11, c10, c9, c8, c7, c6, c5, c4, c3, c2, c1, c0 = _TAYLOR64

        def exp64(x):
            x = hi if x > hi else (lo if x < lo else x)
            t = x * log2e + shift
            n = t - shift
            r = x - n * ln2_hi - n * ln2_lo
            p = ((((((c13 * r + c12) * r + c11) * r + c10) * r + c9) * r + c8) * r + c7) * r
            p = ((((((p + c6) * r + c5) * r + c4) * r + c3) * r + c2) * r + c1) * r + c0
            n = np.float64(t).view(np.int64) - _MAGIC64
            n1 = n >> np.int64(1)
            s1 = np.int64((n1 + np.int64(1023)) << np.int64(52)).view(np.float64)
            s2 = np.int64((n - n1 + np.int64(1023)) << np.int64(52)).view(np.float64)
            return p * s1 * s2
        return exp64
    return lambda x: math.exp(x)
