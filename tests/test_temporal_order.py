"""The data and the criteria of examples/temporal_order.py (1997 paper, Sec. 5.6, Tasks 6a and
6b) against the paper's text: the symbols and where they fall, the lengths, the classes and
their targets, the criterion ABS(0.3), the stopping rule ST3(0.1), the nets' weight counts and
initial gate biases (Table 10), their forward pass against Appendix A.1 written in NumPy, one
online update (eq. 19), and the labels set beside Table 9."""
import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


to = load("temporal_order")

# Sec. 5.6, word for word
RULES = {"6a": "X, X → Q; X, Y → R; Y, X → S; Y, Y → U",
         "6b": "X, X, X → Q; X, X, Y → R; X, Y, X → S; X, Y, Y → U; Y, X, X → V; Y, X, Y → A; "
               "Y, Y, X → B; Y, Y, Y → C"}
# Sec. 5.6: t1 in 10..20, t2 in 50..60 (6a); t1 10..20, t2 33..43, t3 66..76 (6b)
RANGES = {"6a": [(10, 20), (50, 60)], "6b": [(10, 20), (33, 43), (66, 76)]}
LAG = {"6a": 40, "6b": 24}            # Table 10, column 3 ("lag")
TABLE_10 = {"6a": dict(blocks=2, size=2, inputs=8, outputs=4, weights=156, igb=[-2.0, -4.0],
                       rate=0.5),
            "6b": dict(blocks=3, size=2, inputs=8, outputs=8, weights=308,
                       igb=[-2.0, -4.0, -6.0], rate=0.1)}


def rules(task):
    return {tuple(k.split(", ")): v for k, v in
            (rule.split(" → ") for rule in RULES[task].split("; "))}


# ---- the sequences -------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["6a", "6b"])
def test_sequences_symbols_positions_and_lengths(task):
    """Starts with E, ends with B (the trigger), X or Y at t1, t2 (, t3), a/b/c/d elsewhere;
    length 100 .. 110; every position and length in the paper's ranges is drawn."""
    rng = np.random.default_rng(0)
    lengths, seen, lags = set(), [set() for _ in RANGES[task]], []
    noise = np.zeros(4)
    for _ in range(5000):
        symbols, _, positions = to.sequence(rng, task)
        text = "".join(to.SYMBOLS[s] for s in symbols)
        L = len(text)
        lengths.add(L)
        assert text[0] == "E" and text[-1] == "B"
        assert [t for t in range(1, L + 1) if text[t - 1] in "XY"] == list(positions)
        assert set(text[1:-1]) <= set("abcdXY")
        for k, t in enumerate(positions):
            seen[k].add(t)
        lags.append(L - positions[-1])
        if task == "6a":
            assert positions[1] - positions[0] >= 30 and L - positions[1] >= 30  # Sec. 5.6
        noise += np.bincount(symbols[symbols < 4], minlength=4)
    assert lengths == set(range(100, 111))
    for k, (lo, hi) in enumerate(RANGES[task]):
        assert seen[k] == set(range(lo, hi + 1))
    # positions counted from 1 (E at position 1) give Table 10's minimal lag exactly
    assert min(lags) == LAG[task]
    assert np.all(np.abs(noise / noise.sum() - 0.25) < 0.01)   # a, b, c, d equally likely


@pytest.mark.parametrize("task", ["6a", "6b"])
def test_classes_follow_the_papers_rules(task):
    rng = np.random.default_rng(1)
    counts = {}
    for _ in range(8000):
        symbols, label, positions = to.sequence(rng, task)
        order = tuple(to.SYMBOLS[symbols[t - 1]] for t in positions)
        assert to.CLASSES[task][label] == rules(task)[order]
        counts[label] = counts.get(label, 0) + 1
    K = len(to.CLASSES[task])
    assert sorted(counts) == list(range(K)) and len(rules(task)) == K
    assert all(abs(c / 8000 - 1 / K) < 0.02 for c in counts.values())


@pytest.mark.parametrize("task", ["6a", "6b"])
def test_batch_one_hot_inputs_targets_and_padding(task):
    n = 200
    xs, targets, last = to.batch(np.random.default_rng(2), n, task)
    K = len(to.CLASSES[task])
    assert xs.shape == (110, n, 8) and targets.shape == (n, K) and last.shape == (110, n, 1)
    rng = np.random.default_rng(2)                # the same draws, one by one
    for j in range(n):
        symbols, label, _ = to.sequence(rng, task)
        L = len(symbols)
        assert np.all(xs[:L, j].sum(axis=1) == 1.0)            # one non-zero bit per element
        assert np.array_equal(np.argmax(xs[:L, j], axis=1), symbols)
        assert np.all(xs[L:, j] == 0.0)                         # padding after the end
        assert np.flatnonzero(last[:, j, 0]).tolist() == [L - 1]
        assert np.array_equal(targets[j], np.eye(K)[label])     # one non-zero component


