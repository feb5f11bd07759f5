"""Online learning two ways: the Williams-Zipser network trained by real-time recurrent
learning (RTRL) and by truncated backpropagation through time, on a delayed XOR.

The network (seed 000, in Williams & Zipser's notation: n logistic units, fully connected,
one input line and a bias line) reads one random bit x(t) per step; unit 1 must output
x(t-1) XOR x(t-2) at time t+1. XOR needs a hidden layer and the delay needs memory, so the other units must learn to hold the
past. There are no episodes: one long stream, and the weights change after every step.

- RTRL carries p^k_ij(t) = d y_k(t) / d w_ij forward and updates with sum_k e_k(t) p^k_ij(t)
  at every step (``tr.learn.online_rtrl``);
- BPTT(h; 1) keeps the last h states, and at every step back-propagates the newest error
  through them (``tr.learn.online_truncated_bptt``).

Before any weight changes the two compute the same gradient (checked here to rounding);
once the weights move they differ slightly (RTRL's p mixes old weights, BPTT(h) forgets
beyond h steps), and the learning curves lie on top of each other.

    python examples/bptt_vs_rtrl.py [--quick] [--out DIR] [--seed S]
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn.viz.plot import save_plot

UNITS, LR = 6, 1.0


def delayed_xor(T, seed):
    """A stream of T random bits (T, 1, 1) and the targets (T, 1, n) with mask: at array
    index t (the output y(t+1)) unit 1's target is x(t-1) XOR x(t-2)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (T, 1, 1)).astype(float)
    targets, mask = np.zeros((T, 1, UNITS)), np.zeros((T, 1, UNITS), bool)
    targets[2:, 0, 0] = np.logical_xor(bits[1:-1, 0, 0], bits[:-2, 0, 0])
    mask[2:, 0, 0] = True
    return bits, targets, mask


class Recorder:
    """An optimizer that only records the gradients (the weights stay put)."""

    def __init__(self):
        self.grads = []

    def step(self, grads):
        self.grads.append(grads["W"].copy())


def same_gradient_before_learning(seed, steps=30):
    """Per-step gradients of RTRL and BPTT(infinity; 1) with frozen weights: the largest
    difference over ``steps`` steps."""
    bits, targets, mask = delayed_xor(steps, seed)
    rtrl, bptt = Recorder(), Recorder()
    net = tr.nn.WilliamsZipserNet(UNITS, 1, seed=seed)
    tr.learn.online_rtrl(net, bits, targets, rtrl, mask=mask)
    tr.learn.online_truncated_bptt(net, bits, targets, bptt, h=steps, mask=mask)
    return max(float(np.abs(a - b).max()) for a, b in zip(rtrl.grads, bptt.grads))


def train(learner, T, seed, h=None):
    """One stream, one fresh network (same initial weights for every learner); returns the
    per-step |error| of unit 1 (before each update) and the seconds taken."""
    bits, targets, mask = delayed_xor(T, seed)
    net = tr.nn.WilliamsZipserNet(UNITS, 1, seed=seed)
    opt = tr.optim.SGD(net.parameters(), lr=LR)
    start = time.perf_counter()
    if learner == "RTRL":
        losses = tr.learn.online_rtrl(net, bits, targets, opt, mask=mask)
    else:
        losses = tr.learn.online_truncated_bptt(net, bits, targets, opt, h=h, mask=mask)
    return np.sqrt(2 * losses), time.perf_counter() - start  # loss = e^2 / 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one stream of 16,000 steps (CI)")
    parser.add_argument("--out", default="bptt_vs_rtrl_out", help="where to write the pictures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    T = 16_000 if args.quick else 40_000
    learners = {"RTRL": None, "BPTT(4; 1)": 4} if args.quick else {
        "RTRL": None, "BPTT(2; 1)": 2, "BPTT(4; 1)": 4, "BPTT(8; 1)": 8}

    diff = same_gradient_before_learning(args.seed)
    print(f"frozen weights: RTRL and BPTT(inf; 1) per-step gradients differ by at most {diff:.1e}")

    print(f"delayed XOR, {UNITS} units, SGD lr {LR}, one stream of {T:,} steps")
    errors, chunk = {}, T // 10
    for name, h in learners.items():
        err, seconds = train("RTRL" if h is None else "BPTT", T, args.seed, h)
        errors[name] = err
        print(f"  {name:11s} {seconds:5.1f} s ({seconds / T * 1e6:.0f} us/step); % correct "
              "(|error| < 0.5) per tenth of the stream:")
        print("   " + " ".join(f"{np.mean(err[k:k + chunk] < 0.5):5.0%}" for k in range(0, T, chunk)))

    print(f"  (at n = {UNITS} these times are mostly the cost of a call per step, not arithmetic: "
          "RTRL's arithmetic per step grows as n^4, BPTT(h)'s as h n^2; the tutorial's table and "
          "`python -m benchmarks.rtrl_scaling` measure it)")

    window = 500
    curves = {k: np.convolve(v, np.ones(window) / window, mode="valid")[::window // 5]
              for k, v in errors.items()}
    steps = np.arange(len(next(iter(curves.values())))) * (window // 5) + window
    print("  wrote", save_plot(curves, os.path.join(args.out, "learning_curves.svg"),
                               "Delayed XOR learned online: RTRL and truncated BPTT",
                               ylabel=f"mean |error| over {window} steps", xlabel="step", x=steps))
    with open(os.path.join(args.out, "learning_curves.csv"), "w") as f:
        f.write("step," + ",".join(curves) + "\n")
        for i, s in enumerate(steps):
            f.write(f"{s}," + ",".join(f"{c[i]:.5f}" for c in curves.values()) + "\n")

    net = tr.nn.WilliamsZipserNet(UNITS, 1, seed=args.seed)
    graph = tr.viz.draw_unrolled(net, 3)
    written = [tr.viz.save(graph, os.path.join(args.out, "wz_unrolled.dot"))]
    if shutil.which("dot"):
        written.append(tr.viz.save(graph, os.path.join(args.out, "wz_unrolled.svg")))
    print("  wrote", ", ".join(written))

    final = {k: float(np.mean(v[-chunk:] < 0.5)) for k, v in errors.items()}
    gap = float(np.max(np.abs(curves["RTRL"] - curves["BPTT(4; 1)"])))
    print(f"  largest gap between the RTRL and BPTT(4; 1) curves: {gap:.3f} (mean |error|)")
    ok = diff < 1e-10 and final["RTRL"] >= 0.9 and final["BPTT(4; 1)"] >= 0.9
    summary = ", ".join(f"{k} {v:.0%}" for k, v in final.items())
    if not ok:
        sys.exit(f"bptt_vs_rtrl FAILED: gradient difference {diff:.1e}; correct in the last tenth: "
                 f"{summary}")
    print(f"bptt_vs_rtrl OK: same gradient before learning ({diff:.0e}); correct in the last tenth "
          f"of the stream: {summary}")


if __name__ == "__main__":
    main()
