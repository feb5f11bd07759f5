"""Embedded Reber grammar under the protocol of Hochreiter & Schmidhuber (1997), Experiment 1.

The task (Section 5.1, Figures 3 and 4): strings are walks through the Reber automaton over
B T P S X V E, each choice taken with probability 0.5, wrapped as B T <Reber string> T E or
B P <Reber string> P E. A net reads a string one symbol at a time and predicts the next
symbol at every step (7 one-hot inputs, 7 outputs). To predict the symbol before the last
it must remember the second symbol across the whole inner string.

The protocol of the paper, as run here for the LSTM rows of Table 1:

- data (Sec. 5.1 "Training/Testing"): 256 training strings drawn from the grammar; 256 test
  strings drawn the same way, but a string that is in the training set is not used for
  testing (disjoint sets); training strings are picked at random from the training set;
  all activations are reset to zero after each string;
- success (Sec. 5.1; Table 11 "training & test correctly pred."): a trial succeeds when
  every symbol of every string of both sets is predicted correctly: at every step the
  outputs of the possible next symbols are the most active ones;
- nets (Sec. 5.1 "Architectures", Table 10 rows 1-1 to 1-5): ``tr.nn.LSTM1997Cell`` with
  4 memory blocks of 1 cell or 3 blocks of 2 cells; memory cells and gates read the input
  units, the memory cells and the gates (``recurrent_gates=True``); only the gates have
  biases (``bias="gates"``); the 7 logistic output units read the memory cells only (no
  bias): 264 and 276 weights, Table 10's column w; g in [-2, 2], h in [-1, 1], every other
  squashing logistic in [0, 1]; all weights uniform in [-0.2, 0.2] except the output-gate
  biases -1, -2, -3 (, -4) (``output_gate_bias="descending"``);
- learning (Sec. 5: "We always use on-line learning"; App. A.1): the truncated gradient
  (``truncated=True``) of the squared error, plain gradient descent with the learning rates
  of Table 10 (0.1, 0.2, 0.5), one update after each string: "each weight's total update is
  the sum of the contributions of all time steps";
- 30 trials per row (Sec. 5.1 "Results"): 3 randomly generated pairs of training and test
  sets, 10 initialisations each. Reported, as in Table 1: the % of successful trials and the
  mean number of training strings presented until success.

What the paper leaves open, and what we chose (the LSTM rows compare with Table 1 up to
these; we know of no other difference):

- when the weights change: App. A.1 sums the contributions of all time steps into a
  weight's total update (our default: one update per string), but computes them forward
  in time (eqs. 25 and 27), which also allows an update after every symbol, as in real-time
  RTRL: ``--update step`` runs that reading;
- targets: the paper says "predict the next symbol"; our target at each step is the set of
  possible next symbols (multi-hot), not the one symbol that came (one-hot);
- how often success was checked is not stated: we check after every 100 training strings
  (the step-by-step learners: after every compiled stream of about 100), so "strings until
  success" is the count at the first check that passed;
- no training budget is stated for LSTM (it failed 2 of 150 trials): we stop at 100,000
  strings;
- the size of the error: eq. 16 writes E(t) = sum_k (t^k - y^k)^2, but the update the paper
  applies (eqs. 19, 22: e_k = f'_k (t^k - y^k), dw = alpha e y) is that of 1/2 sum (t - y)^2;
  we use 1/2 sum (t - y)^2 with the stated learning rates (E without the 1/2 would double
  every step);
- input-gate biases: Table 10 marks them "r", which its caption defines as [-0.1, 0.1];
  Sec. 5.1 says all weights but the output-gate biases start in [-0.2, 0.2]; we follow Sec.
  5.1;
- duplicates: both sets keep their strings as drawn, duplicates included (about 100 of the
  256 training strings are distinct); the success check evaluates each distinct string once,
  which decides the same;
- "strings until success" is averaged over the successful trials (for the rows at 97% the
  paper does not say which mean it gives); numbers are float64.

Baselines, each printed as "different protocol" with its differences:

- RTRL (Table 1, results of Smith & Zipser 1989): the fully recurrent net of Williams &
  Zipser (``tr.nn.WilliamsZipserNet``, logistic units, no bias line), 7 output units and 3
  or 12 hidden units, every unit reading the 7 inputs and every unit: 10 x 17 = 170 and
  19 x 26 = 494 weights, Table 1's estimates exactly; real-time recurrent learning (the
  weights change after every symbol) with Table 1's learning rates 0.05 and 0.1. Differs
  from the paper's row: Smith & Zipser made short strings more probable (Sec. 5.1) and list
  only their successful trials ("some fraction"); our nets get the LSTM's data, criterion
  and trial count; the weight range [-0.2, 0.2] and the budget (200,000 strings for 3
  hidden units, 100,000 for 12) are ours.
- ELM (Table 1, Elman nets trained by Elman's procedure, results of Cleeremans et al. 1989):
  15 logistic hidden units whose previous values come back as context inputs, 7 logistic
  outputs, no biases: 7 x 15 + 15 x 15 + 15 x 7 = 435 weights, Table 1's estimate. Elman's
  procedure: the context is an input like any other, so the error stops there (backprop one
  step deep), and the weights change after every symbol. ``tr.nn.RNNCell`` has tanh and ReLU
  units only, so the logistic net is written out here. Differs from the paper's row:
  Table 1 gives no learning rate (ours 0.1); Cleeremans et al. trained on their own string
  streams; our budget is 200,000 strings (Table 1: "> 200,000").
- RCC (Fahlman's Recurrent Cascade-Correlation) is not run.

How it runs: the LSTM learning string by string uses one compiled train step for strings
padded to the longest one (padding adds exactly 0 to the loss and the gradient). RTRL,
Elman's procedure and the LSTM updating every symbol run as one compiled ``tr.scan`` over
a stream of about 100 strings whose carry holds the weights (tr.grad inside the scan's
step). tests/test_reber.py checks every learner against a reference run string by string
(truncated BPTT, ``tr.learn.online_rtrl``, a NumPy transcription of Elman's procedure).

    python examples/embedded_reber.py [--quick] [--out DIR] [--seed N] [--rows KEYS]
                                      [--trials N] [--update string|step]

--quick (what the test suite runs): 2 trials of the LSTM row at learning rate 0.1 (3 blocks
of 2 cells) and 1 trial each of RTRL (3 hidden units) and of the Elman net, all with a
budget of 20,000 strings, below what the long-term dependency takes (Table 1: 21,730 on
average for this row); it exits with an error unless every trial of every net learned the
grammar's local transitions (every step but the T/P one right on >= 95% of the distinct
training strings). The full mode runs every row with 30 trials and the budgets above (many
hours on 2 cores: a trial that fails costs 100,000 strings, and RTRL with 12 hidden units
costs O(n^4) per symbol); --rows and --trials run a part of it, and its verdict is the
paper's "LSTM learns much faster": every LSTM row run solved a larger share of its trials
than every baseline row run (or as large a share and more training strings right at the
end). Trials run in parallel processes (``tr.learn.trials``, one per core;
TINYGRAD_RNN_TRIAL_PROCESSES sets how many) under a progress bar with the time left.
Writes the folded 1997 cell (lstm1997_cell.dot, and .svg when Graphviz's ``dot`` is here).
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import time
from dataclasses import dataclass

# the matrices here are small: OpenBLAS's threads cost more than they save; set before NumPy
# loads OpenBLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# every loop here runs hundreds of times: compile it at its first run, not its second
os.environ.setdefault("TINYGRAD_RNN_COMPILE_AFTER", "1")

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn.learn.trials import run_trials  # noqa: E402

# ---- the grammar and the data (Sec. 5.1) ----------------------------------------------------

SYMBOLS = "BTPSXVE"
INDEX = {s: k for k, s in enumerate(SYMBOLS)}
# the Reber automaton (Figure 3): state -> [(symbol, next state)]; None ends the string
REBER = {0: [("B", 1)], 1: [("T", 2), ("P", 3)], 2: [("S", 2), ("X", 4)], 3: [("T", 3), ("V", 5)],
         4: [("X", 3), ("S", 6)], 5: [("P", 4), ("V", 6)], 6: [("E", None)]}
N_TRAIN = N_TEST = 256
PAIRS = 3             # "3 different, randomly generated pairs of training and test sets"


def reber_string(rng):
    """One Reber string as (symbols, successor sets): sets[k] = the symbols allowed after
    symbols[k] (after the final E: none). Every choice has probability 0.5."""
    state, symbols, sets = 0, [], []
    while state is not None:
        choices = REBER[state]
        symbol, state = choices[rng.integers(len(choices))]
        symbols.append(symbol)
        sets.append({s for s, _ in REBER[state]} if state is not None else set())
    return symbols, sets


def embedded_reber_string(rng):
    """B, T or P, a Reber string, the same T or P again, E (Figure 4): (string, sets)."""
    branch = "TP"[rng.integers(2)]
    inner, inner_sets = reber_string(rng)
    symbols = ["B", branch] + inner + [branch, "E"]
    # after the inner E only the remembered branch symbol may come: the long-term dependency
    sets = [{"T", "P"}, {"B"}] + inner_sets[:-1] + [{branch}, {"E"}, set()]
    return "".join(symbols), sets


def successor_sets(string):
    """The successor sets of an embedded Reber string, recomputed from the string alone by
    walking the automaton (raises ValueError if the string is not in the grammar)."""
    if len(string) < 9 or string[0] != "B" or string[-1] != "E" or string[1] not in "TP" \
            or string[-2] != string[1]:
        raise ValueError(f"not an embedded Reber string: {string!r}")
    state, sets = 0, []
    for symbol in string[2:-2]:
        moves = dict(REBER[state]) if state is not None else {}
        if symbol not in moves:
            raise ValueError(f"not an embedded Reber string: {string!r}")
        state = moves[symbol]
        sets.append({s for s, _ in REBER[state]} if state is not None else {string[1]})
    if state is not None:
        raise ValueError(f"not an embedded Reber string: {string!r}")
    return [{"T", "P"}, {"B"}] + sets + [{"E"}, set()]


def make_sets(rng, n_train=N_TRAIN, n_test=N_TEST):
    """(training set, test set): lists of (string, successor sets). The training set is drawn
    at random; test strings are drawn the same way, but "sequences already used in the
    training set are not used for testing". Duplicates within a set stay, as drawn."""
    train = [embedded_reber_string(rng) for _ in range(n_train)]
    seen, test = {s for s, _ in train}, []
    while len(test) < n_test:
        s, sets = embedded_reber_string(rng)
        if s not in seen:
            test.append((s, sets))
    return train, test


