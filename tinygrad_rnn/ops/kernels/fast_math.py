"""``fast_exp``, ``fast_tanh``, ``fast_sigmoid``: exp, tanh and sigmoid that LLVM can vectorize,
for the compiled loops.

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
a subnormal) exactly where libm's exp does; NaN stays NaN: the IEEE extremes are libm's
(exp(800) is inf, sigmoid(-800) is 0). Relative error ~2 ulp where the result is normal.
The numba backend's elementwise kernels call the same functions as the compiled loops, so a
loop's uncompiled and compiled runs give the same bits; the numpy backend (libm through
NumPy) differs from both by those ulps.
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


# tanh(x) / x as a polynomial in z = x^2 on |x| < 0.625 (a Chebyshev fit to 50 digits, degree
# 11 in z, error 1e-17): near 0, 1 - 2 / (exp(2x) + 1) cancels (relative error ~1e-6 at
# x = 1e-10), so the small arguments take the polynomial. Highest degree first.
_TANH_SMALL = (-1.6001499513001042e-05, 7.698563199045423e-05, -0.00022841018529512851,
               0.0005862314316050611, -0.0014549293858543903, 0.003591982521583925,
               -0.008863220021256096, 0.021869487483410596, -0.053968253925945696,
               0.13333333333245254, -0.33333333333332615, 1.0)


def fast_tanh(x):
    """tanh(x) (scalar); inside Numba code, a vectorizable form: ~2 ulp, -0.0 kept, exactly
    +-1 where tanh rounds to it, NaN kept."""
    return math.tanh(x)


def fast_sigmoid(x):
    """1 / (1 + exp(-x)) (scalar); inside Numba code, a vectorizable form that is accurate
    for large |x| too: e / (1 + e) with e = exp(-|x|) for negative x, so it reaches the
    subnormals and 0 where the exact value does (never exp of a large positive number)."""
    e = math.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


def _float_type(x):
    return {types.float32: np.float32, types.float64: np.float64}.get(x)


@overload(fast_tanh)
def _fast_tanh(x):
    f = _float_type(x)
    if f is None:
        return lambda x: math.tanh(x)
    c11, c10, c9, c8, c7, c6, c5, c4, c3, c2, c1, c0 = (f(c) for c in _TANH_SMALL)
    edge, one, two = f(0.625), f(1.0), f(2.0)

    def tanh(x):
        a = abs(x)
        m = f(a < edge)  # 1 near 0 (the polynomial), else 0 (exp): a blend, not a branch
        s = min(a, edge)  # keeps the unused polynomial finite
        z = s * s
        p = (((((c11 * z + c10) * z + c9) * z + c8) * z + c7) * z + c6) * z + c5
        p = ((((p * z + c4) * z + c3) * z + c2) * z + c1) * z + c0
        big = one - two / (fast_exp(a + a) + one)
        return math.copysign(m * (s * p) + (one - m) * big, x)  # odd: the sign of x, -0.0 too
    return tanh


@overload(fast_sigmoid)
def _fast_sigmoid(x):
    f = _float_type(x)
    if f is None:
        return lambda x: 1.0 / (1.0 + math.exp(-x))
    one = f(1.0)

    def sigmoid(x):
        e = fast_exp(-abs(x))
        r = one / (one + e)
        return r if x >= 0 else e * r  # cheap arms: LLVM selects, the loop vectorizes
    return sigmoid
