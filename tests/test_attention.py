"""Attention in the encoder-decoder: ``tr.nn.Seq2Seq(..., attention="additive" | "dot")`` and
the heat map ``tr.viz.draw_attention``.

What is checked: predictions and weights against a NumPy transcription of Bahdanau's additive
and Luong's dot attention (teacher forcing and free running); the weights sum to 1 over the
source; the gradient (every parameter, the inputs) against finite differences in float64;
numba and numpy backends agree; one compiled ``tr.function`` called three times (the
encoder's loop uncompiled, then compiled) gives the reference's values each time;
scheduled sampling still gives exact teacher forcing / free running; the heat map has one
cell per (target, source) pair, shaded monotonically in the weight, with its labels; bad
arguments give clear errors.
"""
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.runtime import scan_runner

T_IN, T_OUT, B, I, O, H = 5, 4, 3, 3, 4, 6


def make(kind, seed=0, cell=tr.nn.RNNCell):
    """An encoder-decoder with attention ``kind`` (RNNCell (tanh) cells unless told)."""
    enc = cell(I, H, seed=seed)
    dec = cell(O + (H if kind == "additive" else 0), H, seed=seed + 1)
    return tr.nn.Seq2Seq(enc, dec, tr.nn.Linear(H, O, seed=seed + 2), attention=kind,
                         seed=seed + 3)


def data(rng, t_in=T_IN, t_out=T_OUT):
    xs = rng.standard_normal((t_in, B, I))
    d_in = np.eye(O)[rng.integers(0, O, (t_out, B))]
    return xs, d_in


# ---- a NumPy transcription of the papers' equations ----------------------------------------

