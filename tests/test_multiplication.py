"""The data and the criteria of examples/multiplication.py (1997 paper, Sec. 5.5, Experiment 5)
against the paper's text: where the marks fall, the values in [0, 1], the first-pair rule
(X1 = 1.0), the target X1 * X2, the padding, the n_seq stopping rule (fewer than n_seq of
the 2,000 most recent sequences with error > 0.04), testing at n_seq = 140 then 13, the net's
93 weights and random gate biases (Table 10 row 5), the learning rate 0.1, and the
"same protocol" label beside Table 8."""
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


mp = load("multiplication")


# ---- data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("T", [20, 100])
def test_marks_fall_where_the_paper_says(T):
    """X1: one of the first 10 pairs; X2: one of the first T/2 - 1 still unmarked pairs."""
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(20_000):
        first, second = mp.marker_positions(rng, T)
        assert 0 <= first < 10 and first != second
        seen.setdefault(first, set()).add(second)
    assert set(seen) == set(range(10))
    for first, seconds in seen.items():
        assert seconds == set(range(T // 2)) - {first}
        assert len(seconds) == T // 2 - 1


@pytest.mark.parametrize("T", [20, 100])
def test_sequences_values_markers_and_the_product(T):
    rng = np.random.default_rng(1)
    lengths, first_marked = set(), 0
    for _ in range(3000):
        x, target, (first, second) = mp.sequence(rng, T)
        L = len(x)
        lengths.add(L)
        assert T <= L <= T + T // 10
        assert np.all((x[:, 0] >= 0.0) & (x[:, 0] <= 1.0))  # values in [0, 1], not [-1, 1]
        marker = x[:, 1]
        assert sorted(np.flatnonzero(marker == 1.0)) == sorted([first, second])
        assert all(marker[k] == -1.0 for k in {0, L - 1} - {first, second})
        assert np.all(marker[sorted(set(range(L)) - {0, L - 1, first, second})] == 0.0)
        assert target == x[first, 0] * x[second, 0]           # the product, not the sum
        assert 0.0 <= target <= 1.0
        if 0 in (first, second):
            first_marked += 1
            assert x[0, 0] == 1.0                               # "we set X1 to 1.0"
            other = second if first == 0 else first
            assert target == x[other, 0]
    assert lengths == set(range(T, T + T // 10 + 1))
    assert abs(first_marked / 3000 - mp.first_pair_marked(T)) < 0.025


def test_batch_pads_after_the_end_and_reads_the_last_step():
    xs, targets, last = mp.batch(np.random.default_rng(2), 300, 100)
    assert xs.shape == (110, 300, 2) and last.shape == (110, 300, 1)
    assert np.all(last.sum(axis=0) == 1.0)
    for j, end in enumerate(np.argmax(last[:, :, 0], axis=0)):
        assert 99 <= end <= 109
        assert xs[end, j, 1] == -1.0 and np.all(xs[end + 1:, j] == 0.0)
        marked = np.flatnonzero(xs[:, j, 1] == 1.0)
        assert targets[j] == pytest.approx(np.prod(xs[marked, j, 0]))


def test_reference_levels_match_the_generator():
    """var(target) is the best constant output's MSE; a net that knows the later marked
    value (and the marks) reaches (1 - q) / 36, one that knows the earlier one does worse."""
    T = 100
    xs, targets, _ = mp.batch(np.random.default_rng(3), 40_000, T)
    q = mp.first_pair_marked(T)
    assert q == pytest.approx(0.1 + 0.9 / 49)
    assert targets.var() == pytest.approx(mp.chance_mse(T), rel=0.03)
    marked = [np.flatnonzero(xs[:, j, 1] == 1.0) for j in range(xs.shape[1])]
    earlier = np.array([xs[m[0], j, 0] for j, m in enumerate(marked)])
    later = np.array([xs[m[1], j, 0] for j, m in enumerate(marked)])
    at_zero = xs[0, :, 1] == 1.0                   # then the earlier value is 1.0
    knows_later = np.where(at_zero, later, later / 2)
    knows_earlier = np.where(at_zero, 0.5, earlier / 2)
    assert np.mean((knows_later - targets) ** 2) == pytest.approx(mp.one_value_mse(T), rel=0.03)
    assert np.mean((knows_earlier - targets) ** 2) == pytest.approx(q / 12 + (1 - q) / 36, rel=0.03)


def test_table_8_mse_column_exceeds_what_its_wrong_counts_allow():
    assert mp.largest_mse(14) == pytest.approx((2546 * 0.0016 + 14) / 2560)
    assert mp.PAPER[13][1] > mp.largest_mse(mp.PAPER[13][0])     # 0.0139 > 0.0071
    assert mp.PAPER[140][1] < mp.largest_mse(mp.PAPER[140][0])   # 0.0223 < 0.0558


# ---- the stopping rule ---------------------------------------------------------------------

def test_n_seq_rule_counts_errors_exceeding_0_04_among_the_last_2000():
    recent = mp.Recent()
    for _ in range(1999):
        recent.add(0.0)
    assert not mp.fewer_wrong_than(recent, 13)     # fewer than 2,000 sequences so far
    recent.add(0.04)                               # 0.04 does not exceed 0.04
    assert mp.fewer_wrong_than(recent, 13) and recent.count_wrong() == 0
    for _ in range(13):
        recent.add(-0.0401)
    assert recent.count_wrong() == 13
    assert not mp.fewer_wrong_than(recent, 13) and mp.fewer_wrong_than(recent, 14)
    assert mp.fewer_wrong_than(recent, 140)
    for _ in range(1987):
        recent.add(0.01)
    assert recent.count_wrong() == 13              # the 13 are still among the last 2,000
    recent.add(0.01)                               # the first of them leaves the window
    assert recent.count_wrong() == 12 and mp.fewer_wrong_than(recent, 13)
    assert recent.mse() == pytest.approx((12 * 0.0401 ** 2 + 1988 * 0.01 ** 2) / 2000)


def test_trial_tests_at_each_rule_in_order_and_stops_after_the_last(monkeypatch):
    """With rules that any net meets at 2,000 sequences (fewer than 2,001 wrong, then fewer
    than 2,002) both tests happen at sequence 2,000 and training stops there."""
    monkeypatch.setattr(mp, "N_SEQ", (2001, 2002))
    monkeypatch.setattr(mp, "TEST", 64)
    r = mp.trial(0, 20, budget=5000)
    assert list(r["tests"]) == [2001, 2002]
    assert [t[0] for t in r["tests"].values()] == [2000, 2000] and r["seen"] == 2000
    assert r["tests"][2002][1:] == r["final"]
    wrong, mse, mae = r["final"]
    assert 0 <= wrong <= 64 and 0 <= mse <= mae <= 1.0
    monkeypatch.setattr(mp, "N_SEQ", (2001, 0))    # the second rule can never hold
    r = mp.trial(0, 20, budget=2100)
    assert list(r["tests"]) == [2001] and r["seen"] == 2100


# ---- the net -------------------------------------------------------------------------------

def test_net_has_the_papers_93_weights_and_random_gate_biases():
    net = mp.MultiplicationNet(seed=4, T=20)
    assert net.weights() == 93
    b = net.params["bias"].value
    assert b.shape == (8,)                          # 2 input gates, 2 output gates, 4 cells
    assert np.all(np.abs(b) <= 0.1)                 # Table 10 row 5: igb "r", ogb "r"
    assert len(set(np.round(b[:4], 12))) == 4       # random, not set
    for k, p in net.params.items():
        assert np.all(np.abs(p.value) <= 0.1), k
    assert net.cell.recurrent_gates and net.cell.truncated
    assert net.sgd.lr == 0.1


def test_compiled_step_and_forward_agree_and_update_is_plain_sgd_at_rate_0_1():
    T = 20
    net = mp.MultiplicationNet(seed=5, T=T)
    x, target, _ = mp.sequence(np.random.default_rng(6), T)
    xs, last = np.zeros((net.T_max, 1, 2)), np.zeros((net.T_max, 1, 1))
    xs[:len(x), 0], last[len(x) - 1, 0, 0] = x, 1.0
    runs = []
    for _ in range(3):   # copies: a compiled function may hand back the same buffers
        loss, grads, (y,) = net.step(xs, last, np.array([[target]]))
        runs.append((float(loss), {k: np.array(g) for k, g in grads.items()}, (np.array(y),)))
    outs = [np.array(net.outputs(xs, last)) for _ in range(3)]
    for loss, grads, (y,) in runs[1:]:   # whichever tier answers: the same bits
        assert loss == runs[0][0]
        assert y.tobytes() == runs[0][2][0].tobytes()
        for k in grads:
            assert grads[k].tobytes() == runs[0][1][k].tobytes(), k
    for o in outs[1:]:
        assert o.tobytes() == outs[0].tobytes()
    assert outs[0][0] == pytest.approx(runs[0][2][0][0, 0], abs=1e-12)
    assert runs[0][0] == pytest.approx(0.5 * (target - outs[0][0]) ** 2, abs=1e-12)
    before = {k: np.array(p.value) for k, p in net.params.items()}
    y = net.train_on(x, target, (np.zeros_like(xs), np.zeros_like(last)))
    assert y == pytest.approx(outs[0][0], abs=1e-12)    # the output before the update
    grads = runs[0][1]
    assert any(np.any(grads[k] != 0) for k in grads)
    for k, p in net.params.items():
        np.testing.assert_allclose(p.value, before[k] - 0.1 * grads[k], rtol=0, atol=1e-12)


# ---- the report ----------------------------------------------------------------------------

def fake(seed, reached):
    tests = {k: (500_000 + k, 100, 0.02, 0.03) for k in reached}
    return {"seed": seed, "T": 100, "seen": 600_000, "tests": tests, "final": (100, 0.02, 0.03),
            "train_wrong": 150, "seconds": 1.0}


def test_summary_says_same_protocol_only_with_10_trials_within_budget(capsys):
    mp.summarize([fake(s, (140, 13)) for s in range(10)], 4_000_000, quick=False)
    out = capsys.readouterr().out
    assert out.count("paper, same protocol") == 2 and "different protocol" not in out
    results = [fake(s, (140, 13)) for s in range(9)] + [fake(9, (140,))]
    reached = mp.summarize(results, 4_000_000, quick=False)
    out = capsys.readouterr().out
    assert reached == {140: 10, 13: 9}
    assert out.count("paper, same protocol") == 1        # the n_seq = 140 row only
    assert "different protocol (1 trial(s) stopped by the budget first)" in out
    mp.summarize([fake(s, (140, 13)) for s in range(3)], 4_000_000, quick=True)
    out = capsys.readouterr().out
    assert "same protocol" not in out and out.count("3 trials, not 10") == 2
