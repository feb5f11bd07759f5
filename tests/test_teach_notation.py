"""The traces in the seeds' notation (issue 15, item 5): Williams & Zipser's d_k(t), e_k(t),
J(t), eps = dJ/dy and delta = dJ/ds beside their recursions, which the printed numbers
satisfy; quantities in the order computed with gate blocks and the columns of x(t)
labelled; the cost of each algorithm counted on the traced net; Goodfellow's output layer
against tr.grad; and the command line's loss with targets and its --cell for every teach
subcommand."""
import re

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.cli import CELLS, main, teach_problem
from tinygrad_rnn.teach.text import matrix

T, N, M = 5, 3, 2   # steps, units, external input lines of the Williams-Zipser net


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((T, 1, M))
    d = rng.uniform(0, 1, (T, 1, N))
    mask = np.ones(d.shape, bool)
    mask[0] = False          # T(1) empty
    mask[2, 0, 1] = False    # unit 1 has no target at seed time 3
    return xs, d, mask


def _numpy_net(W, xs):
    """y(1..T) and x(0..T-1) of the W&Z net, transcribed from seed 000."""
    y, ys, xv = np.zeros(N), [], []
    for t in range(len(xs)):
        x = np.concatenate([xs[t, 0], [1.0], y])
        y = 1 / (1 + np.exp(-(W @ x)))
        xv.append(x)
        ys.append(y)
    return np.array(ys), np.array(xv)


def _numpy_loss(W, xs, d, mask):
    ys, _ = _numpy_net(W, xs)
    return 0.5 * float(np.sum(mask[:, 0] * (d[:, 0] - ys) ** 2))


def _printed(text, label):
    """The numbers printed after ``  label = `` (one row)."""
    for line in text.split("\n"):
        if line.startswith(f"  {label} = "):
            body = line[len(f"  {label} = "):].split("   (")[0]
            return np.array([float(v) for v in body.strip("[] ").split()])
    raise AssertionError(f"no line {label!r} in the trace")


def _printed_table(text, label):
    """The numbers of the table printed under ``  label:`` (its rows, labels dropped)."""
    lines = text.split("\n")
    start = lines.index(f"  {label}:") + 2          # skip the column labels
    rows = []
    for line in lines[start:]:
        if not line.startswith("      "):
            break
        rows.append([float(v) for v in line.split()[-(len(line.split()) - 2):]])
    return np.array(rows)


@pytest.fixture(scope="module")
def wz():
    net = tr.nn.WilliamsZipserNet(N, M, seed=4)
    xs, d, mask = _problem()
    loss_fn = tr.teach.target_loss(d, mask)
    return (net, xs, d, mask, tr.teach.bptt_trace(net, xs, None, loss_fn),
            tr.teach.rtrl_trace(net, xs, None, loss_fn))


# -- Williams & Zipser: d, e, J, eps, delta ---------------------------------------------------

