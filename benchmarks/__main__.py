"""python -m benchmarks [--quick] [--models LSTM,GRU,RNN] [--sizes tiny,small,...]
[--dtypes float32,float64] [--repeats N] [--threads N] [--contended] [--json FILE]
| --cold | --memory

Times one training step (forward over T steps, loss = sum of squares of the outputs, full
backward) for every installed contestant, each in its own worker process, interleaved round
by round so that all see the same machine; prints medians and the ratio to PyTorch, the
first call (build, and compile when the disk cache is cold), peak memory of each worker,
and time against T; writes JSON. Loops compile in the calling process here (before timing
starts); ``--cold`` instead measures what a new user waits for (``benchmarks/cold.py``)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from .contestants import SIZES, available, threads


def machine() -> str:
    """The CPU model, its core count and the BLAS libraries loaded by NumPy and SciPy (the
    one compiled loops call), with their versions, kernels and threads."""
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_info
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = "; ".join(f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, "
                     f"{i['num_threads']} threads, {os.path.basename(i['filepath'])})"
                     for i in threadpool_info() if i["user_api"] == "blas")
    return f"{model}, {os.cpu_count()} cores; BLAS: {blas}"


def versions() -> dict:
    """Versions of the libraries the contestants run on (those installed)."""
    from importlib import metadata
    out = {}
    for name in ("numpy", "numba", "scipy", "torch", "jax"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _hog():
    """A process that keeps one core busy (another program on a shared machine)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(names, model, size, dtype, repeats, budget_s, settle_s=0.25, hog=False):
    """Median step times of each contestant, each in its own worker process, interleaved:
    every round asks each worker for one timed step, so all see the same machine. ``hog``:
    with another process keeping one core busy during the timed rounds."""
    workers = {}
    for name in names:
        if name.endswith("(numpy backend)") and size in ("medium", "large"):
            continue  # minutes per step: the reference backend is for correctness
        env = dict(os.environ, TINYGRAD_RNN_BACKGROUND="0", BENCH_THREADS=str(threads()),
                   XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                              f"{'true' if threads() > 1 else 'false'} "
                              f"intra_op_parallelism_threads={threads()}").strip())
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.worker", name, model, size, dtype],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        workers[name] = (proc, json.loads(proc.stdout.readline())["first_call_s"])

    def ask(proc, what):
        proc.stdin.write(what + "\n")
        proc.stdin.flush()
        return float(proc.stdout.readline())

    times = {name: [] for name in workers}
    busy = _hog() if hog else None
    start = time.perf_counter()
    for _ in range(repeats):
        for name, (proc, _) in workers.items():
            # NOTE: let the other workers' thread pools go to sleep first (Intel OpenMP, which
            # PyTorch uses, spins 200 ms after each op by default and would be billed here)
            time.sleep(settle_s)
            times[name].append(ask(proc, "run"))
        if time.perf_counter() - start > budget_s:
            break
    if busy is not None:
        busy.kill()
        busy.wait()
    out = {}
    for name, (proc, first) in workers.items():
        ts = times[name]
        out[name] = dict(median_ms=1000 * float(np.median(ts)), min_ms=1000 * float(np.min(ts)),
                         rounds=len(ts), first_call_s=first, peak_rss_mb=ask(proc, "peak"))
        proc.stdin.close()
        proc.wait()
    return out


