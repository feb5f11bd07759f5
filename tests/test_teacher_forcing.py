"""Seed 001's network with output-to-hidden recurrence (``JordanRNN``) trained with teacher
forcing, and scheduled sampling with coins flipped at run time (the ``bernoulli`` primitive,
``tr.nn.schedules``, ``Seq2Seq(..., sample_prob=)``).

What is checked: the cell against a NumPy transcription of the seed's equations; the
teacher-forced gradient graph has no edge between time steps (free running has); float64
finite differences; numba against numpy; compiled functions called three times and compared;
coins that change from call to call of one compiled function (and follow a fed p); p = 0 and
p = 1 giving teacher forcing and free running exactly; the decay schedules' values.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.graph.traverse import toposort
from tinygrad_rnn.nn import schedules
from tinygrad_rnn.nn.jordan import JordanRNN
from tinygrad_rnn.ops.random import bernoulli as bernoulli_prim
from tinygrad_rnn.viz.fold import step_numbers

T, B, I, H, O = 5, 3, 2, 4, 3


def _np_step(cell, x, r):
    """The seed's equations in NumPy: h = tanh(b + W r + U x), o = c + V h (batched rows)."""
    U, W, b, V, c = (cell.parameters()[k].value for k in ("U", "W", "b", "V", "c"))
    h = np.tanh(b + r @ W.T + x @ U.T)
    return c + h @ V.T


def _np_teacher_forced(cell, xs, ys, o0=None):
    r = np.zeros((xs.shape[1], cell.output_size)) if o0 is None else o0
    outs = []
    for t in range(len(xs)):
        outs.append(_np_step(cell, xs[t], r))
        r = ys[t]
    return np.stack(outs)


def _np_free(cell, xs, o0=None):
    r = np.zeros((xs.shape[1], cell.output_size)) if o0 is None else o0
    outs = []
    for t in range(len(xs)):
        r = _np_step(cell, xs[t], r)
        outs.append(r)
    return np.stack(outs)


@pytest.fixture
def problem(rng):
    return (JordanRNN(I, H, O, seed=0), rng.standard_normal((T, B, I)),
            rng.standard_normal((T, B, O)))


# ---- the cell ------------------------------------------------------------------------

def test_jordan_cell_matches_the_seed_equations(problem, rng):
    cell, xs, ys = problem
    assert {k: p.shape for k, p in cell.parameters().items()} == {
        "U": (H, I), "W": (H, O), "b": (H,), "V": (O, H), "c": (O,)}
    o, (r,) = cell(xs[0], (ys[0],))
    np.testing.assert_allclose(o.numpy(), _np_step(cell, xs[0], ys[0]), rtol=1e-14)
    np.testing.assert_array_equal(r.numpy(), o.numpy())  # free running feeds o(t) back
    o0 = rng.standard_normal((B, O))
    np.testing.assert_allclose(cell.teacher_forced(xs, ys, o0).numpy(),
                               _np_teacher_forced(cell, xs, ys, o0), rtol=1e-13)
    np.testing.assert_allclose(cell.run_free(xs, o0).numpy(), _np_free(cell, xs, o0),
                               rtol=1e-13)
    # run_free is tr.unroll of the cell
    unrolled, _ = tr.unroll(cell, xs, (o0,))
    np.testing.assert_allclose(tr.stack(unrolled).numpy(), _np_free(cell, xs, o0), rtol=1e-13)


def test_jordan_feedback_for_classes_feeds_one_hot_of_the_argmax(rng):
    cell = JordanRNN(I, H, O, feedback=tr.nn.argmax_one_hot, seed=1)
    xs = rng.standard_normal((T, B, I))
    outs = cell.run_free(xs).numpy()
    r, want = np.zeros((B, O)), []
    for t in range(T):
        o = _np_step(cell, xs[t], r)
        want.append(o)
        r = np.eye(O)[o.argmax(-1)]
    np.testing.assert_allclose(outs, np.stack(want), rtol=1e-13)


