"""The temporal order problem under the protocol of Hochreiter & Schmidhuber (1997), "Long
Short-Term Memory", Section 5.6 (Experiment 6), Tasks 6a and 6b, Table 9 (results) and Tables
10/11 (conditions, rows 6a and 6b).

Protocol (the paper's, and what this script does):

- Task 6a (Sec. 5.6). Symbols a, b, c, d, X, Y, E, B, each one input unit (local
  representation: 8 input units). The length L is random in 100 .. 110. The sequence starts
  with E, ends with B (the trigger symbol), and has X or Y at positions t1 (random in
  10 .. 20) and t2 (50 .. 60); every other element is one of a, b, c, d at random. Four
  classes by the order of X and Y: X, X -> Q; X, Y -> R; Y, X -> S; Y, Y -> U.
- Task 6b: three relevant symbols, at t1 in 10 .. 20, t2 in 33 .. 43, t3 in 66 .. 76; eight
  classes: XXX -> Q, XXY -> R, XYX -> S, XYY -> U, YXX -> V, YXY -> A, YYX -> B, YYY -> C.
- Outputs (Sec. 5.6: "as many output units as there are classes", each class a binary target
  vector with one non-zero component): one logistic output unit per class (4 for 6a, 8 for
  6b), target 1 for the sequence's class and 0 for the others, only at the sequence end. A
  sequence is classified correctly if the absolute error of every output unit is below 0.3
  (Table 11, ABS(0.3); Table 9 counts as wrong "error > 0.3 for at least one output unit").
- Net (Sec. 5.6, Table 10 rows 6a/6b): 8 input units, 2 (6b: 3) memory-cell blocks of 2
  cells (``tr.nn.LSTM1997Cell(8, 2, cells_per_block=2, recurrent_gates=True)``), the output
  units fed by the cells only; cells and gates receive the inputs, the cells and the gates
  (connectivity "F"); every non-input unit has a bias ("all"): 156 (6b: 308) weights.
  g = 4 sigma - 2, h = 2 sigma - 1, gates and outputs logistic in [0, 1]. The paper's
  truncated gradient (``truncated=True``: error crosses time only through the carousels).
- Initialisation: every weight and bias uniform in [-0.1, 0.1], except the input-gate biases
  -2, -4 (6b: -2, -4, -6); output-gate biases random ("r" in Table 10).
- Learning: online, one weight update per sequence (the error occurs only at the sequence
  end, so the paper's per-step updates add up to exactly one), plain gradient descent with
  learning rate 0.5 (6b: 0.1) on 1/2 sum_k (t_k - y_k)^2 (eq. 19's error
  e_k = f'(net_k)(t_k - y_k)). Activations start from zero in every sequence. Sequences are
  generated on line (Table 11, "t3").
- Stopping rule ST3(0.1) (Sec. 5.6, Table 11): the average training error is below 0.1 and
  the 2,000 most recent training sequences were classified correctly. Then 2,560 fresh test
  sequences: the number classified wrongly, and the mean error E on them.
- Trials: 20 for 6a, 10 for 6b (Table 9's means).

Interpretations (the paper leaves these open):

- Positions count from 1: E is at position 1, B at position L. Then the least distance from
  the last relevant symbol to the end is 100 - 60 = 40 (6b: 100 - 76 = 24), Table 10's
  "lag" column; counting from 0 would give 39 (23).
- X and Y with probability 1/2 each, independently at each relevant position; a, b, c, d
  uniformly; every range includes both ends. So the classes are equally likely.
- "average training error": eq. 16's E = sum_k (t_k - y_k)^2 (summed over the output units),
  averaged over the same 2,000 most recent sequences, each measured when it was processed
  (before its update). With all 2,000 correct a sequence's E can still be up to 4 x 0.3^2 =
  0.36 (6b: 0.72), so the bound 0.1 is a condition of its own (a mean over the output units
  would be below 0.09 anyway). Table 9's "error > 0.3" and Table 11's "below 0.3" differ at
  0.3 exactly; 0.3 counts as wrong here.
- Eq. 16 writes E without a factor 1/2, but the update equations (19-22) use
  e_k = f'(net_k)(t_k - y_k), the gradient of 1/2 (t_k - y_k)^2; we follow the update
  equations (with E as written, every learning rate would double).
- Lengths vary within a trial; every sequence is zero-padded to 110 steps and the outputs are
  read at its own last step. The padding comes after the readout: no value or gradient
  changes.

Deviations (every one):

- Budget: each trial stops after ``--budget`` sequences (default 1,000,000 for 6a,
  5,000,000 for 6b) if the rule has not fired by then (the paper had no cap). Such a trial
  counts as not finished and is reported separately; its numbers are never set beside the
  paper's as the same protocol.
- ``--quick`` (what the test suite runs): Task 6a only, 2 trials, a budget of 6,000 sequences
  each. Here every 6a trial first sits on a plateau at chance (outputs near 1/4 for every
  class): at 10,000 sequences all 20 trials of seeds 0-19 had E 0.754 to 0.758 over their
  last 2,000 sequences and none of those classified correctly; E first fell below 0.7
  between 15,000 and 25,000 (looked at every 2,500). So in 6,000 sequences neither the rule
  nor the solution is reached (the paper: 31,390 on average to the rule). The verdict
  is what the numbers can show within that budget: the error from the sequence end reaches
  the relevant symbols, 40 to 100 steps back, at least half as large as it is in the 10
  steps before the end (the constant error carousel, measured on the trained nets; an
  untrained tanh RNN of 8 units: about 6e-12), and the test error has not diverged (at most
  1.2 x the chance level 0.75, the E of outputs at the class frequencies). Progress is
  claimed only where the test error shows it: below 0.5, the least mean E of a net that
  knows at most one of the two symbols.

Cost: one 6a sequence (forward, truncated gradient, update) takes about 1.5 ms on one
core alone here and about 3 ms each when two trials run side by side on the 2 cores, so 20
trials of 6a (about 22,000 sequences each here) took 16 minutes with ``--processes 2``; 6b
(Table 9: 571,100 sequences on average, 10 trials) is many hours. ``--task``, ``--trials``
and ``--budget`` choose a part. Each trial's numbers are written to ``--out`` as it ends.

Run:

    python examples/temporal_order.py --quick          # ~20 s on 2 free cores (about 20 s of CPU)
    python examples/temporal_order.py                  # Tasks 6a and 6b, Table 9: hours
    python examples/temporal_order.py --task 6a --trials 20 --budget 50000 --processes 2
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn.learn.trials import run_trials

SYMBOLS = "abcdXYEB"      # the 8 input units, one per symbol (local representation)
NOISE = 4                 # a, b, c, d: the symbols between the relevant ones
X, Y, E, B = (SYMBOLS.index(s) for s in "XYEB")
LENGTHS = (100, 110)      # sequence length, both ends included
# positions t1, t2 (, t3) of the relevant symbols, counted from 1 (E is at position 1)
POSITIONS = {"6a": ((10, 20), (50, 60)), "6b": ((10, 20), (33, 43), (66, 76))}
# the classes in the paper's order: X, X -> Q; X, Y -> R; ... (X = 0, Y = 1, first symbol
# most significant)
CLASSES = {"6a": ["Q", "R", "S", "U"], "6b": ["Q", "R", "S", "U", "V", "A", "B", "C"]}
TOLERANCE = 0.3           # correct: |error| < 0.3 at the sequence end for every output unit
WINDOW = 2000             # ST3(0.1): the 2,000 most recent training sequences all correct ...
AVERAGE_ERROR = 0.1       # ... and their average error (eq. 16) below 0.1
TEST = 2560               # test sequences after training
LEARNING_RATE = {"6a": 0.5, "6b": 0.1}
INIT_RANGE = 0.1
INPUT_GATE_BIAS = {"6a": (-2.0, -4.0), "6b": (-2.0, -4.0, -6.0)}
BLOCKS = {"6a": 2, "6b": 3}
CELLS_PER_BLOCK = 2
WEIGHTS = {"6a": 156, "6b": 308}
# Table 9: task -> (weights, wrong out of 2560, training sequences to ST3(0.1), trials)
PAPER = {"6a": (156, 1, 31_390, 20), "6b": (308, 2, 571_100, 10)}
DEFAULT_BUDGET = {"6a": 1_000_000, "6b": 5_000_000}
T_MAX = LENGTHS[1]


# ---- data ---------------------------------------------------------------------------------

def sequence(rng, task):
    """One sequence: symbols (L,) as indices into SYMBOLS with L in 100 .. 110, its class
    (index into CLASSES[task]) and the positions (counted from 1) of the relevant symbols.
    E at position 1, B (the trigger) at position L, X or Y at t1, t2 (, t3), a/b/c/d
    elsewhere."""
    L = int(rng.integers(LENGTHS[0], LENGTHS[1] + 1))
    symbols = rng.integers(0, NOISE, L)
    symbols[0], symbols[L - 1] = E, B
    positions = tuple(int(rng.integers(lo, hi + 1)) for lo, hi in POSITIONS[task])
    relevant = rng.integers(0, 2, len(positions))  # 0: X, 1: Y
    symbols[[t - 1 for t in positions]] = X + relevant
    label = int(relevant @ (2 ** np.arange(len(positions) - 1, -1, -1)))
    return symbols, label, positions


def one_hot(indices, n):
    return np.eye(n)[indices]


def batch(rng, n, task):
    """n sequences padded to 110 steps: xs (110, n, 8) one-hot, targets (n, K) one-hot (K = 4
    for 6a, 8 for 6b), last (110, n, 1) with 1.0 at each sequence's own last step."""
    K = len(CLASSES[task])
    xs, last, targets = np.zeros((T_MAX, n, len(SYMBOLS))), np.zeros((T_MAX, n, 1)), np.zeros((n, K))
    for j in range(n):
        symbols, label, _ = sequence(rng, task)
        xs[:len(symbols), j] = one_hot(symbols, len(SYMBOLS))
        last[len(symbols) - 1, j, 0] = 1.0
        targets[j, label] = 1.0
    return xs, targets, last


