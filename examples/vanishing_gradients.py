"""Vanishing gradients, measured: how much of the error at the last step reaches the state
q steps earlier, for a tanh RNN, an IRNN, a GRU and three LSTMs.

Seed 003's analysis: in a simple RNN the error travelling back one step is multiplied by
f'(net) w (a Jacobian diag(f'(net)) W in vector form), so after q steps it is a product of
q such factors and shrinks (or grows) exponentially in q. An LSTM without a forget gate
(the carousel of 1997 with today's gates; the published cell is ``tr.nn.LSTM1997Cell``) has
c' = c + i g: its Jacobian along c is the identity (the constant error carousel) and the
error survives; a forget gate f multiplies it by f each step instead. The IRNN (ReLU,
W = I) passes it unchanged while its units are active.

The script measures ||dL/dh_{T-1-q}|| by reverse mode (``tr.learn.error_flow``) averaged over
several random initialisations, prints it at a few lags with the mean factor per step, shows
what the scale of a tanh RNN's recurrent matrix does (vanishing below 1, exploding above
until tanh saturates), draws the error-flow pictures and writes the plots (matplotlib when
installed, else SVG the library draws).

    python examples/vanishing_gradients.py [--quick] [--out DIR]
"""
import argparse
import os
import shutil
import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn.viz.plot import save_plot

CELLS = {
    "tanh RNN": lambda H, s: tr.nn.RNNCell(1, H, seed=s),
    "IRNN (ReLU, W = I)": lambda H, s: tr.nn.RNNCell(1, H, nonlinearity="relu", init="identity", seed=s),
    "GRU": lambda H, s: tr.nn.GRUCell(1, H, seed=s),
    "LSTM, forget bias 0": lambda H, s: tr.nn.LSTMCell(1, H, seed=s),
    "LSTM, forget bias 1": lambda H, s: tr.nn.LSTMCell(1, H, forget_bias=1.0, seed=s),
    "LSTM, no forget gate": lambda H, s: tr.nn.LSTMCell(1, H, forget_gate=False, seed=s),
}


def last_step_loss(T):
    """L = sum of h_{T-1}^2: a loss at the last step only, so dL/dh_t is pure error flow."""
    return lambda t, y: tr.sum(y * y) if t == T - 1 else None


def inputs(T, seed):
    """|N(0, 1)| inputs (positive, so that the IRNN's ReLUs stay active)."""
    return np.abs(np.random.default_rng(seed).standard_normal((T, 1, 1)))


def norms_by_lag(make, T, hidden, seeds):
    """The geometric mean over seeds of ||dL/dh|| at lag q = 0..T-1 (q steps before the loss)."""
    logs = [np.log(tr.learn.error_flow(make(hidden, s), inputs(T, s), last_step_loss(T))["h"][::-1])
            for s in seeds]
    return np.exp(np.mean(logs, axis=0))


def scaled_rnn(hidden, scale, seed):
    """A tanh RNN whose recurrent matrix is ``scale`` times a random orthogonal matrix (all its
    singular values equal ``scale``), with zero biases: fed tiny inputs it stays near h = 0,
    where tanh' = 1, so each step back multiplies the error by W^T, of norm exactly ``scale``."""
    cell = tr.nn.RNNCell(1, hidden, seed=seed)
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((hidden, hidden)))
    cell.weight_hh.assign(scale * q * np.sign(np.diag(r)))
    for b in (cell.bias_ih, cell.bias_hh):
        b.assign(np.zeros(hidden))
    return cell


def factor_per_step(n):
    """The mean factor by which the error shrinks per step, over the lags far from the loss
    (the second half): the first steps back also pass through output gates and the loss."""
    half = len(n) // 2
    return (n[-1] / n[half]) ** (1 / (len(n) - 1 - half))