# ---- the criteria --------------------------------------------------------------------------

def test_correct_needs_every_output_unit_below_0_3():
    assert to.correct(np.array([0.29, -0.29, 0.0, 0.1]))
    assert not to.correct(np.array([0.29, -0.31, 0.0, 0.1]))   # one unit is enough to fail
    assert not to.correct(np.array([0.0, 0.0, 0.3, 0.0]))      # 0.3 is not "below 0.3"
    many = np.array([[0.1] * 8, [0.1] * 7 + [0.5]])
    assert to.correct(many).tolist() == [True, False]
    assert to.squared_error(np.array([0.1, -0.2, 0.0, 0.3])) == pytest.approx(0.14)  # eq. 16


def test_st3_needs_2000_recent_sequences_all_correct_and_average_error_below_0_1():
    good = np.array([0.05, -0.05, 0.0, 0.0])
    recent = to.Recent()
    for _ in range(1999):
        recent.add(good)
    assert not to.st3(recent)                 # fewer than 2,000 sequences so far
    recent.add(good)
    assert to.st3(recent)
    recent.add(np.array([0.0, 0.0, 0.0, 0.3]))  # misclassified
    assert not to.st3(recent)
    for _ in range(1999):
        recent.add(good)
    assert not to.st3(recent)                 # the wrong one is still among the last 2,000
    recent.add(good)
    assert to.st3(recent)
    # all correct, but E (eq. 16, summed over the output units) averages 2 * 0.29^2 = 0.168
    for _ in range(2000):
        recent.add(np.array([0.29, -0.29, 0.0, 0.0]))
    assert recent.fraction_correct() == 1.0
    assert recent.mean_error() == pytest.approx(2 * 0.29 ** 2)
    assert not to.st3(recent)


@pytest.mark.parametrize("task, known, expected", [("6a", 0, 0.75), ("6a", 1, 0.5),
                                                   ("6a", 2, 0.0), ("6b", 0, 0.875),
                                                   ("6b", 1, 0.75), ("6b", 2, 0.5)])
def test_best_error_of_a_net_that_knows_some_of_the_symbols(task, known, expected):
    """The least mean E when ``known`` of the relevant symbols are known: equal outputs over
    the classes that remain, checked on sampled sequences."""
    assert to.best_error(task, known) == pytest.approx(expected)
    rng = np.random.default_rng(3)
    K, m = len(to.CLASSES[task]), len(RANGES[task])
    total = 0.0
    for _ in range(4000):
        _, label, _ = to.sequence(rng, task)
        # the known symbols are the first ``known`` ones: they fix the high bits of the label
        left = label >> (m - known)
        y = np.zeros(K)
        y[left << (m - known):(left + 1) << (m - known)] = 2.0 ** -(m - known)
        total += to.squared_error(np.eye(K)[label] - y)
    assert total / 4000 == pytest.approx(expected)


# ---- the nets ------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["6a", "6b"])
def test_net_has_table_10s_weights_and_gate_biases(task):
    row = TABLE_10[task]
    net = to.TemporalOrderNet(seed=4, task=task)
    assert net.weights() == row["weights"] == to.WEIGHTS[task]
    cell = net.cell
    assert (cell.blocks, cell.cells_per_block, cell.input_size) == (row["blocks"], row["size"],
                                                                     row["inputs"])
    assert cell.recurrent_gates and cell.truncated                   # "F", the paper's rule
    # the output layer reads the memory cells only, one logistic unit per class, biased
    assert net.head.weight.shape == (row["outputs"], row["blocks"] * row["size"])
    assert "out.bias" in net.params
    b, nb = net.params["bias"].value, row["blocks"]
    assert list(b[:nb]) == row["igb"]                                # input gates
    assert np.all(np.abs(b[nb:]) <= 0.1)                             # output gates "r", cells
    for k, p in net.params.items():
        if k != "bias":
            assert np.all(np.abs(p.value) <= 0.1), k
    assert net.sgd.lr == row["rate"]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference(net, xs, last):
    """Appendix A.1's forward pass in NumPy (gates recurrent): the cells' outputs and the
    output units' activations at each sequence's last step."""
    p = {k: np.array(v.value) for k, v in net.params.items()}
    nb, S = net.cell.blocks, net.cell.cells_per_block
    n = xs.shape[1]
    y, s, gates = np.zeros((n, nb * S)), np.zeros((n, nb * S)), np.zeros((n, 2 * nb))
    read = np.zeros((n, nb * S))
    for t in range(xs.shape[0]):
        net_in = xs[t] @ p["weight_ih"].T + np.concatenate([y, gates], 1) @ p["weight_hh"].T \
            + p["bias"]
        in_, out = sigmoid(net_in[:, :nb]), sigmoid(net_in[:, nb:2 * nb])
        g = 4.0 * sigmoid(net_in[:, 2 * nb:]) - 2.0
        s = s + np.repeat(in_, S, axis=1) * g
        y = np.repeat(out, S, axis=1) * (2.0 * sigmoid(s) - 1.0)
        gates = np.concatenate([in_, out], 1)
        read += last[t] * y
    return read, sigmoid(read @ p["out.weight"].T + p["out.bias"])