# ---- the criteria --------------------------------------------------------------------------

def correct(errors):
    """Which sequences are classified correctly: errors (..., K) at the sequence end, correct
    when the absolute error of every output unit is below 0.3 (Sec. 5.6; Table 11, ABS(0.3))."""
    return np.all(np.abs(errors) < TOLERANCE, axis=-1)


def squared_error(errors):
    """Eq. 16: E = sum over the output units of (t_k - y_k)^2, per sequence."""
    return np.sum(np.square(errors), axis=-1)


class Recent:
    """The most recent ``window`` training sequences: was each classified correctly, and its
    error E (eq. 16), both measured before the sequence's own update."""

    def __init__(self, window=WINDOW):
        self.window, self.n = window, 0
        self.correct = np.zeros(window, bool)
        self.squared = np.zeros(window)

    def add(self, errors):
        """errors (K,): target - output at the sequence end, for each output unit."""
        k = self.n % self.window
        self.correct[k], self.squared[k] = correct(errors), squared_error(errors)
        self.n += 1

    def mean_error(self):
        m = min(self.n, self.window)
        return float(self.squared[:m].mean()) if m else float("nan")

    def fraction_correct(self):
        m = min(self.n, self.window)
        return float(self.correct[:m].mean()) if m else float("nan")


def st3(recent, average_error=AVERAGE_ERROR):
    """ST3(0.1) (Sec. 5.6, Table 11): at least ``window`` sequences seen, all of the most
    recent ``window`` classified correctly, and their average error below 0.1."""
    return (recent.n >= recent.window and bool(recent.correct.all())
            and recent.mean_error() < average_error)


