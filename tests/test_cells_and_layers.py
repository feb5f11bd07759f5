"""Each cell variant against its equations written in NumPy; layers' options (dtype,
dropout, batch_first, state dicts); encoder-decoder; live PyTorch parity when torch is
importable."""
import numpy as np
import pytest

import tinygrad_rnn as tr


def sig(x):
    return 1 / (1 + np.exp(-x))


def run_cell(cell, x, state):
    y, new = cell(tr.tensor(x), tuple(tr.tensor(s) for s in state))
    return y.numpy(), [s.numpy() for s in new]


@pytest.fixture
def data(rng):
    return rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))


def test_lstm_variants_follow_their_equations(data):
    x, h, c = data
    for kw in ({}, {"forget_gate": False}, {"coupled": True}, {"peephole": True},
               {"peephole": True, "coupled": True}, {"forget_bias": 1.0}):
        cell = tr.nn.LSTMCell(3, 4, seed=0, **kw)
        p = cell.state_dict()
        pre = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        blocks = dict(zip(cell.gates, np.split(pre, len(cell.gates), axis=1)))
        if kw.get("peephole"):
            blocks["i"] = blocks["i"] + p["weight_ci"] * c
            if "f" in blocks:
                blocks["f"] = blocks["f"] + p["weight_cf"] * c
        i, g = sig(blocks["i"]), np.tanh(blocks["g"])
        f = {"forget_gate": 1.0, "coupled": 1 - i}.get(
            next((k for k in ("forget_gate", "coupled") if k in kw), None), None)
        c_new = (f if f is not None else sig(blocks["f"])) * c + i * g
        o = sig(blocks["o"] + (p["weight_co"] * c_new if kw.get("peephole") else 0))
        y, (h_new, c_got) = run_cell(cell, x, (h, c))
        np.testing.assert_allclose(c_got, c_new, rtol=1e-13, err_msg=str(kw))
        np.testing.assert_allclose(y, o * np.tanh(c_new), rtol=1e-13, err_msg=str(kw))


def test_original_lstm_has_a_constant_error_carousel(data):
    """Without a forget gate the error carried along c is neither scaled nor squashed
    (f_j = id, w_jj = 1): with the error into the gates truncated as in the 1997 paper
    (h detached), d c_T / d c_0 is exactly the identity after 30 steps; with a forget gate
    it decays."""
    x, h, c = data
    for forget_gate, exact in ((False, True), (True, False)):
        cell = tr.nn.LSTMCell(3, 4, forget_gate=forget_gate, seed=0)
        c0 = tr.placeholder((2, 4))
        state = (tr.tensor(h), c0)
        for _ in range(30):
            _, state = cell(tr.tensor(x), (tr.stop_gradient(state[0]), state[1]))
        (g,) = tr.grad(state[1].sum(), [c0])
        got = tr.function([c0], [g])(c)[0]
        if exact:
            np.testing.assert_array_equal(got, np.ones((2, 4)))
        else:
            assert np.all(np.abs(got) < 0.5)


def test_forget_bias_is_added_to_the_forget_block():
    a = tr.nn.LSTMCell(3, 4, seed=5).state_dict()["bias_ih"]
    b = tr.nn.LSTMCell(3, 4, seed=5, forget_bias=1.0).state_dict()["bias_ih"]
    np.testing.assert_allclose(b - a, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])


