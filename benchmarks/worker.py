"""One contestant in its own process (its own thread pools: OpenMP, OpenBLAS and Numba do
not disturb each other between rounds). Reads one command per line on stdin: "run" runs a
burst of back-to-back steps, as a training loop does, and answers the median seconds of the
timed ones; "peak" answers the process's peak RSS in MB; "step memory" the MB of peak RSS one step adds
to what the process holds between steps."""
from __future__ import annotations

import json
import sys
import time


def main():
    name, model, size, dtype = sys.argv[1:5]
    import numpy as np
    import scipy.linalg.cython_blas  # noqa: F401 (loaded now, so that the limit reaches it)
    from threadpoolctl import threadpool_limits

    from .contestants import SIZES, available, threads
    threadpool_limits(threads(), user_api="blas")  # kept for the process's life
    B, I, H, T = SIZES[size]
    build = available()[name]  # imports the library: not part of the first call
    t0 = time.perf_counter()
    fn = build(model, B, I, H, T, np.dtype(dtype).type)
    fn()
    first = time.perf_counter() - t0
    fn()  # a loop compiles on its second run: steady state from here on
    print(json.dumps({"first_call_s": first}), flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            fn()  # wakes the thread pools after the idle pause
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            print(sorted(times)[1], flush=True)
        elif line.strip() == "peak":
            print(_status_mb("VmHWM"), flush=True)
        elif line.strip() == "step memory":
            # the peak memory one step adds to what the process holds between steps (Linux:
            # writing 5 to clear_refs resets the peak; compiles and warm-up are behind us)
            added = []
            for _ in range(5):  # the median: a step's own buffers, not a one-off (a pool's)
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                before = _status_mb("VmRSS")
                fn()
                added.append(_status_mb("VmHWM") - before)
            print(sorted(added)[2], flush=True)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next((int(x.split()[1]) for x in f if x.startswith(field + ":")), 0) / 1024


if __name__ == "__main__":
    main()