# ---- the net -------------------------------------------------------------------------------

class TemporalOrderNet:
    """Section 5.6's net: LSTM1997Cell (2 blocks of 2 cells for 6a, 3 for 6b; gates recurrent;
    every unit biased) and one logistic output unit per class on the cells."""

    def __init__(self, seed, task):
        self.task = task
        blocks, K = BLOCKS[task], len(CLASSES[task])
        self.cell = tr.nn.LSTM1997Cell(len(SYMBOLS), blocks, cells_per_block=CELLS_PER_BLOCK,
                                       truncated=True, seed=seed, init_range=INIT_RANGE,
                                       output_gate_bias=None,
                                       input_gate_bias=INPUT_GATE_BIAS[task], bias=True,
                                       recurrent_gates=True)
        self.head = tr.nn.Linear(blocks * CELLS_PER_BLOCK, K, seed=seed)
        rng = np.random.default_rng([seed, 1])
        for p in self.head.parameters().values():  # [-0.1, 0.1] like every other weight
            p.assign(rng.uniform(-INIT_RANGE, INIT_RANGE, p.shape))
        self.params = {**self.cell.parameters(),
                       **{"out." + k: p for k, p in self.head.parameters().items()}}
        self._forward = {}
        xs, last, y = self.predict(1)
        target = tr.placeholder((1, K), name="target")
        loss = 0.5 * tr.sum((target - y) ** 2)  # eq. 19: e_k = f'(net_k) (t_k - y_k)
        self.step = tr.train_step([xs, last, target], loss, self.params, extras=[y])
        self.sgd = tr.optim.SGD(self.params, lr=LEARNING_RATE[task])

    def weights(self):
        return sum(int(np.prod(p.shape)) for p in self.params.values())

    def predict(self, n):
        """Placeholders xs (110, n, 8), last (110, n, 1) and the outputs (n, K), read at each
        sequence's last step."""
        xs = tr.placeholder((T_MAX, n, len(SYMBOLS)), name="xs")
        last = tr.placeholder((T_MAX, n, 1), name="last")

        def step(state, x):
            y, state = self.cell(x, state)
            return state, y

        _, ys = tr.scan(step, self.cell.initial_state(n), xs)
        return xs, last, tr.sigmoid(self.head(tr.sum(ys * last, axis=0)))

    def outputs(self, xs, last):
        n = xs.shape[1]
        if n not in self._forward:
            x, lst, y = self.predict(n)
            self._forward[n] = tr.function([x, lst], [y])
        return self._forward[n](xs, last)[0]

    def train_on(self, symbols, label, buffers):
        """One online update on one sequence; returns target - output (K,) before the update."""
        xs, last, target = buffers
        xs[:] = 0.0
        last[:] = 0.0
        target[:] = 0.0
        xs[np.arange(len(symbols)), 0, symbols] = 1.0
        last[len(symbols) - 1, 0, 0] = 1.0
        target[0, label] = 1.0
        _, grads, (y,) = self.step(xs, last, target)
        self.sgd.step(grads)
        return target[0] - y[0]


