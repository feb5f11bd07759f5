"""python -m benchmarks [--quick] [--models LSTM,GRU,RNN] [--sizes tiny,small,...]
[--dtypes float32,float64] [--repeats N] [--json FILE]

Times one training step (forward over T steps, loss = sum of squares of the outputs, full
backward) for every installed contestant, interleaved round by round so that all see the
same machine; prints medians and the ratio to PyTorch, time against T, peak memory; writes
JSON."""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from .contestants import SIZES, available


def peak_rss_reset():
    """Reset the kernel's peak-RSS mark of this process (Linux), so the next reading is the
    peak of what runs in between."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure(builders, model, size, dtype, repeats, budget_s):
    B, I, H, T = SIZES[size]
    steps, first, memory = {}, {}, {}
    for name, build in builders.items():
        if name.endswith("(numpy backend)") and size in ("medium", "large"):
            continue  # minutes per step: the reference backend is for correctness
        t0 = time.perf_counter()
        peak_rss_reset()
        fn = build(model, B, I, H, T, np.dtype(dtype).type)
        fn()
        first[name] = time.perf_counter() - t0
        fn()
        memory[name] = peak_rss_mb()
        steps[name] = fn
    times = {name: [] for name in steps}
    start = time.perf_counter()
    for _ in range(repeats):  # interleaved: one call of each per round
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return {name: dict(median_ms=1000 * float(np.median(ts)), min_ms=1000 * float(np.min(ts)),
                       rounds=len(ts), first_call_s=first[name], peak_rss_mb=memory[name])
            for name, ts in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny size, LSTM, float32, few rounds")
    p.add_argument("--models", default="LSTM,GRU,RNN")
    p.add_argument("--sizes", default="tiny,small,medium,large")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timing per case")
    p.add_argument("--scaling", default="10,50,200", help="values of T for time-vs-T (small)")
    p.add_argument("--json", default="benchmark.json")
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.sizes, args.dtypes = "LSTM", "tiny", "float32"
        args.repeats, args.scaling = 5, "10,20"
    builders = available()
    print(f"contestants: {', '.join(builders)}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores")
    results = []
    header = (f"{'model':5} {'size':7} {'dtype':8} {'contestant':30} {'median ms':>10} "
              f"{'vs pytorch':>11} {'first s':>8} {'peak MB':>8}")
    print(header)
    for model in args.models.split(","):
        for size in args.sizes.split(","):
            for dtype in args.dtypes.split(","):
                r = measure(builders, model, size, dtype, args.repeats, args.budget)
                ref = r.get("pytorch", {}).get("median_ms")
                for name, v in r.items():
                    ratio = f"{v['median_ms'] / ref:.2f}x" if ref else "-"
                    print(f"{model:5} {size:7} {dtype:8} {name:30} {v['median_ms']:10.3f} {ratio:>11} "
                          f"{v['first_call_s']:8.2f} {v['peak_rss_mb']:8.0f}")
                    results.append(dict(model=model, size=size, dtype=dtype, contestant=name, **v,
                                        ratio_to_pytorch=(v["median_ms"] / ref) if ref else None))
    scaling = []
    B, I, H, _ = SIZES["small"]
    print("\ntime vs T (LSTM, small, float32, tinygrad_rnn):")
    for T in [int(t) for t in args.scaling.split(",")]:
        fn = builders["tinygrad_rnn"]("LSTM", B, I, H, T, np.float32)
        fn()
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        ms = 1000 * float(np.median(ts))
        scaling.append(dict(T=T, median_ms=ms))
        print(f"  T={T:5d}: {ms:9.3f} ms  ({ms / T:.4f} ms per step)")
    with open(args.json, "w") as f:
        json.dump(dict(results=results, scaling=scaling, machine=platform.platform(),
                       cores=os.cpu_count()), f, indent=1)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