@pytest.mark.parametrize("task", ["6a", "6b"])
def test_forward_pass_matches_appendix_a1(task):
    net = to.TemporalOrderNet(seed=5, task=task)
    rng = np.random.default_rng(6)
    for p in net.params.values():        # larger weights than the initial ones, so that a
        p.assign(rng.uniform(-1.0, 1.0, p.shape))  # wrong wiring shows
    xs, _, last = to.batch(np.random.default_rng(7), 16, task)
    _, expected = reference(net, xs, last)
    outputs = [net.outputs(xs, last) for _ in range(3)]   # uncompiled, compiling, compiled
    for call, y in enumerate(outputs):
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12, err_msg=f"call {call + 1}")
    # bit for bit: the tier that answers a call never changes its result
    assert outputs[0].tobytes() == outputs[1].tobytes() == outputs[2].tobytes()


def test_online_update_is_eq_19_with_the_papers_learning_rate():
    """Three sequences, one update each: the error returned is target - output before the
    update, and the output weights move by alpha e_k y^c (eqs. 19, 22)."""
    net = to.TemporalOrderNet(seed=8, task="6a")
    rng = np.random.default_rng(9)
    buffers = (np.zeros((110, 1, 8)), np.zeros((110, 1, 1)), np.zeros((1, 4)))
    for _ in range(3):
        symbols, label, _ = to.sequence(rng, "6a")
        xs = np.zeros((110, 1, 8))
        xs[np.arange(len(symbols)), 0, symbols] = 1.0
        last = np.zeros((110, 1, 1))
        last[len(symbols) - 1] = 1.0
        cells, y = reference(net, xs, last)
        target = np.eye(4)[label]
        before = np.array(net.params["out.weight"].value)
        errors = net.train_on(symbols, label, buffers)
        np.testing.assert_allclose(errors, target - y[0], rtol=1e-10, atol=1e-12)
        e = y[0] * (1.0 - y[0]) * (target - y[0])                    # eq. 19
        np.testing.assert_allclose(net.params["out.weight"].value - before,
                                   0.5 * np.outer(e, cells[0]), rtol=1e-9, atol=1e-13)


# ---- the report ----------------------------------------------------------------------------

def result(seed, stopped, seen=40_000):
    return {"seed": seed, "stopped": stopped, "seen": stopped or seen, "wrong": 0,
            "test_error": 0.002, "train_error": 0.008, "train_correct": 1.0, "seconds": 60.0}


def paper_line(capsys):
    return [s for s in capsys.readouterr().out.splitlines() if "paper" in s][0]


def test_table_9_is_same_protocol_only_when_the_protocol_matches(capsys):
    all_done = [result(k, 30_000) for k in range(20)]
    to.summarize("6a", all_done, 50_000, quick=False)
    assert "paper, same protocol" in paper_line(capsys)
    to.summarize("6a", all_done[:5], 50_000, quick=False)            # 5 trials, not 20
    line = paper_line(capsys)
    assert "different protocol" in line and "5 trials, not 20" in line
    cut = all_done[:19] + [result(19, None)]                         # one hit the budget
    to.summarize("6a", cut, 50_000, quick=False)
    line = paper_line(capsys)
    assert "different protocol" in line and "1 trial(s) stopped by the budget" in line
    to.summarize("6a", all_done, 50_000, quick=True)
    assert "different protocol" in paper_line(capsys)
    to.summarize("6b", [result(k, 500_000) for k in range(10)], 5_000_000, quick=False)
    assert "paper, same protocol: Table 9, Task 6b" in paper_line(capsys)
