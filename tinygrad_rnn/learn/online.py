"""Online learning: the weights change while the sequence runs, as in Williams & Zipser's
real-time recurrent learning (1989) and Williams & Peng's truncated BPTT(h; h') (1990).

Both take the loss as ``loss(y, d, m) -> scalar Tensor`` on placeholders (a step's output,
its target and its mask, each (B, out)), so that everything is compiled once and a step
costs one or two compiled calls; the default is Williams & Zipser's -J(t) = 1/2 sum m (d - y)^2.

- ``online_rtrl``: every step, the sensitivities P_t = d state_t / d theta move forward,
  the gradient of this step's loss is (d loss / d y) Y_t, and the optimizer updates the
  weights at once. P_t then mixes derivatives taken under older weights: the approximation
  Williams & Zipser discuss (harmless for small learning rates).
- ``online_truncated_bptt``: every h' steps, the last h steps are recomputed from the
  stored state h steps back with the current weights and the losses of the last h' steps
  are back-propagated through them (the state h steps back is a constant).

With one update at the end and h = T, both equal ``tr.learn.bptt``'s gradient.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..graph.node import fail
from ..recurrence import unroll
from ..tensor import api, placeholder
from ..transforms import function, grad
from .common import check_loss, check_sequence, check_state
from .rtrl import _step_function


def squared_error(y, d, m):
    """Williams & Zipser's -J(t): 1/2 sum over batch and units of m (d - y)^2."""
    e = (d - y) * m
    return F.sum(e * e) * 0.5


def _targets(cell, xs, targets, mask):
    T, B = xs.shape[:2]
    want = (T, B, cell.output_size)
    targets = np.asarray(targets, cell.dtype)
    if targets.shape != want:
        raise fail(f"online learning: targets must have shape (T, B, out) = {want}, got "
                   f"{targets.shape}")
    if mask is None:
        mask = np.ones(want, cell.dtype)
    mask = np.asarray(mask)
    if mask.shape != want:
        raise fail(f"online learning: mask must have the shape of targets {want}, got {mask.shape}")
    # masked-out targets may be NaN (no target): they must not reach the arithmetic
    return np.where(mask.astype(bool), targets, 0.0).astype(cell.dtype), mask.astype(cell.dtype)


def _loss_graph(cell, B, loss, y=None, d=None, m=None):
    shape = (B, cell.output_size)
    y = placeholder(shape, cell.dtype) if y is None else y
    d = placeholder(shape, cell.dtype) if d is None else d
    m = placeholder(shape, cell.dtype) if m is None else m
    value = check_loss(loss(y, d, m), 0)
    return y, d, m, F.reshape(value, ())


@api
def online_rtrl(cell, xs, targets, optimizer, mask=None, state0=None, loss=squared_error,
                backend: str = "numba", observe=None) -> np.ndarray:
    """Train ``cell`` by RTRL with an update after every step.

    xs (T, B, I); targets, mask (T, B, out) (mask 1 where a target exists, None: all);
    optimizer: from tr.optim over ``cell.parameters()`` (a dict with the same names);
    loss(y, d, m) -> scalar Tensor. observe(t, loss_value, grads) is called after each
    update. Returns the loss of each step (T,), measured before that step's update.
    """
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    targets, mask = _targets(cell, xs, targets, mask)
    state = [s.numpy() for s in check_state(cell, state0, B)]
    step, P, n_out = _step_function(cell, B, backend)
    params = cell.parameters()
    y_in, d_in, m_in, value = _loss_graph(cell, B, loss)
    direct = grad(value, [y_in] + list(params.values()))
    loss_step = function([y_in, d_in, m_in], [value] + direct, backend)
    sens = [np.zeros((P,) + s.shape, cell.dtype) for s in state]
    losses = np.zeros(T)
    for t in range(T):
        y, *rest = step(xs[t], *state, *sens)
        state, (y_sens, *sens) = rest[:n_out - 1], rest[n_out - 1:]
        v, g_y, *g_direct = loss_step(y, targets[t], mask[t])
        g = np.tensordot(y_sens, g_y, axes=y_sens.ndim - 1)
        g += np.concatenate([a.ravel() for a in g_direct])
        grads, off = {}, 0
        for name, p in params.items():
            grads[name] = g[off:off + p.size].reshape(p.shape).astype(cell.dtype)
            off += p.size
        losses[t] = float(v)
        optimizer.step(grads)
        if observe is not None:
            observe(t, losses[t], grads)
    return losses


