"""Generate PyTorch reference data for RNN / LSTM / GRU layers and cells.

What it writes
--------------
One compressed ``.npz`` file per case into this folder (``tests/reference/``):

* ``layer_<MODE>_L<num_layers>_<uni|bi>.npz`` for MODE in RNN_TANH, RNN_RELU,
  LSTM, GRU, num_layers in {1, 2}, uni/bidirectional (16 files).  Built with
  ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (batch_first=False, dropout=0,
  bias=True).  Keys:

  - metadata: ``mode`` (str), ``num_layers``, ``bidirectional`` (0/1),
    ``input_size``, ``hidden_size``, ``seq_len``, ``batch_size``, ``seed``,
    ``torch_version`` (str)
  - inputs: ``xs`` (T,B,I), ``h0`` (D*L,B,H), LSTM also ``c0`` (D*L,B,H)
  - every ``module.state_dict()`` entry under its PyTorch name
    (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
    ``weight_ih_l0_reverse``, ..., ``weight_ih_l1``, ...)
  - outputs: ``output`` (T,B,D*H), ``h_n`` (D*L,B,H), LSTM also ``c_n``
  - loss ``L = sum(output*R_out) + sum(h_n*R_h) [+ sum(c_n*R_c)]`` with the
    fixed random arrays ``R_out``, ``R_h`` [, ``R_c``] stored; ``loss``
  - gradients of L: ``grad_<param name>`` for every parameter,
    ``grad_xs``, ``grad_h0`` [, ``grad_c0``]

* ``cell_<MODE>.npz`` for MODE in RNN_TANH, RNN_RELU, LSTM, GRU, built with
  ``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell`` unrolled by hand over T
  steps starting from ``h0`` (``c0``).  Keys:

  - metadata: ``mode``, ``input_size``, ``hidden_size``, ``seq_len``,
    ``batch_size``, ``seed``, ``torch_version``
  - inputs: ``xs`` (T,B,I), ``h0`` (B,H), LSTM also ``c0`` (B,H)
  - state_dict entries ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``
  - outputs: ``hs`` (T,B,H) = hidden state after each step, LSTM also ``cs``
  - loss ``L = sum(hs*R) [+ sum(cs*R_c)]`` with ``R`` [, ``R_c``] stored;
    ``loss``
  - gradients: ``grad_weight_ih``, ``grad_weight_hh``, ``grad_bias_ih``,
    ``grad_bias_hh``, ``grad_xs``, ``grad_h0`` [, ``grad_c0``]

Everything is float64.  All random values (inputs, parameters drawn from
uniform(-0.5, 0.5) instead of PyTorch's default init, loss weights) come from
``numpy.random.default_rng(seed)`` with a fixed per-case seed, so the data
does not depend on torch's RNG.

How to rerun
------------
    python tests/reference/make_torch_reference.py

(requires torch; the data was produced with the CPU build of torch 2.13.0).
``python tests/reference/check_reference.py`` then re-derives the forward
outputs with plain NumPy to validate the layout.
"""

import os
import zlib

import numpy as np
import torch
from torch import nn

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

T, B, I, H = 5, 3, 4, 5  # seq_len, batch, input_size, hidden_size
MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


def case_seed(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def uniform(rng, shape, lo=-0.5, hi=0.5):
    return rng.uniform(lo, hi, size=shape)


def normal(rng, shape):
    return rng.standard_normal(shape)


def init_params(module, rng):
    """Overwrite every parameter with uniform(-0.5, 0.5) in state_dict order."""
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.copy_(torch.from_numpy(uniform(rng, tuple(p.shape))))


def make_layer(mode, num_layers, bidirectional):
    kw = dict(input_size=I, hidden_size=H, num_layers=num_layers, bias=True,
              batch_first=False, dropout=0.0, bidirectional=bidirectional)
    if mode == "RNN_TANH": return nn.RNN(nonlinearity="tanh", **kw)
    if mode == "RNN_RELU": return nn.RNN(nonlinearity="relu", **kw)
    if mode == "LSTM": return nn.LSTM(**kw)
    if mode == "GRU": return nn.GRU(**kw)
    raise ValueError(mode)


def make_cell(mode):
    if mode == "RNN_TANH": return nn.RNNCell(I, H, bias=True, nonlinearity="tanh")
    if mode == "RNN_RELU": return nn.RNNCell(I, H, bias=True, nonlinearity="relu")
    if mode == "LSTM": return nn.LSTMCell(I, H, bias=True)
    if mode == "GRU": return nn.GRUCell(I, H, bias=True)
    raise ValueError(mode)


def npy(t):
    return t.detach().cpu().numpy().astype(np.float64).copy()


def save(name, data):
    path = os.path.join(OUT_DIR, name + ".npz")
    np.savez_compressed(path, **data)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(data)} arrays)")


