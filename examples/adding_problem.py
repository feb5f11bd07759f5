"""The adding problem: Hochreiter & Schmidhuber 1997, Experiment 4.

Each sequence element is a pair: a random value in [-1, 1] and a marker. Exactly two
elements are marked with 1.0, the first among the first ten positions, the second among the
first T/2 - 1; the first and last elements carry the marker -1, all others 0. After the
last element the network must output 0.5 + (X1 + X2) / 4, X1 and X2 the two marked values.
A sequence is processed correctly when the absolute error is below 0.04. The sequence length
is random between T and T + T/10, as in the paper (we pad to T + T/10 and read the output at
each sequence's own last step). The information the net needs lies at least T/2 steps back.

A tanh RNN's error signal shrinks by a factor f'(net) w per step (seed 003) and never
reaches the marked inputs; the 1997 LSTM's cell state (no forget gate: c' = c + i g, the
constant error carousel) carries it back undiminished. Run:

    python examples/adding_problem.py            # T = 50 and 100; LSTM 1997, LSTM with forget
                                                 # gate (forget bias 1), tanh RNN
    python examples/adding_problem.py --quick    # T = 50: LSTM 1997 vs tanh RNN (what CI runs)

Differences from the paper: single-layer cells with one cell per "block" (the paper: 2
blocks of 2 cells, squashing ranges [-2, 2]); like the paper we start the input gates with a
negative bias (-2 here) so that the cell states do not drift; Adam on minibatches of 32 with
the gradient clipped to norm 1 instead of online gradient descent, and our criterion is measured on 2000
fresh test sequences (>= 95% correct) instead of on the 2000 most recent training sequences.
The paper reports 74,000 training sequences to success for T = 100 (and 0 failed trials).
"""
import argparse
import os
import shutil
import sys

import numpy as np

import tinygrad_rnn as tr

BATCH, TEST, TOLERANCE, CRITERION = 32, 2000, 0.04, 0.95
INPUT_GATE_BIAS = -2.0
PAPER = {100: "74,000"}


