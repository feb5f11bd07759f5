"""``tr.nn.LSTM1997Cell`` against the 1997 paper (Hochreiter & Schmidhuber, Section 4 and
Appendix A.1) written out in NumPy: the forward equations; the full gradient against finite
differences; the truncated gradient against two hand transcriptions of the paper's learning
rule (backward: error goes back in time through the carousels s only; forward: the paper's
own RTRL-like recursions for ds/dw, eqs. 25 and 27); BPTT against RTRL; scan against unroll,
compiled; clear errors for bad input; the parameter layout; pictures and traces."""
import re

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.runtime import scan_runner


def sig(z):
    return 1 / (1 + np.exp(-z))


# ---- the paper's equations in NumPy ---------------------------------------------------------

def full_bias(p):
    """The bias of every row of net (zero where there is none: bias="gates" or False)."""
    R = p["weight_ih"].shape[0]
    b = p.get("bias", np.zeros(0))
    return np.concatenate([b, np.zeros(R - b.shape[0])])


def forward(p, x, state, nb, S):
    """One step from state (y, s) or (y, s, gates); returns the new state and what the
    backward passes need. u is the recurrent input: y(t-1), and with recurrent gates also
    the gate activations [in(t-1), out(t-1)]."""
    y, s = state[:2]
    u = np.concatenate([y] + list(state[2:]), axis=1)
    net = x @ p["weight_ih"].T + u @ p["weight_hh"].T + full_bias(p)
    i, o, nc = sig(net[:, :nb]), sig(net[:, nb:2 * nb]), net[:, 2 * nb:]
    g = 4 * sig(nc) - 2                       # g(z) = 4 sigma(z) - 2, range [-2, 2]
    I, O = np.repeat(i, S, axis=1), np.repeat(o, S, axis=1)  # block j's gate, for its S cells
    s_new = s + I * g                         # the constant error carousel
    hs = 2 * sig(s_new) - 1                   # h(z) = 2 sigma(z) - 1, range [-1, 1]
    y_new = O * hs
    new = (y_new, s_new) + ((np.concatenate([i, o], axis=1),) if len(state) > 2 else ())
    return new, dict(x=x, u=u, i=i, o=o, nc=nc, g=g, I=I, O=O, s=s_new, hs=hs)


def run(p, xs, state0, nb, S):
    state, ys, cache = state0, [], []
    for x in xs:
        state, c = forward(p, x, state, nb, S)
        ys.append(state[0])
        cache.append(c)
    return ys, state, cache


def block_sum(a, nb, S):
    return a.reshape(a.shape[0], nb, S).sum(axis=2)


def bptt_numpy(p, xs, state0, R, nb, S, truncated):
    """dL/dparams for L = sum_t <R_t, y_t>, backwards in time, written out by hand.

    truncated: the paper's rule. The error of y(t) is only the loss's at step t (nothing
    comes back from step t+1 through y(t), nor through the gates' activations); it enters
    the carousel through out and h'(s), flows back along s unscaled (ds(t)/ds(t-1) = 1) and
    leaves it, at every step, through the input gate and g'(net_c) into the net inputs,
    where it changes the weights and stops. The output gate learns from the current step's
    error only. Full: the net inputs' error also goes on into u(t-1) through W_hh."""
    _, _, cache = run(p, xs, state0, nb, S)
    n = state0[0].shape[1]
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    ds_next = np.zeros_like(state0[1])
    du_next = np.zeros_like(cache[0]["u"])
    for t in range(len(xs) - 1, -1, -1):
        c = cache[t]
        keep = 0.0 if truncated else 1.0
        dy = R[t] + keep * du_next[:, :n]
        d_i_rec, d_o_rec = keep * du_next[:, n:n + nb], keep * du_next[:, n + nb:]
        if d_i_rec.shape[1] == 0:
            d_i_rec = d_o_rec = 0.0
        d_out = (block_sum(dy * c["hs"], nb, S) + d_o_rec) * c["o"] * (1 - c["o"])
        ds = ds_next + dy * c["O"] * 2 * sig(c["s"]) * (1 - sig(c["s"]))   # h'(s) = 2 s'(s)
        d_in = (block_sum(ds * c["g"], nb, S) + d_i_rec) * c["i"] * (1 - c["i"])
        d_c = ds * c["I"] * 4 * sig(c["nc"]) * (1 - sig(c["nc"]))          # g'(z) = 4 s'(z)
        d_net = np.concatenate([d_in, d_out, d_c], axis=1)
        grads["weight_ih"] += d_net.T @ c["x"]
        grads["weight_hh"] += d_net.T @ c["u"]
        if "bias" in grads:
            grads["bias"] += d_net.sum(axis=0)[:grads["bias"].shape[0]]
        ds_next = ds                          # s(t) = s(t-1) + ...: the error passes unscaled
        du_next = d_net @ p["weight_hh"]      # used only by the full gradient
    return grads


