"""The vectorizable exp of the compiled loops against NumPy's, in both dtypes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from tinygrad_rnn.ops.kernels.fast_exp import fast_exp


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
def test_saturates_and_keeps_nan(dtype):
    got = _fast(np.array([np.inf, -np.inf, 1e4, -1e4, np.nan], dtype))
    big, tiny = np.finfo(dtype).max, np.finfo(dtype).tiny
    assert np.isfinite(got[0]) and got[0] > big / 4 and got[2] == got[0]
    assert 0 < got[1] <= 64 * tiny and got[3] == got[1]
    assert np.isnan(got[4])
    # sigmoid and tanh built on it saturate exactly
    assert 1.0 / (1.0 + got[0]) < 64 * tiny and 1.0 - 2.0 / (got[0] + 1.0) == 1.0


def test_is_plain_exp_outside_numba():
    assert fast_exp(1.0) == np.exp(1.0)
