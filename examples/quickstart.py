"""Quickstart: a small recurrent graph, built by hand, differentiated symbolically.

A tanh RNN h_t = tanh(x_t W_ih + h_{t-1} W_hh + b) unrolled over T steps with a squared-error
loss on the last state. We print the loss and the gradients, check them against finite
differences, and write the graph of the loss and of its gradient as DOT (and SVG when
Graphviz's `dot` is installed).

    python examples/quickstart.py [--quick] [--out DIR]
"""
import argparse
import os
import shutil

import numpy as np

import tinygrad_rnn as tr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (what CI runs)")
    parser.add_argument("--out", default="quickstart_out", help="where to write the pictures")
    args = parser.parse_args()
    T, B, I, H = (3, 2, 3, 4) if args.quick else (5, 2, 3, 4)

    rng = np.random.default_rng(0)
    W_ih = tr.parameter(rng.standard_normal((I, H)) * 0.5, name="W_ih")
    W_hh = tr.parameter(rng.standard_normal((H, H)) * 0.5, name="W_hh")
    b = tr.parameter(np.zeros(H), name="b")
    xs = tr.placeholder((T, B, I), name="xs")
    target = tr.placeholder((B, H), name="target")

    h = tr.zeros((B, H))
    for t in range(T):  # the unrolled recurrence: T copies of one step, parameters shared
        h = tr.tanh(xs[t] @ W_ih + h @ W_hh + b)
    loss = tr.mse(h, target)
    grads = tr.grad(loss, [W_ih, W_hh, b])  # symbolic: three more graphs

    f = tr.function([xs, target], [loss] + grads)
    x_val, y_val = rng.standard_normal((T, B, I)), rng.standard_normal((B, H))
    loss_val, *grad_vals = f(x_val, y_val)
    print(f"T={T} steps, loss = {loss_val:.6f}")
    for p, g in zip([W_ih, W_hh, b], grad_vals):
        print(f"d loss / d {p.name} {p.shape}: |g| = {np.linalg.norm(g):.6f}")

    # the same gradient by central differences, one parameter entry
    eps, W = 1e-6, W_hh.value.copy()
    bumped = W.copy()
    bumped[0, 1] += eps
    W_hh.assign(bumped)
    up = f(x_val, y_val)[0]
    bumped[0, 1] -= 2 * eps
    W_hh.assign(bumped)
    down = f(x_val, y_val)[0]
    W_hh.assign(W)
    fd = (up - down) / (2 * eps)
    print(f"d loss / d W_hh[0,1]: autodiff {grad_vals[1][0, 1]:.10f}, finite differences {fd:.10f}")
    assert abs(fd - grad_vals[1][0, 1]) < 1e-7, "gradient check failed"

    os.makedirs(args.out, exist_ok=True)
    for name, graph in [("forward", tr.viz.draw(loss)), ("gradient", tr.viz.draw(grads[1]))]:
        written = [tr.viz.save(graph, os.path.join(args.out, f"{name}.dot"))]
        if shutil.which("dot"):
            written.append(tr.viz.save(graph, os.path.join(args.out, f"{name}.svg")))
        print("wrote", ", ".join(written))
    print("quickstart OK: gradients agree with finite differences")


if __name__ == "__main__":
    main()