def rtrl_paper(p, xs, state0, R, nb, S, observe=None):
    """The truncated gradient as the paper computes it, forward in time (Appendix A.1,
    eqs. 21-28): per sample, only ds_c/dw_(in_j, m) and ds_c/dw_(c, m) are carried;
    e_s_c(t) = out_j h'(s_c) (error of y_c at t); weights to output gates learn from
    e_out_j(t) = f'(net_out_j) sum_c h(s_c) (error of y_c at t), eq. 21.
    observe(t, D_in, D_c, step cache, z) after every step."""
    B, n = state0[0].shape
    has_bias = "bias" in p
    state = state0
    I = xs.shape[2]
    U = p["weight_hh"].shape[1]
    M = I + U + has_bias                         # presynaptic units m: x, u(t-1), the bias
    D_in = np.zeros((B, n, M))                   # ds_c / dw_(in_j(c), m)
    D_c = np.zeros((B, n, M))                    # ds_c / dw_(c, m)
    G_in, G_out, G_c = np.zeros((nb, M)), np.zeros((nb, M)), np.zeros((n, M))
    for t, x in enumerate(xs):
        state, c = forward(p, x, state, nb, S)
        z = np.concatenate([x, c["u"]] + ([np.ones((B, 1))] if has_bias else []), axis=1)
        f_in = np.repeat(c["i"] * (1 - c["i"]), S, axis=1)
        g_prime = 4 * sig(c["nc"]) * (1 - sig(c["nc"]))
        D_in = D_in + (c["g"] * f_in)[:, :, None] * z[:, None, :]                # eq. 25
        D_c = D_c + (g_prime * c["I"])[:, :, None] * z[:, None, :]                # eq. 27
        e_y = R[t]
        e_s = e_y * c["O"] * 2 * sig(c["s"]) * (1 - sig(c["s"]))                 # eq. 23
        e_out = block_sum(e_y * c["hs"], nb, S) * c["o"] * (1 - c["o"])           # eq. 21
        G_out += np.einsum("bj,bm->jm", e_out, z)                                # eq. 22
        G_in += np.einsum("bjv,bjvm->jm", e_s.reshape(B, nb, S), D_in.reshape(B, nb, S, M))  # 26
        G_c += np.einsum("bc,bcm->cm", e_s, D_c)                                 # eq. 28
        if observe is not None:
            observe(t, D_in, D_c, c, z)
    G = np.concatenate([G_in, G_out, G_c])
    out = {"weight_ih": G[:, :I], "weight_hh": G[:, I:I + U]}
    if has_bias:
        out["bias"] = G[:p["bias"].shape[0], -1]
    return out


# ---- helpers ----------------------------------------------------------------------------

def problem(rng, T, B, I, nb, S, gates=False):
    """xs, state0 and the loss weights R of L = sum_t <R_t, y_t>."""
    n = nb * S
    state0 = (rng.standard_normal((B, n)), rng.standard_normal((B, n)))
    if gates:
        state0 += (rng.uniform(0, 1, (B, 2 * nb)),)
    return rng.standard_normal((T, B, I)), state0, rng.standard_normal((T, B, n))


def make(I, nb, S=1, **kw):
    # weights larger than the paper's, so that every path carries error worth checking
    return tr.nn.LSTM1997Cell(I, nb, S, seed=kw.pop("seed", 0), init_range=kw.pop("init_range", 0.8),
                              **kw)


def tr_grads(cell, xs, state0, R, backend="numpy"):
    ys, _ = tr.unroll(cell, xs, state0)
    loss = sum((y * tr.tensor(r)).sum() for y, r in zip(ys, R))
    params = cell.parameters()
    values = tr.function([], [loss] + tr.grad(loss, list(params.values())), backend)()
    return float(values[0]), dict(zip(params, values[1:]))


def loss_fn_for(R):
    return lambda t, y: (y * tr.tensor(R[t])).sum()


# the architecture options: the API's (recurrent input y), Experiment 1's (gates recurrent
# too, gate-only biases), and no biases at all (Experiment 2c)
ARCHS = {"api": {}, "exp1": dict(recurrent_gates=True, bias="gates"), "nobias": dict(bias=False)}


SHAPES = [  # (T, B, I, blocks, cells_per_block)
    (1, 1, 1, 1, 1), (3, 2, 3, 2, 1), (4, 3, 2, 3, 2), (5, 1, 4, 1, 2), (3, 2, 7, 4, 1),
    (2, 2, 3, 2, 3)]


# ---- (a) values ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 2e-5)])
@pytest.mark.parametrize("T,B,I,nb,S", SHAPES)
@pytest.mark.parametrize("truncated", [True, False])
@pytest.mark.parametrize("arch", ARCHS)
def test_values_follow_the_papers_equations(T, B, I, nb, S, dtype, rtol, truncated, arch, rng):
    cell = make(I, nb, S, dtype=dtype, truncated=truncated, **ARCHS[arch])
    xs, state0, _ = problem(rng, T, B, I, nb, S, gates=cell.recurrent_gates)
    xs, state0 = xs.astype(dtype), tuple(a.astype(dtype) for a in state0)
    p = {k: v.astype(np.float64) for k, v in cell.state_dict().items()}
    want, final, _ = run(p, xs.astype(np.float64), tuple(a.astype(np.float64) for a in state0),
                         nb, S)
    ys, last = tr.unroll(cell, xs, state0)
    got = tr.function([], [tr.stack(ys), *last], "numpy")()
    assert [g.shape for g in got] == [(T, B, nb * S)] + [a.shape for a in state0]
    assert all(g.dtype == dtype for g in got)
    atol = 1e-14 if dtype == np.float64 else 1e-6
    for g, w in zip(got, [np.stack(want), *final]):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(got[0][-1], got[1])  # the output is the state y