@api
def online_truncated_bptt(cell, xs, targets, optimizer, h: int, h_prime: int = 1, mask=None,
                          state0=None, loss=squared_error, backend: str = "numba",
                          observe=None) -> np.ndarray:
    """Train ``cell`` by Williams & Peng's BPTT(h; h'): run forward with the current weights;
    every h' steps, back-propagate the losses of the last h' steps through the last h steps
    and update. Arguments as ``online_rtrl``; h >= h' >= 1. observe(t, window_loss, grads)
    after each update, t the last step of the window. Returns the loss of each step (T,),
    measured by the forward run (before the updates its window triggers).
    """
    for name, v in (("h", h), ("h_prime", h_prime)):
        if not isinstance(v, int) or v <= 0:
            raise fail(f"online_truncated_bptt: {name} must be a positive int, got {v!r}")
    if h_prime > h:
        raise fail(f"online_truncated_bptt: needs h >= h' (back-propagate at least the new "
                   f"steps), got h={h}, h'={h_prime}")
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    targets, mask = _targets(cell, xs, targets, mask)
    params = cell.parameters()
    x_in = placeholder((B, cell.input_size), cell.dtype)
    s_in = [placeholder((B, n), cell.dtype) for n in cell.state_sizes]
    y, new = cell(x_in, tuple(s_in))
    y_in, d_in, m_in, value = _loss_graph(cell, B, loss, y=y)
    forward = function([x_in, *s_in, d_in, m_in], [value, *new], backend)
    windows = {}

    def window(n):
        """The compiled window of n steps: (xs, s, ds, ms) -> (loss, grads...)."""
        if n not in windows:
            wx = placeholder((n, B, cell.input_size), cell.dtype)
            ws = [placeholder((B, k), cell.dtype) for k in cell.state_sizes]
            wd = placeholder((n, B, cell.output_size), cell.dtype)
            wm = placeholder((n, B, cell.output_size), cell.dtype)
            ys, _ = unroll(cell, wx, tuple(ws))
            total = sum((_loss_graph(cell, B, loss, ys[k], wd[k], wm[k])[3] for k in range(n)),
                        F.zeros((), cell.dtype))
            windows[n] = function([wx, *ws, wd, wm], [total] + grad(total, list(params.values())),
                                  backend)
        return windows[n]

    states = [[s.numpy() for s in check_state(cell, state0, B)]]  # entering each step
    losses = np.zeros(T)
    for t in range(T):
        v, *nxt = forward(xs[t], *states[t], targets[t], mask[t])
        losses[t] = float(v)
        states.append(nxt)
        if (t + 1) % h_prime == 0 or t == T - 1:
            start = max(0, t + 1 - h)
            n = t + 1 - start
            new_steps = (t + 1) % h_prime or h_prime  # fewer at the end of the sequence
            wm = mask[start:t + 1].copy()
            wm[:n - new_steps] = 0.0  # only the last h' steps' errors are injected
            total, *g = window(n)(xs[start:t + 1], *states[start], targets[start:t + 1], wm)
            grads = dict(zip(params, g))
            optimizer.step(grads)
            if observe is not None:
                observe(t, float(total), grads)
        if len(states) > h + 1:  # keep only what a window can reach
            states[len(states) - h - 2] = None
    return losses