def test_wz_bptt_trace_holds_d_e_J_eps_delta_and_the_recursions_hold(wz):
    net, xs, d, mask, trace, _ = wz
    W = net.W.numpy()
    U = list(net.U)
    ys, xv = _numpy_net(W, xs)
    w = trace.wz
    for t in range(T):
        np.testing.assert_allclose(trace.forward[t]["y"][0], ys[t], rtol=1e-12)
        np.testing.assert_allclose(w["x"][t][0], xv[t], rtol=1e-12)
        if t == 0:   # no target at seed time 1: no loss, e = 0, J = 0
            assert trace.losses[0] is None and trace.targets[0] is None
            assert not w["e"][0].any() and w["J"][0] is None
            continue
        e = mask[t] * (d[t] - ys[t])
        np.testing.assert_array_equal(trace.targets[t], d[t])
        np.testing.assert_allclose(trace.errors[t], e, atol=1e-15)   # e = d - y where T(t)
        np.testing.assert_allclose(w["J"][t], -0.5 * np.sum(e ** 2), rtol=1e-12)
        assert w["J"][t] == pytest.approx(-trace.losses[t], rel=1e-12)   # L = -J
    for t in range(T):
        eps, delta = w["epsilon"][t][0], w["delta"][t][0]
        later = w["delta"][t + 1][0] @ W[:, U] if t + 1 < T else np.zeros(N)
        # eps_k(t+1) = e_k(t+1) + sum_l w_lk delta_l(t+1);  delta_k(t) = f'(s_k(t)) eps_k(t+1)
        np.testing.assert_allclose(eps, w["e"][t][0] + later, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(delta, ys[t] * (1 - ys[t]) * eps, rtol=1e-10, atol=1e-15)
        # eps = dJ/dy = -dL/dy (the total derivative BPTT computes at the state)
        np.testing.assert_allclose(eps, -trace.deltas[t]["y"][0], rtol=1e-12, atol=1e-15)
        # dJ/dw_ij from step t = delta_i(t) x_j(t)
        np.testing.assert_allclose(np.outer(delta, xv[t]), -trace.contributions[t]["W"],
                                   rtol=1e-10, atol=1e-15)
    # dL/dW = -sum_t delta(t) x(t)^T, against finite differences of the NumPy transcription
    fd, h = np.zeros_like(W), 1e-6
    for idx in np.ndindex(*W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        fd[idx] = (_numpy_loss(Wp, xs, d, mask) - _numpy_loss(Wm, xs, d, mask)) / (2 * h)
    np.testing.assert_allclose(trace.grads["W"], fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(-sum(np.outer(w["delta"][t][0], xv[t]) for t in range(T)),
                               trace.grads["W"], rtol=1e-10, atol=1e-15)
    assert trace.loss == pytest.approx(_numpy_loss(W, xs, d, mask), rel=1e-12)


def test_wz_bptt_text_writes_the_recursions_beside_numbers_that_satisfy_them(wz):
    net, *_, trace, _ = wz
    text = str(trace)
    assert "dL/ds" not in text and "delta_t" not in text   # the old mislabel is gone
    for formula in ("ε_k(t) = ∂J/∂y_k(t), δ_k(t) = ∂J/∂s_k(t)",
                    "ε_k(t+1) = e_k(t+1) + Σ_l w_lk δ_l(t+1)",
                    "δ_k(t) = f'(s_k(t)) ε_k(t+1)", "∂J/∂w_ij = Σ_t δ_i(t) x_j(t)",
                    "J(t) = -1/2 Σ_k e_k(t)^2", "the loss is L = -J"):
        assert formula in text, formula
    W = net.W.numpy()
    later = np.zeros(N)
    for t in reversed(range(T)):   # the printed numbers (4 decimals) satisfy the recursions
        a, b = t + 1, t + 2
        e = _printed(text, f"e({a})")
        from_next = _printed(text, f"Σ_l w_lk δ_l({b})")
        eps = _printed(text, f"ε({a}) = e({a}) + Σ_l w_lk δ_l({b})")
        fprime = _printed(text, f"f'(s({t})) = y({a}) (1 - y({a}))")
        delta = _printed(text, f"δ({t}) = f'(s({t})) ε({a})")
        np.testing.assert_allclose(from_next, later, atol=2e-4)
        np.testing.assert_allclose(eps, e + from_next, atol=2e-4)
        np.testing.assert_allclose(delta, fprime * eps, atol=2e-4)
        later = delta @ W[:, list(net.U)]
        # and they are the trace's numbers
        np.testing.assert_allclose(eps, trace.wz["epsilon"][t][0], atol=6e-5)
        np.testing.assert_allclose(delta, trace.wz["delta"][t][0], atol=6e-5)
    # the targets' lines: no target at seed time 1, a partial target set at time 3
    assert "no target for y(1): T(1) is empty, e(1) = 0, J(1) = 0" in text
    assert "target d(3) = [" in text and "nan" in text.split("target d(3) = ")[1].split("\n")[0]
    assert f"J(5) = -1/2 Σ_k e_k(5)^2 = {trace.wz['J'][4]:.6g}" in text
    np.testing.assert_allclose(_printed_table(text, "∂L/∂W = -∂J/∂W"), trace.grads["W"],
                               atol=6e-5)


def test_wz_rtrl_trace_shows_d_e_J_and_the_gradient_so_far_shaped_like_W(wz):
    net, xs, d, mask, bptt, trace = wz
    W = net.W.numpy()
    ys, _ = _numpy_net(W, xs)
    text = str(trace)
    assert "∂J(t)/∂w_ij = Σ_k e_k(t) p^k_ij(t)" in text and "J(t) = -1/2 Σ_k e_k(t)^2" in text
    running = np.zeros_like(W)
    for t in range(T):
        step = trace.steps[t]
        running = running - (trace.changes[t]["W"] / trace.lr)
        assert trace.so_far[t]["W"].shape == W.shape
        np.testing.assert_allclose(trace.so_far[t]["W"], running, rtol=1e-10, atol=1e-15)
        np.testing.assert_array_equal(trace.so_far[t]["W"].ravel(), step["gradient"])
        printed = _printed_table(text, f"gradient so far ∂L/∂W (steps 0..{t})")
        assert printed.shape == W.shape       # a matrix shaped like W, not a flat vector
        np.testing.assert_allclose(printed, trace.so_far[t]["W"], atol=6e-5)
        if t == 0:
            assert trace.errors[0] is None
            continue
        e = mask[t] * (d[t] - ys[t])
        np.testing.assert_allclose(trace.errors[t], e, atol=1e-15)
        np.testing.assert_allclose(bptt.errors[t], e, atol=1e-15)
        assert f"J({t + 1}) = -1/2 Σ_k e_k({t + 1})^2 = {-step['loss']:.6g}" in text
        # dJ(t+1)/dw_ij = sum_k e_k(t+1) p^k_ij(t+1): the weight change of real-time learning
        dj = np.einsum("k,kij->ij", e[0], trace.p[t][0])
        np.testing.assert_allclose(trace.changes[t]["W"], trace.lr * dj, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(_printed_table(text, f"∂J({t + 1})/∂W = Σ_k e_k({t + 1}) "
                                                  f"p^k_ij({t + 1})"), dj, atol=6e-5)
    labels = "x_net0  x_net1       1      y0      y1      y2"
    assert re.search(r"x_net0\s+x_net1\s+1\s+y0\s+y1\s+y2", text), labels


# -- order and labels -------------------------------------------------------------------------

def _lines_in_order(text, labels):
    where = []
    for label in labels:
        found = [i for i, line in enumerate(text.split("\n")) if line.startswith(f"  {label} = ")]
        assert found, label
        where.append(found[0])
    return where == sorted(where)


XS = np.random.default_rng(3).standard_normal((3, 1, 2))


def _loss(t, y):
    return (y * y).sum() * (t + 1)


def test_lstm_quantities_in_the_order_computed_and_its_gates_labelled():
    trace = tr.teach.bptt_trace(tr.nn.LSTMCell(2, 2, seed=0), XS, None, _loss)
    order = ["x", "pre-activations W x + U h + b", "input gate i", "forget gate f",
             "candidate g", "output gate o", "cell state c", "tanh(c)", "hidden h = o * tanh(c)",
             "h", "c", "y"]
    assert list(trace.forward[1]) == order
    assert list(trace.forward[0]) == [k for k in order if k != "forget gate f"]
    assert trace.groups["pre-activations W x + U h + b"] == (("i", 2), ("f", 2), ("g", 2),
                                                            ("o", 2))
    text = str(trace).split("-- step t=1")[1]
    assert _lines_in_order(text, ["x(1)", "pre-activations W x + U h + b", "input gate i",
                                  "forget gate f", "candidate g", "output gate o", "cell state c",
                                  "tanh(c)", "hidden h = o * tanh(c)", "h(1)", "c(1)", "y(1)"])
    pre = trace.forward[1]["pre-activations W x + U h + b"][0]
    line = f"  pre-activations W x + U h + b = i: {matrix(pre[0:2])} | f: {matrix(pre[2:4])} " \
           f"| g: {matrix(pre[4:6])} | o: {matrix(pre[6:8])}"
    assert line in text.split("\n")
    # the gate blocks are the gates' pre-activations: i = sigmoid(block i), g = tanh(block g)
    np.testing.assert_allclose(trace.forward[1]["input gate i"][0], 1 / (1 + np.exp(-pre[0:2])))
    np.testing.assert_allclose(trace.forward[1]["candidate g"][0], np.tanh(pre[4:6]))
    np.testing.assert_allclose(trace.forward[1]["output gate o"][0], 1 / (1 + np.exp(-pre[6:8])))
    # the weights' rows are the gates too
    assert "      i0" in str(trace) and "      o1" in str(trace)


def test_peephole_output_gate_comes_after_the_cell_state_it_reads():
    trace = tr.teach.bptt_trace(tr.nn.LSTMCell(2, 2, peephole=True, seed=0), XS, None, _loss)
    keys = list(trace.forward[1])
    assert keys.index("cell state c") < keys.index("output gate o") < keys.index("tanh(c)")
    assert keys.index("candidate g") < keys.index("cell state c")


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_shows_both_pre_activations_labelled_r_z_n(reset_after):
    cell = tr.nn.GRUCell(2, 2, reset_after=reset_after, seed=0)
    trace = tr.teach.bptt_trace(cell, XS, None, _loss)
    wx, uh = "pre-activations W x + b_ih", "pre-activations U h + b_hh"
    assert list(trace.forward[1]) == ["x", wx, uh, "reset gate r", "update gate z",
                                      "candidate n", "hidden h = (1 - z) n + z h", "h", "y"]
    p = {k: v.numpy() for k, v in cell.parameters().items()}
    h0 = trace.forward[0]["h"]
    np.testing.assert_allclose(trace.forward[1][wx], XS[1] @ p["weight_ih"].T + p["bias_ih"],
                               rtol=1e-12)
    rows = 6 if reset_after else 4   # Cho's form: U_n multiplies r * h, not h
    np.testing.assert_allclose(trace.forward[1][uh],
                               h0 @ p["weight_hh"][:rows].T + p["bias_hh"][:rows], rtol=1e-12)
    assert trace.groups[wx] == (("r", 2), ("z", 2), ("n", 2))
    assert trace.groups[uh] == ((("r", 2), ("z", 2), ("n", 2)) if reset_after
                                else (("r", 2), ("z", 2)))
    text = str(trace)
    for label in (wx, uh):
        line = next(x for x in text.split("\n") if x.startswith(f"  {label} = "))
        assert re.match(rf"  {re.escape(label)} = r: \[.*\] \| z: \[.*\]", line), line
        assert (" | n: [" in line) is (label == wx or reset_after)


def test_lstm1997_and_scrn_blocks():
    trace = tr.teach.bptt_trace(tr.nn.LSTM1997Cell(2, 2, seed=0), XS, None, _loss)
    keys = list(trace.forward[1])
    assert keys[:2] == ["x", "truncation: stop ∇ into y(t-1)"]
    assert keys[2:9] == ["pre-activations W x + U y(t-1) + b", "input gate in", "output gate out",
                         "cell input g(net_c)", "cell state s", "h(s)", "cell output y = out h(s)"]
    assert trace.groups["pre-activations W x + U y(t-1) + b"] == (("in", 2), ("out", 2), ("g", 2))
    scrn = tr.teach.bptt_trace(tr.nn.SCRNCell(2, 2, context_size=1, seed=0), XS, None, _loss)
    assert scrn.groups["output [h, s]"] == (("h", 2), ("s", 1))


def test_wz_columns_of_x_are_labelled_I_bias_U(wz):
    net, xs, *_, trace, rtrl = wz
    key = "x(t) = [x_net(t) | 1 | y(t)]"
    assert list(trace.forward[1])[:4] == ["x", key, "net input s(t) = W x(t)",
                                          "output y(t+1) = f(s(t))"]
    assert trace.groups[key] == (("x_net", 2), ("bias", 1), ("y", 3))
    for text in (str(trace), str(rtrl)):
        assert "I = (0, 1, 2) (input lines, the always-1 bias line last), U = (3, 4, 5)" in text
    x1 = trace.forward[1][key][0]
    assert f"  x(1) = [x_net(1) | 1 | y(1)] = x_net: {matrix(x1[:2])} | bias: [1.] | " \
           f"y: {matrix(x1[3:])}" in str(trace).split("\n")
    np.testing.assert_allclose(x1[3:], trace.forward[0]["y"][0])   # y(1) made by step 0


# -- costs -----------------------------------------------------------------------------------

def test_costs_are_counted_on_the_traced_net(wz):
    net, *_, bptt, rtrl = wz
    n, w = N, net.W.size                                    # 3 units, 3 x 6 = 18 weights
    assert rtrl.cost == {"n": n, "weights": w, "sensitivities": n * w, "time_per_step": n * n * w}
    carried = sum(s.shape[0] * s.shape[2] for s in rtrl.steps[0]["sensitivities"])
    assert carried == rtrl.cost["sensitivities"]            # what tr.learn.rtrl carries
    text = str(rtrl)
    assert f"n x |W| = {n} units x {w} weights = {n * w} sensitivities carried" in text
    assert f"n x n x |W| = {n} x {n} x {w} = {n * n * w} multiply-adds" in text
    assert "O(n^4)" in text
    assert bptt.cost["stored_states"] == T * n and bptt.cost["weights"] == w
    text = str(bptt)
    assert f"T x n = {T} steps x {n} units = {T * n} activations stored" in text
    assert "O(n^2) per step" in text
    # an LSTM: n counts h and c, |W| every parameter
    cell = tr.nn.LSTMCell(2, 3, seed=0)
    trace = tr.teach.rtrl_trace(cell, XS, None, _loss)
    weights = sum(p.size for p in cell.parameters().values())
    assert trace.cost["sensitivities"] == 6 * weights
    assert f"6 state numbers (h: 3, c: 3) x {weights} weights = {6 * weights} sensitivities" \
        in str(trace)
    b = tr.teach.bptt_trace(cell, XS, None, _loss)
    assert "T x n = 3 steps x 6 state numbers (h: 3, c: 3) = 18 activations" in str(b)


# -- Goodfellow's output layer ----------------------------------------------------------------

def test_output_layer_trace_against_tr_grad():
    rng = np.random.default_rng(5)
    Tn, n, K = 4, 3, 5
    h, V, c = rng.standard_normal((Tn, n)), rng.standard_normal((K, n)), rng.standard_normal(K)
    y = rng.integers(K, size=Tn)
    trace = tr.teach.output_layer_trace(h, V, c, y)
    o = h @ V.T + c
    y_hat = np.exp(o) / np.exp(o).sum(1, keepdims=True)
    np.testing.assert_allclose(trace.o, o, rtol=1e-12)
    np.testing.assert_allclose(trace.y_hat, y_hat, rtol=1e-12)
    np.testing.assert_allclose(trace.losses, -np.log(y_hat[np.arange(Tn), y]), rtol=1e-12)
    np.testing.assert_allclose(trace.grad_o, y_hat - np.eye(K)[y], rtol=1e-12)  # ŷ - 1_y
    # against reverse-mode autodiff of the library's own cross-entropy (a mean over the rows)
    Vp, cp, hp = tr.parameter(V, name="V"), tr.parameter(c, name="c"), tr.parameter(h, name="h")
    loss = tr.cross_entropy(hp @ Vp.T + cp, y) * Tn
    gV, gc, gh = (g.numpy() for g in tr.grad(loss, [Vp, cp, hp]))
    assert trace.loss == pytest.approx(float(loss.numpy()), rel=1e-12)
    np.testing.assert_allclose(trace.grad_V, gV, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(trace.grad_c, gc, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(trace.grad_h, gh, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(trace.grad_V_steps.sum(0), gV, rtol=1e-10, atol=1e-14)
    assert trace.max_difference < 1e-12
    # one step, one class
    one = tr.teach.output_layer_trace(h[2], V, c, int(y[2]))
    np.testing.assert_allclose(one.grad_V, np.outer(trace.grad_o[2], h[2]), rtol=1e-12)
    text = str(trace)
    for formula in ("o(t) = c + V h(t)", "ŷ(t) = softmax(o(t))", "∇_o(t) L = ŷ(t) - 1_y(t)",
                    "∇_V L = Σ_t ∇_o(t) L h(t)^T", "∇_c L = Σ_t ∇_o(t) L"):
        assert formula in text
    np.testing.assert_allclose(_printed(text, "∇_o(1) L = ŷ(1) - 1_y(1)"), trace.grad_o[1],
                               atol=6e-5)
    with pytest.raises(tr.GraphError, match="class index"):
        tr.teach.output_layer_trace(h, V, c, [0, 1, 2, K])
    with pytest.raises(tr.GraphError, match="V \\(K, n\\)"):
        tr.teach.output_layer_trace(h, V.T, c, y)


def test_output_layer_feeds_bptt():
    """With the output layer as the loss, BPTT's ∂L_t/∂h(t) is V^T (ŷ(t) - 1_y(t))."""
    p = teach_problem("rnn", units=3, steps=3, seed=2, output="softmax", classes=4)
    trace = tr.teach.bptt_trace(p["cell"], p["xs"], None, p["loss_fn"])
    ys = np.stack([f["y"] for f in trace.forward])
    out = tr.teach.output_layer_trace(ys, p["V"], p["c"], p["classes"])
    np.testing.assert_allclose(out.losses, trace.losses, rtol=1e-12)
    for t in range(3):
        np.testing.assert_allclose(-trace.errors[t][0], out.grad_h[t], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(trace.deltas[2]["h"][0], out.grad_h[2], rtol=1e-10, atol=1e-14)


# -- the command line ------------------------------------------------------------------------

def _run(capsys, argv):
    assert main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("what", ["bptt", "rtrl"])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_teach_honours_every_cell(capsys, what, name):
    out = _run(capsys, ["teach", what, "--cell", name, "--units", "2", "--steps", "2"])
    p = teach_problem(name, 2, 2, 0)
    trace = (tr.teach.bptt_trace if what == "bptt" else tr.teach.rtrl_trace)(
        p["cell"], p["xs"], None, p["loss_fn"])
    assert out == f"{trace}\n"   # the cell asked for, and nothing printed besides its trace
    assert out.startswith(f"{what.upper()} through 2 steps of {p['cell'].title}")
    assert "target d(" in out and "error e(" in out   # the loss has targets


def test_teach_rtrl_says_which_form_it_shows(capsys):
    out = _run(capsys, ["teach", "rtrl", "--cell", "lstm", "--steps", "2"])
    assert out.startswith("RTRL through") and "try --cell" not in out
    assert "P(t) = ∂state(t)/∂θ" in out and "W&Z's p^k_ij(t)" in out
    out = _run(capsys, ["teach", "rtrl", "--cell", "wz", "--steps", "2"])
    assert "p^k_ij(t+1) = f'(s_k(t))" in out and "p^0_ij(2)" in out


def test_teach_loss_is_stated_with_targets(capsys):
    out = _run(capsys, ["teach", "bptt", "--cell", "lstm", "--units", "2", "--steps", "3"])
    p = teach_problem("lstm", 2, 3, 0)
    d = p["loss_fn"].targets[2, 0]
    assert f"  target d(2) = {matrix(d)}" in out.split("\n")
    assert "error e(2) = d(2) - y(2)" in out and "L_2 = 1/2 Σ_k e_k(2)^2" in out
    assert "no target for y(0)" in out and "no target for y(1)" in out
    out = _run(capsys, ["teach", "rtrl", "--cell", "wz", "--units", "2", "--steps", "3"])
    assert "J(3) = -1/2 Σ_k e_k(3)^2" in out and "error e(3) = d(3) - y(3)" in out
    assert "T(1) is empty" in out


def test_teach_output_softmax(capsys):
    for what in ("bptt", "rtrl"):
        argv = ["teach", what, "--cell", "gru", "--steps", "3", "--output", "softmax",
                "--classes", "4", "--seed", "1"]
        out = _run(capsys, argv)
        p = teach_problem("gru", 2, 3, 1, output="softmax", classes=4)
        trace = (tr.teach.bptt_trace if what == "bptt" else tr.teach.rtrl_trace)(
            p["cell"], p["xs"], None, p["loss_fn"])
        ys = (np.stack([f["y"] for f in trace.forward]) if what == "bptt"
              else np.stack([s["y"] for s in trace.steps]))
        layer = tr.teach.output_layer_trace(ys, p["V"], p["c"], p["classes"])
        assert out == f"{trace}\n\n{layer}\n"
        assert "V (4 classes x 2 hidden units)" in out and layer.max_difference < 1e-12


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: tinygrad-rnn teach ")
    return err


def test_teach_refuses_an_output_layer_it_cannot_use(capsys):
    err = _usage_error(capsys, ["teach", "error-flow", "--output", "softmax"])
    assert "argument --output: error-flow" in err and "got --output softmax" in err
    err = _usage_error(capsys, ["teach", "bptt", "--classes", "4"])
    assert "argument --classes:" in err and "needs --output softmax" in err
    err = _usage_error(capsys, ["teach", "bptt", "--output", "softmax", "--classes", "1"])
    assert "argument --classes:" in err
