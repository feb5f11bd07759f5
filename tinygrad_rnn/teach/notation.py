"""What the traces share, in the seeds' notation: the loss with targets d_k(t) and its errors
e_k(t) = d_k(t) - y_k(t) (Williams & Zipser, seed 000); the names of the blocks of a cell's
vectors (the gates i | f | g | o of an LSTM's pre-activations, r | z | n of a GRU's, the
columns I, bias, U of W&Z's x(t)); and the cost of BPTT and RTRL counted on the traced net.

    loss_fn = tr.teach.target_loss(d, mask)   # L_t = 1/2 sum_k (d_k - y_k)^2 = -J(t+1)
    trace = tr.teach.bptt_trace(net, xs, None, loss_fn)   # shows d, e, J, eps, delta
"""
from __future__ import annotations

import numpy as np

from ..nn.williams_zipser import wz_loss_fn
from ..tensor import placeholder
from ..transforms import function, grad
from .text import group_labels


def target_loss(targets, mask=None):
    """The squared error against targets, as ``loss_fn(t, y_t)`` for the traces and
    ``tr.learn``: ``L_t = 1/2 sum_b sum_k mask[t,b,k] (targets[t,b,k] - y_t[b,k])^2``, None
    where ``mask[t]`` is all False (no target at step t). It is ``tr.nn.wz_loss_fn``'s loss
    (Williams & Zipser's -J) for any cell whose output has targets.shape[2] entries; the
    function also carries ``targets`` and ``mask``, so that a trace can show d_k(t) and
    e_k(t) = d_k(t) - y_k(t).

    targets: (T, B, out); mask: (T, B, out) bool or None (a target for every output, every
    step).

        loss_fn = tr.teach.target_loss(np.full((3, 1, 2), 0.5))
    """
    targets = np.asarray(targets)
    fn = wz_loss_fn(targets, mask)   # checks both
    fn.targets = targets
    fn.mask = np.ones(targets.shape, bool) if mask is None else np.asarray(mask)
    return fn


def loss_targets(loss_fn, t: int):
    """(d(t), mask(t)) of a ``target_loss`` at step t, or (None, None) for any other loss."""
    targets = getattr(loss_fn, "targets", None)
    mask = getattr(loss_fn, "mask", None)
    if targets is None or mask is None or not 0 <= t < len(targets):
        return None, None
    return np.asarray(targets[t]), np.asarray(mask[t])


def injected_errors(loss_fn, ys, dtype) -> list:
    """e(t) = -dL_t/dy(t), the error the loss at step t puts on the output y(t) (= d - y for
    the squared error), for each y in ``ys`` (arrays (B, out)); None where loss_fn(t, .) is
    None. Computed by reverse mode on a placeholder (numpy backend: tiny graphs)."""
    out = []
    for t, y in enumerate(ys):
        y_in = placeholder(np.shape(y), dtype, name=f"y@{t}")
        loss = loss_fn(t, y_in)
        if loss is None:
            out.append(None)
            continue
        (g,) = grad(loss.reshape(()), [y_in])
        out.append(-np.asarray(function([y_in], [g], "numpy")(np.asarray(y, dtype))[0]))
    return out


def is_williams_zipser(cell) -> bool:
    """The cell is Williams & Zipser's fully recurrent net (one weight matrix W over x(t))."""
    from ..nn.williams_zipser import WilliamsZipserNet
    return isinstance(cell, WilliamsZipserNet)


def wz_columns(net) -> list:
    """The blocks of x(t) = concat(x_net(t), [1], y(t)) of a Williams-Zipser net, as (name,
    size): the external input lines, the bias line (both in I), the unit outputs (U)."""
    parts = [("x_net", net.m)] if net.m else []
    if net.bias:
        parts.append(("bias", 1))
    parts.append(("y", net.n))
    return parts


def wz_column_labels(net) -> list:
    """One label per column j of x(t) (and of W): x_net0.., 1, y0.. ."""
    labels = [f"x_net{j}" for j in range(net.m)] + (["1"] if net.bias else [])
    return labels + [f"y{k}" for k in range(net.n)]


def wz_index_sets(net) -> str:
    """'I = (0, 1) (input lines, the always-1 bias line last), U = (2, 3) (unit outputs y)'."""
    lines = "input lines, the always-1 bias line last" if net.bias else "input lines"
    return f"I = {tuple(net.I)} ({lines}), U = {tuple(net.U)} (unit outputs y)"


def wz_header(net) -> list:
    """Williams & Zipser's net in two lines: n, m, x(t) and its index sets."""
    lines = "line" if net.m == 1 else "lines"
    return [f"n = {net.n} units, m = {net.m} external input {lines}; x(t) = [x_net(t) | 1 | "
            "y(t)], its columns j:",
            f"  {wz_index_sets(net)}"]