def test_ranges_of_g_and_h():
    """g spans (-2, 2) and h (-1, 1): with huge cell-input nets and open gates, one step
    stores +-2 in s, and y = out h(s) stays within (-1, 1)."""
    cell = tr.nn.LSTM1997Cell(1, 1, 2, output_gate_bias=50.0, input_gate_bias=50.0, seed=0)
    w = np.zeros((4, 1))
    w[2:, 0] = [1000.0, -1000.0]
    cell.load_state_dict({"weight_ih": w, "weight_hh": np.zeros((4, 2)),
                          "bias": np.array([50.0, 50.0, 0.0, 0.0])})
    y, (_, s) = cell(np.ones((1, 1)), cell.initial_state(1))
    np.testing.assert_allclose(s.numpy(), [[2.0, -2.0]], rtol=1e-14)
    np.testing.assert_allclose(y.numpy(), [[2 * sig(2.0) - 1, 2 * sig(-2.0) - 1]], rtol=1e-14)


# ---- (b) the full gradient -----------------------------------------------------------------

@pytest.mark.parametrize("T,B,I,nb,S", SHAPES[:5])
@pytest.mark.parametrize("arch", ARCHS)
def test_full_gradient_equals_finite_differences(T, B, I, nb, S, arch, rng):
    cell = make(I, nb, S, truncated=False, seed=3, **ARCHS[arch])
    xs, state0, R = problem(rng, T, B, I, nb, S, gates=cell.recurrent_gates)
    _, got = tr_grads(cell, xs, state0, R)
    p = cell.state_dict()
    eps = 1e-6

    def loss(q):
        ys, _, _ = run(q, xs, state0, nb, S)
        return sum(float(np.sum(y * r)) for y, r in zip(ys, R))
    for k, v in p.items():
        fd = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            plus, minus = dict(p), dict(p)
            plus[k], minus[k] = v.copy(), v.copy()
            plus[k][idx] += eps
            minus[k][idx] -= eps
            fd[idx] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(got[k], fd, rtol=1e-6, atol=1e-8, err_msg=k)
    want = bptt_numpy(p, xs, state0, R, nb, S, truncated=False)
    for k in p:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-11, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("arch", ARCHS)
def test_full_gradient_passes_the_libraries_cell_check(arch):
    report = tr.testing.check_cell(make(3, 2, 2, truncated=False, **ARCHS[arch]), steps=4, batch=2)
    assert report["bptt_vs_finite_differences"] < 1e-7


# ---- (c) the truncated gradient --------------------------------------------------------------

@pytest.mark.parametrize("T,B,I,nb,S", SHAPES)
@pytest.mark.parametrize("arch", ARCHS)
def test_truncated_gradient_is_the_carousel_only_one(T, B, I, nb, S, arch, rng):
    cell = make(I, nb, S, truncated=True, **ARCHS[arch])
    xs, state0, R = problem(rng, T, B, I, nb, S, gates=cell.recurrent_gates)
    _, got = tr_grads(cell, xs, state0, R)
    p = cell.state_dict()
    backward = bptt_numpy(p, xs, state0, R, nb, S, truncated=True)
    paper = rtrl_paper(p, xs, state0, R, nb, S)
    for k in p:
        np.testing.assert_allclose(backward[k], paper[k], rtol=1e-11, atol=1e-13, err_msg=k)
        np.testing.assert_allclose(got[k], backward[k], rtol=1e-11, atol=1e-13, err_msg=k)
    if T > 1:  # one step has no earlier step to cut: the two gradients agree there
        _, full = tr_grads(make(I, nb, S, truncated=False, **ARCHS[arch]), xs, state0, R)
        assert max(np.max(np.abs(full[k] - got[k])) for k in p) > 1e-6


def test_one_step_gradients_agree(rng):
    """With one step nothing crosses time: truncated and full gradients are the same."""
    xs, state0, R = problem(rng, 1, 2, 3, 2, 2)
    _, a = tr_grads(make(3, 2, 2, truncated=True), xs, state0, R)
    _, b = tr_grads(make(3, 2, 2, truncated=False), xs, state0, R)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("arch", ["api", "exp1"])