def test_gru_forms(data):
    x, h, _ = data
    for reset_after in (True, False):
        cell = tr.nn.GRUCell(3, 4, reset_after=reset_after, seed=1)
        p = cell.state_dict()
        Wi, Wh, bi, bh = (np.split(p[k], 3, axis=0) for k in
                          ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        r = sig(x @ Wi[0].T + bi[0] + h @ Wh[0].T + bh[0])
        z = sig(x @ Wi[1].T + bi[1] + h @ Wh[1].T + bh[1])
        inner = r * (h @ Wh[2].T + bh[2]) if reset_after else (r * h) @ Wh[2].T + bh[2]
        n = np.tanh(x @ Wi[2].T + bi[2] + inner)
        y, _ = run_cell(cell, x, (h,))
        np.testing.assert_allclose(y, (1 - z) * n + z * h, rtol=1e-13)


def test_rnn_irnn_and_scrn(data):
    x, h, _ = data
    irnn = tr.nn.RNNCell(3, 4, nonlinearity="relu", init="identity", seed=0)
    p = irnn.state_dict()
    np.testing.assert_array_equal(p["weight_hh"], np.eye(4))
    assert not p["bias_ih"].any() and not p["bias_hh"].any()
    y, _ = run_cell(irnn, x, (h,))
    np.testing.assert_allclose(y, np.maximum(x @ p["weight_ih"].T + h, 0), rtol=1e-13)
    scrn = tr.nn.SCRNCell(3, 4, context_size=2, alpha=0.9, seed=0)
    p = scrn.state_dict()
    s = np.ones((2, 2))
    s_new = 0.1 * (x @ p["weight_ic"].T) + 0.9 * s
    h_new = sig(s_new @ p["weight_ch"].T + x @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias_ih"])
    y, (hg, sg) = run_cell(scrn, x, (h, s))
    np.testing.assert_allclose(y, np.concatenate([h_new, s_new], 1), rtol=1e-13)
    assert y.shape == (2, 6) and scrn.output_size == 6


def test_cell_option_errors():
    with pytest.raises(tr.GraphError, match="coupled=True .* needs forget_gate=True"):
        tr.nn.LSTMCell(3, 4, coupled=True, forget_gate=False)
    with pytest.raises(tr.GraphError, match="forget_bias needs a separate forget gate"):
        tr.nn.LSTMCell(3, 4, forget_gate=False, forget_bias=1.0)
    with pytest.raises(tr.GraphError, match="nonlinearity must be 'tanh' or 'relu'"):
        tr.nn.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(tr.GraphError, match="hidden_size must be an int >= 1"):
        tr.nn.GRUCell(3, 0)
    cell = tr.nn.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"missing keys \['bias_hh'\]"):
        cell.load_state_dict({k: v for k, v in cell.state_dict().items() if k != "bias_hh"})


def test_float32_layer_end_to_end(rng):
    layer = tr.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float32, seed=0)
    xs = tr.placeholder((5, 2, 3), np.float32)
    out, (h_n, c_n) = layer(xs)
    grads = tr.grad(out.sum(), list(layer.parameters().values()))
    assert out.shape == (5, 2, 8) and h_n.shape == (4, 2, 4) and c_n.shape == (4, 2, 4)
    assert {g.dtype for g in grads} == {np.dtype(np.float32)}
    vals = tr.function([xs], [out] + grads)(rng.standard_normal((5, 2, 3)))
    assert all(v.dtype == np.float32 for v in vals)


def test_layer_state_dict_round_trip_and_names():
    a = tr.nn.GRU(3, 4, num_layers=2, bidirectional=True, seed=0)
    names = set(a.state_dict())
    assert "weight_ih_l1_reverse" in names and "bias_hh_l0" in names and len(names) == 16
    b = tr.nn.GRU(3, 4, num_layers=2, bidirectional=True, seed=1)
    b.load_state_dict(a.state_dict())
    xs = np.random.default_rng(0).standard_normal((4, 2, 3))
    np.testing.assert_array_equal(a(xs)[0].numpy(), b(xs)[0].numpy())
    assert a.state_dict()["weight_ih_l1"].shape == (12, 8)


def test_dropout_between_layers_only_in_training(rng):
    layer = tr.nn.RNN(3, 4, num_layers=2, dropout=0.5, seed=0)
    plain = tr.nn.RNN(3, 4, num_layers=2, seed=0)
    plain.load_state_dict(layer.state_dict())
    xs = rng.standard_normal((6, 2, 3))
    x = tr.placeholder(xs.shape)
    f_train = tr.function([x], [layer(x)[0]])
    first, second = f_train(xs)[0], f_train(xs)[0]
    assert not np.allclose(first, second)  # a fresh mask at every run
    layer.eval()
    np.testing.assert_allclose(layer(xs)[0].numpy(), plain(xs)[0].numpy(), rtol=1e-13)
    # layer 0's output (the input of layer 1) is what is dropped; never the recurrence
    one = tr.nn.RNN(3, 4, num_layers=1, dropout=0.5, seed=0)
    np.testing.assert_allclose(one(xs)[0].numpy(), tr.function([], [one(xs)[0]])()[0])


