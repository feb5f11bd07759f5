"""python -m benchmarks.gpu: the LSTM training step on a GPU, our graph exported to JAX
(``tr.export.to_jax``, jitted) beside the same step written by hand in JAX and PyTorch's
cuDNN LSTM on the same device, float32.

For each size (the CPU benchmark's four and B=256, I=1024, H=1024, T=100): the median time
per step of interleaved rounds (forward over T steps, loss = sum of squares of all outputs,
the gradient of every parameter), the exported step's ratio to the hand-written one, and how
far the exported gradient on the GPU is from our numba backend's on the CPU (the largest
difference over every output, relative to that output's largest value; checked with XLA's
full float32 matmul precision, since a GPU's default may use TF32).

Without a GPU it says so and exits; ``--allow-cpu`` runs the same measurement on JAX's CPU
device instead (what the test suite does, at a tiny size).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .contestants import SIZES, inputs, jax_step

GPU_SIZES = {**{k: SIZES[k] for k in ("tiny", "small", "medium", "large")},
             "xl": (256, 1024, 1024, 100)}
AGREE = 1e-5       # float32 rounding over the step's sums, relative to each output's largest
TARGET = 1.2       # the exported step within 1.2x of the hand-written JAX step


def exported(B, I, H, T, device):
    """Our LSTM step exported and jitted on ``device``; returns (step, cpu_reference) where
    ``step(precision)`` runs it and gives its outputs as NumPy arrays."""
    import jax

    import tinygrad_rnn as tr
    layer = tr.nn.LSTM(I, H, dtype=np.float32, seed=0)
    xs = tr.placeholder((T, B, I), np.float32)
    out = layer(xs)[0]
    loss = (out * out).sum()
    outputs = [loss] + tr.grad(loss, list(layer.parameters().values()))
    fn, params = tr.export.to_jax([xs], outputs)
    x = inputs(B, I, H, T, np.float32)
    params, x_dev = jax.device_put((params, x), device)
    step = jax.jit(fn)

    def run():
        return jax.block_until_ready(step(params, x_dev))

    def reference():
        return tr.function([xs], outputs)(x)  # the numba backend on this machine's CPU
    return run, reference


def torch_gpu(B, I, H, T):
    """PyTorch's LSTM (cuDNN) on the first CUDA device, or None without one."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    layer = torch.nn.LSTM(I, H).cuda()
    x = torch.tensor(inputs(B, I, H, T, np.float32)).cuda()

    def step():
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)
        (out * out).sum().backward()
        torch.cuda.synchronize()
    return step


def agreement(got, want) -> float:
    """The largest |got - want| over every output, relative to that output's largest |want|."""
    return max(float(np.max(np.abs(np.asarray(g, np.float64) - w)) / max(np.max(np.abs(w)), 1e-30))
               for g, w in zip(got, want))


def median_ms(steps: dict, repeats: int) -> dict:
    """Median ms per call of each step, interleaved round by round (two warm-up calls each)."""
    for fn in steps.values():
        fn()
        fn()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1000 * float(np.median(ts)) for name, ts in times.items()}


def measure(size, shape, device, repeats) -> dict:
    import jax
    B, I, H, T = shape
    run, reference = exported(B, I, H, T, device)
    with jax.default_device(device):
        steps = {"jax-export": run, "jax": jax_step("LSTM", B, I, H, T, np.float32)}
        torch_step = torch_gpu(B, I, H, T) if device.platform == "gpu" else None
        if torch_step is not None:
            steps["pytorch"] = torch_step
        ms = median_ms(steps, repeats)
        with jax.default_matmul_precision("float32"):
            # a new precision is a new trace: the check's own compile, not timed
            rel = agreement(run(), reference())
    return dict(size=size, shape=shape, ms=ms, ratio_to_jax=ms["jax-export"] / ms["jax"],
                agreement=rel)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(GPU_SIZES), help=f"of {', '.join(GPU_SIZES)}")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default=None, help="also write the numbers here")
    p.add_argument("--allow-cpu", action="store_true",
                   help="without a GPU, measure on JAX's CPU device instead (for tests)")
    args = p.parse_args(argv)
    try:
        import jax
    except ImportError:
        print("no GPU measured: JAX is not installed (pip install -e '.[jax]'; for NVIDIA "
              "GPUs: pip install 'jax[cuda12]')")
        return 0
    gpus = [d for d in jax.devices() if d.platform == "gpu"] if _has_gpu(jax) else []
    if not gpus and not args.allow_cpu:
        print(f"no GPU here: JAX sees {', '.join(str(d) for d in jax.devices())}. On a machine "
              "with an NVIDIA GPU, install jax[cuda12] (and a CUDA build of torch for the "
              "PyTorch column) and run this again.")
        return 0
    device = gpus[0] if gpus else jax.devices("cpu")[0]
    name = getattr(device, "device_kind", str(device))
    print(f"device: {name} ({device.platform}); jax {jax.__version__}; float32 LSTM training "
          f"step, medians of {args.repeats} interleaved rounds")
    print(f"{'size':6} {'(B, I, H, T)':22} {'ours via JAX':>13} {'JAX by hand':>12} "
          f"{'PyTorch':>9} {'ours/JAX':>9} {'vs CPU':>9}")
    rows = []
    for size in args.sizes.split(","):
        r = measure(size, GPU_SIZES[size], device, args.repeats)
        torch_ms = r["ms"].get("pytorch")
        print(f"{size:6} {str(r['shape']):22} {r['ms']['jax-export']:10.3f} ms "
              f"{r['ms']['jax']:9.3f} ms {'-' if torch_ms is None else f'{torch_ms:6.3f} ms':>9} "
              f"{r['ratio_to_jax']:8.2f}x {r['agreement']:9.1e}", flush=True)
        rows.append(r)
    worst = max(rows, key=lambda r: r["agreement"])
    slowest = max(rows, key=lambda r: r["ratio_to_jax"])
    agrees = worst["agreement"] <= AGREE
    print(f"the exported gradient {'agrees' if agrees else 'does NOT agree'} with the CPU result "
          f"to float32 rounding: at most {worst['agreement']:.1e} of each output's largest value "
          f"(allowed {AGREE:.0e}; {worst['size']})")
    within = slowest["ratio_to_jax"] <= TARGET
    print(f"the exported step took at most {slowest['ratio_to_jax']:.2f}x the hand-written JAX "
          f"step ({slowest['size']}): {'within' if within else 'NOT within'} the {TARGET}x target")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=name, platform=device.platform, jax=jax.__version__,
                           date=time.strftime("%Y-%m-%d"), rows=rows), f, indent=1)
        print(f"wrote {args.json}")
    return 0 if agrees else 1


def _has_gpu(jax) -> bool:
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib, or no device
        return False


if __name__ == "__main__":
    raise SystemExit(main())