def test_jordan_rejects_bad_shapes(problem):
    cell, xs, ys = problem
    with pytest.raises(tr.GraphError, match=r"JordanRNN.teacher_forced.*targets.*\(5, 3, 3\)"):
        cell.teacher_forced(xs, ys[:, :, :2])
    with pytest.raises(tr.GraphError, match=r"JordanRNN.run_free.*xs.*\(T, B, 2\)"):
        cell.run_free(xs[0])
    with pytest.raises(tr.GraphError, match=r"output_size"):
        JordanRNN(2, 3, 0)
    with pytest.raises(tr.GraphError, match=r"sample_prob.*1\.5"):
        cell.scheduled(xs, ys, 1.5)


# ---- teacher forcing decouples the steps ---------------------------------------------

def _call_of(node):
    """The application of a cell's step that built ``node`` (its backward nodes inherit it),
    or None for nodes outside every step (slices of the inputs, losses, accumulations)."""
    return next((s.call for s in node.scope if getattr(s, "call", None) is not None), None)


def _cross_step_paths(outputs):
    """(step of a node, step of one of its ancestors) pairs with the two steps different:
    a path in the graph from one time step's nodes to another's (through anything)."""
    order = toposort([o.node for o in outputs])
    steps = step_numbers(order)  # 1-based step of each node, ranked by application
    own = {id(n): steps[id(n)] for n in order if _call_of(n) is not None}
    assert len(set(own.values())) == T, "every step should have nodes of its own"
    above: dict[int, set] = {}
    crossing = set()
    for n in order:
        seen = set()
        for i in n.inputs:
            seen |= above[id(i)]
            if id(i) in own:
                seen.add(own[id(i)])
        above[id(n)] = seen
        if id(n) in own:
            crossing |= {(own[id(n)], s) for s in seen if s != own[id(n)]}
    return crossing


def _per_step_loss(outs, ys):
    """sum_t <w_t, o_t>: one term per step, each reading only that step's output."""
    w = np.random.default_rng(3).standard_normal(ys.shape)
    return sum((o * tr.tensor(w[t])).sum() for t, o in enumerate(outs))


def test_teacher_forced_gradient_graph_has_no_edge_between_steps(problem):
    cell, xs, ys = problem
    x, y = tr.placeholder(xs.shape, name="xs"), tr.placeholder(ys.shape, name="targets")
    params = list(cell.parameters().values())
    forced = cell.teacher_forced(x, y, stack=False)
    grads = tr.grad(_per_step_loss(forced, ys), params)
    assert _cross_step_paths(grads) == set()
    # the forward graph too: output t reads the nodes of one step only, its own (no h(t')
    # for t' < t), and the T outputs read T different steps
    calls = [_calls_read_by(o) for o in forced]
    assert all(len(c) == 1 for c in calls) and len(set().union(*calls)) == T
    # free running is BPTT: step t+1 reads step t (the control that the check can fail)
    free = cell.run_free(x, stack=False)
    crossing = _cross_step_paths(tr.grad(_per_step_loss(free, ys), params))
    assert {(t + 1, t) for t in range(1, T)} <= crossing
    assert len(_calls_read_by(free[-1])) == T


def _calls_read_by(out):
    """The step applications whose nodes ``out`` reads (itself included)."""
    return {_call_of(n) for n in toposort([out.node])} - {None}


def test_teacher_forced_loss_at_step_t_has_no_gradient_from_later_steps(problem):
    """The gradient of step t's loss w.r.t. the true output y(t') is zero except at t' = t-1
    (the one step it reads), and the full loss's gradient w.r.t. the parameters is the sum of
    per-step gradients each computed from that step alone."""
    cell, xs, ys = problem
    x, y = tr.placeholder(xs.shape), tr.placeholder(ys.shape)
    outs = cell.teacher_forced(x, y, stack=False)
    (g,) = tr.grad((outs[3] ** 2).sum(), [y])
    g = tr.function([x, y], [g])(xs, ys)[0]
    assert np.abs(g[2]).sum() > 0 and not np.any(np.delete(g, 2, axis=0))
    params = list(cell.parameters().values())
    full = tr.function([x, y], tr.grad(_per_step_loss(outs, ys), params))(xs, ys)
    w = np.random.default_rng(3).standard_normal(ys.shape)
    parts = [tr.function([x, y], tr.grad((outs[t] * tr.tensor(w[t])).sum(), params))(xs, ys)
             for t in range(T)]
    for k in range(len(params)):
        np.testing.assert_allclose(full[k], sum(p[k] for p in parts), rtol=1e-12, atol=1e-14)