def test_batch_first_and_layer_errors(rng):
    layer = tr.nn.LSTM(3, 4, batch_first=True, seed=0)
    seq = tr.nn.LSTM(3, 4, seed=0)
    xs = rng.standard_normal((2, 5, 3))
    out_bf, _ = layer(xs)
    out_sf, _ = seq(np.transpose(xs, (1, 0, 2)))
    np.testing.assert_allclose(out_bf.numpy(), np.transpose(out_sf.numpy(), (1, 0, 2)))
    with pytest.raises(tr.GraphError, match=r"expected input of shape \(T, B, 3\) with T >= 1"):
        seq(np.zeros((5, 2, 4)))
    with pytest.raises(tr.GraphError, match=r"initial state must have shape \(1, 2, 4\)"):
        seq(np.zeros((5, 2, 3)), (np.zeros((2, 2, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(tr.GraphError, match="state0 must be a tuple of 2"):
        seq(np.zeros((5, 2, 3)), (np.zeros((1, 2, 4)),))


def test_seq2seq_teacher_forcing_and_free_running(rng):
    enc, dec = tr.nn.GRUCell(3, 5, seed=0), tr.nn.GRUCell(4, 5, seed=1)
    model = tr.nn.Seq2Seq(enc, dec, tr.nn.Linear(5, 4, seed=2))
    xs = rng.standard_normal((6, 2, 3))
    start = np.eye(4)[[0, 0]]
    free = model.generate(xs, start, steps=3).numpy()
    # teacher forcing on the model's own argmax predictions reproduces free running
    own = np.eye(4)[free.argmax(-1)]
    forced_in = np.concatenate([start[None], own[:-1]], 0)
    forced = model(xs, forced_in).numpy()
    np.testing.assert_allclose(forced, free, rtol=1e-12)
    # scheduled sampling with probability 1 is free running (only the start symbol is read)
    blank = forced_in.copy()
    blank[1:] = 0
    np.testing.assert_allclose(model(xs, blank, sample_prob=1.0).numpy(), free, rtol=1e-12)
    loss = tr.cross_entropy(tr.reshape(model(xs, forced_in), (6, 4)), np.array([1, 2, 3, 0, 1, 2]))
    grads = tr.grad(loss, list(model.parameters().values()))
    assert len(grads) == len(model.parameters()) and "encoder.weight_hh" in model.parameters()
    assert np.abs(tr.function([], grads[:1])()[0]).sum() > 0  # the error reaches the encoder


def test_live_pytorch_parity_float32_and_random_sizes(rng):
    torch = pytest.importorskip("torch")
    for mode, kw in (("LSTM", {}), ("GRU", {}), ("RNN", {"nonlinearity": "relu"})):
        for dtype, ttype, tol in ((np.float64, torch.float64, 1e-10), (np.float32, torch.float32, 2e-5)):
            T, B, I, H = rng.integers(1, 6, size=4)
            ref = getattr(torch.nn, mode)(int(I), int(H), num_layers=2, bidirectional=True,
                                         **kw).to(ttype)
            ours = getattr(tr.nn, mode)(int(I), int(H), num_layers=2, bidirectional=True,
                                        dtype=dtype, **kw)
            ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
            xs = rng.standard_normal((T, B, I)).astype(dtype)
            xt = torch.tensor(xs, requires_grad=True)
            out_t = ref(xt)[0]
            out_t.sum().backward()
            x = tr.placeholder(xs.shape, dtype)
            out = ours(x)[0]
            names = list(ours.parameters())
            grads = tr.grad(out.sum(), [ours.parameters()[n] for n in names] + [x])
            vals = tr.function([x], [out] + grads)(xs)
            np.testing.assert_allclose(vals[0], out_t.detach().numpy(), rtol=tol, atol=tol)
            tparams = dict(ref.named_parameters())
            for v, n in zip(vals[1:], names):
                np.testing.assert_allclose(v, tparams[n].grad.numpy(), rtol=tol, atol=tol, err_msg=n)
            np.testing.assert_allclose(vals[-1], xt.grad.numpy(), rtol=tol, atol=tol)