def _gates(cell):
    """The gate blocks (name, size) of the cell's pre-activation vector, or None."""
    from ..nn.cells import GRUCell, LSTMCell
    from ..nn.lstm1997 import LSTM1997Cell
    if isinstance(cell, LSTMCell):
        return [(g, cell.hidden_size) for g in cell.gates]
    if isinstance(cell, GRUCell):
        return [(g, cell.hidden_size) for g in ("r", "z", "n")]
    if isinstance(cell, LSTM1997Cell):
        return [("in", cell.blocks), ("out", cell.blocks), ("g", cell.hidden_size)]
    return None


def _cut(groups, width):
    """The leading blocks of ``groups`` that make up exactly ``width`` entries, or None."""
    out, total = [], 0
    for name, size in groups or ():
        if total == width:
            break
        out.append((name, size))
        total += size
    return out if out and total == width else None


def column_groups(cell, key: str, width: int):
    """How to label the entries of the forward quantity ``key`` (width entries per example):
    (name, size) blocks, or None. Pre-activation vectors get their gates (LSTM i | f | g | o,
    GRU r | z | n, the 1997 cell in | out | g), W&Z's x(t) its columns, SCRN's output h | s."""
    from ..nn.cells import SCRNCell
    if key.startswith("pre-activations"):
        return _cut(_gates(cell), width)
    if key.startswith("gate activations"):
        return _cut(_gates(cell), width)
    if key.startswith("x(t) =") and is_williams_zipser(cell):
        return wz_columns(cell)
    if isinstance(cell, SCRNCell) and key.startswith("output"):
        return _cut([("h", cell.hidden_size), ("s", cell.context_size)], width)
    return None


def param_labels(cell) -> dict:
    """name -> (row labels, column labels) for printing each parameter (and its gradient):
    the rows of a gated cell's weights are its gates (i0, i1, f0, ...), W&Z's W has a row per
    unit and the columns of x(t); None where a plain matrix reads as well."""
    out = {}
    params = cell.parameters()
    if is_williams_zipser(cell):
        for k in params:
            out[k] = ([f"unit {i}" for i in range(cell.n)], wz_column_labels(cell))
        return out
    gates = _gates(cell)
    for k, p in params.items():
        rows = _cut(gates, p.shape[0]) if gates and p.ndim >= 1 else None
        if rows is None:
            out[k] = (None, None)
            continue
        cols = None
        if p.ndim == 2:
            what = "x" if k.startswith("weight_ih") else "h" if k.startswith("weight_hh") else "j"
            cols = [f"{what}{j}" for j in range(p.shape[1])]
        out[k] = (group_labels(rows), cols)
    return out


def state_size(cell) -> int:
    """n: the numbers the state holds per example (every component: h and c for an LSTM)."""
    return int(sum(cell.state_sizes))


def weight_count(cell) -> int:
    """|W|: the number of parameters."""
    return int(sum(p.size for p in cell.parameters().values()))


def _state_words(cell) -> str:
    n = state_size(cell)
    if is_williams_zipser(cell):
        return f"{n} units"
    if len(cell.state_names) == 1:
        return f"{n} units ({cell.state_names[0]})"
    parts = ", ".join(f"{s}: {k}" for s, k in zip(cell.state_names, cell.state_sizes))
    return f"{n} state numbers ({parts})"


def rtrl_cost(cell) -> dict:
    """RTRL's cost on this cell: n |W| sensitivities carried (memory, whatever T), n n |W|
    multiply-adds per step to update them (O(n^4) for n fully recurrent units)."""
    n, w = state_size(cell), weight_count(cell)
    return {"n": n, "weights": w, "sensitivities": n * w, "time_per_step": n * n * w}


def rtrl_cost_text(cell) -> list:
    c = rtrl_cost(cell)
    return [f"cost of RTRL here: n x |W| = {_state_words(cell)} x {c['weights']} weights = "
            f"{c['sensitivities']} sensitivities carried",
            "  from step to step (its memory, the same for any T); time per step",
            f"  n x n x |W| = {c['n']} x {c['n']} x {c['weights']} = {c['time_per_step']} "
            "multiply-adds to update them:",
            "  O(n^4) per step for n fully recurrent units (|W| ~ n^2)."]


def bptt_cost(cell, T: int, stored_per_step: int) -> dict:
    """BPTT's cost: T n state values stored (T x stored_per_step numbers with every gate and
    net input), about |W| multiply-adds forward and 2 |W| backward per step (O(n^2))."""
    n, w = state_size(cell), weight_count(cell)
    return {"T": T, "n": n, "weights": w, "stored_states": T * n,
            "stored_per_step": stored_per_step, "stored": T * stored_per_step,
            "time_per_step": w}


def bptt_cost_text(cell, cost: dict) -> list:
    return [f"cost of BPTT here: T x n = {cost['T']} steps x {_state_words(cell)} = "
            f"{cost['stored_states']} activations stored",
            f"  for the backward pass (with everything the steps computed: {cost['T']} x "
            f"{cost['stored_per_step']} = {cost['stored']} numbers),",
            f"  memory that grows with T; time per step about |W| = {cost['weights']} "
            "multiply-adds forward, twice that",
            "  backward: O(n^2) per step for n fully recurrent units (|W| ~ n^2)."]