def test(net, seed, n=TEST):
    """(wrong out of n, mean error E (eq. 16), fraction correct) on n fresh sequences."""
    xs, targets, last = batch(np.random.default_rng([seed, 2]), n, net.task)
    errors = targets - net.outputs(xs, last)
    return int(np.sum(~correct(errors))), float(np.mean(squared_error(errors)))


def save_result(result, directory):
    """Write one trial's numbers (JSON) and final weights (.npz) into ``directory`` as soon as
    it ends, so that a long run that is stopped keeps the trials it finished."""
    name = os.path.join(directory, f"temporal_order_{result['task']}_seed{result['seed']}")
    with open(name + ".json", "w") as f:
        json.dump({k: v for k, v in result.items() if k != "params"}, f)
    np.savez(name + ".npz", **result["params"])


def trial(seed, task, budget, curve_every=2500, save=None):
    """One trial: train online until ST3(0.1) or ``budget`` sequences, then test on 2,560
    fresh sequences. Module level, so that worker processes can run it."""
    start = time.perf_counter()
    net = TemporalOrderNet(seed, task)
    rng = np.random.default_rng([seed, 0])
    recent = Recent()
    K = len(CLASSES[task])
    buffers = (np.zeros((T_MAX, 1, len(SYMBOLS))), np.zeros((T_MAX, 1, 1)), np.zeros((1, K)))
    curve, stopped = [], None
    for n in range(1, budget + 1):
        symbols, label, _ = sequence(rng, task)
        recent.add(net.train_on(symbols, label, buffers))
        if n % curve_every == 0:
            curve.append((n, recent.mean_error(), recent.fraction_correct()))
        if st3(recent):
            stopped = n
            break
    wrong, mean_error = test(net, seed)
    result = {"seed": seed, "task": task, "stopped": stopped, "seen": recent.n, "wrong": wrong,
              "test_error": mean_error, "train_error": recent.mean_error(),
              "train_correct": recent.fraction_correct(), "curve": curve,
              "weights": net.weights(), "seconds": time.perf_counter() - start,
              "params": {k: np.array(p.value) for k, p in net.params.items()}}
    if save:
        save_result(result, save)
    return result