# ---- gradients: finite differences, backends, repeated calls -------------------------

def _finite_difference_check(cell, f_loss, grads, args, eps=1e-6):
    for (name, p), g in zip(cell.parameters().items(), grads):
        base = np.array(p.value)
        num = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            for sign in (1, -1):
                v = base.copy()
                v[idx] += sign * eps
                p.assign(v)
                num[idx] += sign * f_loss(*args) / (2 * eps)
        p.assign(base)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("mode", ["teacher_forced", "run_free", "scheduled"])
def test_jordan_gradients_match_finite_differences_float64(problem, mode):
    cell, xs, ys = problem
    x, y = tr.placeholder(xs.shape), tr.placeholder(ys.shape)
    p = tr.placeholder((), name="sample_prob")
    gen = np.random.default_rng(11)
    outs = {"teacher_forced": lambda: cell.teacher_forced(x, y),
            "run_free": lambda: cell.run_free(x),
            "scheduled": lambda: cell.scheduled(x, y, p, rng=gen)}[mode]()
    loss = ((outs - y) ** 2).sum() * 0.5
    params = list(cell.parameters().values())
    f = tr.function([x, y, p], [loss, *tr.grad(loss, params)], backend="numpy")
    state = gen.bit_generator.state  # the same coins at every evaluation below

    def f_loss(*args):
        gen.bit_generator.state = state
        return float(f(*args)[0])
    gen.bit_generator.state = state
    _, *grads = f(xs, ys, 0.5)
    _finite_difference_check(cell, f_loss, grads, (xs, ys, 0.5))


def test_jordan_free_running_passes_check_cell():
    """BPTT vs RTRL vs finite differences, numba vs numpy, on the cell run free."""
    diffs = tr.testing.check_cell(JordanRNN(I, H, O, seed=4))
    assert max(diffs.values()) < 1e-6


def test_jordan_teacher_forced_gradient_wrt_inputs_matches_finite_differences(problem):
    cell, xs, ys = problem
    tr.testing.check_grads(lambda x, y: (cell.teacher_forced(x, y) ** 2).sum(), [xs, ys])


def test_numba_matches_numpy_and_repeated_calls_agree(problem):
    cell, xs, ys = problem
    x, y = tr.placeholder(xs.shape), tr.placeholder(ys.shape)
    params = list(cell.parameters().values())
    forced, free = cell.teacher_forced(x, y), cell.run_free(x)
    loss = ((forced - y) ** 2).mean() + ((free - y) ** 2).mean()
    outputs = [forced, free, loss, *tr.grad(loss, params)]
    ref = tr.function([x, y], outputs, backend="numpy")(xs, ys)
    f = tr.function([x, y], outputs)  # numba
    calls = [f(xs, ys) for _ in range(3)]
    for call in calls:
        for r, g in zip(ref, call):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)
    for a, b in zip(calls[0], calls[2]):
        np.testing.assert_array_equal(a, b)


# ---- the coins: drawn at run time -----------------------------------------------------

def test_bernoulli_draws_new_coins_at_every_call_with_a_fed_p():
    p = tr.placeholder((), name="p")
    coins = schedules.bernoulli(p, (400, 5), rng=0)
    for backend in ("numba", "numpy"):
        f = tr.function([p], [coins], backend=backend)
        draws = [f(0.3)[0] for _ in range(3)]
        assert all(d.dtype == np.bool_ and d.shape == (400, 5) for d in draws)
        assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
        assert all(abs(d.mean() - 0.3) < 0.04 for d in draws)
        # the same compiled function follows p as it is fed (no rebuild, no recompile)
        assert abs(f(0.8)[0].mean() - 0.8) < 0.04
        assert not f(0.0)[0].any() and f(1.0)[0].all()


