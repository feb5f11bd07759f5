"""Self-check of the PyTorch reference files, using plain NumPy (no torch).

Re-derives the forward outputs of every ``layer_*.npz`` file (in particular the
1-layer unidirectional RNN_TANH / RNN_RELU / LSTM / GRU ones, but also the
2-layer and bidirectional ones) and every ``cell_*.npz`` file from PyTorch's
documented equations, and asserts they match the stored outputs to 1e-12:

    RNN : h' = act(W_ih x + b_ih + W_hh h + b_hh)              act = tanh | relu
    LSTM: gates = W_ih x + b_ih + W_hh h + b_hh, split in order i, f, g, o
          c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')
    GRU : rows of W_ih / W_hh / biases in order r, z, n
          r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
          z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
          h' = (1 - z) * n + z * h

Layer layout: ``h0`` / ``h_n`` index is ``layer * D + direction``; ``output``
concatenates forward and reverse hidden states along the last axis; layer l>0
takes the previous layer's (T,B,D*H) output as input.

It also checks the stored loss and, with central finite differences of the
NumPy forward along a random direction, every stored gradient (loose
tolerance, since finite differences are only accurate to ~1e-8).

Run:  python tests/reference/check_reference.py
"""

import glob
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FWD_TOL = 1e-12
FD_EPS = 1e-6
FD_RTOL = 1e-6


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cell_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    gi = x @ w_ih.T + b_ih
    gh = h @ w_hh.T + b_hh
    if mode == "RNN_TANH":
        return np.tanh(gi + gh), None
    if mode == "RNN_RELU":
        return np.maximum(gi + gh, 0.0), None
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c2 = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c2), c2
    if mode == "GRU":
        i_r, i_z, i_n = np.split(gi, 3, axis=-1)
        h_r, h_z, h_n = np.split(gh, 3, axis=-1)
        r = sigmoid(i_r + h_r)
        z = sigmoid(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        return (1.0 - z) * n + z * h, None
    raise ValueError(mode)


def layer_forward(d):
    """NumPy re-implementation of nn.RNN/LSTM/GRU forward (batch_first=False)."""
    mode, L, D = str(d["mode"]), int(d["num_layers"]), 2 if int(d["bidirectional"]) else 1
    is_lstm = mode == "LSTM"
    inp = d["xs"]
    T = inp.shape[0]
    h_n, c_n = [], []
    for layer in range(L):
        outs = []
        for direction in range(D):
            sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
            w = [d["weight_ih" + sfx], d["weight_hh" + sfx], d["bias_ih" + sfx], d["bias_hh" + sfx]]
            idx = layer * D + direction
            h = d["h0"][idx]
            c = d["c0"][idx] if is_lstm else None
            steps = range(T - 1, -1, -1) if direction == 1 else range(T)
            ys = [None] * T
            for t in steps:
                h, c = cell_step(mode, inp[t], h, c, *w)
                ys[t] = h
            outs.append(np.stack(ys))
            h_n.append(h)
            if is_lstm: c_n.append(c)
        inp = np.concatenate(outs, axis=-1)
    res = {"output": inp, "h_n": np.stack(h_n)}
    if is_lstm: res["c_n"] = np.stack(c_n)
    return res


def layer_loss(d, res):
    loss = np.sum(res["output"] * d["R_out"]) + np.sum(res["h_n"] * d["R_h"])
    if "c_n" in res: loss += np.sum(res["c_n"] * d["R_c"])
    return loss


def cell_forward(d):
    mode = str(d["mode"])
    is_lstm = mode == "LSTM"
    h = d["h0"]
    c = d["c0"] if is_lstm else None
    hs, cs = [], []
    for t in range(d["xs"].shape[0]):
        h, c = cell_step(mode, d["xs"][t], h, c, d["weight_ih"], d["weight_hh"], d["bias_ih"], d["bias_hh"])
        hs.append(h)
        if is_lstm: cs.append(c)
    res = {"hs": np.stack(hs)}
    if is_lstm: res["cs"] = np.stack(cs)
    return res


def cell_loss(d, res):
    loss = np.sum(res["hs"] * d["R"])
    if "cs" in res: loss += np.sum(res["cs"] * d["R_c"])
    return loss


def check_close(what, got, ref, tol):
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    err = np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref)))
    assert err <= tol, f"{what}: max error {err:.3e} > {tol:.0e}"
    return err


def check_file(path):
    name = os.path.basename(path)
    d = dict(np.load(path))
    is_layer = name.startswith("layer_")
    fwd, lossfn = (layer_forward, layer_loss) if is_layer else (cell_forward, cell_loss)
    res = fwd(d)
    worst = 0.0
    for k, v in res.items():
        worst = max(worst, check_close(f"{name}:{k}", v, d[k], FWD_TOL))
    worst = max(worst, check_close(f"{name}:loss", np.asarray(lossfn(d, res)), d["loss"], FWD_TOL))

    # gradients: central finite difference along a random direction per array
    rng = np.random.default_rng(0)
    grad_keys = sorted(k for k in d if k.startswith("grad_"))
    worst_fd = 0.0
    for gk in grad_keys:
        k = gk[len("grad_"):]
        direction = rng.standard_normal(d[k].shape)
        lp, lm = dict(d), dict(d)
        lp[k] = d[k] + FD_EPS * direction
        lm[k] = d[k] - FD_EPS * direction
        fd = (lossfn(lp, fwd(lp)) - lossfn(lm, fwd(lm))) / (2 * FD_EPS)
        an = np.sum(d[gk] * direction)
        err = abs(fd - an) / max(1.0, abs(an))
        assert err <= FD_RTOL, f"{name}:{gk}: finite difference {fd} vs stored {an} (err {err:.2e})"
        worst_fd = max(worst_fd, err)
    print(f"ok {name:28s} forward max err {worst:.1e}  grads ({len(grad_keys)}) fd max err {worst_fd:.1e}")


def main():
    files = (sorted(glob.glob(os.path.join(HERE, "layer_*.npz")))
             + sorted(glob.glob(os.path.join(HERE, "cell_*.npz"))))
    required = [f"layer_{m}_L1_uni.npz" for m in ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")] + \
               [f"cell_{m}.npz" for m in ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")]
    names = {os.path.basename(f) for f in files}
    missing = [r for r in required if r not in names]
    assert not missing, f"missing reference files: {missing}"
    for f in files:
        check_file(f)
    print(f"all {len(files)} reference files passed")


if __name__ == "__main__":
    main()
