"""Every option of ``tr.scan`` (reverse, checkpoint=, truncate=, several carries, several xs,
tuple / None ys, length= without xs) and of the layers (RNN, LSTM, GRU; num_layers=2,
bidirectional, checkpoint= and truncate= at the call), in values, gradients (reverse and
forward mode) and second derivatives, in BOTH execution tiers: a compiled ``tr.function``
runs its first call with the scan loops in Python over the step, and compiles the loops from
its second call on. Every compiled function here is called three times (on different inputs)
and each call is checked against a reference that holds no scan at all: the plain Python
loop over the step (``tr.stop_gradient`` on the carry entering every k-th step, counted in
the order the scan runs, for truncate=k), ``tr.unroll`` for the layers, PyTorch, and central
finite differences in float64.
"""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.runtime import scan_runner as scan_module

T, B, I, H = 5, 2, 3, 4
TOL = dict(rtol=1e-10, atol=1e-12)
CALLS = 3


@pytest.fixture(autouse=True)
def two_tiers(monkeypatch):
    """The default tiering, whatever the environment says: uncompiled, then compiled."""
    monkeypatch.setattr(scan_module, "COMPILE_AFTER", 2)


# ---- helpers ---------------------------------------------------------------------------


def flat(tree):
    if tree is None:
        return []
    if isinstance(tree, (tuple, list)):
        return list(tree)
    return [tree]


def tmap(tree, f):
    if tree is None:
        return None
    if isinstance(tree, (tuple, list)):
        return type(tree)(f(t) for t in tree)
    return f(tree)


def reference_scan(step, init, xs, length=None, reverse=False, cut_every=None):
    """The loop the scan stands for, written out: T copies of the step; with cut_every=k the
    carry entering run-order positions k, 2k, ... is detached (for reverse=True the run order
    is t = T-1, ..., 0, so the cuts fall before times T-1-k, T-1-2k, ...)."""
    n = length if xs is None else flat(xs)[0].shape[0]
    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    carry, ys = init, [None] * n
    for p, t in enumerate(order):
        if cut_every and p and p % cut_every == 0:
            carry = tmap(carry, tr.stop_gradient)
        carry, ys[t] = step(carry, tmap(xs, lambda x: x[t]))
    if ys[0] is None:
        return carry, None
    if isinstance(ys[0], (tuple, list)):
        return carry, type(ys[0])(tr.stack([y[i] for y in ys]) for i in range(len(ys[0])))
    return carry, tr.stack(ys)


def compiled_loops(f):
    """How many scan nodes of a tr.function's plan (or of the plans of the scan bodies it
    runs in Python, for the scans of scans of checkpoint= / truncate=) run as compiled Numba
    loops."""
    count = 0
    for s in f.plan.steps:
        if s.node.op.name == "scan":
            fns = s.node.attrs["body"]._functions
            count += any(k[0] == "compiled" and v is not None for k, v in fns.items())
            if fns.get("numba") is not None:
                count += compiled_loops(fns["numba"])
    return count


def assert_close(got, want, what, tol=TOL):
    assert len(got) == len(want)
    for j, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, **tol, err_msg=f"{what}: output {j}")


def derivatives(outs, wrt, rng):
    """[loss, *outs, *grad, *jvp, *hvp] for loss = sum_j <R_j, outs_j> and one direction d
    (the tangent of the JVP and the vector of the Hessian-vector product), plus d."""
    R = [rng.standard_normal(o.shape) for o in outs]
    d = [rng.standard_normal(w.shape) for w in wrt]
    loss = sum(tr.dot(o, r) for o, r in zip(outs, R))
    g = tr.grad(loss, wrt)
    jv = tr.jvp(outs, wrt, d)
    hv = tr.grad(sum(tr.dot(gi, di) for gi, di in zip(g, d)), wrt)
    return [loss] + list(outs) + g + jv + hv, d


# ---- tr.scan ---------------------------------------------------------------------------

STRUCTURES = ["one", "tuple", "ys_none", "no_xs"]