# ---- the error at the relevant symbols -----------------------------------------------------

def error_at_symbols(cell, head, seed, task, n=64):
    """How much of the error at the sequence end reaches the relevant symbols, at least 40
    (6a; 6b: 24) steps back: the mean ||dL/dx(t)|| over the steps t1, t2 (, t3), divided by
    the mean over the 10 steps before the last (x(t): the 8 input units; L = 1/2 sum_k
    (t_k - y_k)^2 at the end, n sequences). 1 means no decay with distance. For the
    LSTM1997Cell this is the truncated gradient, the error its learning rule delivers."""
    xs_v, targets, last_v = batch(np.random.default_rng([seed, 4]), n, task)
    xs = tr.placeholder((T_MAX, n, len(SYMBOLS)), name="xs")
    last = tr.placeholder((T_MAX, n, 1), name="last")

    def step(state, x):
        y, state = cell(x, state)
        return state, y

    _, ys = tr.scan(step, cell.initial_state(n), xs)
    y = tr.sigmoid(head(tr.sum(ys * last, axis=0)))
    loss = 0.5 * tr.sum((tr.tensor(targets) - y) ** 2)
    (dx,) = tr.grad(loss, [xs])
    g = np.linalg.norm(tr.function([xs, last], [dx])(xs_v, last_v)[0], axis=2)  # (T_max, n)
    relevant = (xs_v[:, :, X] == 1.0) | (xs_v[:, :, Y] == 1.0)
    ends = np.argmax(last_v[:, :, 0], axis=0)
    near = np.zeros_like(relevant)
    for j, end in enumerate(ends):
        near[end - 10:end, j] = True
    return float(g[relevant].mean() / g[near].mean())


def tanh_rnn(seed, task, hidden=8):
    """A tanh RNN of about the same size (8 units; with its output layer 180 weights for 6a),
    the library's default initialisation, untrained: the error a conventional net delivers."""
    return tr.nn.RNNCell(len(SYMBOLS), hidden, seed=seed), tr.nn.Linear(hidden, len(CLASSES[task]),
                                                                         seed=seed)


def best_error(task, known):
    """The least mean E (eq. 16) of a net that knows ``known`` of the task's relevant symbols
    (each X or Y with probability 1/2) and nothing else: 2^m classes remain equally likely
    (m = the unknown ones), and each of their output units has variance 2^-m (1 - 2^-m), so
    E = 1 - 2^-m. 6a: chance 0.75, one symbol 0.5; 6b: chance 0.875, one 0.75, two 0.5."""
    return 1.0 - 2.0 ** -(len(POSITIONS[task]) - known)


# ---- report --------------------------------------------------------------------------------

def trained(result):
    """A trial's net with the weights it ended with."""
    net = TemporalOrderNet(result["seed"], result["task"])
    for k, p in net.params.items():
        p.assign(result["params"][k])
    return net


def draw(result, out):
    """The folded cell, and the error flow of a trial's trained net on one sequence (loss at
    its last step)."""
    net, task = trained(result), result["task"]
    symbols, label, _ = sequence(np.random.default_rng(3), task)
    x = one_hot(symbols, len(SYMBOLS))
    target = one_hot(label, len(CLASSES[task]))[None, :]

    def loss_fn(t, y):
        if t != len(x) - 1:
            return None
        return 0.5 * tr.sum((target - tr.sigmoid(net.head(y))) ** 2)

    name = f"lstm1997_temporal_order_{task}.dot"
    written = [tr.viz.save(tr.viz.draw_folded(net.cell), os.path.join(out, name))]
    flow = tr.viz.draw_error_flow(net.cell, x[:, None, :], loss_fn, max_steps=10)
    written.append(tr.viz.save(flow, os.path.join(out, f"error_flow_{task}.dot")))
    if shutil.which("dot"):
        written.append(tr.viz.save(flow, os.path.join(out, f"error_flow_{task}.svg")))
    return written


