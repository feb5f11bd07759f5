"""One contestant in its own process (its own thread pools: OpenMP, OpenBLAS and Numba do
not disturb each other between rounds). Reads one command per line on stdin: "run" runs a
burst of back-to-back steps, as a training loop does, and answers the median seconds of the
timed ones; "peak" answers the process's peak RSS in MB."""
from __future__ import annotations

import json
import sys
import time


def main():
    name, model, size, dtype = sys.argv[1:5]
    import numpy as np

    from .contestants import SIZES, available
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
            with open("/proc/self/status") as f:
                kb = next((int(x.split()[1]) for x in f if x.startswith("VmHWM:")), 0)
            print(kb / 1024, flush=True)


if __name__ == "__main__":
    main()