def test_bernoulli_rules():
    p = tr.placeholder((), name="p")
    with pytest.raises(tr.GraphError, match=r"bernoulli.*floating"):
        schedules.bernoulli(tr.placeholder((), np.int64), (2,))
    with pytest.raises(tr.GraphError, match=r"bernoulli.*\(3,\).*\(2,\)"):
        schedules.bernoulli(tr.placeholder((3,)), (2,))
    with pytest.raises(tr.GraphError, match=r"rng"):
        schedules.bernoulli(p, (2,), rng="seed")
    with pytest.raises(tr.GraphError, match=r"sample_prob.*-0\.1"):
        schedules.bernoulli(-0.1, (2,))
    # no derivative reaches p, whatever the dtype of the coins
    coins = schedules.bernoulli(p, (4,), rng=0, dtype=np.float64)
    (g,) = tr.grad((coins * p).sum(), [p])
    got, drawn = tr.function([p], [g, coins.sum()])(0.5)  # one run, one draw
    assert got == drawn  # d/dp (coins * p) = sum of the coins: nothing through the coins
    (g,) = tr.grad(coins.sum(), [p])
    assert tr.function([p], [g])(0.5)[0] == 0.0
    # a p per entry broadcasts; seeded draws are reproducible
    probs = np.array([0.0, 1.0, 0.0, 1.0])
    a = schedules.bernoulli(tr.tensor(probs), (3, 4), rng=5).numpy()
    np.testing.assert_array_equal(a, np.broadcast_to(probs > 0.5, (3, 4)))
    u = np.random.default_rng(5).random((3, 4)) < 0.25
    np.testing.assert_array_equal(schedules.bernoulli(0.25, (3, 4), rng=5).numpy(), u)


@pytest.mark.parametrize("shape, p_shape", [((), ()), ((3, 2), (1, 2)), ((3, 2), ())])
def test_coins_of_any_shape_compile_inside_a_loop(shape, p_shape):
    """0-d coins, and a p that broadcasts (size-1 axes, fewer axes), in the compiled loop."""
    gen = np.random.default_rng(2)
    xs, c0 = tr.placeholder((4,) + p_shape), tr.placeholder(p_shape)

    def step(c, x):
        coin = tr.Tensor(bernoulli_prim(tr.sigmoid(x + c).node, shape=shape, dtype=np.float64,
                                        rng=gen))
        return c + 0.1 * coin.sum(), coin
    _, ys = tr.scan(step, c0, xs)
    x, z = np.random.default_rng(1).standard_normal((4,) + p_shape), np.zeros(p_shape)
    f, ref = tr.function([c0, xs], [ys]), tr.function([c0, xs], [ys], backend="numpy")
    for _ in range(3):
        state = gen.bit_generator.state
        got = f(z, x)[0]
        gen.bit_generator.state = state
        np.testing.assert_array_equal(got, ref(z, x)[0])
    assert ".random(" in f.source()


def test_coins_inside_a_compiled_loop_come_from_the_same_stream_on_every_tier():
    """A coin whose p reads the carry is drawn inside the loop: the first call runs the loop
    in Python, the next ones compiled into Numba (handed the node's Generator), and every
    call gives what the NumPy reference gives from the same Generator state."""
    gen = np.random.default_rng(7)
    xs, c0 = tr.placeholder((6, 3, 2)), tr.placeholder((3, 2))

    def step(c, x):
        coin = tr.Tensor(bernoulli_prim(tr.sigmoid(x + c).node, shape=(3, 2), dtype=np.bool_,
                                        rng=gen))
        return c + 0.1 * tr.astype(coin, np.float64), tr.astype(coin, np.float64)
    _, ys = tr.scan(step, c0, xs)
    x, z = np.random.default_rng(0).standard_normal((6, 3, 2)), np.zeros((3, 2))
    f, ref = tr.function([c0, xs], [ys]), tr.function([c0, xs], [ys], backend="numpy")
    seen = []
    for _ in range(3):
        state = gen.bit_generator.state
        got = f(z, x)[0]
        gen.bit_generator.state = state
        np.testing.assert_array_equal(got, ref(z, x)[0])
        seen.append(got)
    assert not np.array_equal(seen[1], seen[2])
    assert ".random(" in f.source()  # drawn inside the compiled loop, not hoisted