def sequences(rng, n, T):
    """n sequences of random length in [T, T + T/10], padded to T + T/10.

    Returns xs (T_max, n, 2), targets (n, 1), last (T_max, n, 1): 1.0 at each sequence's
    final step, where the output is read."""
    T_max = T + T // 10
    lengths = rng.integers(T, T_max + 1, n)
    xs = np.zeros((T_max, n, 2))
    xs[:, :, 0] = rng.uniform(-1, 1, (T_max, n))
    cols = np.arange(n)
    first = rng.integers(0, 10, n)
    second = rng.integers(0, T // 2 - 1 - 1, n)
    second += second >= first  # a different position, still among the first T/2 - 1
    xs[0, :, 1] = -1.0
    xs[lengths - 1, cols, 1] = -1.0
    xs[first, cols, 1] = 1.0
    xs[second, cols, 1] = 1.0
    xs[0, :, 0] = np.where(xs[0, :, 1] == 1.0, 0.0, xs[0, :, 0])  # the paper zeroes a marked X1
    for j, L in enumerate(lengths):  # padding after the end: zeros, never read
        xs[L:, j] = 0.0
    targets = 0.5 + (xs[first, cols, 0] + xs[second, cols, 0]) / 4
    last = np.zeros((T_max, n, 1))
    last[lengths - 1, cols, 0] = 1.0
    return xs, targets[:, None], last


class Model:
    """A recurrent layer, its output at each sequence's last step, a linear readout."""

    def __init__(self, kind, T, hidden, seed):
        make = {"LSTM 1997": lambda: tr.nn.LSTM(2, hidden, forget_gate=False, seed=seed),
                "LSTM, forget gate": lambda: tr.nn.LSTM(2, hidden, forget_bias=1.0, seed=seed),
                "tanh RNN": lambda: tr.nn.RNN(2, hidden, seed=seed)}
        self.kind, self.layer = kind, make[kind]()
        if kind.startswith("LSTM"):
            # the paper's remedy for the drifting cell state of a cell without forget gate:
            # input gates start mostly closed (negative bias), so c stays small until the
            # net has learnt what to store (without it T = 100 stalls at chance)
            bias = self.layer.parameters()["bias_ih_l0"]
            b = np.array(bias.value)
            b[:hidden] += INPUT_GATE_BIAS  # gate order i, (f), g, o: the input gate is first
            bias.assign(b)
        self.head = tr.nn.Linear(hidden, 1, seed=seed)
        self.params = {**self.layer.parameters(),
                       **{"head." + k: p for k, p in self.head.parameters().items()}}
        self.T_max = T + T // 10

    def predict(self, batch):
        """Placeholders (xs, last) for `batch` sequences and the (batch, 1) predictions."""
        xs = tr.placeholder((self.T_max, batch, 2), name="xs")
        last = tr.placeholder((self.T_max, batch, 1), name="last")
        out, _ = self.layer(xs)
        return xs, last, self.head(tr.sum(out * last, axis=0))

    def cell(self):
        return self.layer.cells[0][0]


def train(model, T, max_steps, seed, log_every):
    """Adam until >= 95% of the test sequences are correct or ``max_steps`` minibatches.
    Returns (history, test metrics)."""
    xs, last, pred = model.predict(BATCH)
    target = tr.placeholder((BATCH, 1), name="target")
    step = tr.train_step([xs, last, target], tr.mse(pred, target), model.params)
    txs, tlast, tpred = model.predict(TEST)
    forward = tr.function([txs, tlast], [tpred])
    test_x, test_y, test_last = sequences(np.random.default_rng(10_000 + seed), TEST, T)

    def evaluate():
        err = np.abs(forward(test_x, test_last)[0] - test_y)
        return {"correct": float(np.mean(err < TOLERANCE)), "mse": float(np.mean(err ** 2))}

    rng = np.random.default_rng(seed)

    def batch(i):
        x, y, lst = sequences(rng, BATCH, T)
        return x, lst, y

    history = tr.fit(step, tr.optim.Adam(model.params, lr=0.01), batch, steps=max_steps,
                     clip=1.0, log_every=log_every, evaluate=evaluate, eval_every=100,
                     stop=lambda m: m["correct"] >= CRITERION, prefix=f"  {model.kind:17s} ")
    return history, history.evals[-1][1]


def error_at_markers(model, T, seed):
    """Mean |dL/dx_t| at the two marked steps and at the last step, over 64 sequences: how
    much of the error signal reaches the numbers the net must add."""
    x, y, lst = sequences(np.random.default_rng(20_000 + seed), 64, T)
    xs, last, pred = model.predict(64)
    target = tr.placeholder((64, 1))
    (dx,) = tr.grad(tr.mse(pred, target), [xs])
    g = np.abs(tr.function([xs, last, target], [dx])(x, lst, y)[0][:, :, 0])  # (T_max, 64)
    marked = x[:, :, 1] == 1.0
    final = lst[:, :, 0] == 1.0
    return float(g[marked].mean()), float(g[final].mean())


def draw(model, T, seed, out):
    """The error-flow picture of the trained cell on one sequence (loss at its last step)."""
    x, y, lst = sequences(np.random.default_rng(30_000 + seed), 1, T)
    L = int(np.argmax(lst[:, 0, 0])) + 1

    def loss_fn(t, h):
        return tr.mse(model.head(h), y) if t == L - 1 else None

    graph = tr.viz.draw_error_flow(model.cell(), x[:L], loss_fn, max_steps=10)
    name = "error_flow_" + model.kind.split(",")[0].replace(" ", "_").lower()
    written = [tr.viz.save(graph, os.path.join(out, name + ".dot"))]
    if shutil.which("dot"):
        written.append(tr.viz.save(graph, os.path.join(out, name + ".svg")))
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T = 50 only, small budget (CI)")
    parser.add_argument("--out", default="adding_problem_out", help="pictures and parameters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, help="most minibatches per model (default: quick 2000 "
                        "for the LSTM, 1500 for the RNN; full 10000)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    hidden = 16
    # the LSTM solves T = 50 within 300-400 minibatches (seeds 0-6); the quick budget allows
    # five times that
    if args.quick:
        lengths, budgets = [50], {"LSTM 1997": 2000, "tanh RNN": 1500}
    else:
        lengths, budgets = [50, 100], {"LSTM 1997": 10000, "LSTM, forget gate": 10000,
                                       "tanh RNN": 10000}
    if args.budget:
        budgets = dict.fromkeys(budgets, args.budget)
    results = {}
    for T in lengths:
        print(f"T = {T} (lengths {T}..{T + T // 10}); criterion: >= {CRITERION:.0%} of {TEST} test "
              f"sequences with |error| < {TOLERANCE}; chance (always 0.5): about 15%")
        for kind, budget in budgets.items():
            model = Model(kind, T, hidden, args.seed)
            history, metrics = train(model, T, budget, args.seed, log_every=250 if args.quick else 500)
            marked, final = error_at_markers(model, T, args.seed)
            solved = history.stopped_at is not None
            results[T, kind] = (solved, history.steps * BATCH, metrics["correct"])
            print(f"  {kind:17s} {'solved' if solved else 'NOT solved'} after "
                  f"{history.steps * BATCH:,} sequences ({history.seconds:.1f} s): "
                  f"{metrics['correct']:.1%} correct, test MSE {metrics['mse']:.2g}; "
                  f"mean |dL/dx| at the marked steps {marked:.2g}, at the last step {final:.2g}")
            if T == lengths[0] and kind in ("LSTM 1997", "tanh RNN"):
                print("  wrote", ", ".join(draw(model, T, args.seed, args.out)))
            if kind == "LSTM 1997":
                print("  wrote", tr.save_params(os.path.join(args.out, f"lstm1997_T{T}.npz"),
                                                model.params))
    print("\nsequences to solve (ours, minibatches of 32 with Adam) next to the paper's (online):")
    for (T, kind), (solved, seen, correct) in results.items():
        ours = f"{seen:,}" if solved else f"not within {seen:,} ({correct:.0%} correct)"
        paper = PAPER.get(T, "-") if kind == "LSTM 1997" else ("-" if "LSTM" in kind else "fails")
        print(f"  T = {T:3d}  {kind:17s} {ours:32s} paper: {paper}")
    lstm_ok = all(results[T, "LSTM 1997"][0] for T in lengths)
    rnn_failed = all(not results[T, "tanh RNN"][0] for T in lengths)
    seen = ", ".join(f"T={T}: {results[T, 'LSTM 1997'][1]:,}" for T in lengths)
    if not (lstm_ok and rnn_failed):
        sys.exit(f"adding_problem FAILED: LSTM 1997 solved: {lstm_ok}; tanh RNN failed: {rnn_failed}")
    print(f"adding_problem OK: the 1997 LSTM solved it ({seen} sequences), the tanh RNN did not")


if __name__ == "__main__":
    main()
