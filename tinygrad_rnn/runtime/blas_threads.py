"""How many BLAS threads a compiled function's call uses, chosen from how long its calls take.

On a quiet 2-core machine two BLAS threads beat one for medium and large products (LSTM
training step, medium: 61 -> 43 ms), but while another process keeps a core busy, OpenBLAS's
threads wait for each other and the same step takes 135 ms (one thread: 61 ms); small steps
gain nothing from a second thread (AMD EPYC, OpenBLAS 0.3.30/0.3.31). The machine's load
changes while a program runs, so each function times its own calls (``ThreadChoice``). The
count is set around the call with threadpoolctl on every BLAS library loaded (NumPy's, and
SciPy's, which compiled loops call) and restored after it; it never exceeds what the caller
allows (``threadpoolctl.threadpool_limits`` around a call is respected).
``TINYGRAD_RNN_BLAS_THREADS=n`` fixes the count.

The thread count can change the last bits of a float32 product (OpenBLAS 0.3.30 on an AMD
EPYC: an LSTM step's outputs differ by up to 9e-8 between one and two threads; float64 did
not differ), as in NumPy and PyTorch; a fixed count gives the same bits on every call
(tests/test_blas_threads.py). Set ``TINYGRAD_RNN_BLAS_THREADS`` for bit-reproducible runs.
"""
from __future__ import annotations

import os
import time
from collections import deque

EXPLORE = 16  # one call in this many uses the other thread count
WINDOW = 3  # calls remembered per thread count (the median of them decides)
_libs = None  # threadpoolctl's controllers of the loaded BLAS libraries (found once)


def _blas() -> list:
    global _libs
    if _libs is None:
        try:
            import scipy.linalg.cython_blas  # noqa: F401 (the BLAS compiled loops call)
            from threadpoolctl import ThreadpoolController
            _libs = ThreadpoolController().select(user_api="blas").lib_controllers
        except ImportError:
            _libs = []
    return _libs


class ThreadChoice:
    """Which thread count the next call uses (``pick``), learnt from the times of earlier
    calls (``record``): the count in use (``best``) is timed on every call; the other is
    tried one call in ``EXPLORE`` (and early, while the first calls settle), and taken over
    when that call beats the recent median; a median that has grown well past the best seen
    (another process took a core) tries the other at once."""

    def __init__(self):
        self.best: int | None = None
        self.times: deque = deque(maxlen=WINDOW)  # recent times of ``best``
        self.floor = float("inf")  # the lowest median of ``best`` since it was chosen
        self.calls = 0

    def _median(self):
        ts = sorted(self.times)
        return ts[len(ts) // 2] if ts else float("inf")

    def pick(self, most: int) -> int:
        """A thread count in {1, most} (``most``: what the caller allows)."""
        fixed = os.environ.get("TINYGRAD_RNN_BLAS_THREADS")
        if fixed:
            return max(1, min(most, int(fixed)))
        if most <= 1:
            return 1
        if self.best not in (1, most):
            self.best, self.times, self.floor = most, deque(maxlen=WINDOW), float("inf")
        self.calls += 1
        grown = len(self.times) == WINDOW and self._median() > 1.5 * self.floor
        if grown or self.calls in (3, 6, 10) or self.calls % EXPLORE == 0:
            return 1 if self.best == most else most
        return self.best

    def record(self, n: int, seconds: float):
        if n == self.best:
            self.times.append(seconds)
            if len(self.times) == WINDOW:
                self.floor = min(self.floor, self._median())
        elif seconds < 0.95 * self._median():
            self.best, self.times, self.floor = n, deque([seconds], maxlen=WINDOW), float("inf")
        elif len(self.times) == WINDOW:  # the other is no better: today's level is the floor
            self.floor = self._median()


def call_with_threads(choice: ThreadChoice, run, *args):
    """``run(*args)`` with the BLAS thread count ``choice`` picks, timed for it."""
    libs = _blas()
    if not libs:
        return run(*args)
    now = [lib.get_num_threads() for lib in libs]
    n = choice.pick(max(now))
    if n != max(now):
        for lib in libs:
            lib.set_num_threads(min(n, lib.get_num_threads()))
    start = time.perf_counter()
    try:
        out = run(*args)
    finally:
        if n != max(now):
            for lib, k in zip(libs, now):
                lib.set_num_threads(k)
    choice.record(n, time.perf_counter() - start)
    return out