# ---- scheduled sampling in the models -------------------------------------------------

def _decoded_coins(cell, xs, ys, outs):
    """For each step t >= 1 and example: True where step t read its own previous output
    (found by recomputing the step both ways in NumPy)."""
    coins = np.zeros((len(xs) - 1, xs.shape[1]), bool)
    for t in range(1, len(xs)):
        own, truth = _np_step(cell, xs[t], outs[t - 1]), _np_step(cell, xs[t], ys[t - 1])
        for b in range(xs.shape[1]):
            is_own = np.allclose(outs[t, b], own[b], rtol=1e-12, atol=1e-13)
            is_truth = np.allclose(outs[t, b], truth[b], rtol=1e-12, atol=1e-13)
            assert is_own != is_truth, "each step reads exactly one of the two"
            coins[t - 1, b] = is_own
    return coins


def test_jordan_scheduled_sampling_flips_coins_at_run_time(rng):
    cell, Bn = JordanRNN(I, H, O, seed=2), 40
    xs, ys = rng.standard_normal((T, Bn, I)), rng.standard_normal((T, Bn, O))
    x, y, p = tr.placeholder(xs.shape), tr.placeholder(ys.shape), tr.placeholder(())
    f = tr.function([x, y, p], [cell.scheduled(x, y, p, rng=3)])
    runs = [f(xs, ys, 0.5)[0] for _ in range(3)]
    coins = [_decoded_coins(cell, xs, ys, r) for r in runs]
    assert not np.array_equal(coins[0], coins[1]) and not np.array_equal(coins[1], coins[2])
    assert all(0.35 < c.mean() < 0.65 for c in coins)
    assert all(c.any(axis=0).any() and not c.all(axis=1).all() for c in coins)  # per example
    assert _decoded_coins(cell, xs, ys, f(xs, ys, 0.1)[0]).mean() < 0.25
    # p = 0: teacher forcing exactly; p = 1: free running exactly (same function)
    np.testing.assert_array_equal(f(xs, ys, 0.0)[0],
                                  tr.function([x, y], [cell.teacher_forced(x, y)])(xs, ys)[0])
    np.testing.assert_array_equal(f(xs, ys, 1.0)[0],
                                  tr.function([x], [cell.run_free(x)])(xs)[0])
    # float p: 0 and 1 build those graphs, in between coins are still drawn per call
    g = tr.function([x, y], [cell.scheduled(x, y, 0.5, rng=4)])
    assert not np.array_equal(g(xs, ys)[0], g(xs, ys)[0])


def _seq2seq(rng):
    enc, dec = tr.nn.GRUCell(3, 5, seed=0), tr.nn.GRUCell(4, 5, seed=1)
    model = tr.nn.Seq2Seq(enc, dec, tr.nn.Linear(5, 4, seed=2), seed=9)
    T_in, T_out, Bn = 4, 6, 8
    xs = rng.standard_normal((T_in, Bn, 3))
    d_in = np.eye(4)[rng.integers(0, 4, (T_out, Bn))]
    return model, xs, d_in


def test_seq2seq_sample_prob_placeholder_gives_exact_teacher_forcing_and_free_running(rng):
    model, xs, d_in = _seq2seq(rng)
    x, d, p = tr.placeholder(xs.shape), tr.placeholder(d_in.shape), tr.placeholder(())
    targets = tr.placeholder((d_in.shape[0] * d_in.shape[1],), np.int64)
    preds = model(x, d, sample_prob=p)
    loss = tr.cross_entropy(tr.reshape(preds, (-1, 4)), targets)
    step = tr.train_step([x, d, targets, p], loss, model, extras=[preds])
    tf_preds = model(x, d)
    tf_loss = tr.cross_entropy(tr.reshape(tf_preds, (-1, 4)), targets)
    tf_step = tr.train_step([x, d, targets], tf_loss, model, extras=[tf_preds])
    free = tr.function([x, d], [model.generate(x, d[0], d_in.shape[0])])
    y = rng.integers(0, 4, d_in.shape[0] * d_in.shape[1])
    for _ in range(3):
        l0, g0, (p0,) = step(xs, d_in, y, 0.0)
        lt, gt, (pt,) = tf_step(xs, d_in, y)
        assert l0 == lt
        np.testing.assert_array_equal(p0, pt)
        for k in g0:
            np.testing.assert_array_equal(g0[k], gt[k], err_msg=k)
        _, _, (p1,) = step(xs, d_in, y, 1.0)
        np.testing.assert_array_equal(p1, free(xs, d_in)[0])


