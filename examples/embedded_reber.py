"""Embedded Reber grammar: Hochreiter & Schmidhuber (1997), the LSTM paper, Experiment 1.

A Reber string is a walk through a small finite automaton over the symbols B T P S X V E
(BTXSE, BPVVE, BTSXXTVVE, ...). An *embedded* Reber string wraps one in B T ... T E or
B P ... P E: the second symbol comes back just before the final E, so a net that predicts
the next symbol must remember it across the whole inner string (5 to 23 symbols in the
default sets). Every other prediction is local and easy; this one long-term dependency is
what the paper's Elman nets failed on.

The task, as in the paper: 7 one-hot inputs, 7 sigmoid outputs; at each step the target is
the set of symbols that may come next (multi-hot). 256 training and 256 test strings are
sampled from the grammar (seeded; duplicates allowed). A string is predicted correctly when
at every step the outputs of the possible next symbols are the most active ones (the
smallest of them above the largest of the others); a trial succeeds when every training AND
test string is predicted correctly. Three nets, each a recurrent layer + Linear readout +
sigmoid, trained with binary cross-entropy:

- LSTM 1997: ``tr.nn.LSTM(..., forget_gate=False)``, the constant error carousel c' = c + i*g;
- LSTM with a forget gate (Gers et al. 2000), ``tr.nn.LSTM(...)``;
- Elman net: ``tr.nn.RNN(..., nonlinearity="tanh")``;

and, in the full mode, the 1997 LSTM at the paper's size (6 cells). For each we print how
many trials succeeded and how many training sequences they saw until then, next to the
paper's numbers (LSTM, 3 memory blocks of 2 cells, lr 0.5: 100% of trials succeeded, after
8,440 sequences on average; Elman nets: 0%).

How this differs from the paper, so the numbers compare only roughly:

- our cells are the modern ones: every cell has its own input and output gate (a 1997
  memory block shares one pair among its cells), the squashing functions are tanh (1997:
  logistic-based, g in [-2, 2], h in [-1, 1]), the initialisation is PyTorch's uniform one
  (the paper biased the gates negatively, block by block), and the gradient is full BPTT
  (the paper truncated it at the cells' inputs);
- we train with Adam (lr 0.05, gradient norm clipped at 1) on minibatches of 32 strings
  padded to the longest one, with a mask on the loss, so that one compiled train step
  serves every batch; the paper used online gradient descent, string by string. "Sequences
  seen" counts every string of every minibatch, measured every 10 minibatches (320 strings);
- the loss is binary cross-entropy on the sigmoid outputs (the paper: squared error);
- the paper's Elman nets were trained with Elman's procedure, which does not propagate the
  error back through time; ours get the full BPTT gradient and Adam, and some trials do
  learn the task (2 of 10 in a full run), so "Elman: 0%" is not something we reproduce;
- the main nets have 32 cells: with this training setup, 6 or 8 cells solved the task in
  fewer trials (the full mode shows the 6-cell net).

    python examples/embedded_reber.py [--quick] [--out DIR] [--seed N]

--quick (what the tests run): one trial per net, a budget of 20,000 sequences; it exits with
an error if the 1997 LSTM does not solve the task. The full mode runs 10 trials per net with
a budget of 100,000 sequences (about 2 minutes on 2 cores). Writes the folded 1997 cell
(lstm_cell.dot, and .svg when Graphviz's ``dot`` is installed) and the trained 1997 LSTM's
parameters (lstm1997.npz).
"""
import argparse
import os
import shutil
import time

# the matrices here are small: OpenBLAS's threads cost more than they save (10x slower steps
# measured on a busy 2-core machine); set before NumPy loads OpenBLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402

SYMBOLS = "BTPSXVE"
INDEX = {s: k for k, s in enumerate(SYMBOLS)}
# the Reber automaton: state -> [(symbol, next state)]; None is the end of the string
REBER = {0: [("B", 1)], 1: [("T", 2), ("P", 3)], 2: [("S", 2), ("X", 4)], 3: [("T", 3), ("V", 5)],
         4: [("X", 3), ("S", 6)], 5: [("P", 4), ("V", 6)], 6: [("E", None)]}
