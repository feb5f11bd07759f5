"""The pieces of examples/embedded_reber.py (Hochreiter & Schmidhuber 1997, Exp. 1): the
grammar and its successor sets, the disjoint training and test sets, the success criterion on
hand-made outputs, the weight counts of Table 1 and Table 10, and the learners, each a scan
over a stream of strings: the LSTM's equals truncated BPTT string by string (update
"string") and tr.learn.online_rtrl on the truncated cell (update "step"), RTRL's equals
tr.learn.online_rtrl, Elman's equals a NumPy transcription of Elman's procedure."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

import tinygrad_rnn as tr

PATH = pathlib.Path(__file__).parent.parent / "examples" / "embedded_reber.py"
spec = importlib.util.spec_from_file_location("embedded_reber", PATH)
er = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = er   # its dataclasses look their module up
spec.loader.exec_module(er)


def walk(string):
    """The state the Reber automaton ends in on an inner Reber string (independent of the
    module's code: the transitions of Figure 3, written out again)."""
    moves = {(0, "B"): 1, (1, "T"): 2, (1, "P"): 3, (2, "S"): 2, (2, "X"): 4, (3, "T"): 3,
             (3, "V"): 5, (4, "X"): 3, (4, "S"): 6, (5, "P"): 4, (5, "V"): 6, (6, "E"): None}
    state = 0
    for symbol in string:
        state = moves[(state, symbol)]
    return state


def test_generated_strings_are_embedded_reber_strings():
    rng = np.random.default_rng(0)
    lengths = []
    for _ in range(500):
        s, sets = er.embedded_reber_string(rng)
        assert s[0] == "B" and s[-1] == "E" and s[1] in "TP" and s[-2] == s[1]
        assert walk(s[2:-2]) is None          # the inner string ends in the final state
        assert len(sets) == len(s) and sets[-1] == set()
        assert all(s[k + 1] in sets[k] for k in range(len(s) - 1))
        assert sets == er.successor_sets(s)
        lengths.append(len(s))
    # the shortest inner strings are BTXSE and BPVVE: 9 symbols embedded
    assert min(lengths) == 9 and max(lengths) > 20


def test_successor_sets_by_hand():
    # B T | B T X S E | T E
    assert er.successor_sets("BTBTXSETE") == [
        {"T", "P"}, {"B"}, {"T", "P"}, {"S", "X"}, {"X", "S"}, {"E"}, {"T"}, {"E"}, set()]
    # B P | B P V V E | P E: after the inner E only the remembered P may come
    assert er.successor_sets("BPBPVVEPE")[6] == {"P"}
    # B P | B T S S X X T V V E | P E: the loops of states 2 and 3
    sets = er.successor_sets("BPBTSSXXTVVEPE")
    assert sets[3:11] == [{"S", "X"}, {"S", "X"}, {"S", "X"}, {"X", "S"}, {"T", "V"},
                          {"T", "V"}, {"P", "V"}, {"E"}]
    for bad in ("BTBTXSEPE", "BTBTXXETE", "BTBTXSE", "BTBPVVTE"):
        with pytest.raises(ValueError):
            er.successor_sets(bad)


def test_training_and_test_sets_are_disjoint():
    for seed in range(3):
        train, test = er.make_sets(np.random.default_rng(seed))
        assert len(train) == er.N_TRAIN == 256 and len(test) == er.N_TEST == 256
        assert not {s for s, _ in train} & {s for s, _ in test}
        # drawn from the grammar: short strings repeat in the training set
        assert len({s for s, _ in train}) < 200
    train, test = er.make_sets(np.random.default_rng([0, 0, 1]))
    data = er.make_data(0, 1, 50)
    assert len(data.steps) == 256
    for (xs, _, mask), part in zip(data.check, (train, test)):
        # each distinct string once (less its last symbol), and nothing else
        got = {"".join(er.SYMBOLS[k] for k in xs[:int(mask[:, j].sum()), j].argmax(1))
               for j in range(xs.shape[1])}
        assert xs.shape[1] == len(got) and got == {s[:-1] for s, _ in part}


def test_data_pairs_and_trials_depend_on_the_seed_only():
    a, b = er.make_data(7, 2, 40), er.make_data(7, 2, 40)
    np.testing.assert_array_equal(a.check[1][0], b.check[1][0])
    assert a.check[1][0].shape != er.make_data(7, 1, 40).check[1][0].shape


def test_encode_drops_the_last_symbol_and_masks_the_padding():
    s = "BTBTXSETE"
    xs, ys, mask = er.encode([(s, er.successor_sets(s))], 12)
    assert xs.shape == ys.shape == (12, 1, 7) and mask.shape == (12, 1, 1)
    assert mask[:, 0, 0].tolist() == [1] * 8 + [0] * 4
    assert "".join(er.SYMBOLS[k] for k in xs[:8, 0].argmax(1)) == s[:-1]
    assert not xs[8:].any() and not ys[8:].any()
    np.testing.assert_array_equal(ys[6, 0], np.eye(7)[er.INDEX["T"]])   # after the inner E
    np.testing.assert_array_equal(ys[0, 0], np.eye(7)[er.INDEX["T"]] + np.eye(7)[er.INDEX["P"]])


def test_success_criterion_on_hand_made_outputs():
    strings = [("BTBTXSETE", er.successor_sets("BTBTXSETE")),
               ("BPBPVVEPE", er.successor_sets("BPBPVVEPE"))]
    xs, ys, mask = er.encode(strings, 10)
    good = np.where(ys > 0.5, 0.6, 0.4)
    good[8:] = [0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # padding: ignored whatever it holds
    assert er.strings_correct(good, ys, mask).tolist() == [True, True]
    # the possible symbols need not be equal, only above every impossible one
    uneven = good.copy()
    uneven[0, :, er.INDEX["T"]] = 0.95
    uneven[0, :, er.INDEX["P"]] = 0.41
    assert er.strings_correct(uneven, ys, mask).tolist() == [True, True]
    # string 1 forgets its P before the last step: T as active as P is not enough
    forgot = good.copy()
    forgot[6, 1, er.INDEX["T"]] = 0.6
    assert er.strings_correct(forgot, ys, mask).tolist() == [True, False]
    # one impossible symbol above one of two possible ones, in string 0 only
    wrong = good.copy()
    wrong[3, 0, er.INDEX["V"]] = 0.61
    assert er.strings_correct(wrong, ys, mask).tolist() == [False, True]


def test_weight_counts_of_table_1_and_table_10():
    for blocks, cells, weights in ((4, 1, 264), (3, 2, 276)):
        cell, V = er.lstm_net(blocks, cells, rng=0)
        row = er.Row("x", "lstm", "", (blocks, cells), 0.1, 1, "", "")
        assert sum(p.size for p in cell.parameters().values()) + V.size == weights == row.weights
        assert sum(w.size for w in er.initial_weights(row, np.random.default_rng(0))) == weights
        w = cell.state_dict()
        np.testing.assert_array_equal(w["bias"][blocks:], -np.arange(1.0, blocks + 1))
        others = [w["weight_ih"], w["weight_hh"], w["bias"][:blocks], V]
        assert all(0.1 < np.abs(a).max() <= 0.2 for a in others)
    assert er.ROW["rtrl3"].weights == 170 == tr.nn.WilliamsZipserNet(10, 7, bias=False).W.size
    assert er.ROW["rtrl12"].weights == 494 == tr.nn.WilliamsZipserNet(19, 7, bias=False).W.size
    assert er.ROW["elm"].weights == 435 == sum(
        w.size for w in er.initial_weights(er.ROW["elm"], np.random.default_rng(0)))


# ---- the learners ---------------------------------------------------------------------------

STRINGS = ["BTBTXSETE", "BPBPVPSEPE", "BTBTSXXVVETE"]


def stream(strings, steps, update="step"):
    """The stream arrays of ``pack`` for a list of strings, in order."""
    data = [er.encode([(s, er.successor_sets(s))], len(s) - 1)[:2] for s in strings]
    data = [(x[:, 0], d[:, 0]) for x, d in data]
    saved = er.STREAM_STEPS
    er.STREAM_STEPS = steps
    try:
        arrays, count = er.pack(data, list(range(len(strings))), 0, update)
    finally:
        er.STREAM_STEPS = saved
    assert count == len(strings)
    return arrays


def run_stream(row, weights, arrays):
    """The row's learner over the stream, with the NumPy backend: (final weights, losses)."""
    body, init = er.make_body(row)
    W = [tr.placeholder(w.shape) for w in weights]
    ins = [tr.placeholder(a.shape) for a in arrays]
    final, losses = tr.scan(body, init(W), tuple(ins))
    f = tr.function(W + ins, list(final[:len(W)]) + [losses], backend="numpy")
    *out, losses = f(*weights, *arrays)
    return out, losses


def test_pack_fills_whole_strings_and_marks_where_to_update():
    x, d, mask, reset, apply = stream(STRINGS, 40, "string")
    ends = np.cumsum([len(s) - 1 for s in STRINGS])          # 8, 17, 28 symbols
    assert reset[:, 0, 0].nonzero()[0].tolist() == [0, 8, 17]
    assert apply[:, 0, 0].nonzero()[0].tolist() == (ends - 1).tolist()
    assert mask[:, 0, 0].sum() == ends[-1] and not x[ends[-1]:].any()
    assert stream(STRINGS, 40, "step")[4][:, 0, 0].tolist() == mask[:, 0, 0].tolist()
    steps = [(np.zeros((n, 7)), np.zeros((n, 7))) for n in (8, 9, 11)]
    saved, er.STREAM_STEPS = er.STREAM_STEPS, 20
    try:
        assert er.pack(steps, [0, 1, 2], 0)[1] == 2       # the third string would not fit
        assert er.pack(steps, [0, 1, 2], 2)[1] == 1
    finally:
        er.STREAM_STEPS = saved


LSTM = er.Row("lstm", "lstm", "", (2, 2), 0.7, 1, "", "")


def lstm_reference():
    """The test LSTM (2 blocks of 2 cells) with its 7 logistic output units: the cell, the
    output layer, and both as one Cell (for tr.learn.online_rtrl)."""
    cell, V = er.lstm_net(2, 2, rng=4)
    out = tr.nn.Linear(4, 7, bias=False)
    out.load_state_dict({"weight": V})

    class WithOutputs(tr.nn.cells.Cell):
        state_names = cell.state_names

        def __init__(self):
            super().__init__(7, 7)
            self._params = {**cell.parameters(), "V": out.weight}

        @property
        def state_sizes(self):
            return cell.state_sizes

        def step(self, x, state):
            y, new = cell(x, state)
            return tr.sigmoid(out(y)), new

    return cell, out, WithOutputs()


def test_lstm_stream_updating_per_string_is_bptt_string_by_string():
    """update "string": the carried sensitivities give exactly the truncated BPTT gradient
    of each string, applied at its end; padding at the end changes nothing."""
    weights = er.initial_weights(LSTM, np.random.default_rng(4))
    got, losses = run_stream(LSTM, weights, stream(STRINGS, 40, "string"))
    cell, out, _ = lstm_reference()
    params = {**cell.parameters(), "V": out.weight}
    sgd = tr.optim.SGD(params, lr=LSTM.lr)
    want = []
    for s in STRINGS:
        x, d, m = er.encode([(s, er.successor_sets(s))], len(s) - 1)
        xs, ds, ms = (tr.placeholder(a.shape) for a in (x, d, m))
        e = (ds - er.lstm_outputs(cell, out.weight, xs)) * ms
        step = tr.train_step([xs, ds, ms], (e * e).sum() * 0.5, params, backend="numpy")
        loss, grads, _ = step(x, d, m)
        want.append(loss)
        sgd.step(grads)
    for a, p in zip(got, params.values()):
        np.testing.assert_allclose(a, p.value, rtol=1e-12, atol=1e-15)
    assert not np.allclose(got[0], weights[0])
    ends = np.cumsum([len(s) - 1 for s in STRINGS])
    np.testing.assert_allclose([losses[a:b].sum() for a, b in zip(np.r_[0, ends[:-1]], ends)],
                               want, rtol=1e-12)
    assert np.all(losses[ends[-1]:] == 0)


@pytest.fixture
def numpy_backend(monkeypatch):
    """The module's compiled functions built with the NumPy backend, afresh."""
    monkeypatch.setattr(er, "BACKEND", "numpy")
    monkeypatch.setattr(er, "_BUILT", {})


def test_padded_per_string_learner_equals_the_stream(numpy_backend):
    """The default learner (one compiled step for strings padded to one length, one update
    per string) ends where the stream with update "string" does: padding changes nothing."""
    steps = [(x[:, 0], d[:, 0]) for x, d in
             (er.encode([(s, er.successor_sets(s))], len(s) - 1)[:2] for s in STRINGS)]
    data = er.Data(steps, ())
    weights = er.initial_weights(LSTM, np.random.default_rng(4))
    got, count = er.train_per_string(LSTM, weights, data, [0, 1, 2], 20, 0)
    want, _ = run_stream(LSTM, weights, stream(STRINGS, 40, "string"))
    assert count == 3
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_a_trial_stops_at_success_and_reports_it(numpy_backend, monkeypatch):
    """trial(): checks after every PER_CHECK strings; here the check says "solved" at the
    second one, and the trial reports the strings presented until then."""
    calls = []

    def fake_solved(row, weights, data, length):
        calls.append(len(calls))
        return len(calls) == 2, 1.0, 1.0

    monkeypatch.setattr(er, "solved", fake_solved)
    monkeypatch.setattr(er, "PER_CHECK", 3)
    result = er.trial(1, LSTM, 0, 40, 100, "string")
    assert result["solved_at"] == 6 and len(calls) == 2
    monkeypatch.setattr(er, "solved", lambda *a: (False, 0.5, 0.9))
    result = er.trial(1, LSTM, 0, 40, 7, "string")
    assert result["solved_at"] is None and result["train_ok"] == 0.5


def test_lstm_stream_updating_per_symbol_is_rtrl_on_the_truncated_cell():
    """update "step": the weights change after every symbol, the sensitivities ds/dtheta
    carried forward as in App. A.1: what tr.learn.online_rtrl does with the truncated cell."""
    weights = er.initial_weights(LSTM, np.random.default_rng(4))
    got, _ = run_stream(LSTM, weights, stream(STRINGS, 40, "step"))
    _, _, net = lstm_reference()
    sgd = tr.optim.SGD(net.parameters(), lr=LSTM.lr)
    for s in STRINGS:
        x, d, _ = er.encode([(s, er.successor_sets(s))], len(s) - 1)
        tr.learn.online_rtrl(net, x, d, sgd, backend="numpy")
    for a, p in zip(got, net.parameters().values()):
        np.testing.assert_allclose(a, p.value, rtol=1e-12, atol=1e-15)
    per_string, _ = run_stream(LSTM, weights, stream(STRINGS, 40, "string"))
    assert not np.allclose(got[0], per_string[0])


def test_rtrl_stream_equals_the_librarys_online_rtrl():
    """Real-time RTRL in one scan = tr.learn.online_rtrl run string by string from zero
    activations; padding symbols at the end change nothing."""
    row = er.Row("rtrl", "rtrl", "", (2,), 0.3, 1, "", "")
    n, lr = row.units, row.lr
    W0 = np.random.default_rng(1).uniform(-0.5, 0.5, (n, 7 + n))
    (W,), losses = run_stream(row, [W0], stream(STRINGS, 40))
    net = tr.nn.WilliamsZipserNet(n, 7, bias=False)
    net.W.assign(W0.copy())
    sgd = tr.optim.SGD(net.parameters(), lr=lr)
    want = []
    for s in STRINGS:
        x, d, m = er.encode([(s, er.successor_sets(s))], len(s) - 1)
        targets = np.concatenate([d, np.zeros((len(d), 1, n - 7))], axis=2)
        mask = np.concatenate([np.ones_like(d), np.zeros((len(d), 1, n - 7))], axis=2)
        want.extend(tr.learn.online_rtrl(net, x, targets, sgd, mask=mask, backend="numpy"))
    np.testing.assert_allclose(W, net.W.value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(losses[:len(want)], want, rtol=1e-13)
    assert not np.allclose(W, W0)
    assert np.all(losses[len(want):] == 0)


def test_elman_stream_is_elmans_procedure():
    """Per symbol: h = f(W_ih x + W_hh h_prev), o = f(W_ho h), backprop one step deep (the
    context h_prev is an input), update at once; h_prev = 0 at the start of a string."""
    row = er.Row("elm", "elman", "", (5,), 0.4, 1, "", "")
    n, lr = row.units, row.lr
    weights = [2.5 * w for w in er.initial_weights(row, np.random.default_rng(2))]
    got, _ = run_stream(row, weights, stream(STRINGS, 40))

    def f(z):
        return 1 / (1 + np.exp(-z))

    W_ih, W_hh, W_ho = (w.copy() for w in weights)
    for s in STRINGS:
        x, d, _ = er.encode([(s, er.successor_sets(s))], len(s) - 1)
        h_prev = np.zeros(n)
        for t in range(len(s) - 1):
            h = f(W_ih @ x[t, 0] + W_hh @ h_prev)
            o = f(W_ho @ h)
            delta_o = (o - d[t, 0]) * o * (1 - o)
            delta_h = (W_ho.T @ delta_o) * h * (1 - h)
            W_ho = W_ho - lr * np.outer(delta_o, h)
            W_ih = W_ih - lr * np.outer(delta_h, x[t, 0])
            W_hh = W_hh - lr * np.outer(delta_h, h_prev)
            h_prev = h
    for a, b in zip(got, (W_ih, W_hh, W_ho)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_forward_pass_of_each_net_matches_its_learner():
    """The success check's forward pass is the net the learner trains: its outputs give the
    loss the learner reports for a string, before any update (learning rate ~0)."""
    s = "BPBTSSXXTVVEPE"
    x, d, m = er.encode([(s, er.successor_sets(s))], len(s) - 1)
    for row in (er.Row("l", "lstm", "", (2, 2), 1e-300, 1, "", ""),
                er.Row("r", "rtrl", "", (2,), 1e-300, 1, "", ""),
                er.Row("e", "elman", "", (3,), 1e-300, 1, "", "")):
        weights = er.initial_weights(row, np.random.default_rng(9))
        _, losses = run_stream(row, weights, stream([s], len(s) - 1))
        W = [tr.placeholder(w.shape) for w in weights]
        xs = tr.placeholder(x.shape)
        o = tr.function(W + [xs], [er.outputs(row, W, xs)], backend="numpy")(*weights, x)[0]
        np.testing.assert_allclose(losses, 0.5 * ((d - o) ** 2).sum(axis=(1, 2)), rtol=1e-12)


def test_verdict_needs_every_lstm_row_to_beat_every_baseline():
    lstm, rtrl, elm = er.ROW["lstm3x2_0.1"], er.ROW["rtrl3"], er.ROW["elm"]

    def res(*trials):
        return [{"solved_at": solved, "train_ok": right} for solved, right in trials]

    rows = [lstm, rtrl, elm]
    ok, claim, numbers = er.verdict(rows, {lstm.key: res((900, 1.0), (None, 0.7)),
                                           rtrl.key: res((None, 0.5)), elm.key: res((None, 0.6))})
    assert ok and "lstm3x2_0.1 solved 1/2, 85% of training" in numbers
    # as many trials solved: the share of training strings right decides
    assert er.verdict(rows, {lstm.key: res((None, 0.7), (None, 0.6)),
                             rtrl.key: res((None, 0.5)), elm.key: res((None, 0.6))})[0]
    assert not er.verdict(rows, {lstm.key: res((None, 0.55), (None, 0.6)),
                                 rtrl.key: res((None, 0.5)), elm.key: res((None, 0.6))})[0]
    # a baseline that solves more trials wins whatever the rest
    assert not er.verdict(rows, {lstm.key: res((900, 1.0), (None, 0.9)),
                                 rtrl.key: res((500, 1.0)), elm.key: res((None, 0.6))})[0]
    # a run of one kind of row has nothing to compare: it claims nothing
    ok, claim, _ = er.verdict([rtrl], {rtrl.key: res((500, 1.0))})
    assert ok and claim.startswith("nothing to compare (the run has no LSTM row)")