def step_memory(path, model="LSTM", size="medium-long", dtype="float32"):
    """The MB of peak memory one training step adds, per contestant, each in its own worker."""
    where = machine()
    print(f"machine: {where}\npeak memory one step adds ({model}, {size} {SIZES[size]}, {dtype}):")
    rows = []
    for name in available():
        if name.endswith("(numpy backend)"):
            continue
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.worker", name, model, size, dtype],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, TINYGRAD_RNN_BACKGROUND="0"),
                                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        proc.stdout.readline()
        proc.stdin.write("step memory\n")
        proc.stdin.flush()
        mb = float(proc.stdout.readline())
        proc.stdin.close()
        proc.wait()
        rows.append(dict(contestant=name, model=model, size=size, dtype=dtype, step_mb=mb))
        print(f"  {name:30} {mb:8.0f} MB")
    with open(path, "w") as f:
        json.dump(dict(memory=rows, machine=where, versions=versions(),
                       date=time.strftime("%Y-%m-%d")), f, indent=1)
    print(f"\nwrote {path}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny size, LSTM, float32, few rounds")
    p.add_argument("--models", default="LSTM,GRU,RNN")
    p.add_argument("--sizes", default="tiny,small,medium,large")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timing per case")
    p.add_argument("--settle", type=float, default=0.25,
                   help="idle seconds before each timed step (other libraries' threads stop spinning)")
    p.add_argument("--scaling", default="10,50,200", help="values of T for time-vs-T (small)")
    p.add_argument("--json", default="benchmark.json")
    p.add_argument("--threads", type=int, default=None,
                   help="threads every contestant may use (BLAS, PyTorch, XLA); default: the "
                        "machine's cores")
    p.add_argument("--memory", action="store_true",
                   help="the peak memory one training step adds, per contestant (float32 "
                        "LSTM, B=32, I=64, H=256, T=400), instead of timings")
    p.add_argument("--contended", action="store_true",
                   help="also time every case with another process keeping one core busy, "
                        "and report each contestant's slowdown")
    p.add_argument("--cold", action="store_true",
                   help="time to first result, longest call and time to compiled speed, "
                        "with an empty and a warm cache")
    args = p.parse_args(argv)
    if args.threads is not None:
        os.environ["BENCH_THREADS"] = str(args.threads)
    if args.cold:
        from .cold import cold
        rows = cold()
        with open(args.json, "w") as f:
            json.dump(dict(cold=rows, machine=platform.platform(), cores=os.cpu_count()), f,
                      indent=1)
        print(f"\nwrote {args.json}")
        return 0
    if args.memory:
        return step_memory(args.json)
    from tinygrad_rnn.runtime import background
    background.ENABLED = False  # time-vs-T below: the second call compiles, here
    if args.quick:
        args.models, args.sizes, args.dtypes = "LSTM", "tiny", "float32"
        args.repeats, args.scaling = 5, "10,20"
    builders = available()
    where = machine()
    print(f"contestants: {', '.join(builders)}\nmachine: {where}; threads each: {threads()}")
    results = []
    header = (f"{'model':5} {'size':7} {'dtype':8} {'contestant':30} {'median ms':>10} "
              f"{'vs pytorch':>11} {'first s':>8} {'peak MB':>8}")
    print(header)
    for model in args.models.split(","):
        for size in args.sizes.split(","):
            for dtype in args.dtypes.split(","):
                r = measure(list(builders), model, size, dtype, args.repeats, args.budget,
                            args.settle)
                ref = r.get("pytorch", {}).get("median_ms")
                for name, v in r.items():
                    ratio = f"{v['median_ms'] / ref:.2f}x" if ref else "-"
                    print(f"{model:5} {size:7} {dtype:8} {name:30} {v['median_ms']:10.3f} {ratio:>11} "
                          f"{v['first_call_s']:8.2f} {v['peak_rss_mb']:8.0f}")
                    results.append(dict(model=model, size=size, dtype=dtype, contestant=name, **v,
                                        ratio_to_pytorch=(v["median_ms"] / ref) if ref else None))
                if args.contended:
                    busy = measure(list(builders), model, size, dtype, args.repeats,
                                   args.budget, args.settle, hog=True)
                    for name, v in busy.items():
                        slow = v["median_ms"] / r[name]["median_ms"]
                        print(f"{'':22} {name + ', one core busy':30} {v['median_ms']:10.3f} "
                              f"{slow:10.2f}x slower")
                        results.append(dict(model=model, size=size, dtype=dtype, contestant=name,
                                            contended=True, **v, slowdown=slow))
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
        json.dump(dict(results=results, scaling=scaling, machine=where, versions=versions(),
                       threads=threads(),
                       date=time.strftime("%Y-%m-%d"), platform=platform.platform(),
                       cores=os.cpu_count()), f, indent=1)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
