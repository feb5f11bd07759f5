"""Layers and cells against PyTorch, float64, 1e-10: reference values generated once from
PyTorch (tests/reference/, see its README) and, when torch is importable, live."""
import pathlib

import numpy as np
import pytest

import tinygrad_rnn as tr

REF = pathlib.Path(__file__).parent / "reference"
LAYERS = sorted(REF.glob("layer_*.npz"))
CELLS = sorted(REF.glob("cell_*.npz"))
TOL = dict(rtol=1e-10, atol=1e-12)


def make_layer(ref):
    mode, L, bi = str(ref["mode"]), int(ref["num_layers"]), bool(ref["bidirectional"])
    I, H = int(ref["input_size"]), int(ref["hidden_size"])
    kw = dict(num_layers=L, bidirectional=bi)
    if mode.startswith("RNN"):
        return tr.nn.RNN(I, H, nonlinearity=mode[4:].lower(), **kw), mode
    return getattr(tr.nn, mode)(I, H, **kw), mode


@pytest.mark.parametrize("path", LAYERS, ids=lambda p: p.stem)
def test_layer_matches_pytorch(path):
    ref = np.load(path)
    layer, mode = make_layer(ref)
    layer.load_state_dict({k: ref[k] for k in layer.parameters()})
    xs, h0 = tr.placeholder(ref["xs"].shape), tr.placeholder(ref["h0"].shape)
    inputs = [xs, h0]
    if mode == "LSTM":
        c0 = tr.placeholder(ref["c0"].shape)
        inputs.append(c0)
        output, (h_n, c_n) = layer(xs, (h0, c0))
        outs = [output, h_n, c_n]
        loss = (output * ref["R_out"]).sum() + (h_n * ref["R_h"]).sum() + (c_n * ref["R_c"]).sum()
    else:
        output, h_n = layer(xs, h0)
        outs = [output, h_n]
        loss = (output * ref["R_out"]).sum() + (h_n * ref["R_h"]).sum()
    names = list(layer.parameters())
    grads = tr.grad(loss, [layer.parameters()[n] for n in names] + inputs)
    feed = [ref["xs"], ref["h0"]] + ([ref["c0"]] if mode == "LSTM" else [])
    values = tr.function(inputs, outs + grads)(*feed)
    for got, key in zip(values, ["output", "h_n", "c_n"][:len(outs)]):
        np.testing.assert_allclose(got, ref[key], **TOL)
    for got, n in zip(values[len(outs):], names + ["xs", "h0", "c0"]):
        np.testing.assert_allclose(got, ref["grad_" + n], **TOL, err_msg=n)


def make_cell(ref):
    mode, I, H = str(ref["mode"]), int(ref["input_size"]), int(ref["hidden_size"])
    if mode.startswith("RNN"):
        return tr.nn.RNNCell(I, H, nonlinearity=mode[4:].lower()), mode
    return getattr(tr.nn, mode + "Cell")(I, H), mode


@pytest.mark.parametrize("path", CELLS, ids=lambda p: p.stem)
@pytest.mark.parametrize("how", ["unroll", "scan"])
def test_cell_matches_pytorch(path, how):
    ref = np.load(path)
    cell, mode = make_cell(ref)
    cell.load_state_dict({k: ref[k] for k in cell.parameters()})
    lstm = mode == "LSTM"
    xs = tr.placeholder(ref["xs"].shape)
    state0 = (tr.placeholder(ref["h0"].shape),) + ((tr.placeholder(ref["c0"].shape),) if lstm else ())
    if how == "unroll":
        hs, cs = [], []
        state = state0
        for t in range(xs.shape[0]):
            _, state = cell(xs[t], state)
            hs.append(state[0])
            cs.append(state[-1])
        hs, cs = tr.stack(hs), tr.stack(cs)
    else:
        def step(state, x):
            _, new = cell(x, state)
            return new, (new[0], new[-1])
        _, (hs, cs) = tr.scan(step, state0, xs)
    loss = (hs * ref["R"]).sum() + ((cs * ref["R_c"]).sum() if lstm else 0.0)
    names = list(cell.parameters())
    inputs = [xs, *state0]
    grads = tr.grad(loss, [cell.parameters()[n] for n in names] + inputs)
    feed = [ref["xs"], ref["h0"]] + ([ref["c0"]] if lstm else [])
    values = tr.function(inputs, [hs, cs] + grads)(*feed)
    np.testing.assert_allclose(values[0], ref["hs"], **TOL)
    if lstm:
        np.testing.assert_allclose(values[1], ref["cs"], **TOL)
    for got, n in zip(values[2:], names + ["xs", "h0", "c0"]):
        np.testing.assert_allclose(got, ref["grad_" + n], **TOL, err_msg=n)