def summarize(task, results, budget, quick):
    done = [r for r in results if r["stopped"] is not None]
    print(f"\nTask {task}: {len(results)} trials, budget {budget:,} sequences each")
    print(f"  {'seed':>4} {'stopped after':>14} {'wrong/2560':>10} {'test E':>7} "
          f"{'train E (last 2000)':>19} {'correct (last 2000)':>19} {'time':>7}")
    for r in results:
        when = f"{r['stopped']:,}" if r["stopped"] else f"not by {r['seen']:,}"
        print(f"  {r['seed']:>4} {when:>14} {r['wrong']:>10} {r['test_error']:>7.4f} "
              f"{r['train_error']:>19.4f} {r['train_correct']:>19.1%} {r['seconds']:>6.0f}s")
    if not done:
        print(f"  no trial met the stopping rule within {budget:,} sequences")
    else:
        seen = [r["stopped"] for r in done]
        print(f"  ST3(0.1) reached in {len(done)} of {len(results)} trials: mean "
              f"{np.mean(seen):,.0f} sequences (min {min(seen):,}, max {max(seen):,}), wrong "
              f"predictions {np.mean([r['wrong'] for r in done]):.1f} out of {TEST} (max "
              f"{max(r['wrong'] for r in done)}), test E max "
              f"{max(r['test_error'] for r in done):.4f}")
    w, wrong, seen, paper_trials = PAPER[task]
    row = (f"Table 9, Task {task}: {w} weights, {wrong} wrong out of {TEST}, success after "
           f"{seen:,} (mean of {paper_trials} trials)")
    differences = []
    if quick:
        differences.append(f"a budget of {budget:,} sequences per trial")
    if len(results) != paper_trials:
        differences.append(f"{len(results)} trials, not {paper_trials}")
    if len(done) != len(results):
        differences.append(f"{len(results) - len(done)} trial(s) stopped by the budget of "
                           f"{budget:,}, not by the rule")
    if differences:
        print(f"  paper, different protocol ({'; '.join(differences)}): {row}")
    else:
        print(f"  paper, same protocol: {row}")
    return done


