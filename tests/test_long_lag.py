"""The data, the success criterion and the nets of examples/long_lag.py (Hochreiter &
Schmidhuber 1997, Sec. 5.2, Task 2a) against the paper's text: the two training sequences,
the local (one-hot) code of p + 1 symbols, next-symbol targets at every step, the 0.25
criterion on every output unit, "the error has stopped decreasing", and Table 2's weight
counts."""
import importlib.util
import pathlib

import numpy as np
import pytest

import tinygrad_rnn  # noqa: F401  (loaded before the example, as in the suite)

PATH = pathlib.Path(__file__).parent.parent / "examples" / "long_lag.py"
spec = importlib.util.spec_from_file_location("long_lag", PATH)
ll = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ll)


# ---- the data ----------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [2, 4, 10, 100])
def test_the_two_sequences_are_the_papers(p):
    """(y, a_1, ..., a_(p-1), y) and (x, a_1, ..., a_(p-1), x) over the symbols a_1..a_(p-1),
    a_p = x, a_(p+1) = y (indices 0..p-2, p-1, p): p + 1 symbols long, the same middle, the
    first symbol again at the end, p steps between them."""
    x, y = ll.sequence(p, "x"), ll.sequence(p, "y")
    assert len(x) == len(y) == p + 1
    assert x[0] == x[-1] == p - 1 and y[0] == y[-1] == p
    assert x[1:-1] == y[1:-1] == list(range(p - 1))
    assert len(set(x) | set(y)) == p + 1  # every one of the p + 1 symbols occurs
    assert ll.symbols(p) == {"x": p - 1, "y": p}


def test_bad_sequences_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        ll.sequence(1, "x")
    with pytest.raises(ValueError, match="'x' or 'y'"):
        ll.sequence(4, "z")


@pytest.mark.parametrize("p", [4, 10])
def test_inputs_are_one_hot_and_targets_the_next_symbol(p):
    """Each step shows one symbol (a one-hot vector of p + 1 units) and asks for the next one,
    so a sequence gives p steps with a target at every one; the last target is the first
    input; starts and ends mark each sequence's first and last step."""
    firsts = np.array([0, 1, 1, 0])
    xs, ds, starts, ends = ll.encode(p, firsts, memory=0.0)
    n, K = p + 1, len(firsts)
    assert xs.shape == (K * p, 1, 2 * n) and ds.shape == (K * p, 1, n)
    units = xs[:, 0, :n]
    assert np.all(units.sum(axis=1) == 1) and np.all(ds[:, 0].sum(axis=1) == 1)
    assert np.all(xs[:, 0, n:] == 0.0)
    for k, f in enumerate(firsts):
        seq = ll.sequence(p, "xy"[f])
        steps = slice(k * p, (k + 1) * p)
        assert list(units[steps].argmax(axis=1)) == seq[:-1]
        assert list(ds[steps, 0].argmax(axis=1)) == seq[1:]
        assert ds[(k + 1) * p - 1, 0].argmax() == units[k * p].argmax()  # remember it p steps
    assert list(np.flatnonzero(starts)) == [k * p for k in range(K)]
    assert list(np.flatnonzero(ends)) == [k * p + p - 1 for k in range(K)]


def test_memory_connections_per_sequence_and_unit():
    p, n = 4, 5
    mask = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    xs, _, _, _ = ll.encode(p, [0, 1], memory=np.stack([np.zeros(n), mask]))
    assert np.all(xs[:p, 0, n:] == 0.0) and np.all(xs[p:, 0, n:] == mask)


def test_each_sequence_is_chosen_with_probability_one_half():
    """The trials draw the training sequence as rng.integers(0, 2): x and y about equally
    often, independently."""
    firsts = np.random.default_rng([0, 2]).integers(0, 2, size=100_000)
    assert abs(firsts.mean() - 0.5) < 0.01
    assert abs(np.mean(firsts[1:] == firsts[:-1]) - 0.5) < 0.01


# ---- the success criterion -----------------------------------------------------------------------

def test_success_needs_every_output_at_every_step_below_0_25():
    targets = np.zeros((2, 4, 5))
    targets[..., 0] = 1.0
    outputs = targets.copy()
    assert ll.succeeded(outputs, targets)
    outputs[1, 3, 2] = 0.2499  # one output, last step of the second sequence: still fine
    assert ll.succeeded(outputs, targets)
    outputs[1, 3, 2] = 0.25    # "below 0.25": 0.25 itself fails
    assert not ll.succeeded(outputs, targets)
    outputs[1, 3, 2] = 0.0
    outputs[0, 0, 0] = 0.7     # an error of 0.3 on the unit that should be on
    assert not ll.succeeded(outputs, targets)
    assert ll.TOLERANCE == 0.25


