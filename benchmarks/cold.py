"""python -m benchmarks --cold: how long a new user waits. For each model, a fresh process with
an empty cache builds one training step (small size: B=16, I=32, H=64, T=50, float32) and
calls it again and again; it reports the seconds to the first result, the longest single
call, and the seconds from the first call until compiled speed (every later call within
twice the final median). Then a second fresh process does the same with the cache the first
one filled (warm). A third, with compiles in the calling process and an empty cache, gives
the CPU seconds that compiling the loops costs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

MODELS = ("LSTM", "GRU", "RNN", "GRU 2-layer bidirectional")


def _child(model: str, background: bool, limit_s: float) -> dict:
    t0 = time.perf_counter()
    import numpy as np

    import tinygrad_rnn as tr
    from tinygrad_rnn.runtime import background as bg
    bg.ENABLED = background
    B, I, H, T = 16, 32, 64, 50
    name, _, options = model.partition(" ")
    kw = dict(num_layers=2, bidirectional=True) if options else {}
    layer = getattr(tr.nn, name)(I, H, dtype=np.float32, seed=0, **kw)
    xs = tr.placeholder((T, B, I), np.float32)
    out = layer(xs)[0]
    loss = (out * out).sum()
    f = tr.function([xs], [loss] + tr.grad(loss, list(layer.parameters().values())))
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    built = time.perf_counter()
    calls, cpu = [], []
    done_at = None
    while True:
        c0, p0 = time.perf_counter(), time.process_time()
        f(x)
        calls.append((c0 - built, time.perf_counter() - c0))
        cpu.append(time.process_time() - p0)
        now = time.perf_counter()
        if done_at is None and len(calls) > 2 and bg.wait(0):
            done_at = now
        if (done_at is not None and now - done_at > 1.0 and len(calls) > 30) or now - built > limit_s:
            break
    steady = float(np.median([d for _, d in calls[-20:]]))
    fast_from = len(calls)
    while fast_from > 0 and calls[fast_from - 1][1] <= 2 * steady:
        fast_from -= 1
    return dict(import_and_build_s=built - t0, first_result_s=calls[0][1],
                longest_call_s=max(d for _, d in calls),
                compiled_after_s=calls[fast_from][0] if fast_from < len(calls) else None,
                steady_ms=1000 * steady, calls=len(calls), max_call_cpu_s=max(cpu))


def _run(model, cache, background, limit_s):
    env = dict(os.environ, TINYGRAD_RNN_CACHE=cache, TINYGRAD_RNN_QUIET="1")
    out = subprocess.run([sys.executable, "-m", "benchmarks.cold", model,
                          "1" if background else "0", str(limit_s)],
                         env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold(models=MODELS, limit_s: float = 90.0) -> list[dict]:
    """Measure every model (see the module docstring); print a table; return the rows."""
    print(f"{'model':27} {'cache':5} {'first result s':>14} {'longest call s':>14} "
          f"{'compiled after s':>16} {'steady ms':>9} {'compile CPU s':>13}")
    rows = []
    for model in models:
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as inline:
            for kind in ("empty", "warm"):
                r = _run(model, cache, True, limit_s)
                if kind == "empty":
                    r["compile_cpu_s"] = _run(model, inline, False, limit_s)["max_call_cpu_s"]
                rows.append(dict(model=model, cache=kind, **r))
                after = "-" if r["compiled_after_s"] is None else f"{r['compiled_after_s']:.1f}"
                cpu = f"{r['compile_cpu_s']:.1f}" if "compile_cpu_s" in r else ""
                print(f"{model:27} {kind:5} {r['first_result_s']:14.2f} {r['longest_call_s']:14.2f} "
                      f"{after:>16} {r['steady_ms']:9.2f} {cpu:>13}", flush=True)
    return rows


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2] == "1", float(sys.argv[3]))))