# (key, layer kind, cells, title, the paper's result)
MODELS = [
    ("lstm1997", "lstm1997", 32, "LSTM 1997 (no forget gate)",
     "100% solved, 8,440 seq. (3 blocks x 2 cells, lr 0.5)"),
    ("lstm_forget", "lstm_forget", 32, "LSTM with forget gate", "- (forget gates came in 2000)"),
    ("elman", "elman", 32, "Elman net (tanh)", "0% solved"),
    ("lstm1997_6", "lstm1997", 6, "LSTM 1997, 6 cells", "100% solved, 8,440 seq."),
]
LR, BATCH, CLIP, EVAL_EVERY = 0.05, 32, 1.0, 10


def reber_string(rng):
    """One Reber string as (symbols, successor sets): sets[k] = the symbols allowed after
    symbols[k] (after the final E: none)."""
    state, symbols, sets = 0, [], []
    while state is not None:
        choices = REBER[state]
        symbol, state = choices[rng.integers(len(choices))]
        symbols.append(symbol)
        sets.append({s for s, _ in REBER[state]} if state is not None else set())
    return symbols, sets


def embedded_reber_string(rng):
    """B, T or P, a Reber string, the same T or P again, E: (string, successor sets)."""
    branch = "TP"[rng.integers(2)]
    inner, inner_sets = reber_string(rng)
    symbols = ["B", branch] + inner + [branch, "E"]
    # after the inner E only the remembered branch symbol may come: the long-term dependency
    sets = [{"T", "P"}, {"B"}] + inner_sets[:-1] + [{branch}, {"E"}, set()]
    return "".join(symbols), sets


def make_set(rng, n):
    """n embedded Reber strings (duplicates allowed, as sampled) with their successor sets."""
    return [embedded_reber_string(rng) for _ in range(n)]


def encode(strings, length):
    """Padded arrays: inputs (T, N, 7), one-hot, every symbol but the last; targets (T, N, 7),
    the multi-hot successor sets; mask (T, N), 1 on real steps and 0 on padding."""
    n = len(strings)
    xs, ys, mask = np.zeros((length, n, 7)), np.zeros((length, n, 7)), np.zeros((length, n))
    for j, (s, sets) in enumerate(strings):
        for t in range(len(s) - 1):
            xs[t, j, INDEX[s[t]]] = 1.0
            ys[t, j, [INDEX[c] for c in sets[t]]] = 1.0
            mask[t, j] = 1.0
    return xs, ys, mask


def strings_correct(logits, targets, mask):
    """(N,) bool: at every real step the possible next symbols' outputs are the most active
    ones. Sigmoid is monotone, so comparing logits decides the same as comparing outputs."""
    possible = targets > 0.5
    lowest = np.where(possible, logits, np.inf).min(axis=2)
    highest = np.where(possible, -np.inf, logits).max(axis=2)
    return np.all((lowest > highest) | (mask < 0.5), axis=0)


class Net:
    """A recurrent layer + Linear readout with its compiled train step (one minibatch shape)
    and forward function (the whole train + test set), built once and reused by every trial:
    each new placeholder shape would build and compile a new graph."""

    def __init__(self, kind, hidden, length, batch, n_eval):
        self.kind, self.hidden = kind, hidden
        self.layer = self._layer(0)
        self.readout = tr.nn.Linear(hidden, 7, seed=0)
        self.params = {**self.layer.parameters(),
                       **{"readout_" + k: p for k, p in self.readout.parameters().items()}}
        xs = tr.placeholder((length, batch, 7), name="xs")
        ys = tr.placeholder((length, batch, 7), name="targets")
        mask = tr.placeholder((length, batch), name="mask")
        z = self.logits(xs)
        bce = tr.binary_cross_entropy_with_logits(z, ys, reduction="none")  # of sigmoid(z)
        self.loss = (bce.sum(axis=2) * mask).sum() / mask.sum()
        self.step = tr.train_step([xs, ys, mask], self.loss, self.params)
        xs_all = tr.placeholder((length, n_eval, 7), name="xs_all")
        self.forward = tr.function([xs_all], [self.logits(xs_all)])

    def _layer(self, seed):
        if self.kind == "elman":
            return tr.nn.RNN(7, self.hidden, nonlinearity="tanh", seed=seed)
        return tr.nn.LSTM(7, self.hidden, forget_gate=self.kind == "lstm_forget", seed=seed)

    def logits(self, xs):
        """(T, B, 7) inputs -> (T, B, 7) readout pre-activations (the outputs are their sigmoid)."""
        out, _ = self.layer(xs)
        return self.readout(out)

    def reset(self, seed):
        """Fresh random weights for a new trial, in the same graph."""
        self.layer.load_state_dict(self._layer(seed).state_dict())
        self.readout.load_state_dict(tr.nn.Linear(self.hidden, 7, seed=seed + 10_000).state_dict())