class Problem:
    """A step with carries (h[, c]), xs (x1[, x2]) or none, ys one / a tuple / None, reading
    a parameter W (I, H) and a parameter b (H,) from outside, and a placeholder U (H, H)."""

    def __init__(self, structure, seed=0):
        self.structure = structure
        rng = np.random.default_rng(seed)
        self.W = tr.parameter(rng.standard_normal((I, H)) * 0.5, name="W")
        self.b = tr.parameter(rng.standard_normal(H) * 0.5, name="b")
        self.U = tr.placeholder((H, H), name="U")
        self.h0, self.c0 = tr.placeholder((B, H), name="h0"), tr.placeholder((B, H), name="c0")
        self.x1, self.x2 = tr.placeholder((T, B, I), name="x1"), tr.placeholder((T, B, H), name="x2")
        s = structure
        self.init = self.h0 if s == "one" else (self.h0, self.c0)
        self.xs = {"one": self.x1, "no_xs": None}.get(s, (self.x1, self.x2))
        self.placeholders = flat(self.xs) + flat(self.init) + [self.U]
        self.params = [self.W, self.b]

    def step(self, carry, x):
        W, U, b, s = self.W, self.U, self.b, self.structure
        if s == "one":
            h = tr.tanh(x @ W + carry @ U + b)
            return h, h
        h, c = carry
        pre = h @ U + c * b
        if s != "no_xs":
            x1, x2 = x
            pre = pre + x1 @ W + x2 * c
        c = 0.5 * c + 0.5 * tr.tanh(pre)
        h = tr.sigmoid(pre) * tr.tanh(c)
        if s == "tuple":
            return (h, c), (h, c.sum(axis=1))
        if s == "ys_none":
            return (h, c), None
        return (h, c), h * c

    def run(self, fn, **kw):
        length = T if self.xs is None else None
        carry, ys = fn(self.step, self.init, self.xs, length=length, **kw)
        return flat(carry) + flat(ys)

    def feeds(self, call):
        """Inputs of call number `call` (different for each call), parameters assigned."""
        rng = np.random.default_rng(100 + call)
        self.W.assign(rng.standard_normal((I, H)) * 0.5)
        self.b.assign(rng.standard_normal(H) * 0.5)
        return [rng.standard_normal(p.shape) * (0.7 if p is self.U else 1.0)
                for p in self.placeholders]


OPTIONS = [{}] + [{name: k} for name in ("checkpoint", "truncate") for k in (1, 2, 5, 7)]
SOME_OPTIONS = [{}, {"checkpoint": 2}, {"truncate": 2}, {"truncate": 7}]
CASES = ([("tuple", o) for o in OPTIONS]
         + [(s, o) for s in STRUCTURES if s != "tuple" for o in SOME_OPTIONS])


def case_id(case):
    s, o = case
    return s + "-" + ("plain" if not o else "".join(f"{k}{v}" for k, v in o.items()))


def fd_check(f, prob, placeholders_vals, d, n_outs, eps=1e-5):
    """Central differences along d (over placeholders then parameters) of every output of f:
    d loss = <g, d>, d outs = the JVP, d grad = the Hessian-vector product."""
    n_ph = len(prob.placeholders)
    wv = [np.array(p.value) for p in prob.params]

    def at(sign):
        for p, v, dp in zip(prob.params, wv, d[n_ph:]):
            p.assign(v + sign * eps * dp)
        return f(*[v + sign * eps * dv for v, dv in zip(placeholders_vals, d[:n_ph])])
    try:
        plus, minus = at(1), at(-1)
    finally:
        for p, v in zip(prob.params, wv):
            p.assign(v)
    exact = f(*placeholders_vals)
    fd = [(a - b) / (2 * eps) for a, b in zip(plus, minus)]
    n_w = len(d)
    loss_fd, outs_fd, g_fd = fd[0], fd[1:1 + n_outs], fd[1 + n_outs:1 + n_outs + n_w]
    g = exact[1 + n_outs:1 + n_outs + n_w]
    jv = exact[1 + n_outs + n_w:1 + 2 * n_outs + n_w]
    hv = exact[1 + 2 * n_outs + n_w:]
    tol = dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(sum(np.sum(gi * di) for gi, di in zip(g, d)), loss_fd, **tol)
    assert_close(jv, outs_fd, "jvp vs finite differences", tol)
    assert_close(hv, g_fd, "Hessian-vector product vs finite differences", tol)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_scan_option_in_both_tiers(case, reverse):
    structure, options = case
    prob = Problem(structure)
    wrt = prob.placeholders + prob.params
    outs = prob.run(tr.scan, reverse=reverse, **options)
    cut = options.get("truncate")
    ref_outs = prob.run(reference_scan, reverse=reverse, cut_every=cut)
    full_outs = prob.run(reference_scan, reverse=reverse)
    got, d = derivatives(outs, wrt, np.random.default_rng(7))
    want, _ = derivatives(ref_outs, wrt, np.random.default_rng(7))
    full, _ = derivatives(full_outs, wrt, np.random.default_rng(7))
    f = tr.function(prob.placeholders, got)
    ref = tr.function(prob.placeholders, want)
    f_full = tr.function(prob.placeholders, full[:1 + len(outs)], "numpy")
    n = len(outs)
    for call in range(CALLS):
        feed = prob.feeds(call)
        values = f(*feed)
        expected = ref(*feed)
        assert_close(values, expected, f"call {call + 1} ({'un' if call == 0 else ''}compiled)")
        # truncation never changes the values, whatever k (also k >= T)
        assert_close(values[:1 + n], f_full(*feed), f"call {call + 1}: values vs untruncated")
        if call:  # from the second call on, loops run compiled
            assert compiled_loops(f) > 0
    if cut is not None and cut < T:
        # the reference cuts something (else this test could not tell a cut from none)
        untruncated = tr.function(prob.placeholders, full)(*feed)
        assert not all(np.allclose(a, b) for a, b in zip(untruncated[1 + n:], expected[1 + n:]))
    if cut is None:
        fd_check(f, prob, prob.feeds(CALLS), d, n)