def encode(strings, length):
    """Padded arrays of a list of (string, sets): inputs (T, N, 7), one-hot, every symbol but
    the last; targets (T, N, 7), the multi-hot successor sets; mask (T, N, 1), 1 on real
    steps and 0 on padding."""
    n = len(strings)
    xs, ys, mask = np.zeros((length, n, 7)), np.zeros((length, n, 7)), np.zeros((length, n, 1))
    for j, (s, sets) in enumerate(strings):
        for t in range(len(s) - 1):
            xs[t, j, INDEX[s[t]]] = 1.0
            ys[t, j, [INDEX[c] for c in sets[t]]] = 1.0
            mask[t, j] = 1.0
    return xs, ys, mask


def steps_correct(outputs, targets, mask):
    """(T, N) bool: at step t of string j the outputs of the possible next symbols
    (targets[t, j] = 1) are all above every other output; padding steps count as correct.
    outputs, targets (T, N, 7); mask (T, N) or (T, N, 1)."""
    mask = np.asarray(mask).reshape(outputs.shape[:2])
    possible = targets > 0.5
    lowest = np.where(possible, outputs, np.inf).min(axis=2)
    highest = np.where(possible, -np.inf, outputs).max(axis=2)
    return (lowest > highest) | (mask < 0.5)


