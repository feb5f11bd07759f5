"""BLAS threads per call (runtime/blas_threads.py): the choice follows the measured times, a
caller's limit is respected and restored, and the thread count never changes a result."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import tinygrad_rnn as tr
from tinygrad_rnn.runtime import blas_threads
from tinygrad_rnn.runtime.blas_threads import EXPLORE, ThreadChoice, call_with_threads


def drive(choice, cost, calls, most=2):
    """Run ``calls`` calls where a call with n threads takes cost(n, call) seconds; the
    thread counts picked."""
    picks = []
    for k in range(calls):
        n = choice.pick(most)
        choice.record(n, cost(n, k))
        picks.append(n)
    return picks


@pytest.fixture(autouse=True)
def no_fixed_count(monkeypatch):
    monkeypatch.delenv("TINYGRAD_RNN_BLAS_THREADS", raising=False)


def test_the_faster_count_is_used_and_the_other_tried_now_and_then():
    picks = drive(ThreadChoice(), lambda n, k: {1: 0.060, 2: 0.043}[n], 200)
    assert picks[0] == 2
    explores = len([c for c in range(101, 201) if c % EXPLORE == 0])  # picks[k]: call k + 1
    assert picks[100:].count(1) == explores  # one thread only when trying it
    picks = drive(ThreadChoice(), lambda n, k: {1: 0.004, 2: 0.009}[n], 200)
    assert picks[100:].count(2) == explores


def test_a_busy_core_moves_it_to_one_thread_and_a_quiet_one_back():
    # quiet for 50 calls, another process busy for 50, quiet again
    def cost(n, k):
        busy = 50 <= k < 100
        return {1: 0.061, 2: 0.135 if busy else 0.043}[n]
    picks = drive(ThreadChoice(), cost, 150)
    assert picks[40:50].count(2) >= 9
    # a grown median tries one thread at once: within the window of three plus one call
    switch = next(k for k in range(50, 100) if picks[k] == 1)
    assert switch <= 50 + 4
    assert picks[60:100].count(1) >= 40 - len(range(60, 100, EXPLORE)) - 1
    back = next(k for k in range(100, 150) if picks[k] == 2 and picks[k + 1] == 2)
    assert back <= 100 + EXPLORE + 2


def test_one_thread_allowed_means_one_and_a_fixed_count_is_obeyed(monkeypatch):
    choice = ThreadChoice()
    assert drive(choice, lambda n, k: 0.01, 50, most=1) == [1] * 50
    monkeypatch.setenv("TINYGRAD_RNN_BLAS_THREADS", "1")
    assert set(drive(ThreadChoice(), lambda n, k: {1: 0.1, 2: 0.01}[n], 40)) == {1}
    monkeypatch.setenv("TINYGRAD_RNN_BLAS_THREADS", "8")
    assert set(drive(ThreadChoice(), lambda n, k: 0.01, 10, most=2)) == {2}


def _counts():
    return [lib.get_num_threads() for lib in blas_threads._blas()]


def test_the_callers_limit_is_respected_and_every_count_restored():
    if not blas_threads._blas():
        pytest.skip("no BLAS library threadpoolctl can control")  # pragma: no cover
    seen = []
    choice = ThreadChoice()
    before = _counts()
    with threadpool_limits(1, user_api="blas"):
        for _ in range(20):
            call_with_threads(choice, lambda: seen.append(max(_counts())))
        assert max(_counts()) == 1
    assert seen == [1] * 20
    assert _counts() == before
    choice = ThreadChoice()
    for _ in range(40):  # one thread tried now and then, the caller's counts back after each
        call_with_threads(choice, lambda: seen.append(max(_counts())))
        assert _counts() == before
    if max(before) > 1:
        assert 1 in seen[20:] and max(before) in seen[20:]


def test_a_failed_call_restores_the_counts():
    before = _counts()
    choice = ThreadChoice()
    choice.best, choice.calls = 1, 0  # the next call runs with one thread

    def boom():
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        call_with_threads(choice, boom)
    assert _counts() == before


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_fixed_thread_count_gives_the_same_bits_on_every_call(monkeypatch, dtype, backend):
    """Products big enough for OpenBLAS to use both threads (an LSTM training step with
    B=64, H=256). With the count fixed, every compiled call gives the same bits; one thread and two
    agree to the dtype's rounding (OpenBLAS 0.3.30's float32 products differ in the last
    bits between one and two threads; its float64 ones did not, on the machine measured)."""
    B, I, H, T = 64, 48, 256, 4
    lstm = tr.nn.LSTM(I, H, dtype=dtype, seed=0)
    xs = tr.placeholder((T, B, I), dtype)
    out, _ = lstm(xs)
    loss = tr.sum(out * out)
    f = tr.function([xs], [out, loss] + tr.grad(loss, list(lstm.parameters().values())),
                    backend)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(dtype)
    tol = dict(rtol=2e-3, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    first = f(x)
    for _ in range(2):  # uncompiled, then compiled (the tiers agree to rounding)
        for u, v in zip(f(x), first):
            np.testing.assert_allclose(u, v, **tol)
    results = {}
    for n in ("1", "2", "1", "2", "1", "2"):
        monkeypatch.setenv("TINYGRAD_RNN_BLAS_THREADS", n)
        results.setdefault(n, []).append(f(x))
    for n, calls in results.items():
        for later in calls[1:]:
            for u, v in zip(later, calls[0]):
                np.testing.assert_array_equal(u, v, err_msg=f"{n} thread(s)")
    for u, v in zip(results["1"][0], results["2"][0]):
        np.testing.assert_allclose(u, v, **tol)