def test_the_test_is_the_criterion_on_the_nets_outputs():
    """Trial.passes (the compiled loop run on both sequences with frozen weights) decides as
    ``succeeded`` does on the outputs of a NumPy transcription of the Task 2a LSTM."""
    p, n = 4, 5
    t = ll.Trial("LSTM", p, 1.0, seed=3, chunk=2)
    rng = np.random.default_rng(0)
    W = [rng.normal(0, 2.0, w.shape) for w in t.W]
    w = dict(zip(t.net.parameters(), W))
    mask = np.array([1.0, 0.0, 0.0, 1.0, 1.0])

    def sig(z):
        return 1 / (1 + np.exp(-z))

    outs, targets = [], []
    for first in "xy":
        seq, s = ll.sequence(p, first), 0.0
        for k in range(p):
            x = np.eye(n)[seq[k]]
            s = s + sig(w["weight_in"] @ x)[0] * sig(w["weight_c"] @ x)[0]
            outs.append(sig(w["weight_out"][:, :n] @ x + mask * w["weight_out"][:, n] * s))
            targets.append(np.eye(n)[seq[k + 1]])
    errors = t.test_errors(W, mask)
    np.testing.assert_allclose(errors, np.abs(np.array(outs) - np.array(targets)), atol=1e-12)
    assert t.passes(W, mask) == ll.succeeded(outs, targets)
    # and a net that knows the answer passes: outputs driven by the inputs only, plus the
    # memory for the last step (large weights)
    good = [np.zeros_like(a) for a in W]
    good[0][:] = -30.0             # input gate closed ...
    good[0][0, p - 1:] = 30.0      # ... open for x and y
    good[1][0, p - 1] = 30.0       # x stores 1, y stores 0
    good[1][0, p] = -30.0
    out = good[2]                  # out[unit, input]; column n: the memory
    out[:, :n] = -30.0
    out[0, p - 1] = out[0, p] = 30.0  # x or y -> a_1
    for j in range(p - 2):         # a_(j+1) -> a_(j+2)
        out[j + 1, j] = 30.0
    out[p - 1, p - 2], out[p, p - 2] = -10.0, 10.0  # after a_(p-1): x if s = 1 else y
    out[p - 1, n], out[p, n] = 20.0, -20.0
    assert t.passes(good, np.ones(n))
    assert not t.passes(good, np.zeros(n))  # without the memory the last step is a guess


# ---- "the error has stopped decreasing" ---------------------------------------------------------

def test_plateau_fires_where_the_error_stops_decreasing():
    w = ll.PLATEAU_WINDOW
    falling = 10.0 * 0.9 ** np.arange(20 * w)  # 10% down every window... per sequence
    assert ll.plateau(falling) is None
    assert ll.plateau(np.ones(3 * w)) == 2 * w
    assert ll.plateau(np.ones(2 * w - 1)) is None  # two whole windows needed
    steps = np.repeat([8.0, 4.0, 2.0, 1.9999], w)
    assert ll.plateau(steps) == 4 * w  # the fourth window is not 1% below the third


# ---- the nets: Table 2's weight counts ---------------------------------------------------------

@pytest.mark.parametrize("p, weights", [(4, 36), (10, 144), (100, 10404)])
def test_the_rtrl_net_has_table_2s_weights(p, weights):
    assert ll.RecurrentNet(p, seed=0).weights() == weights


def test_the_lstm_has_table_2s_weights():
    assert ll.LSTM2aNet(100, seed=0).weights() == 10504
    assert ll.CentredLSTM2aNet(100, seed=0).weights() == 10504
    assert ll.LSTM1997Net(100, seed=0).weights() == 10608  # + output gate and 3 recurrent


def test_weights_start_in_the_papers_range():
    for net in (ll.RecurrentNet(10, seed=1), ll.LSTM2aNet(10, seed=1), ll.LSTM1997Net(10, seed=1)):
        for w in net.parameters().values():
            assert np.abs(w.value).max() <= 0.2


def test_the_paper_rows_match_table_2():
    assert ll.paper_row("RTRL", 4, 1.0) == (1.0, 36, 78, 1_043_000)
    assert ll.paper_row("RTRL", 4, 10.0) == (10.0, 36, 22, 254_000)
    assert ll.paper_row("RTRL", 4, 2.0) is None
    assert ll.paper_row("RTRL", 10, 4.0) == (None, 144, 0, None)
    assert ll.paper_row("BPTT", 100, 10.0) == (None, 10404, 0, None)
    assert ll.paper_row("BPTT", 4, 1.0) is None
    assert ll.paper_row("LSTM", 100, 1.0) == (1.0, 10504, 100, 5040)