def softmax(e):
    e = np.exp(e - e.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def rnn(P, prefix, x, h):
    """Elman tanh step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return np.tanh(x @ P[prefix + "weight_ih"].T + P[prefix + "bias_ih"]
                   + h @ P[prefix + "weight_hh"].T + P[prefix + "bias_hh"])


def reference(model, xs, d_in=None, start=None, steps=None):
    """(predictions (T_out, B, O), weights (T_out, B, T_in)) by the papers' equations;
    teacher-forced on d_in, or free running from ``start`` (argmax one-hot fed back)."""
    P = {k: np.array(p.value) for k, p in model.parameters().items()}
    h, annotations = np.zeros((xs.shape[1], H)), []
    for x in xs:
        h = rnn(P, "encoder.", x, h)
        annotations.append(h)
    hs = np.stack(annotations, axis=1)  # (B, T_in, H): h_1 .. h_T
    s, preds, weights = h, [], []
    steps = len(d_in) if steps is None else steps
    y_prev = d_in[0] if d_in is not None else start
    for t in range(steps):
        if model.attention == "additive":
            # Bahdanau et al. (2015), A.1.2: e_tj = v_a^T tanh(W_a s_{t-1} + U_a h_j)
            e = np.tanh((s @ P["attention.weight_query"].T)[:, None, :]
                        + hs @ P["attention.weight_key"].T) @ P["attention.v"]
            a = softmax(e)
            c = np.einsum("bj,bjh->bh", a, hs)
            s = rnn(P, "decoder.", np.concatenate([y_prev, c], -1), s)
            out = s
        else:
            # Luong et al. (2015), 3.1: h_t first; score(h_t, h_s) = h_t^T h_s;
            # h~_t = tanh(W_c [c_t; h_t])
            s = rnn(P, "decoder.", y_prev, s)
            a = softmax(np.einsum("bjh,bh->bj", hs, s))
            c = np.einsum("bj,bjh->bh", a, hs)
            out = np.tanh(np.concatenate([c, s], -1) @ P["attention.weight_combine"].T)
        pred = out @ P["readout.weight"].T + P["readout.bias"]
        preds.append(pred)
        weights.append(a)
        if d_in is not None and t + 1 < len(d_in):
            y_prev = d_in[t + 1]
        else:
            y_prev = np.eye(O)[pred.argmax(-1)]
    return np.stack(preds), np.stack(weights)


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_values_match_the_papers_equations(kind, rng):
    model = make(kind)
    xs, d_in = data(rng)
    preds, weights = model(xs, d_in, return_attention=True)
    want_p, want_w = reference(model, xs, d_in)
    np.testing.assert_allclose(preds.numpy(), want_p, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(weights.numpy(), want_w, rtol=1e-12, atol=1e-14)
    # free running: the same equations with each argmax fed back
    start = d_in[0]
    preds, weights = model.generate(xs, start, 6, return_attention=True)
    want_p, want_w = reference(model, xs, start=start, steps=6)
    np.testing.assert_allclose(preds.numpy(), want_p, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(weights.numpy(), want_w, rtol=1e-12, atol=1e-14)
    # without return_attention: the predictions alone, the same values
    np.testing.assert_allclose(model(xs, d_in).numpy(), reference(model, xs, d_in)[0],
                               rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["additive", "dot"])
@pytest.mark.parametrize("cell", [tr.nn.LSTMCell, tr.nn.GRUCell])
def test_weights_sum_to_one_over_the_source(kind, cell, rng):
    model = make(kind, cell=cell)
    xs, d_in = data(rng, t_in=7, t_out=3)
    _, w = model(xs, d_in, return_attention=True)
    _, wg = model.generate(xs, d_in[0], 5, return_attention=True)
    for weights, steps in ((w.numpy(), 3), (wg.numpy(), 5)):
        assert weights.shape == (steps, B, 7)
        assert np.all(weights > 0)
        np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=0, atol=1e-14)


def loss_of(model, x, d, y, sample_prob=0.0):
    preds = model(x, d, sample_prob=sample_prob)
    return tr.cross_entropy(tr.reshape(preds, (-1, O)), y)


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_gradient_against_finite_differences(kind, rng):
    model = make(kind, cell=tr.nn.LSTMCell)
    xs, d_in = data(rng)
    targets = rng.integers(0, O, T_OUT * B)
    # with respect to the inputs, both modes, to second order
    tr.testing.check_grads(lambda x, d: loss_of(model, x, d, targets), [xs, d_in], order=2)
    # with respect to every parameter: <dL/dw, u> against central differences along u
    x, d = tr.placeholder(xs.shape), tr.placeholder(d_in.shape)
    y = tr.placeholder(targets.shape, np.int64)
    params = model.parameters()
    assert {"attention.weight_query", "attention.weight_key", "attention.v"} <= set(params) \
        if kind == "additive" else "attention.weight_combine" in params
    loss = loss_of(model, x, d, y)
    f = tr.function([x, d, y], [loss] + tr.grad(loss, list(params.values())), "numpy")
    grads = dict(zip(params, f(xs, d_in, targets)[1:]))
    eps = 1e-6
    for name, p in params.items():
        w0 = np.array(p.value)
        u = rng.standard_normal(w0.shape)
        p.assign(w0 + eps * u)
        plus = f(xs, d_in, targets)[0]
        p.assign(w0 - eps * u)
        minus = f(xs, d_in, targets)[0]
        p.assign(w0)
        fd = (plus - minus) / (2 * eps)
        assert np.sum(grads[name] * u) == pytest.approx(fd, rel=1e-6, abs=1e-9), name
        assert np.abs(grads[name]).sum() > 0, f"no gradient reaches {name}"


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_numba_and_numpy_backends_agree(kind, rng):
    model = make(kind, cell=tr.nn.GRUCell)
    xs, d_in = data(rng)
    targets = rng.integers(0, O, T_OUT * B)
    x, d = tr.placeholder(xs.shape), tr.placeholder(d_in.shape)
    y = tr.placeholder(targets.shape, np.int64)
    preds, weights = model(x, d, return_attention=True)
    loss = tr.cross_entropy(tr.reshape(preds, (-1, O)), y)
    free, free_w = model.generate(x, d[0], 6, return_attention=True)
    outs = [preds, weights, free, free_w, loss] + tr.grad(loss, list(model.parameters().values()))
    a = tr.function([x, d, y], outs, "numba")(xs, d_in, targets)
    b = tr.function([x, d, y], outs, "numpy")(xs, d_in, targets)
    for k, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(u, v, rtol=1e-11, atol=1e-13, err_msg=f"output {k}")


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_one_compiled_function_called_three_times(kind, rng, monkeypatch):
    """The encoder is one scan: the first call runs its loops in Python (uncompiled), the
    next two compiled; every call equals the numpy reference, values and gradients."""
    monkeypatch.setattr(scan_runner, "COMPILE_AFTER", 2)
    model = make(kind, cell=tr.nn.LSTMCell)
    x, d = tr.placeholder((T_IN, B, I)), tr.placeholder((T_OUT, B, O))
    y = tr.placeholder((T_OUT * B,), np.int64)
    preds, weights = model(x, d, return_attention=True)
    loss = tr.cross_entropy(tr.reshape(preds, (-1, O)), y)
    outs = [preds, weights, loss] + tr.grad(loss, list(model.parameters().values()) + [x])
    f = tr.function([x, d, y], outs)
    ref = tr.function([x, d, y], outs, "numpy")

    def compiled():  # the scans of f's plan (the encoder, and BPTT's reverse-time one)
        bodies = [s.node.attrs["body"] for s in f.plan.steps if s.node.op.name == "scan"]
        assert len(bodies) >= 2
        return [any(k[0] == "compiled" and v is not None for k, v in b._functions.items())
                for b in bodies]
    tiers = []
    for call in range(3):
        xs, d_in = data(rng)
        targets = rng.integers(0, O, T_OUT * B)
        got, want = f(xs, d_in, targets), ref(xs, d_in, targets)
        tiers.append(compiled())
        for j, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=f"call {call}, output {j}")
    assert not any(tiers[0]) and all(tiers[1]) and all(tiers[2]), tiers


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_scheduled_sampling_still_exact_at_0_and_1(kind, rng):
    model = make(kind)
    xs, d_in = data(rng)
    x, d, p = tr.placeholder(xs.shape), tr.placeholder(d_in.shape), tr.placeholder(())
    f = tr.function([x, d, p], list(model(x, d, sample_prob=p, return_attention=True)))
    forced = tr.function([x, d], list(model(x, d, return_attention=True)))(xs, d_in)
    free = tr.function([x, d], list(model.generate(x, d[0], T_OUT, return_attention=True)))(xs, d_in)
    # bit for bit: at 0 and 1 the coins choose one side everywhere, and which tier runs
    # the encoder's loop (f's second call: compiled) never changes a result
    for a, b in zip(f(xs, d_in, 0.0), forced):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(f(xs, d_in, 1.0), free):
        assert a.tobytes() == b.tobytes()
    # in between, new coins at every call; the weights still sum to 1
    runs = [f(xs, d_in, 0.5) for _ in range(3)]
    assert not all(np.array_equal(runs[0][0], r[0]) for r in runs[1:])
    for r in runs:
        np.testing.assert_allclose(r[1].sum(-1), 1.0, atol=1e-14)


def test_no_attention_is_the_plain_encoder_decoder(rng):
    """attention=None builds the same graph as before: no attention parameters, the same
    values as a model built without the keyword."""
    enc, dec, out = tr.nn.GRUCell(I, H, seed=0), tr.nn.GRUCell(O, H, seed=1), tr.nn.Linear(H, O, seed=2)
    a = tr.nn.Seq2Seq(enc, dec, out)
    b = tr.nn.Seq2Seq(enc, dec, out, attention=None)
    assert list(a.parameters()) == list(b.parameters())
    assert not any(k.startswith("attention.") for k in a.parameters())
    xs, d_in = data(rng)
    np.testing.assert_array_equal(a(xs, d_in).numpy(), b(xs, d_in).numpy())


def test_seeded_attention_weights_are_reproducible():
    a, b, c = make("additive", seed=5), make("additive", seed=5), make("additive", seed=6)
    np.testing.assert_array_equal(a.v.value, b.v.value)
    assert not np.array_equal(a.v.value, c.v.value)


# ---- the heat map ---------------------------------------------------------------------------

def luminance(fill):
    r, g, b = (int(fill[k:k + 2], 16) for k in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_heat_map_one_cell_per_pair_monotone_colour_and_labels(rng):
    weights = softmax(rng.standard_normal((4, 6)) * 2)
    src, tgt = ["a", "b", "c", "d", "e", "<f&>"], ["w", "x", "y", "z"]
    svg = tr.viz.draw_attention(weights, source_labels=src, target_labels=tgt, title="demo")
    root = ET.fromstring(svg)  # well-formed XML (labels escaped)
    ns = "{http://www.w3.org/2000/svg}"
    cells = [r for r in root.iter(ns + "rect") if r.get("class") == "cell"]
    assert len(cells) == 4 * 6
    pairs = {(int(c.get("data-target")), int(c.get("data-source"))) for c in cells}
    assert pairs == {(t, j) for t in range(4) for j in range(6)}
    for c in cells:
        t, j = int(c.get("data-target")), int(c.get("data-source"))
        assert float(c.get("data-weight")) == pytest.approx(weights[t, j], rel=1e-5)
    # darker for a larger weight, every pair of cells
    order = sorted(cells, key=lambda c: float(c.get("data-weight")))
    lum = [luminance(c.get("fill")) for c in order]
    assert all(a >= b for a, b in zip(lum, lum[1:])) and lum[0] > lum[-1]
    texts = [t.text for t in root.iter(ns + "text")]
    for label in src + tgt + ["demo"]:
        assert label in texts, label
    # default labels: 1..T
    svg = tr.viz.draw_attention(weights)
    texts = [t.text for t in ET.fromstring(svg).iter(ns + "text")]
    assert all(str(k) in texts for k in range(1, 7))


def test_heat_map_colour_scale_ends():
    from tinygrad_rnn.viz.attention import weight_colour
    assert weight_colour(0.0) == "#ffffff"
    assert weight_colour(1.0) == weight_colour(2.0) != weight_colour(0.99)
    assert luminance(weight_colour(0.5, vmax=0.5)) == luminance(weight_colour(1.0))


def test_heat_map_from_a_model_and_saved(rng, tmp_path):
    model = make("dot")
    xs, d_in = data(rng)
    _, w = model(xs, d_in, return_attention=True)
    path = tr.viz.save_attention(w.numpy()[:, 0], str(tmp_path / "att.svg"),
                                 source_labels=list("abcde"))
    root = ET.parse(path).getroot()
    assert sum(1 for r in root.iter("{http://www.w3.org/2000/svg}rect")
               if r.get("class") == "cell") == T_OUT * T_IN


# ---- bad arguments --------------------------------------------------------------------------

class Doubled(tr.nn.RNNCell):
    """A user's cell whose output [h, h] (B, 2H) is wider than its state h (B, H)."""

    @property
    def output_size(self):
        return 2 * self.hidden_size

    def step(self, x, state):
        h, (h,) = super().step(x, state)
        return tr.concat([h, h], axis=1), (h,)


def test_bad_arguments_give_clear_errors(rng):
    here = re.escape(__file__.rsplit("/", 1)[-1])
    enc, dec = tr.nn.RNNCell(I, H), tr.nn.RNNCell(O, H)
    out = tr.nn.Linear(H, O)
    with pytest.raises(tr.GraphError, match=r"attention must be None.*'additive'.*'dot'.*'foo'") as e:
        tr.nn.Seq2Seq(enc, dec, out, attention="foo")
    assert re.search(here, str(e.value))  # the user's line
    for bad in (1, True, "Dot"):
        with pytest.raises(tr.GraphError, match=r"'additive'.*'dot'"):
            tr.nn.Seq2Seq(enc, dec, out, attention=bad)
    # additive: the decoder reads [previous output; context]
    with pytest.raises(tr.GraphError, match=r"additive.*input_size must be O_in \+ 6.*got input_size 4"):
        tr.nn.Seq2Seq(enc, dec, out, attention="additive")
    with pytest.raises(tr.GraphError, match=r"dot.*decoder's output size \(12\).*encoder's \(6\)"):
        tr.nn.Seq2Seq(enc, Doubled(O, H), out, attention="dot")
    with pytest.raises(tr.GraphError, match=r"attention_size must be an int >= 1, got 0"):
        tr.nn.Seq2Seq(enc, tr.nn.RNNCell(O + H, H), out, attention="additive", attention_size=0)
    with pytest.raises(tr.GraphError, match=r"attention_size.*attention='dot' has none"):
        tr.nn.Seq2Seq(enc, dec, out, attention="dot", attention_size=3)
    plain = tr.nn.Seq2Seq(enc, dec, out)
    xs, d_in = data(rng)
    with pytest.raises(tr.GraphError, match=r"return_attention=True needs.*'additive' or 'dot'"):
        plain(xs, d_in, return_attention=True)
    with pytest.raises(tr.GraphError, match=r"return_attention=True needs"):
        plain.generate(xs, d_in[0], 3, return_attention=True)
    model = make("additive")
    with pytest.raises(tr.GraphError, match=r"decoder_inputs \(T_out, B, 4\).*input_size 10.*"
                                             r"context's 6.*\(4, 3, 10\)"):
        model(xs, np.zeros((T_OUT, B, O + H)))
    with pytest.raises(tr.GraphError, match=r"expected xs \(T_in, B, 3\).*\(5, 3, 2\)"):
        model(np.zeros((T_IN, B, 2)), d_in)


def test_heat_map_bad_arguments():
    with pytest.raises(tr.GraphError, match=r"draw_attention.*\(T_out, T_in\).*\(2, 3, 4\).*weights\[:, b\]"):
        tr.viz.draw_attention(np.ones((2, 3, 4)))
    with pytest.raises(tr.GraphError, match=r"source_labels has 2 labels for 3 columns"):
        tr.viz.draw_attention(np.ones((2, 3)) / 3, source_labels=["a", "b"])
    with pytest.raises(tr.GraphError, match=r"target_labels has 1 labels for 2 rows"):
        tr.viz.draw_attention(np.ones((2, 3)) / 3, target_labels=["a"])
    with pytest.raises(tr.GraphError, match=r"NaN"):
        tr.viz.draw_attention(np.full((2, 2), np.nan))
    with pytest.raises(tr.GraphError, match=r"\.svg"):
        tr.viz.save_attention(np.ones((2, 2)) / 2, "x.png")