def test_truncated_error_flows_back_only_along_the_carousels(arch, rng):
    """d s_T / d s_0 is exactly 1 per cell (nothing leaves and re-enters the carousel), no
    error reaches y_0 or the gates' activations (they only feed net inputs), and a loss on
    y_T reaches s_0 only through its own cell's carousel: the block's other cells and the
    other blocks get none."""
    T, B, I, nb, S = 20, 2, 3, 2, 2
    cell = make(I, nb, S, truncated=True, **ARCHS[arch])
    xs, state0, _ = problem(rng, T, B, I, nb, S, gates=cell.recurrent_gates)
    holes = [tr.placeholder(a.shape) for a in state0]
    ys, final = tr.unroll(cell, xs, tuple(holes))
    d_s, *d_other = tr.grad(final[1].sum(), [holes[1], holes[0], *holes[2:]])
    got_s, *got_other = tr.function(holes, [d_s, *d_other])(*state0)
    np.testing.assert_array_equal(got_s, np.ones((B, nb * S)))
    for g in got_other:
        np.testing.assert_array_equal(g, 0.0)
    (d,) = tr.grad(final[0][:, 1].sum(), [holes[1]])
    got = tr.function(holes, [d])(*state0)[0]
    assert np.all(got[:, 1] != 0)
    np.testing.assert_array_equal(np.delete(got, 1, axis=1), 0.0)
    # the full gradient: error also comes back through y, so d s_T / d s_0 is not 1
    cell = make(I, nb, S, truncated=False, **ARCHS[arch])
    ys, final = tr.unroll(cell, xs, tuple(holes))
    d_s, *d_other = tr.grad(final[1].sum(), [holes[1], holes[0], *holes[2:]])
    got_s, *got_other = tr.function(holes, [d_s, *d_other])(*state0)
    assert np.max(np.abs(got_s - 1)) > 1e-3 and all(np.max(np.abs(g)) > 1e-3 for g in got_other)


def test_truncate_input_also_cuts_the_error_into_x(rng):
    xs, state0, R = problem(rng, 3, 2, 3, 2, 1)
    x_ = tr.placeholder(xs.shape)
    for flag in (False, True):
        cell = make(3, 2, truncate_input=flag)
        ys, _ = tr.unroll(cell, x_, state0)
        loss = sum((y * tr.tensor(r)).sum() for y, r in zip(ys, R))
        params = list(cell.parameters().values())
        dx, *dp = tr.function([x_], tr.grad(loss, [x_] + params))(xs)
        assert (np.max(np.abs(dx)) == 0) == flag
        _, want = tr_grads(make(3, 2, truncate_input=not flag), xs, state0, R)
        for g, k in zip(dp, cell.parameters()):  # the weights' gradients do not change
            np.testing.assert_allclose(g, want[k], rtol=1e-12, atol=1e-14)


# ---- (d) BPTT and RTRL ---------------------------------------------------------------------