# ---- regressions -----------------------------------------------------------------------


def test_reverse_truncate_1_cuts_after_the_first_step_run():
    """reverse=True, truncate=1, T=3: the scan runs t = 2, 1, 0 and cuts the carry before
    t = 1 and t = 0. ys[0] does not depend on xs[1] (exactly 0) and ys[2] reads the initial
    state (a nonzero gradient)."""
    U = tr.placeholder((2, 2))
    xs, h0 = tr.placeholder((3, 1, 2)), tr.placeholder((1, 2))

    def step(h, x):
        h = tr.tanh(x + h @ U)
        return h, h
    _, ys = tr.scan(step, h0, xs, reverse=True, truncate=1)
    g0 = tr.grad(ys[0].sum(), [xs, h0])
    g2 = tr.grad(ys[2].sum(), [xs, h0])
    f = tr.function([xs, h0, U], g0 + g2)
    rng = np.random.default_rng(3)
    for call in range(CALLS):
        gx0, gh0_from_y0, gx2, gh0_from_y2 = f(rng.standard_normal((3, 1, 2)),
                                                rng.standard_normal((1, 2)),
                                                rng.standard_normal((2, 2)))
        assert np.all(gx0[1] == 0) and np.all(gx0[2] == 0), f"call {call + 1}: {gx0}"
        assert np.all(gx0[0] != 0)
        assert np.all(gh0_from_y0 == 0)
        assert np.all(gh0_from_y2 != 0), f"call {call + 1}: {gh0_from_y2}"
        assert np.all(gx2[2] != 0) and np.all(gx2[:2] == 0)


@pytest.mark.parametrize("T_, k", [(2, 3), (4, 10)])
def test_truncate_longer_than_the_sequence_changes_nothing(T_, k):
    U = tr.placeholder((2, 2))
    xs, h0 = tr.placeholder((T_, 1, 2)), tr.placeholder((1, 2))

    def step(h, x):
        h = tr.tanh(x + h @ U)
        return h, h
    outs = []
    for kw in ({}, {"truncate": k}):
        h, ys = tr.scan(step, h0, xs, **kw)
        loss = (ys * ys).sum() + h.sum()
        outs.append(tr.function([xs, h0, U], [h, ys] + tr.grad(loss, [xs, h0, U])))
    rng = np.random.default_rng(4)
    for call in range(CALLS):
        feed = [rng.standard_normal(p.shape) for p in (xs, h0, U)]
        assert_close(outs[1](*feed), outs[0](*feed), f"call {call + 1}")


def test_gru_truncate_10_with_T_4_equals_no_truncation():
    gru = tr.nn.GRU(3, 4, seed=1)
    xs = tr.placeholder((4, 2, 3))
    params = list(gru.parameters().values())
    fs = []
    for kw in ({}, {"truncate": 10}):
        out, h_n = gru(xs, **kw)
        loss = (out * out).sum() + h_n.sum()
        fs.append(tr.function([xs], [out, h_n] + tr.grad(loss, params + [xs])))
    rng = np.random.default_rng(5)
    for call in range(CALLS):
        x = rng.standard_normal((4, 2, 3))
        assert_close(fs[1](x), fs[0](x), f"call {call + 1}")


