"""The vectorizable exp of the compiled loops against NumPy's, in both dtypes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from tinygrad_rnn.ops.kernels.fast_math import fast_exp, fast_sigmoid, fast_tanh


@njit(error_model="numpy")
def _apply(x, out):
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])


def _fast(x):
    out = np.empty_like(x)
    _apply(x, out)
    return out


@pytest.mark.parametrize("dtype, limit", [(np.float32, 87.0), (np.float64, 708.0)])
def test_within_two_ulp_where_the_result_is_normal(dtype, limit):
    x = np.concatenate([np.linspace(-limit, limit, 100_001),
                        np.random.default_rng(0).standard_normal(10_000) * 3,
                        [0.0, -0.0, 1e-30, -1e-30, 0.5 * np.log(2), -0.5 * np.log(2)]]).astype(dtype)
    got, want = _fast(x), np.exp(x.astype(np.float64)).astype(dtype)
    ulps = np.abs(got.astype(np.float64) - want) / (want * np.finfo(dtype).eps)
    assert ulps.max() <= 2.0


@settings(max_examples=200, deadline=None)
@given(st.floats(-700, 700))
def test_float64_matches_numpy(v):
    x = np.array([v])
    np.testing.assert_allclose(_fast(x), np.exp(x), rtol=4e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overflows_and_underflows_where_libm_does(dtype):
    # the IEEE extremes are those of np.exp, so a compiled loop gives the uncompiled result
    over = np.log(np.finfo(dtype).max)
    x = np.array([np.inf, -np.inf, 1e4, -1e4, 800, -800, np.nan,
                  np.nextafter(over, 0, dtype=dtype), over * 1.001], dtype)
    with np.errstate(over="ignore", under="ignore"):
        want = np.exp(x)
    got = _fast(x)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_array_equal(got == 0, want == 0)
    assert np.isnan(got[6])
    np.testing.assert_allclose(got[7], want[7], rtol=4 * np.finfo(dtype).eps)
    # sigmoid and tanh built on it saturate exactly
    assert 1.0 / (1.0 + got[0]) == 0 and 1.0 - 2.0 / (got[0] + 1.0) == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_results_to_rounding(dtype):
    tiny = np.finfo(dtype).tiny
    lo = np.log(tiny)
    x = np.linspace(lo - 15, lo + 1, 2001).astype(dtype)
    with np.errstate(under="ignore"):
        want = np.exp(x.astype(np.float64)).astype(dtype)
    got = _fast(x)
    # in the subnormal range one ulp is the smallest subnormal: absolute error of a few
    step = np.nextafter(dtype(0), dtype(1))
    assert np.abs(got.astype(np.float64) - want).max() <= 2 * step + 4 * np.finfo(dtype).eps * tiny


def test_is_plain_exp_outside_numba():
    assert fast_exp(1.0) == np.exp(1.0)


@njit(error_model="numpy")
def _apply_tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = fast_tanh(x[i])


@njit(error_model="numpy")
def _apply_sigmoid(x, out):
    for i in range(x.shape[0]):
        out[i] = fast_sigmoid(x[i])


def _sigmoid_reference(x):
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _ulps(got, want, dtype):
    got, want = got.astype(np.float64), want.astype(np.float64)
    return np.abs(got - want) / np.spacing(np.maximum(np.abs(want), np.finfo(dtype).tiny)
                                           .astype(dtype)).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_and_sigmoid_within_three_ulp_everywhere(dtype):
    """The compiled loops' tanh and sigmoid are the uncompiled call's to rounding: near 0
    (where 1 - 2 / (exp(2x) + 1) would cancel), at the IEEE extremes and in between."""
    tiny = np.finfo(dtype).tiny
    x = np.concatenate([np.linspace(-40, 40, 200_001), np.geomspace(tiny, 1, 20_000),
                        -np.geomspace(tiny, 1, 20_000), [0.0, -0.0, np.inf, -np.inf, np.nan,
                                                        800, -800, -740, -720, 1e-10]]).astype(dtype)
    out = np.empty_like(x)
    _apply_tanh(x, out)
    want = np.tanh(x.astype(np.float64)).astype(dtype)
    ok = ~np.isnan(x)
    assert _ulps(out[ok], want[ok], dtype).max() <= 3
    assert np.isnan(out[~ok]).all()
    np.testing.assert_array_equal(np.signbit(out[ok]), np.signbit(want[ok]))  # -0.0 stays
    _apply_sigmoid(x, out)
    want = _sigmoid_reference(x.astype(np.float64)).astype(dtype)
    assert _ulps(out[ok], want[ok], dtype).max() <= 3
    assert np.isnan(out[~ok]).all()
    np.testing.assert_array_equal(out[ok] == 0, want[ok] == 0)  # 0 exactly where it is 0