def strings_correct(outputs, targets, mask):
    """(N,) bool: string j is predicted correctly when every one of its steps is (the
    criterion of Sec. 5.1)."""
    return steps_correct(outputs, targets, mask).all(axis=0)


def local_correct(outputs, targets, mask):
    """(N,) bool: every step right but the one that needs the long-term memory (the input is
    the inner E, the target the T or P of the second symbol)."""
    ok = steps_correct(outputs, targets, mask)
    n = np.asarray(mask).reshape(outputs.shape[:2]).sum(axis=0).astype(int)
    ok[n - 2, np.arange(ok.shape[1])] = True
    return ok.all(axis=0)


@dataclass
class Data:
    """One pair of training and test sets, encoded. ``steps``: (x, d) per training string,
    its real steps only, (len - 1, 7) each; ``check``: ((x, d, mask) of the distinct training
    strings, (x, d, mask) of the distinct test strings), padded, for the success check."""
    steps: list
    check: tuple


def make_data(seed, pair, length):
    """The data of pair ``pair`` (0, 1, 2) for run seed ``seed``, padded to ``length`` steps."""
    train, test = make_sets(np.random.default_rng([seed, 0, pair]))
    x, d, _ = encode(train, length)
    steps = [(x[:len(s) - 1, j], d[:len(s) - 1, j]) for j, (s, _) in enumerate(train)]
    # each distinct string once: predicting a string correctly does not depend on its copies
    check = tuple(encode(list(dict(part).items()), length) for part in (train, test))
    return Data(steps, check)


# ---- the rows of Table 1 --------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One row of Table 1: a net, its learning rate and training budget, the paper's numbers
    and, for the baselines, how our run differs from the paper's source."""
    key: str
    kind: str          # "lstm", "rtrl" or "elman"
    title: str
    size: tuple        # lstm: (blocks, cells per block); rtrl, elman: (hidden units,)
    lr: float
    budget: int        # training strings at most
    paper: str         # Table 1: % of success, success after
    protocol: str      # "" where it is the paper's, else how it differs

    @property
    def units(self):
        """RTRL: all units of the fully recurrent net (hidden + 7 outputs); ELM: hidden."""
        return self.size[0] + 7 if self.kind == "rtrl" else self.size[0]

    @property
    def weights(self):
        if self.kind == "lstm":
            b, s = self.size
            return (2 * b + b * s) * (7 + b * s + 2 * b) + 2 * b + 7 * b * s
        n = self.units
        return n * (7 + n) if self.kind == "rtrl" else 7 * n + n * n + 7 * n


RTRL_DIFF = ("Smith & Zipser's strings (short ones made more probable), only their successful "
             "trials listed; our data, criterion, 30 trials, init [-0.2, 0.2], budget")
ELM_DIFF = ("Cleeremans et al.'s strings and stopping; learning rate (none in Table 1) and "
            "budget ours")