@pytest.mark.parametrize("option", ["checkpoint", "truncate"])
def test_lstm_layer_gradient_called_three_times(option):
    """Used to crash on the second call (the compiled tier) with checkpoint=2."""
    lstm = tr.nn.LSTM(3, 4, seed=0)
    xs = tr.placeholder((6, 2, 3))
    out, _ = lstm(xs, **{option: 2})
    params = list(lstm.parameters().values())
    f = tr.function([xs], [out] + tr.grad((out * out).sum(), params + [xs]))
    ys, _ = tr.unroll(lstm.cells[0][0], xs, truncate=2 if option == "truncate" else None)
    ref_out = tr.stack(ys)
    ref = tr.function([xs], [ref_out] + tr.grad((ref_out * ref_out).sum(), params + [xs]))
    rng = np.random.default_rng(6)
    for call in range(CALLS):
        x = rng.standard_normal((6, 2, 3))
        assert_close(f(x), ref(x), f"call {call + 1}")


def test_overflow_inside_a_scan_in_both_tiers():
    """exp(800) is inf and sigmoid(-800) exactly 0 inside a loop, run in Python or compiled."""
    xs = tr.placeholder((3, 2, 2))

    def step(h, x):
        return tr.sigmoid(h - x), (tr.exp(h + x), tr.sigmoid(h - x), tr.exp(x))
    h, (e, s, e_hoisted) = tr.scan(step, tr.zeros((2, 2)), xs)
    f = tr.function([xs], [h, e, s, e_hoisted])
    with np.errstate(over="ignore"):
        for call in range(CALLS):
            hv, ev, sv, ehv = f(np.full((3, 2, 2), 800.0))
            assert np.all(ev == np.inf), f"call {call + 1}: exp(800) = {ev.ravel()}"
            assert np.all(ehv == np.inf), f"call {call + 1}: exp(800) = {ehv.ravel()}"
            assert np.all(sv == 0.0), f"call {call + 1}: sigmoid(-800) = {sv.ravel()}"
            assert np.all(hv == 0.0), f"call {call + 1}: sigmoid(-800) = {hv.ravel()}"


def test_small_arguments_inside_a_scan_in_both_tiers():
    """tanh and sigmoid of tiny, -0.0 and subnormal-range arguments: the compiled loop gives
    the uncompiled call's values to a few ulp (no cancellation in tanh near 0, no sign lost)."""
    xs = tr.placeholder((4, 1, 6))

    def step(h, x):
        y = x * (h + 1.0)  # reads the carry (h = 0): computed in the loop, x itself, -0.0 kept
        return h, (tr.tanh(y), tr.sigmoid(y), tr.tanh(x))  # tanh(x): hoisted before the loop
    _, (t, s, th) = tr.scan(step, tr.zeros((1, 6)), xs)
    f = tr.function([xs], [t, s, th])
    x = np.tile(np.array([1e-10, -1e-300, -0.0, 0.3, -720.0, -0.6]), (4, 1, 1))
    want_t = np.tanh(x)
    with np.errstate(under="ignore"):
        want_s = np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))
    for call in range(CALLS):
        tv, sv, thv = f(x)
        for got in (tv, thv):
            np.testing.assert_allclose(got, want_t, rtol=4e-16, atol=0, err_msg=f"call {call + 1}")
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want_t))
        np.testing.assert_allclose(sv, want_s, rtol=4e-16, atol=1e-323, err_msg=f"call {call + 1}")


# ---- layers ----------------------------------------------------------------------------

LT = 5  # sequence length for the layers


def layer_reference(layer, xs, states, truncate=None):
    """The layer written with tr.unroll on its cells (no scan): output and final states."""
    D = layer.num_directions
    finals = [[] for _ in states]
    layer_in = xs
    for layer_i, row in enumerate(layer.cells):
        outs = []
        for d, cell in enumerate(row):
            k = layer_i * D + d
            init = tuple(s[k] for s in states)
            seq = layer_in if d == 0 else tr.stack([layer_in[t] for t in reversed(range(LT))])
            ys, final = tr.unroll(cell, seq, init, truncate=truncate)
            outs.append(tr.stack(ys if d == 0 else ys[::-1]))
            for j, s in enumerate(final):
                finals[j].append(s)
        layer_in = tr.concat(outs, axis=2) if len(outs) > 1 else outs[0]
    return layer_in, [tr.stack(f, axis=0) for f in finals]


