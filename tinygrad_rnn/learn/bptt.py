"""Backpropagation through time: unroll the cell over the sequence, sum the per-step losses,
and let reverse mode walk the unrolled DAG back to the parameters.

``truncate=k`` detaches the carried state before steps k, 2k, ... (exactly PyTorch's
``state.detach()`` every k steps). ``online_bptt`` is Williams & Peng's BPTT(h; h'): every h'
steps, back-propagate the last h' losses through the last h steps and update the weights.
"""
from __future__ import annotations

from .. import functions as F
from ..graph.node import fail
from ..recurrence import unroll
from ..tensor import api, placeholder
from ..transforms import function, grad
from .common import check_loss, check_sequence, check_state


def _losses(loss_fn, ys, start=0):
    return [check_loss(loss, t) for t, y in enumerate(ys, start)
            if (loss := loss_fn(t, y)) is not None]


@api
def bptt(cell, xs, state0, loss_fn, truncate: int | None = None, backend: str = "numba"):
    """Total loss and its gradient by BPTT.

    cell: a recurrent cell; xs: array (T, B, I); state0: tuple of (B, size) arrays/Tensors or
    None for zeros; loss_fn(t, y_t) -> scalar Tensor or None (no loss at step t);
    truncate: None for full BPTT, k > 0 to detach the state every k steps.
    Returns (total_loss: float, grads: dict name -> array) for ``cell.parameters()``.
    """
    if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, int)
                                 or truncate <= 0):
        raise fail(f"bptt: truncate must be None or a positive int, got {truncate!r}")
    xs = check_sequence(cell, xs)
    state = check_state(cell, state0, xs.shape[1])
    ys, _ = unroll(cell, xs, state, truncate=truncate)
    losses = _losses(loss_fn, ys)
    total = sum(losses[1:], losses[0]) if losses else F.zeros((), cell.dtype)
    params = cell.parameters()
    grads = grad(F.reshape(total, ()), list(params.values()))
    values = function([], [total] + grads, backend)()
    return float(values[0]), dict(zip(params, values[1:]))


@api
def online_bptt(cell, xs, state0, loss_fn, h: int, h_prime: int | None = None,
                optimizer=None, backend: str = "numba"):
    """Williams & Peng's BPTT(h; h'): the network runs forward one step at a time with the
    weights of the moment; every h' steps (and at the end) the losses of the last h' steps
    are back-propagated through the last h steps (the state h steps back is a constant) and,
    if an optimizer is given, the weights are updated.

    h' = h = T is epoch-wise BPTT; h' = 1 is fully online truncated BPTT(h). The window is
    recomputed from the stored state at t - h with the current weights.
    Returns a list of (t, window_loss, grads) per update, t the number of steps seen.
    """
    h_prime = h if h_prime is None else h_prime
    for name, v in (("h", h), ("h_prime", h_prime)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise fail(f"online_bptt: {name} must be a positive int, got {v!r}")
    if h_prime > h:
        raise fail(f"online_bptt: needs h >= h' (back-propagate at least the new steps), got "
                   f"h={h}, h'={h_prime}")
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    states = [tuple(s.numpy() for s in check_state(cell, state0, B))]  # entering each step
    x_in = placeholder(xs.shape[1:], cell.dtype)
    s_in = [placeholder(s.shape, cell.dtype) for s in states[0]]
    forward = function([x_in, *s_in], list(cell(x_in, tuple(s_in))[1]), backend)
    params = cell.parameters()
    updates = []
    prev_end = 0
    for end in sorted(set(range(h_prime, T, h_prime)) | {T}):
        while len(states) <= end:
            t = len(states) - 1
            states.append(tuple(forward(xs[t], *states[t])))
        start = max(0, end - h)
        ys, _ = unroll(cell, xs[start:end], states[start])
        # the losses since the last update (fewer than h' in a last, partial window)
        losses = _losses(lambda t, y: loss_fn(t, y) if t >= prev_end else None, ys, start)
        prev_end = end
        total = sum(losses[1:], losses[0]) if losses else F.zeros((), cell.dtype)
        grads = grad(F.reshape(total, ()), list(params.values()))
        values = function([], [total] + grads, backend)()
        g = dict(zip(params, values[1:]))
        updates.append((end, float(values[0]), g))
        if optimizer is not None:
            optimizer.step(g)
    return updates