def trial(net, data, seed, budget, prefix):
    """Train ``net`` from fresh weights until it predicts every training and test string
    correctly or has seen ``budget`` sequences: (sequences seen at success or None, History)."""
    train, every = data
    net.reset(seed)
    rng = np.random.default_rng(seed)
    n_train = train[0].shape[1]

    def batches(i):
        pick = rng.integers(n_train, size=BATCH)
        return tuple(a[:, pick] for a in train)

    def evaluate():
        ok = strings_correct(net.forward(every[0])[0], every[1], every[2])
        return {"train_ok": ok[:n_train].mean(), "test_ok": ok[n_train:].mean()}

    history = tr.fit(net.step, tr.optim.Adam(net.params, lr=LR), batches, steps=budget // BATCH,
                     clip=CLIP, evaluate=evaluate, eval_every=EVAL_EVERY,
                     stop=lambda m: m["train_ok"] == 1.0 and m["test_ok"] == 1.0,
                     log_every=100, prefix=prefix)
    solved = history.stopped_at * BATCH if history.stopped_at is not None else None
    return solved, history


def write_picture(cell, out):
    """The 1997 cell, folded with its delay edges, as DOT (and SVG when Graphviz is here)."""
    graph = tr.viz.draw_folded(cell)
    written = [tr.viz.save(graph, os.path.join(out, "lstm_cell.dot"))]
    if shutil.which("dot"):
        written.append(tr.viz.save(graph, os.path.join(out, "lstm_cell.svg")))
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one trial per net, small budget (what CI runs)")
    parser.add_argument("--out", default="embedded_reber_out", help="where to write the picture and weights")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the first trial")
    args = parser.parse_args()
    start = time.perf_counter()
    models = MODELS[:3] if args.quick else MODELS
    trials, budget = (1, 20_000) if args.quick else (10, 100_000)
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    train, test = make_set(rng, 256), make_set(rng, 256)
    length = max(len(s) for s, _ in train + test) - 1
    data = (encode(train, length), encode(train + test, length))
    print(f"embedded Reber grammar: 256 training + 256 test strings of {min(len(s) for s, _ in train + test)}"
          f" to {length + 1} symbols, e.g. {train[0][0]}, {train[1][0]}; {trials} trial(s) per net, "
          f"at most {budget:,} sequences each")

    results = {}
    for key, kind, hidden, title, _ in models:
        net = Net(kind, hidden, length, BATCH, len(train) + len(test))
        print(f"{title}: {hidden} cells, {sum(p.size for p in net.params.values()):,} weights")
        results[key] = []
        for k in range(trials):
            solved, history = trial(net, data, args.seed + k, budget, f"  [{key} trial {k}] ")
            results[key].append(solved)
            print(f"  trial {k}: " + (f"solved after {solved:,} sequences" if solved else
                                      f"not solved within {budget:,} sequences")
                  + f" ({history.steps} steps, {history.seconds:.1f} s)")
        if key == "lstm1997":
            print("wrote", ", ".join(write_picture(net.layer.cells[0][0], args.out)
                                     + [tr.save_params(os.path.join(args.out, "lstm1997.npz"),
                                                       net.params)]))

    print(f"\n{'net':28s} {'solved':>7s} {'sequences until success':>24s}   paper (1997)")
    for key, _, _, title, paper in models:
        done = [r for r in results[key] if r]
        seen = "-" if not done else f"{np.mean(done):,.0f}" + (
            f" ({min(done):,}-{max(done):,})" if len(done) > 1 else "")
        print(f"{title:28s} {len(done):>3d}/{len(results[key]):<3d} {seen:>24s}   {paper}")
    print(f"({time.perf_counter() - start:.1f} s)")
    lstm, elman = results["lstm1997"], results["elman"]
    if not all(lstm):
        raise SystemExit(f"embedded_reber FAILED: the 1997 LSTM did not solve the task within {budget:,} "
                         f"sequences in {lstm.count(None)} of {len(lstm)} trial(s)")
    mean = " on average" if len(lstm) > 1 else ""
    print(f"embedded_reber OK: LSTM 1997 solved {len(lstm)}/{len(lstm)} after {np.mean(lstm):,.0f} "
          f"sequences{mean}; Elman solved {len([r for r in elman if r])}/{len(elman)} within {budget:,}")


if __name__ == "__main__":
    main()