def make_layer(mode):
    return getattr(tr.nn, mode)(3, 4, num_layers=2, bidirectional=True, seed=0)


def layer_inputs(mode):
    n_state = 2 if mode == "LSTM" else 1
    return tr.placeholder((LT, 2, 3), name="xs"), [tr.placeholder((4, 2, 4)) for _ in range(n_state)]


def call_layer(layer, mode, xs, states, **kw):
    out, state = layer(xs, tuple(states) if mode == "LSTM" else states[0], **kw)
    return [out] + (list(state) if mode == "LSTM" else [state])


LAYER_OPTIONS = [{}, {"checkpoint": 2}, {"checkpoint": 7}, {"truncate": 1}, {"truncate": 2},
                 {"truncate": 7}]


@pytest.mark.parametrize("options", LAYER_OPTIONS,
                         ids=lambda o: "".join(f"{k}{v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_layer_options_in_both_tiers(mode, options):
    layer = make_layer(mode)
    xs, states = layer_inputs(mode)
    names = list(layer.parameters())
    wrt = [layer.parameters()[n] for n in names] + [xs] + states
    outs = call_layer(layer, mode, xs, states, **options)
    plain = call_layer(layer, mode, xs, states)
    ref_out, ref_states = layer_reference(layer, xs, states, options.get("truncate"))
    got, _ = derivatives(outs, wrt, np.random.default_rng(8))
    want, _ = derivatives([ref_out] + ref_states, wrt, np.random.default_rng(8))
    n = len(outs)
    f = tr.function([xs] + states, got + plain)
    ref = tr.function([xs] + states, want)
    rng = np.random.default_rng(9)
    for call in range(CALLS):
        feed = [rng.standard_normal(p.shape) for p in [xs] + states]
        values = f(*feed)
        expected = ref(*feed)
        what = f"{mode} {options} call {call + 1}"
        assert_close(values[:len(got)], expected, what)
        assert_close(values[1:1 + n], values[len(got):], what + ": values vs no options")
        if call:  # from the second call on, loops run compiled
            assert compiled_loops(f) > 0


@pytest.mark.parametrize("options", [{}, {"checkpoint": 2}, {"checkpoint": 7}, {"truncate": 2},
                                     {"truncate": 7}],
                         ids=lambda o: "".join(f"{k}{v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_layer_options_against_pytorch(mode, options):
    """Values always, gradients when nothing is truncated, against torch.nn.<mode> loaded
    with the layer's state_dict."""
    torch = pytest.importorskip("torch")
    layer = make_layer(mode)
    xs, states = layer_inputs(mode)
    names = list(layer.parameters())
    outs = call_layer(layer, mode, xs, states, **options)
    rng = np.random.default_rng(10)
    R = [rng.standard_normal(o.shape) for o in outs]
    loss = sum(tr.dot(o, r) for o, r in zip(outs, R))
    truncated = "truncate" in options
    grads = [] if truncated else tr.grad(loss, [layer.parameters()[n] for n in names] + [xs] + states)
    f = tr.function([xs] + states, outs + grads)

    tl = getattr(torch.nn, mode)(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    tl.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    for call in range(CALLS):
        feed = [rng.standard_normal(p.shape) for p in [xs] + states]
        values = f(*feed)
        tx = [torch.tensor(v, requires_grad=True) for v in feed]
        tout, tstate = tl(tx[0], tuple(tx[1:]) if mode == "LSTM" else tx[1])
        touts = [tout] + (list(tstate) if mode == "LSTM" else [tstate])
        tloss = sum((o * torch.tensor(r)).sum() for o, r in zip(touts, R))
        tl.zero_grad()
        tloss.backward()
        what = f"{mode} {options} call {call + 1}"
        assert_close(values[:len(outs)], [o.detach().numpy() for o in touts], what)
        if not truncated:
            tgrads = [dict(tl.named_parameters())[n].grad.numpy() for n in names]
            tgrads += [t.grad.numpy() for t in tx]
            assert_close(values[len(outs):], tgrads, what + ": gradients")