ROWS = [
    Row("rtrl3", "rtrl", "RTRL, 3 hidden units", (3,), 0.05, 200_000,
        '"some fraction", 173,000', RTRL_DIFF),
    Row("rtrl12", "rtrl", "RTRL, 12 hidden units", (12,), 0.1, 100_000,
        '"some fraction", 25,000', RTRL_DIFF),
    Row("elm", "elman", "ELM, 15 hidden units", (15,), 0.1, 200_000, "0%, > 200,000", ELM_DIFF),
    Row("lstm4x1_0.1", "lstm", "LSTM, 4 blocks of 1", (4, 1), 0.1, 100_000, "100%, 39,740", ""),
    Row("lstm3x2_0.1", "lstm", "LSTM, 3 blocks of 2", (3, 2), 0.1, 100_000, "100%, 21,730", ""),
    Row("lstm3x2_0.2", "lstm", "LSTM, 3 blocks of 2", (3, 2), 0.2, 100_000, "97%, 14,060", ""),
    Row("lstm4x1_0.5", "lstm", "LSTM, 4 blocks of 1", (4, 1), 0.5, 100_000, "97%, 9,500", ""),
    Row("lstm3x2_0.5", "lstm", "LSTM, 3 blocks of 2", (3, 2), 0.5, 100_000, "100%, 8,440", ""),
]
ROW = {r.key: r for r in ROWS}


# ---- the learners -----------------------------------------------------------------------------
# The LSTM learning string by string: one compiled train step (lstm_train_step) for strings
# padded to the longest one. The learners that change the weights after every symbol (RTRL,
# Elman's procedure, the LSTM with --update step): ONE compiled tr.scan over a stream of
# STREAM_STEPS symbols, whole training strings back to back (about 100 of them), then
# padding; the carry holds the weights, so no Python runs between two updates, and one
# compiled function serves every string length. reset = 1 at the first symbol of a string
# sets every activation (and every sensitivity) to zero; padding symbols have mask 0 and
# apply 0 and change nothing (tests/test_reber.py checks each learner against a reference
# run string by string).

INIT = 0.2            # "All weights are initialized in [-0.2, 0.2]" (Sec. 5.1)
STREAM_STEPS = 1280   # symbols per compiled call; the success check follows each call
PER_CHECK = 100       # strings between two checks when the LSTM learns string by string
BACKEND = "numba"     # of every compiled function (the tests use "numpy")


def bind(module, **tensors):
    """A shallow copy of ``module`` that computes with ``tensors`` in place of its parameters
    of those names (its step reads them as attributes): here, weights in a scan's carry."""
    bound = copy.copy(module)
    for name, t in tensors.items():
        setattr(bound, name, t)
    return bound


def lstm_net(blocks, cells, rng=None):
    """The Exp. 1 net: (LSTM1997Cell, output weights V (7, blocks * cells)): the 7 logistic
    output units read the memory cells only and have no bias. Every weight is uniform in
    [-0.2, 0.2] but the output-gate biases -1, -2, ...; ``rng`` draws them."""
    rng = np.random.default_rng(rng)
    cell = tr.nn.LSTM1997Cell(7, blocks, cells, truncated=True, seed=int(rng.integers(2**62)),
                              init_range=INIT, output_gate_bias="descending", bias="gates",
                              recurrent_gates=True)
    return cell, rng.uniform(-INIT, INIT, (7, blocks * cells))


def lstm_outputs(cell, V, xs):
    """(T, B, 7) one-hot inputs -> (T, B, 7) logistic outputs sigma(V y(t)); zero state."""
    def step(carry, x_t):
        y, new = cell(x_t, carry)
        return new, tr.sigmoid(y @ V.T)

    _, outs = tr.scan(step, cell.initial_state(xs.shape[1]), xs)
    return outs