def save_picture(graph, out, name):
    """DOT always, SVG too when Graphviz's dot is installed."""
    written = [tr.viz.save(graph, os.path.join(out, name + ".dot"))]
    if shutil.which("dot"):
        written.append(tr.viz.save(graph, os.path.join(out, name + ".svg")))
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 steps, 2 seeds (what CI runs)")
    parser.add_argument("--out", default="vanishing_gradients_out", help="where to write the pictures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    T, hidden, seeds = (30, 8, range(2)) if args.quick else (100, 16, range(10))

    print(f"||dL/dh| q steps before a loss at step {T - 1}; {hidden} units, default initialisation, "
          f"geometric mean over {len(seeds)} seeds")
    lags = [q for q in (0, 1, 5, 10, 20, 50, 99) if q < T]
    print(f"  {'cell':28s}" + "".join(f"{'q=' + str(q):>10s}" for q in lags) + "  factor/step")
    norms = {}
    for name, make in CELLS.items():
        n = norms_by_lag(make, T, hidden, seeds)
        norms[name] = n
        print(f"  {name:28s}" + "".join(f"{n[q]:10.2e}" for q in lags) + f"  {factor_per_step(n):9.3f}")
    print("  wrote", save_plot(norms, os.path.join(args.out, "error_vs_lag.svg"),
                               f"How much error reaches h, q steps before the loss ({hidden} units)"))

    # 30 steps: inputs of 1e-4 grown by 1.2^30 ~ 240 keep the state near 0 (longer, the state
    # itself would explode into tanh's saturation and leave the linear regime)
    scales, T_lin = (0.5, 0.9, 1.0, 1.1, 1.2), 30
    print(f"\ntanh RNN near h = 0 (tanh' = 1) with W_hh = s * orthogonal, loss sum(h_{T_lin - 1}): the "
          "error at lag q is s^q: below 1 it vanishes, above 1 it explodes")
    linear_loss = lambda t, y: tr.sum(y) if t == T_lin - 1 else None
    by_scale = {f"s = {s}": tr.learn.error_flow(scaled_rnn(hidden, s, 0), inputs(T_lin, 0) * 1e-4,
                                                linear_loss)["h"][::-1] for s in scales}
    for name, n in by_scale.items():
        print(f"  {name:8s}" + "".join(f"{n[q]:10.2e}" for q in lags if q < T_lin))
    print("  wrote", save_plot(by_scale, os.path.join(args.out, "error_vs_lag_by_scale.svg"),
                               "tanh RNN near h = 0, recurrent matrix s x orthogonal"))

    for name, cell in (("rnn", tr.nn.RNNCell(1, 3, seed=0)),
                       ("irnn", tr.nn.RNNCell(1, 3, nonlinearity="relu", init="identity", seed=0)),
                       ("lstm_no_forget", tr.nn.LSTMCell(1, 3, forget_gate=False, seed=0)),
                       ("lstm1997", tr.nn.LSTM1997Cell(1, 3, seed=0))):
        graph = tr.viz.draw_error_flow(cell, inputs(8, 0), last_step_loss(8))
        print("  wrote", ", ".join(save_picture(graph, args.out, f"error_flow_{name}")))

    ratio = {k: v[-1] / v[0] for k, v in norms.items()}
    factor = {k: factor_per_step(v) for k, v in norms.items()}
    q = T_lin - 1
    checks = {"the tanh RNN's error vanishes (< 1e-4 of it left)": ratio["tanh RNN"] < 1e-4,
              "far from the loss the LSTM without forget gate loses < 5% per step, the tanh RNN > 20%":
                  factor["LSTM, no forget gate"] > 0.95 and factor["tanh RNN"] < 0.8,
              "the IRNN keeps all of it": abs(ratio["IRNN (ReLU, W = I)"] - 1) < 1e-6,
              "a forget bias of 1 keeps more than bias 0":
                  ratio["LSTM, forget bias 1"] > 10 * ratio["LSTM, forget bias 0"],
              "near h = 0 the error at lag q is s^q times the last (seed 003's product)":
                  all(np.isclose(n[q] / n[0], s ** q, rtol=1e-3)
                      for s, n in zip(scales, by_scale.values()))}
    for what, ok in checks.items():
        print(f"  {'yes' if ok else 'NO '}  {what}")
    if not all(checks.values()):
        sys.exit("vanishing_gradients FAILED: " + "; ".join(k for k, ok in checks.items() if not ok))
    print(f"vanishing_gradients OK: after {T - 1} steps the tanh RNN keeps {ratio['tanh RNN']:.1e} of "
          f"the error, the LSTM without forget gate {ratio['LSTM, no forget gate']:.1e}, the IRNN "
          f"{ratio['IRNN (ReLU, W = I)']:.1e}")


if __name__ == "__main__":
    main()