def quick_verdict(run, budget, seed):
    """What a short run of Task 6a can show: the error from the sequence end reaches the
    relevant symbols undiminished (the carousel), where a tanh RNN's has vanished; training
    did not diverge. Progress towards the solution is printed, and claimed only where the
    test error shows it."""
    task, results, done = run
    nets = [trained(r) for r in results]
    lstm = [error_at_symbols(net.cell, net.head, r["seed"], task) for net, r in zip(nets, results)]
    cell, head = tanh_rnn(seed, task)
    rnn_weights = sum(int(np.prod(p.shape)) for m in (cell, head) for p in m.parameters().values())
    rnn = error_at_symbols(cell, head, seed, task)
    lag = min(LENGTHS[0] - hi for hi in (p[1] for p in POSITIONS[task]))
    print(f"\nerror at the relevant symbols (>= {lag} steps before the end) / error in the 10 "
          f"steps before the end, 64 sequences: LSTM1997Cell after training "
          f"{', '.join(f'{v:.2f}' for v in lstm)}; untrained tanh RNN (8 units, {rnn_weights} "
          f"weights) {rnn:.1e}")
    chance, one = best_error(task, 0), best_error(task, len(POSITIONS[task]) - 1)
    errors = [r["test_error"] for r in results]
    both = sum(e < one for e in errors)
    print(f"test E {', '.join(f'{e:.4f}' for e in errors)}: chance (the class frequencies) "
          f"{chance:.2f}, knowing one of the two symbols at best {one:.2f}; wrong "
          f"{', '.join(str(r['wrong']) for r in results)} of {TEST}; ST3(0.1) reached in "
          f"{len(done)} of {len(results)}")
    carried = min(lstm) >= 0.5 and rnn <= 1e-6
    sane = max(errors) <= 1.2 * chance
    progress = (f"both symbols already used in {both} of {len(results)} trials"
                if both else f"no trial is past the plateau at chance within {budget:,} "
                f"sequences (the paper needed {PAPER[task][2]:,} on average to finish)")
    what = (f"Task {task}, {len(results)} trials of at most {budget:,} sequences: the error "
            f"reaches the relevant symbols at {min(lstm):.2f}x its size near the end (tanh RNN: "
            f"{rnn:.0e}); {progress}")
    if not (carried and sane):
        sys.exit(f"temporal_order FAILED: {what}; test E up to {max(errors):.4f}; needed: the "
                 f"error at the symbols at least 0.5x, the tanh RNN's at most 1e-6, test E at "
                 f"most {1.2 * chance:.2f} (not diverged)")
    print(f"temporal_order OK: {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="Task 6a, 2 trials of 6,000 sequences (what the test suite runs)")
    parser.add_argument("--out", default="temporal_order_out", help="pictures (.dot, .svg)")
    parser.add_argument("--seed", type=int, default=0, help="first trial's seed")
    parser.add_argument("--task", choices=["6a", "6b", "both"], help="default: quick 6a, full both")
    parser.add_argument("--trials", type=int, help="trials per task (quick 2; full 20 for 6a, "
                        "10 for 6b, as Table 9)")
    parser.add_argument("--budget", type=int, help="most training sequences per trial (quick "
                        "6,000; full 1,000,000 for 6a, 5,000,000 for 6b)")
    parser.add_argument("--processes", type=int, help="worker processes (default: all cores)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    task = args.task or ("6a" if args.quick else "both")
    tasks = ["6a", "6b"] if task == "both" else [task]
    print(f"Temporal order problem, Hochreiter & Schmidhuber (1997) Sec. 5.6: LSTM1997Cell, "
          f"blocks of {CELLS_PER_BLOCK} cells, gates recurrent, one logistic output unit per "
          f"class, online gradient descent, truncated gradient; stop: ST3(0.1); test: {TEST} "
          f"sequences, |error| < {TOLERANCE} at every output unit")
    start, runs = time.perf_counter(), []
    for t in tasks:
        trials = args.trials or (2 if args.quick else PAPER[t][3])
        budget = args.budget or (6_000 if args.quick else DEFAULT_BUDGET[t])
        print(f"\nTask {t}: {BLOCKS[t]} blocks, {len(CLASSES[t])} output units, "
              f"{WEIGHTS[t]} weights, learning rate {LEARNING_RATE[t]}, input-gate biases "
              f"{', '.join(str(b) for b in INPUT_GATE_BIAS[t])}")
        results = run_trials(trial, range(args.seed, args.seed + trials), t, budget,
                             processes=args.processes, desc=f"Task {t}",
                             save=None if args.quick else args.out)
        assert all(r["weights"] == WEIGHTS[t] for r in results), \
            f"the net must have Table 10's {WEIGHTS[t]} weights"
        done = summarize(t, results, budget, args.quick)
        for r in results:
            print(f"  curve, seed {r['seed']}: " + ", ".join(
                f"{n / 1000:g}k: E {e:.3f} / {c:.0%}" for n, e, c in r["curve"]))
        if not runs:
            print("  wrote", ", ".join(draw(results[0], args.out)))
        runs.append((t, results, done, budget))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    if args.quick:
        t, results, done, budget = runs[0]
        quick_verdict((t, results, done), budget, args.seed)
        return
    failed = [(t, len(r) - len(d)) for t, r, d, _ in runs if len(d) < len(r)]
    if failed:
        sys.exit("temporal_order FAILED: trials that did not meet ST3(0.1) within the budget: "
                 + ", ".join(f"Task {t}: {k}" for t, k in failed))
    print("temporal_order OK: every trial met the paper's stopping rule; "
          + "; ".join(f"Task {t}: mean {np.mean([r['stopped'] for r in d]):,.0f} sequences, "
                      f"{np.mean([r['wrong'] for r in d]):.1f} wrong of {TEST}"
                      for t, _, d, _ in runs))


if __name__ == "__main__":
    main()