def lstm_body(cell, lr):
    """One symbol of the truncated LSTM algorithm of App. A.1 with the weights
    theta = (weight_ih, weight_hh, bias, V) in the carry.

    With the truncated gradient, the error of step t reaches earlier steps only through the
    carousels, whose Jacobian ds(t)/ds(t-1) is the identity; so, with P(t) = ds(t)/dtheta
    carried forward (eqs. 25 and 27: P(t) = P(t-1) + the immediate derivative J(t)), the
    gradient of E(t) = 1/2 sum mask (d - o)^2 is
        dE(t)/dtheta = dE(t)/dtheta|immediate + dE(t)/ds(t) P(t-1).
    Both terms and J(t) come from tr.grad on the cell's own step. The contributions add up
    in A; ``apply`` = 1 subtracts lr * A from the weights and empties A: at every symbol
    (update "step") or at the last symbol of each string (update "string", which is then
    exactly the string's BPTT gradient)."""
    names = list(cell.parameters())                 # weight_ih, weight_hh, bias
    k, C, nb, S = len(names), cell.hidden_size, cell.blocks, cell.cells_per_block
    # J(t) for cell c = j S + v is nonzero only in the rows of its block's input gate (j)
    # and of its own cell input (2 nb + c) (eqs. 25, 27): one gradient of the sum of the
    # v-th cells of every block gives the J of all those cells, the rows masked apart
    rows = np.zeros((C, 2 * nb + C, 1))
    for c in range(C):
        rows[c, [c // S, 2 * nb + c]] = 1.0
    masks = [tr.tensor(rows), tr.tensor(rows), tr.tensor(rows[:, :2 * nb, 0])]
    pick = [tr.tensor(np.eye(S)[np.arange(C) % S][:, v].reshape(C, 1)) for v in range(S)]

    def body(carry, inputs):
        theta, (y, s, gates) = list(carry[:k + 1]), carry[k + 1:k + 4]
        P, A = list(carry[k + 4:2 * k + 4]), list(carry[2 * k + 4:])
        x, d, mask, reset, apply = inputs
        keep = 1.0 - reset
        y, s, gates = y * keep, s * keep, gates * keep
        P = [p * tr.reshape(keep, (1,) * p.ndim) for p in P]
        step = bind(cell, **dict(zip(names, theta[:k])))
        y_new, (_, s_new, gates_new) = step(x, (y, s, gates))
        e = mask * (d - tr.sigmoid(y_new @ theta[k].T))
        E = (e * e).sum() * 0.5
        *G, e_s = tr.grad(E, theta + [s])           # e_s = dE/ds(t-1) = dE/ds(t)
        for i in range(k):
            G[i] = G[i] + tr.reshape(e_s @ tr.reshape(P[i], (C, -1)), theta[i].shape)
        J = [tr.grad((s_new @ pick[v]).sum(), theta[:k]) for v in range(S)]
        P = [P[i] + masks[i] * tr.stack([J[c % S][i] for c in range(C)], axis=0)
             for i in range(k)]
        now = tr.reshape(apply, ())
        A = [a + g for a, g in zip(A, G)]
        theta = [w - lr * now * a for w, a in zip(theta, A)]
        A = [a * (1.0 - now) for a in A]
        return tuple(theta) + (y_new, s_new, gates_new) + tuple(P) + tuple(A), E

    def init(weights):
        zeros = [tr.zeros((1, n)) for n in cell.state_sizes]
        return (tuple(weights) + tuple(zeros) + tuple(tr.zeros((C,) + w.shape) for w in weights[:k])
                + tuple(tr.zeros(w.shape) for w in weights))

    return body, init


def rtrl_body(n, lr):
    """One symbol of real-time recurrent learning (Williams & Zipser 1989) on the fully
    recurrent net of n logistic units, units 0..6 the outputs, no bias line:
    x(t) = [x_net(t), y(t)], y(t+1) = f(W x(t)),
    p^k_ij(t+1) = f'_k [sum_l w_kl p^l_ij(t) + delta_ik x_j(t)],
    W += lr sum_k e_k(t+1) p^k(t+1), e = mask (d - y) on the output units; every symbol."""
    width = 7 + n
    eye = tr.tensor(np.eye(n).reshape(n, n, 1))

    def body(carry, inputs):
        W, y, p = carry                       # (n, width), (1, n), (n, n, width)
        x, d, mask, reset, _ = inputs         # (1, 7), (1, 7), (1, 7), (1, 1)
        keep = 1.0 - reset
        y, p = y * keep, p * tr.reshape(keep, (1, 1, 1))
        xv = tr.concat([x, y], axis=1)                                     # x(t): (1, width)
        y_next = tr.sigmoid(xv @ W.T)                                      # y(t+1): (1, n)
        recur = tr.reshape(W[:, 7:] @ tr.reshape(p, (n, n * width)), (n, n, width))
        p_next = tr.reshape(y_next * (1.0 - y_next), (n, 1, 1)) * (
            recur + eye * tr.reshape(xv, (1, 1, width)))
        e = mask * (d - y_next[:, :7])                                     # (1, 7)
        dW = tr.reshape(e @ tr.reshape(p_next[:7], (7, n * width)), (n, width))
        return (W + lr * dW, y_next, p_next), (e * e).sum() * 0.5

    def init(weights):
        return (weights[0], tr.zeros((1, n)), tr.zeros((n, n, width)))

    return body, init


def elman_body(n, lr):
    """One symbol of Elman's procedure on a net with n logistic hidden units and no biases:
    h(t) = f(x W_ih^T + h(t-1) W_hh^T), o = f(h(t) W_ho^T); the context h(t-1) is an input
    like x (a leaf here: the error goes one step deep) and the weights change every symbol."""

    def body(carry, inputs):
        W_ih, W_hh, W_ho, h = carry
        x, d, mask, reset, _ = inputs
        h = h * (1.0 - reset)
        h_next = tr.sigmoid(x @ W_ih.T + h @ W_hh.T)
        e = mask * (d - tr.sigmoid(h_next @ W_ho.T))
        E = (e * e).sum() * 0.5
        grads = tr.grad(E, [W_ih, W_hh, W_ho])
        return tuple(W - lr * g for W, g in zip((W_ih, W_hh, W_ho), grads)) + (h_next,), E

    def init(weights):
        return tuple(weights) + (tr.zeros((1, n)),)

    return body, init


def initial_weights(row, rng):
    """The row's net's weights, a list of arrays (the order of its body's carry)."""
    rng = np.random.default_rng(rng)
    if row.kind == "lstm":
        cell, V = lstm_net(*row.size, rng=rng)
        return [a for a in cell.state_dict().values()] + [V]
    shapes = ([(row.units, 7 + row.units)] if row.kind == "rtrl" else
              [(row.units, 7), (row.units, row.units), (7, row.units)])
    return [rng.uniform(-INIT, INIT, s) for s in shapes]


def outputs(row, weights, xs):
    """(T, B, 7) inputs -> (T, B, 7) output activations of the row's net, weights Tensors."""
    if row.kind == "lstm":
        cell, _ = lstm_net(*row.size)
        return lstm_outputs(bind(cell, **dict(zip(cell.parameters(), weights))), weights[-1], xs)
    n = row.units
    if row.kind == "rtrl":
        net = bind(tr.nn.WilliamsZipserNet(n, 7, bias=False), W=weights[0])

        def step(carry, x_t):
            y, new = net(x_t, carry)
            return new, y[:, :7]
    else:
        W_ih, W_hh, W_ho = weights

        def step(carry, x_t):
            h = tr.sigmoid(x_t @ W_ih.T + carry[0] @ W_hh.T)
            return (h,), tr.sigmoid(h @ W_ho.T)
    _, ys = tr.scan(step, (tr.zeros((xs.shape[1], n)),), xs)
    return ys


def make_body(row):
    if row.kind == "lstm":
        return lstm_body(lstm_net(*row.size)[0], row.lr)
    return (rtrl_body if row.kind == "rtrl" else elman_body)(row.units, row.lr)


_BUILT: dict = {}   # per worker process: compiled functions, built once, reused by its trials


def train_function(row):
    """The compiled stream: (weights..., x, d, mask, reset, apply) -> new weights."""
    key = ("train", row.kind, row.size, row.lr)
    if key not in _BUILT:
        body, init = make_body(row)
        shapes = [w.shape for w in initial_weights(row, 0)]
        weights = [tr.placeholder(s, name=f"w{k}") for k, s in enumerate(shapes)]
        S = STREAM_STEPS
        stream = tuple(tr.placeholder((S, 1, m), name=name) for name, m in
                       (("x", 7), ("d", 7), ("mask", 7), ("reset", 1), ("apply", 1)))
        final, _ = tr.scan(body, init(weights), stream)
        _BUILT[key] = tr.function(weights + list(stream), list(final[:len(weights)]), BACKEND)
    return _BUILT[key]


def forward_function(row, length, n):
    """The compiled forward pass: (weights..., xs (length, n, 7)) -> outputs."""
    key = ("forward", row.kind, row.size, length, n)
    if key not in _BUILT:
        shapes = [w.shape for w in initial_weights(row, 0)]
        weights = [tr.placeholder(s, name=f"w{k}") for k, s in enumerate(shapes)]
        xs = tr.placeholder((length, n, 7), name="strings")
        _BUILT[key] = tr.function(weights + [xs], [outputs(row, weights, xs)], BACKEND)
    return _BUILT[key]


def pack(steps, order, first, update="step"):
    """The stream of whole training strings order[first], order[first + 1], ... that fits in
    STREAM_STEPS symbols: (x, d, mask, reset, apply) arrays and how many strings it holds.
    apply marks where the LSTM's contributions are applied: every symbol ("step") or the
    last symbol of each string ("string")."""
    S = STREAM_STEPS
    x, d, mask = np.zeros((S, 1, 7)), np.zeros((S, 1, 7)), np.zeros((S, 1, 7))
    reset, apply = np.zeros((S, 1, 1)), np.zeros((S, 1, 1))
    t, count = 0, 0
    while first + count < len(order):
        sx, sd = steps[order[first + count]]
        n = len(sx)
        if t + n > S:
            break
        x[t:t + n, 0], d[t:t + n, 0], mask[t:t + n] = sx, sd, 1.0
        reset[t] = 1.0
        if update == "step":
            apply[t:t + n] = 1.0
        else:
            apply[t + n - 1] = 1.0
        t, count = t + n, count + 1
    return (x, d, mask, reset, apply), count


def solved(row, weights, data, length):
    """(all strings of both sets right?, share of the distinct training strings right, share
    of them right but maybe for the T/P step): the test strings are looked at only when
    every training string is right (success needs both)."""
    (xs, ds, ms), (tx, td, tm) = data.check
    outs = forward_function(row, length, xs.shape[1])(*weights, xs)[0]
    right = strings_correct(outs, ds, ms)
    done = bool(right.all()) and bool(strings_correct(
        forward_function(row, length, tx.shape[1])(*weights, tx)[0], td, tm).all())
    return done, float(right.mean()), float(local_correct(outs, ds, ms).mean())


def lstm_train_step(row, length):
    """(parameters, compiled train step) of an LSTM row for one string padded to ``length``
    symbols: the string's loss 1/2 sum mask (d - o)^2 and its truncated gradient (BPTT
    through the carousels). Padded steps add exactly 0 to the loss and to every gradient, so
    one compiled step serves every string length (tests/test_reber.py checks it)."""
    key = ("step", row.size, length)
    if key not in _BUILT:
        cell, V0 = lstm_net(*row.size)
        V = tr.parameter(V0, name="V")
        xs, ds = tr.placeholder((length, 1, 7), name="x"), tr.placeholder((length, 1, 7), name="d")
        mask = tr.placeholder((length, 1, 7), name="mask")
        e = (ds - lstm_outputs(cell, V, xs)) * mask
        params = {**cell.parameters(), "V": V}
        _BUILT[key] = params, tr.train_step([xs, ds, mask], (e * e).sum() * 0.5, params,
                                            backend=BACKEND)
    return _BUILT[key]


def train_per_string(row, weights, data, order, length, seen):
    """Present strings order[seen], order[seen + 1], ... (up to ~100 of them) to the LSTM, one
    compiled train step and one update per string: (new weights, strings presented)."""
    params, step = lstm_train_step(row, length)
    for p, w in zip(params.values(), weights):
        p.assign(w)
    sgd = tr.optim.SGD(params, lr=row.lr)
    x, d, mask = np.zeros((length, 1, 7)), np.zeros((length, 1, 7)), np.zeros((length, 1, 7))
    count = min(PER_CHECK, len(order) - seen)
    for j in order[seen:seen + count]:
        sx, sd = data.steps[j]
        x[:], d[:], mask[:] = 0.0, 0.0, 0.0
        x[:len(sx), 0], d[:len(sx), 0], mask[:len(sx)] = sx, sd, 1.0
        _, grads, _ = step(x, d, mask)
        sgd.step(grads)
    return [np.array(p.value) for p in params.values()], count


def trial(trial, row, seed, length, budget, update):
    """One trial of a row: fresh weights (uniform in [-0.2, 0.2], LSTM output-gate biases
    -1, -2, ...), training strings picked at random from the training set of data pair
    trial mod 3, trained until every string of both sets is predicted correctly (checked
    after every ~100 strings) or ``budget`` strings have been presented.
    Returns a dict: solved_at (strings presented, or None), seconds, train_ok (share of the
    distinct training strings right at the end), local_ok (right but maybe for the T/P step)."""
    start = time.perf_counter()
    data = make_data(seed, trial % PAIRS, length)
    weights = initial_weights(row, np.random.default_rng([seed, 1, trial]))
    order = np.random.default_rng([seed, 2, trial]).integers(N_TRAIN, size=budget)
    per_string = row.kind == "lstm" and update == "string"
    seen, result = 0, (False, 0.0, 0.0)
    while seen < budget:
        if per_string:
            weights, count = train_per_string(row, weights, data, order, length, seen)
        else:
            stream, count = pack(data.steps, order, seen, update if row.kind == "lstm" else "step")
            weights = train_function(row)(*weights, *stream)
        seen += count
        result = solved(row, weights, data, length)
        if result[0]:
            break
    return {"solved_at": seen if result[0] else None, "seconds": time.perf_counter() - start,
            "train_ok": result[1], "local_ok": result[2]}


# ---- running the rows, the table, the verdict -----------------------------------------------

def run_row(row, trials, seed, length, budget, update):
    return run_trials(trial, range(trials), row, seed, length, budget, update,
                      desc=f"{row.key} ({row.weights} weights)")


def summary(results):
    """(solved, trials, mean strings to success over the solved, min, max)."""
    done = [r["solved_at"] for r in results if r["solved_at"] is not None]
    if not done:
        return 0, len(results), None, None, None
    return len(done), len(results), float(np.mean(done)), min(done), max(done)


def describe(row, results, budget):
    solved, n, mean, lo, hi = summary(results)
    seen = (f"{mean:,.0f}" + (f" ({lo:,}-{hi:,})" if solved > 1 else "")) if solved else \
        f"> {budget:,}"
    return f"{solved}/{n} = {100 * solved / n:.0f}%", seen


def write_picture(out):
    """The folded Exp. 1 cell (3 blocks of 2 cells, recurrent gates, truncated gradient)."""
    cell, _ = lstm_net(3, 2, rng=0)
    graph = tr.viz.draw_folded(cell)
    written = [tr.viz.save(graph, os.path.join(out, "lstm1997_cell.dot"))]
    if shutil.which("dot"):
        written.append(tr.viz.save(graph, os.path.join(out, "lstm1997_cell.svg")))
    return written


def score(results):
    """(share of trials solved, mean share of distinct training strings right at the end)."""
    return (sum(r["solved_at"] is not None for r in results) / len(results),
            float(np.mean([r["train_ok"] for r in results])))


def verdict(rows, results):
    """(ok, claim, numbers): the claim is the paper's "LSTM learns much faster" in the form
    the run can check: every LSTM row did better than every baseline row, i.e. solved a
    larger share of its trials, or as large a share and more distinct training strings
    right at the end (mean over its trials)."""
    lstm = [r for r in rows if r.kind == "lstm"]
    base = [r for r in rows if r.kind != "lstm"]
    ok = all(score(results[r.key]) > score(results[b.key]) for r in lstm for b in base)
    claim = ("every LSTM row did better than every baseline row" if lstm and base else
             "nothing to compare (the run has no " + ("baseline" if lstm else "LSTM") + " row)")
    parts = []
    for r in rows:
        share, right = score(results[r.key])
        n = len(results[r.key])
        parts.append(f"{r.key} solved {round(share * n)}/{n}, {100 * right:.0f}% of training "
                     "strings right at the end")
    return ok, claim, "; ".join(parts)


def local_verdict(rows, results):
    """(ok, claim, numbers) of the quick run, whose budget is below what the long-term
    dependency takes (Table 1: 21,730 strings on average for its LSTM row): every trial of
    every net learned the grammar's local transitions, all steps but the T/P one right on
    >= 95% of the distinct training strings."""
    ok = all(r["local_ok"] >= 0.95 for row in rows for r in results[row.key])
    parts = [f"{row.key} {100 * min(r['local_ok'] for r in results[row.key]):.0f}% (solved "
             f"{sum(r['solved_at'] is not None for r in results[row.key])}/"
             f"{len(results[row.key])})" for row in rows]
    return ok, ("every net learned the local transitions (all steps but the T/P one right on "
                ">= 95% of the distinct training strings in every trial)"), "; ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 LSTM trials and 1 trial of 2 baselines, 20,000 strings each")
    parser.add_argument("--out", default="embedded_reber_out", help="where to write the picture")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the trials")
    parser.add_argument("--rows", default=None,
                        help="comma-separated row keys (default: all); " + ", ".join(ROW))
    parser.add_argument("--trials", type=int, default=None, help="trials per row (default 30)")
    parser.add_argument("--update", choices=("string", "step"), default="string",
                        help="when the LSTM's weights change: after every string (default) or "
                             "after every symbol (the other reading of App. A.1)")
    args = parser.parse_args()
    start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    if args.quick:
        plan = [(ROW["lstm3x2_0.1"], 2, 20_000), (ROW["rtrl3"], 1, 20_000), (ROW["elm"], 1, 20_000)]
    else:
        keys = args.rows.split(",") if args.rows else list(ROW)
        unknown = [k for k in keys if k not in ROW]
        if unknown:
            parser.error(f"unknown rows {unknown}; the rows are {', '.join(ROW)}")
        plan = [(ROW[k], args.trials or 30, ROW[k].budget) for k in keys]
    # one padded length for every data pair: the longest string of all, less its last symbol
    pairs = [make_sets(np.random.default_rng([args.seed, 0, p])) for p in range(PAIRS)]
    length = max(len(s) for train, test in pairs for s, _ in train + test) - 1
    train, test = pairs[0]
    print(f"Embedded Reber grammar (Hochreiter & Schmidhuber 1997, Exp. 1): {PAIRS} pairs of "
          f"{N_TRAIN} training and {N_TEST} test strings, disjoint (pair 0: "
          f"{len({s for s, _ in train})} and {len({s for s, _ in test})} distinct), "
          f"{min(len(s) for s, _ in train + test)} to {length + 1} symbols, e.g. {train[0][0]}, "
          f"{test[0][0]}; trial i uses pair i mod {PAIRS}")
    print("wrote", ", ".join(write_picture(args.out)))

    results, budgets = {}, {}
    for row, trials, budget in plan:
        print(f"\n{row.title}, learning rate {row.lr}: {row.weights} weights, {trials} trial(s), "
              f"at most {budget:,} strings each", flush=True)
        results[row.key] = run_row(row, trials, args.seed, length, budget, args.update)
        budgets[row.key] = budget
        for k, r in enumerate(results[row.key]):
            state = (f"solved after {r['solved_at']:,} strings" if r["solved_at"] is not None else
                     f"not solved within {budget:,} strings (distinct training strings right: "
                     f"{100 * r['train_ok']:.0f}%, right but maybe for the T/P step: "
                     f"{100 * r['local_ok']:.0f}%)")
            print(f"  trial {k} (data pair {k % PAIRS}): {state}, {r['seconds']:.1f} s", flush=True)

    rows = [row for row, _, _ in plan]
    print(f"\n{'Table 1 row':32s} {'weights':>7s} {'ours: solved':>13s} "
          f"{'strings to success':>26s}   paper (% of success, success after)")
    for row in rows:
        solved, seen = describe(row, results[row.key], budgets[row.key])
        notes = ([f"budget {budgets[row.key]:,}"] if budgets[row.key] != row.budget else []) + (
            [f"{len(results[row.key])} trial(s), the paper 30"] if len(results[row.key]) != 30
            else []) + (["updates after every symbol"] if row.kind == "lstm" and
                        args.update == "step" else [])
        note = (f"different protocol: {'; '.join([row.protocol] + notes)}" if row.protocol else
                "same protocol" + (f" but {'; '.join(notes)}" if notes else ""))
        print(f"{row.title + ', lr ' + str(row.lr):32s} {row.weights:>7d} {solved:>13s} "
              f"{seen:>26s}   {row.paper}  [{note}]")
    print("(strings to success: mean over the solved trials (range); RCC is not run)")
    print(f"({time.perf_counter() - start:.0f} s)")
    ok, claim, numbers = (local_verdict if args.quick else verdict)(rows, results)
    if not ok:
        print(f"embedded_reber FAILED: not so that {claim}: {numbers}")
        sys.exit(1)
    print(f"embedded_reber OK: {claim}: {numbers}")


if __name__ == "__main__":
    main()