def test_seq2seq_coins_change_between_calls_of_one_compiled_step(rng):
    """Before: a float sample_prob flipped Python coins once, when the graph was built, and
    every call of the compiled step reused them. Now each call flips new ones."""
    model, xs, d_in = _seq2seq(rng)
    x, d, p = tr.placeholder(xs.shape), tr.placeholder(d_in.shape), tr.placeholder(())
    for sample_prob, feed in ((p, [0.5]), (0.5, [])):
        f = tr.function([x, d] + ([p] if feed else []), [model(x, d, sample_prob=sample_prob)])
        runs = [f(xs, d_in, *feed)[0] for _ in range(3)]
        assert not np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[1], runs[2])
        # the first step always reads the start symbol: it never changes
        np.testing.assert_array_equal(runs[0][0], runs[2][0])
    # seeded coins are reproducible, and numba and numpy draw the same ones
    gen = np.random.default_rng(21)
    out = model(x, d, sample_prob=p, rng=gen)
    state = gen.bit_generator.state
    a = tr.function([x, d, p], [out])(xs, d_in, 0.5)[0]
    gen.bit_generator.state = state
    b = tr.function([x, d, p], [out], backend="numpy")(xs, d_in, 0.5)[0]
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_seq2seq_rejects_bad_sample_prob(rng):
    model, xs, d_in = _seq2seq(rng)
    for bad, pattern in ((1.5, r"1\.5"), ("a", r"'a'"), (tr.placeholder((2,)), r"\(2,\)"),
                         (tr.placeholder((), np.int64), r"int64")):
        with pytest.raises(tr.GraphError, match=r"Seq2Seq.*sample_prob.*" + pattern):
            model(xs, d_in, sample_prob=bad)


# ---- decay schedules -------------------------------------------------------------------

def test_schedules_values():
    lin = schedules.linear(k=1.0, c=1e-3)
    assert [lin(i) for i in (0, 250, 500, 1000, 5000)] == pytest.approx([0, 0.25, 0.5, 1, 1])
    floor = schedules.linear(k=0.9, c=0.01, epsilon=0.2)
    assert floor(0) == pytest.approx(0.1) and floor(10**6) == pytest.approx(0.8)
    exp = schedules.exponential(0.99)
    for i in (0, 1, 69, 1000):
        assert exp(i) == pytest.approx(1 - 0.99 ** i)
    sig = schedules.inverse_sigmoid(10)
    for i in (0, 10, 23, 100, 10**6):
        assert sig(i) == pytest.approx(1 - 10 / (10 + math.exp(min(i / 10, 700))) if i < 7000
                                       else 1.0)
    assert sig(0) == pytest.approx(1 / 11)
    for s in (lin, floor, exp, sig):  # sample probabilities rise from teacher forcing
        values = [s(i) for i in range(0, 3000, 7)]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert all(a <= b + 1e-15 for a, b in zip(values, values[1:]))
    assert lin.__name__ == "linear" and "ε_i" in sig.__doc__


@pytest.mark.parametrize("bad", [
    lambda: schedules.linear(c=0), lambda: schedules.linear(k=1.5),
    lambda: schedules.linear(epsilon=-0.1), lambda: schedules.exponential(1.0),
    lambda: schedules.exponential(0), lambda: schedules.inverse_sigmoid(0.5),
    lambda: schedules.linear()(-1), lambda: schedules.exponential()("a")])
def test_schedules_reject_bad_arguments(bad):
    with pytest.raises(ValueError):
        bad()