@pytest.mark.parametrize("truncated", [True, False])
@pytest.mark.parametrize("T,B,I,nb,S", [(4, 2, 3, 2, 2), (5, 1, 2, 3, 1)])
@pytest.mark.parametrize("arch", ARCHS)
def test_bptt_equals_rtrl(truncated, T, B, I, nb, S, arch, rng):
    cell = make(I, nb, S, truncated=truncated, **ARCHS[arch])
    xs, state0, R = problem(rng, T, B, I, nb, S, gates=cell.recurrent_gates)
    loss_fn = loss_fn_for(R)
    total_b, g_b = tr.learn.bptt(cell, xs, state0, loss_fn)
    total_r, g_r = tr.learn.rtrl(cell, xs, state0, loss_fn)
    want = bptt_numpy(cell.state_dict(), xs, state0, R, nb, S, truncated)
    assert total_b == pytest.approx(total_r, rel=1e-12)
    for k in want:
        np.testing.assert_allclose(g_b[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(g_r[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("arch", ["api", "exp1"])
def test_rtrl_carries_the_papers_sensitivities(arch, rng):
    """Truncated, the generic RTRL of tr.learn.rtrl carries exactly the paper's quantities:
    ds_c/dw is the sum of eqs. 25 and 27 for weights into in_j and into cell c and zero for
    every other weight (the output gates' and other cells' weights never reach s_c), and
    dy_c/dw is eq. 15 (the output gate's immediate term, and out_j h'(s_c) ds_c/dw); the
    gates' activations (recurrent_gates) carry eqs. 12 and 13, their immediate terms."""
    T, B, I, nb, S = 4, 2, 2, 2, 2
    cell = make(I, nb, S, truncated=True, **ARCHS[arch])
    n, R_rows = nb * S, 2 * nb + nb * S
    U = cell.state_dict()["weight_hh"].shape[1]
    n_bias = cell.state_dict()["bias"].shape[0]
    xs, state0, R = problem(rng, T, B, I, nb, S, gates=cell.recurrent_gates)
    seen = []
    tr.learn.rtrl(cell, xs, state0, loss_fn_for(R),
                  observe=lambda t, st: seen.append(st["sensitivities"]))

    def flat(r, m):  # where weight (row r, presynaptic unit m) sits in the flat parameters
        if m < I:
            return r * I + m
        if m < I + U:
            return R_rows * I + r * U + (m - I)
        return R_rows * (I + U) + r if r < n_bias else None

    P = R_rows * (I + U) + n_bias
    want = []

    def observe(t, D_in, D_c, c, z):
        P_s, P_y, P_g = np.zeros((P, B, n)), np.zeros((P, B, n)), np.zeros((P, B, 2 * nb))
        h_prime = 2 * sig(c["s"]) * (1 - sig(c["s"]))
        f_in, f_out = c["i"] * (1 - c["i"]), c["o"] * (1 - c["o"])
        for m in range(z.shape[1]):
            for cc in range(n):
                j = cc // S
                P_s[flat(j, m), :, cc] = D_in[:, cc, m]
                if flat(2 * nb + cc, m) is not None:
                    P_s[flat(2 * nb + cc, m), :, cc] = D_c[:, cc, m]
                P_y[flat(nb + j, m), :, cc] = c["hs"][:, cc] * f_out[:, j] * z[:, m]
            for j in range(nb):
                P_g[flat(j, m), :, j] = f_in[:, j] * z[:, m]                   # eq. 12
                P_g[flat(nb + j, m), :, nb + j] = f_out[:, j] * z[:, m]        # eq. 13
        P_y += c["O"] * h_prime * P_s
        want.append((P_y, P_s, P_g)[:len(state0)])
    rtrl_paper(cell.state_dict(), xs, state0, R, nb, S, observe)
    assert len(seen) == len(want) == T
    for t, (got, expected) in enumerate(zip(seen, want)):
        for name, a, b in zip(cell.state_names, got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14, err_msg=f"d{name}/dw, t={t}")


# ---- (e) scan and unroll, compiled ---------------------------------------------------------

@pytest.mark.parametrize("truncated", [True, False])
@pytest.mark.parametrize("S,arch", [(1, "api"), (2, "api"), (2, "exp1")])
def test_scan_equals_unroll_and_compiles(truncated, S, arch, rng, monkeypatch):
    """One compiled tr.function called three times: the first call runs the loops in Python
    (uncompiled), the next two compiled; every call equals the unrolled graph on the numpy
    backend, values and gradients."""
    monkeypatch.setattr(scan_runner, "COMPILE_AFTER", 2)
    T, B, I, nb = 6, 2, 3, 2
    cell = make(I, nb, S, truncated=truncated, **ARCHS[arch])
    params = list(cell.parameters().values())
    xs_ = tr.placeholder((T, B, I))
    R = tr.placeholder((T, B, nb * S))
    final, ys = tr.scan(lambda st, x: cell(x, st)[::-1], cell.initial_state(B), xs_)
    y_T, s_T = final[:2]
    loss = (ys * R).sum() + (s_T * s_T).sum()
    f = tr.function([xs_, R], [ys, *final, loss] + tr.grad(loss, params + [xs_]))

    def compiled():  # the scans of f's plan (forward, and BPTT's reverse-time one) as loops
        bodies = [s.node.attrs["body"] for s in f.plan.steps if s.node.op.name == "scan"]
        assert bodies
        return [any(k[0] == "compiled" and v is not None for k, v in b._functions.items())
                for b in bodies]
    ys_u, final_u = tr.unroll(cell, xs_)
    s_u = final_u[1]
    loss_u = (tr.stack(ys_u) * R).sum() + (s_u * s_u).sum()
    ref = tr.function([xs_, R], [tr.stack(ys_u), *final_u, loss_u]
                      + tr.grad(loss_u, params + [xs_]), "numpy")
    tiers = []
    for call in range(3):
        x, r = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, nb * S))
        got, want = f(x, r), ref(x, r)
        tiers.append(compiled())
        for j, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=f"call {call}, output {j}")
    assert not any(tiers[0]) and all(tiers[1]) and all(tiers[2]), tiers


# ---- (f) bad input ---------------------------------------------------------------------------

CELL = tr.nn.LSTM1997Cell(3, 2, 2, seed=0)  # y, s: (B, 4)
GCELL = tr.nn.LSTM1997Cell(3, 2, 3, recurrent_gates=True, seed=0)  # y, s (B, 6), gates (B, 4)
HERE = re.escape(__file__)

BAD = [
    ("x-width", lambda: CELL(np.ones((1, 5)), CELL.initial_state(1)), [r"\(batch, 3\)", r"\(1, 5\)"]),
    ("x-rank", lambda: CELL(np.ones(3), CELL.initial_state(1)), [r"\(batch, 3\)", r"\(3,\)"]),
    ("x-dtype", lambda: CELL(np.ones((1, 3), np.float32), CELL.initial_state(1)), [r"float64", r"float32"]),
    ("y-shape", lambda: CELL(np.ones((1, 3)), (np.zeros((1, 3)), np.zeros((1, 4)))),
     [r"state y", r"\(1, 4\)", r"\(1, 3\)"]),
    ("s-shape", lambda: CELL(np.ones((1, 3)), (np.zeros((1, 4)), np.zeros((2, 4)))),
     [r"state s", r"\(1, 4\)", r"\(2, 4\)"]),
    ("state-count", lambda: CELL(np.ones((1, 3)), (np.zeros((1, 4)),)), [r"2 tensors", r"\(y, s\)|y, s"]),
    ("state-bare", lambda: CELL(np.ones((1, 3)), np.zeros((1, 4))), [r"tuple", r"ndarray"]),
    ("blocks-0", lambda: tr.nn.LSTM1997Cell(3, 0), [r"blocks", r">= 1", r"\b0\b"]),
    ("blocks-negative", lambda: tr.nn.LSTM1997Cell(3, -2), [r"blocks", r"-2"]),
    ("blocks-float", lambda: tr.nn.LSTM1997Cell(3, 2.5), [r"blocks", r"2\.5"]),
    ("blocks-bool", lambda: tr.nn.LSTM1997Cell(3, True), [r"blocks", r"True"]),
    ("cells-0", lambda: tr.nn.LSTM1997Cell(3, 2, 0), [r"cells_per_block", r"\b0\b"]),
    ("input-size", lambda: tr.nn.LSTM1997Cell(-1, 2), [r"input_size", r"-1"]),
    ("truncated-str", lambda: tr.nn.LSTM1997Cell(3, 2, truncated="yes"),
     [r"truncated", r"True or False", r"yes"]),
    ("truncate-input-full", lambda: tr.nn.LSTM1997Cell(3, 2, truncated=False, truncate_input=True),
     [r"truncate_input", r"truncated=True"]),
    ("init-range", lambda: tr.nn.LSTM1997Cell(3, 2, init_range=-0.1), [r"init_range", r"-0\.1"]),
    ("ogb-length", lambda: tr.nn.LSTM1997Cell(3, 2, output_gate_bias=[-1, -2, -3]),
     [r"output_gate_bias", r"2 numbers", r"\[-1, -2, -3\]"]),
    ("igb-word", lambda: tr.nn.LSTM1997Cell(3, 2, input_gate_bias="low"), [r"input_gate_bias", r"low"]),
    ("ogb-without-bias", lambda: tr.nn.LSTM1997Cell(3, 2, bias=False, output_gate_bias=[-1, -2]),
     [r"output_gate_bias", r"bias=False"]),
    ("dtype-int", lambda: tr.nn.LSTM1997Cell(3, 2, dtype=np.int64), [r"dtype", r"int64"]),
    ("bias-word", lambda: tr.nn.LSTM1997Cell(3, 2, bias="cells"), [r"bias", r"'gates'", r"cells"]),
    ("recurrent-gates-int", lambda: tr.nn.LSTM1997Cell(3, 2, recurrent_gates=1),
     [r"recurrent_gates", r"\b1\b"]),
    ("gates-state-missing", lambda: GCELL(np.ones((1, 3)), (np.zeros((1, 6)), np.zeros((1, 6)))),
     [r"3 tensors", r"y, s, gates"]),
    ("gates-state-shape", lambda: GCELL(np.ones((1, 3)), (np.zeros((1, 6)),) * 3),
     [r"state gates", r"\(1, 4\)", r"\(1, 6\)"]),
]


@pytest.mark.parametrize("fn,patterns", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_input_is_a_clear_graph_error(fn, patterns):
    with pytest.raises(tr.GraphError) as info:
        fn()
    message = str(info.value)
    assert "LSTM1997Cell" in message, message
    text = re.sub(HERE + r":\d+", "<here>", message)
    for pattern in patterns:
        assert re.search(pattern, text), f"{pattern!r} not in:\n{message}"
    assert re.search(HERE + r":\d+", message), f"the message should cite this file's line:\n{message}"


def test_bad_input_in_unroll_bptt_and_rtrl_names_the_caller():
    for call, name in ((lambda: tr.unroll(CELL, np.ones((4, 1, 5))), "unroll"),
                       (lambda: tr.learn.bptt(CELL, np.ones((4, 1, 3)), (np.zeros((1, 3)),) * 2,
                                              lambda t, y: y.sum()), "bptt"),
                       (lambda: tr.learn.rtrl(CELL, np.ones((4, 1, 2)), None,
                                              lambda t, y: y.sum()), "rtrl")):
        with pytest.raises(tr.GraphError, match=name):
            call()


# ---- (g) the parameter layout ----------------------------------------------------------------

@pytest.mark.parametrize("I,nb,S", [(3, 2, 1), (2, 3, 2), (1, 1, 3)])
def test_parameter_shapes_and_row_order(I, nb, S):
    cell = tr.nn.LSTM1997Cell(I, nb, S, seed=0)
    n, R = nb * S, 2 * nb + nb * S
    assert list(cell.parameters()) == ["weight_ih", "weight_hh", "bias"]
    assert {k: v.shape for k, v in cell.state_dict().items()} == {
        "weight_ih": (R, I), "weight_hh": (R, n), "bias": (R,)}
    assert cell.state_names == ("y", "s") and cell.state_sizes == (n, n)
    assert cell.output_size == n and cell.hidden_size == n
    # rows: in_1..in_nb, out_1..out_nb, then the cell inputs block-major. Only biases, so
    # from zero state: s_c = sigma(b_in_j) g(b_c), y_c = sigma(b_out_j) h(s_c), c = j S + v
    b = np.linspace(-1.5, 1.7, R)
    cell.load_state_dict({"weight_ih": np.zeros((R, I)), "weight_hh": np.zeros((R, n)), "bias": b})
    y, (_, s) = cell(np.zeros((1, I)), cell.initial_state(1))
    j = np.arange(n) // S
    want_s = sig(b[j]) * (4 * sig(b[2 * nb:]) - 2)
    np.testing.assert_allclose(s.numpy()[0], want_s, rtol=1e-14)
    np.testing.assert_allclose(y.numpy()[0], sig(b[nb + j]) * (2 * sig(want_s) - 1), rtol=1e-14)
    # weight_ih row r reads x, weight_hh row r reads y_prev: one nonzero weight, one net moves
    for which, width in (("weight_ih", I), ("weight_hh", n)):
        for r in (0, nb, 2 * nb, R - 1):
            W = np.zeros((R, width))
            W[r, width - 1] = 1.0
            d = {"weight_ih": np.zeros((R, I)), "weight_hh": np.zeros((R, n)), "bias": b}
            d[which] = W
            cell.load_state_dict(d)
            v = np.zeros((1, width))
            v[0, -1] = 0.7
            x, yp = (v, np.zeros((1, n))) if which == "weight_ih" else (np.zeros((1, I)), v)
            _, (_, s2) = cell(x, (yp, np.zeros((1, n))))
            y2, _ = cell(x, (yp, np.zeros((1, n))))
            bb = b.copy()
            bb[r] += 0.7
            ws = sig(bb[j]) * (4 * sig(bb[2 * nb:]) - 2)
            np.testing.assert_allclose(s2.numpy()[0], ws, rtol=1e-14, err_msg=f"{which} row {r}")
            np.testing.assert_allclose(y2.numpy()[0], sig(bb[nb + j]) * (2 * sig(ws) - 1),
                                       rtol=1e-14, err_msg=f"{which} row {r}")


def test_initialisation_options_of_the_papers_experiments():
    # defaults: weights in [-0.1, 0.1], output-gate biases -1, -2, ..., input gates random
    cell = tr.nn.LSTM1997Cell(7, 4, seed=1)
    p = cell.state_dict()
    np.testing.assert_array_equal(p["bias"][4:8], [-1.0, -2.0, -3.0, -4.0])
    others = np.concatenate([p["weight_ih"].ravel(), p["weight_hh"].ravel(), p["bias"][:4],
                             p["bias"][8:]])
    assert np.all(np.abs(others) <= 0.1) and np.max(np.abs(others)) > 0.05
    # Experiment 1 (3 blocks of 2 cells, 7 inputs): [-0.2, 0.2], output gates -1, -2, -3
    # (its weight count: test_the_papers_weight_counts_with_recurrent_gates)
    cell = tr.nn.LSTM1997Cell(7, 3, 2, init_range=0.2, seed=2)
    p = cell.state_dict()
    np.testing.assert_array_equal(p["bias"][3:6], [-1.0, -2.0, -3.0])
    assert np.max(np.abs(p["weight_hh"])) <= 0.2 and np.max(np.abs(p["weight_hh"])) > 0.1
    # Experiment 3a: 3 blocks of 1, input gates -1, -3, -5, output gates -2, -4, -6
    cell = tr.nn.LSTM1997Cell(1, 3, input_gate_bias=[-1, -3, -5], output_gate_bias=(-2, -4, -6))
    np.testing.assert_array_equal(cell.state_dict()["bias"][:6], [-1, -3, -5, -2, -4, -6])
    # Experiment 4: all random in [-0.1, 0.1] but input gates -3, -6
    p = tr.nn.LSTM1997Cell(2, 2, 2, output_gate_bias=None, input_gate_bias=[-3.0, -6.0],
                           seed=3).state_dict()
    np.testing.assert_array_equal(p["bias"][:2], [-3.0, -6.0])
    assert np.all(np.abs(p["bias"][2:]) <= 0.1)
    # a number sets every block; bias=False (Experiment 2c) has no bias parameter
    np.testing.assert_array_equal(
        tr.nn.LSTM1997Cell(2, 3, output_gate_bias=-2.0).state_dict()["bias"][3:6], [-2.0] * 3)
    for kw in ({}, dict(output_gate_bias=None)):
        cell = tr.nn.LSTM1997Cell(2, 2, bias=False, **kw)
        assert list(cell.parameters()) == ["weight_ih", "weight_hh"]
    # the same seed, the same cell; float32 cells hold float32 parameters
    a, b = tr.nn.LSTM1997Cell(3, 2, seed=9), tr.nn.LSTM1997Cell(3, 2, seed=9)
    for k in a.parameters():
        np.testing.assert_array_equal(a.state_dict()[k], b.state_dict()[k])
    assert tr.nn.LSTM1997Cell(3, 2, dtype=np.float32).state_dict()["weight_ih"].dtype == np.float32


@pytest.mark.parametrize("task,I,nb,S,K,bias,out_bias,weights", [
    ("1, 4 blocks of 1", 7, 4, 1, 7, "gates", False, 264),
    ("1, 3 blocks of 2", 7, 3, 2, 7, "gates", False, 276),
    ("2c, q = p = 50", 54, 2, 1, 2, False, False, 364),
    ("2c, q = p = 1000", 1004, 2, 1, 2, False, False, 6064),
    ("3a", 1, 3, 1, 1, True, False, 102),
    ("4 and 5", 2, 2, 2, 1, True, True, 93),
    ("6a", 8, 2, 2, 4, True, True, 156),
    ("6b", 8, 3, 2, 8, True, True, 308)])
def test_the_papers_weight_counts_with_recurrent_gates(task, I, nb, S, K, bias, out_bias, weights):
    """Table 10's column w: the cell with recurrent_gates=True and the experiment's biases,
    plus an output layer fed by the memory cells only, has exactly the paper's weights."""
    cell = tr.nn.LSTM1997Cell(I, nb, S, recurrent_gates=True, bias=bias)
    out = tr.nn.Linear(nb * S, K, bias=out_bias)
    count = sum(p.size for m in (cell, out) for p in m.parameters().values())
    assert count == weights, task


def test_recurrent_gates_layout():
    cell = tr.nn.LSTM1997Cell(3, 2, 2, recurrent_gates=True, bias="gates", seed=0)
    assert cell.state_names == ("y", "s", "gates") and cell.state_sizes == (4, 4, 4)
    assert {k: v.shape for k, v in cell.state_dict().items()} == {
        "weight_ih": (8, 3), "weight_hh": (8, 8), "bias": (4,)}
    np.testing.assert_array_equal(cell.state_dict()["bias"][2:], [-1.0, -2.0])
    # the gates' state is [in_1, in_2, out_1, out_2]; only biases: sigma(b)
    b = np.array([0.3, -0.4, 1.1, -2.0])
    cell.load_state_dict({"weight_ih": np.zeros((8, 3)), "weight_hh": np.zeros((8, 8)), "bias": b})
    _, (_, s, gates) = cell(np.zeros((1, 3)), cell.initial_state(1))
    np.testing.assert_allclose(gates.numpy()[0], sig(b), rtol=1e-15)
    np.testing.assert_array_equal(s.numpy(), 0.0)  # no cell-input bias: g(0) = 0
    assert "gates recurrent" in cell.title
    # weight_hh's columns read y, then the input gates, then the output gates
    W = np.zeros((8, 8))
    W[4, 6] = 2.0   # cell input 0 reads out_1(t-1)
    cell.load_state_dict({"weight_ih": np.zeros((8, 3)), "weight_hh": W, "bias": b})
    prev = (np.zeros((1, 4)), np.zeros((1, 4)), np.array([[0.0, 0.0, 0.7, 0.0]]))
    _, (_, s, _) = cell(np.zeros((1, 3)), prev)
    np.testing.assert_allclose(s.numpy()[0], [sig(0.3) * (4 * sig(1.4) - 2), 0, 0, 0], rtol=1e-14)


def test_title():
    assert tr.nn.LSTM1997Cell(2, 3, 2).title == "LSTM1997Cell (3 blocks × 2 cells, truncated gradient)"
    assert tr.nn.LSTM1997Cell(2, 1, truncated=False).title == \
        "LSTM1997Cell (1 block × 1 cell, full gradient)"


# ---- pictures and traces -----------------------------------------------------------------------

NAMES = ["input gate in", "output gate out", "cell input g(net_c)", "cell state s", "h(s)"]


@pytest.mark.parametrize("truncated", [True, False])
@pytest.mark.parametrize("arch", ["api", "exp1"])
def test_pictures_label_the_boxes_and_show_the_cut(truncated, arch):
    """Folded and unrolled pictures draw one box per gate under the names above (the cell
    output "y = out h(s)" is the state y itself, drawn as y(t)) and, truncated, the box of
    the stop-gradient on y(t-1); the error-flow data has, between neighbouring steps, the
    edge s(t+1) -> s(t) only (the carousel), the full gradient also s(t+1) -> y(t) and
    y(t+1) -> y(t) (and, with recurrent gates, edges into and out of the gates' state)."""
    cell = tr.nn.LSTM1997Cell(2, 2, 2, truncated=truncated, seed=0, **ARCHS[arch])
    for dot in (tr.viz.draw_folded(cell), tr.viz.draw_unrolled(cell, 3)):
        for name in NAMES:
            assert f"<B>{name}</B>" in dot.source, name
        assert ("<B>y(t)</B>" in dot.source) or ("<B>y(3)</B>" in dot.source)
        assert ("stop ∇" in dot.source) == truncated
    assert "δs(3)" in tr.viz.draw_bptt(cell, 3).source
    xs = np.random.default_rng(0).standard_normal((6, 1, 2))

    def last(t, y):
        return (y * y).sum() if t == 5 else None
    flow = tr.learn.error_flow_data(cell, xs, last)
    assert "LSTM1997Cell" in tr.viz.draw_error_flow(cell, xs, last).source
    between = {(src[2], dst[2]) for src, dst, norm in flow.edges
               if src[0] == dst[0] == "state" and src[1] == dst[1] + 1 and norm > 0}
    y, s, gates = 0, 1, 2
    if truncated:
        assert between == {(s, s)}
    elif arch == "api":
        assert between == {(s, s), (s, y), (y, y)}
    else:
        assert {(s, s), (s, y), (y, y), (s, gates), (y, gates), (gates, gates)} <= between
    norms = flow.norms()
    if truncated:  # only the last step's y receives error; the carousel keeps s's
        assert np.all(norms["y"][:-1] == 0) and np.all(norms["s"] > 0)


@pytest.mark.parametrize("truncated", [True, False])
def test_bptt_trace_names_every_quantity_and_matches_bptt(truncated):
    cell = tr.nn.LSTM1997Cell(2, 2, truncated=truncated, seed=0)
    xs = np.random.default_rng(0).standard_normal((3, 1, 2))
    trace = tr.teach.bptt_trace(cell, xs, None, lambda t, y: (y * y).sum())
    text = str(trace)
    for name in NAMES + ["cell output y = out h(s)", "pre-activations W x + U y(t-1) + b"]:
        assert f"{name} = " in text, name
    assert ("stop ∇" in text) == truncated
    _, want = tr.learn.bptt(cell, xs, None, lambda t, y: (y * y).sum())
    for k in want:
        np.testing.assert_allclose(trace.grads[k], want[k], rtol=1e-12, atol=1e-15)