def layer_case(mode, num_layers, bidirectional):
    name = f"layer_{mode}_L{num_layers}_{'bi' if bidirectional else 'uni'}"
    seed = case_seed(name)
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    is_lstm = mode == "LSTM"

    module = make_layer(mode, num_layers, bidirectional)
    init_params(module, rng)

    xs = torch.from_numpy(normal(rng, (T, B, I))).requires_grad_(True)
    h0 = torch.from_numpy(uniform(rng, (D * num_layers, B, H))).requires_grad_(True)
    c0 = torch.from_numpy(uniform(rng, (D * num_layers, B, H))).requires_grad_(True) if is_lstm else None

    if is_lstm:
        output, (h_n, c_n) = module(xs, (h0, c0))
    else:
        output, h_n = module(xs, h0)
        c_n = None

    R_out = normal(rng, tuple(output.shape))
    R_h = normal(rng, tuple(h_n.shape))
    loss = (output * torch.from_numpy(R_out)).sum() + (h_n * torch.from_numpy(R_h)).sum()
    if is_lstm:
        R_c = normal(rng, tuple(c_n.shape))
        loss = loss + (c_n * torch.from_numpy(R_c)).sum()
    loss.backward()

    data = dict(mode=np.array(mode), num_layers=np.array(num_layers),
                bidirectional=np.array(int(bidirectional)), input_size=np.array(I),
                hidden_size=np.array(H), seq_len=np.array(T), batch_size=np.array(B),
                seed=np.array(seed), torch_version=np.array(torch.__version__))
    data["xs"] = npy(xs)
    data["h0"] = npy(h0)
    if is_lstm: data["c0"] = npy(c0)
    for k, v in module.state_dict().items():
        data[k] = npy(v)
    data["output"] = npy(output)
    data["h_n"] = npy(h_n)
    if is_lstm: data["c_n"] = npy(c_n)
    data["R_out"] = R_out
    data["R_h"] = R_h
    if is_lstm: data["R_c"] = R_c
    data["loss"] = npy(loss)
    for k, p in module.named_parameters():
        data["grad_" + k] = npy(p.grad)
    data["grad_xs"] = npy(xs.grad)
    data["grad_h0"] = npy(h0.grad)
    if is_lstm: data["grad_c0"] = npy(c0.grad)
    save(name, data)


def cell_case(mode):
    name = f"cell_{mode}"
    seed = case_seed(name)
    rng = np.random.default_rng(seed)
    is_lstm = mode == "LSTM"

    cell = make_cell(mode)
    init_params(cell, rng)

    xs = torch.from_numpy(normal(rng, (T, B, I))).requires_grad_(True)
    h0 = torch.from_numpy(uniform(rng, (B, H))).requires_grad_(True)
    c0 = torch.from_numpy(uniform(rng, (B, H))).requires_grad_(True) if is_lstm else None

    h, c = h0, c0
    hs, cs = [], []
    for t in range(T):
        if is_lstm:
            h, c = cell(xs[t], (h, c))
            cs.append(c)
        else:
            h = cell(xs[t], h)
        hs.append(h)
    hs = torch.stack(hs)
    cs = torch.stack(cs) if is_lstm else None

    R = normal(rng, tuple(hs.shape))
    loss = (hs * torch.from_numpy(R)).sum()
    if is_lstm:
        R_c = normal(rng, tuple(cs.shape))
        loss = loss + (cs * torch.from_numpy(R_c)).sum()
    loss.backward()

    data = dict(mode=np.array(mode), input_size=np.array(I), hidden_size=np.array(H),
                seq_len=np.array(T), batch_size=np.array(B), seed=np.array(seed),
                torch_version=np.array(torch.__version__))
    data["xs"] = npy(xs)
    data["h0"] = npy(h0)
    if is_lstm: data["c0"] = npy(c0)
    for k, v in cell.state_dict().items():
        data[k] = npy(v)
    data["hs"] = npy(hs)
    if is_lstm: data["cs"] = npy(cs)
    data["R"] = R
    if is_lstm: data["R_c"] = R_c
    data["loss"] = npy(loss)
    for k, p in cell.named_parameters():
        data["grad_" + k] = npy(p.grad)
    data["grad_xs"] = npy(xs.grad)
    data["grad_h0"] = npy(h0.grad)
    if is_lstm: data["grad_c0"] = npy(c0.grad)
    save(name, data)


def main():
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)  # parameters are overwritten anyway; keeps construction deterministic
    torch.use_deterministic_algorithms(True)
    print("torch", torch.__version__)
    for mode in MODES:
        for num_layers in (1, 2):
            for bidirectional in (False, True):
                layer_case(mode, num_layers, bidirectional)
    for mode in MODES:
        cell_case(mode)


if __name__ == "__main__":
    main()
