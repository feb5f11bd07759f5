"""Argument checks shared by the learning algorithms."""
from __future__ import annotations

import numpy as np

from ..functions import as_tensor
from ..graph.node import fail, rectangular
from ..tensor import Tensor


def check_sequence(cell, xs):
    """xs as an array (T, B, I) in the cell's dtype, with a clear error otherwise."""
    if isinstance(xs, Tensor):
        xs = xs.numpy()
    given = xs
    xs = rectangular(xs, lambda got: fail(f"expected xs of shape (T, B, {cell.input_size}), "
                                          f"got {got}"))
    if xs.dtype.kind not in "biuf":
        raise fail(f"expected xs: an array of real numbers of shape (T, B, {cell.input_size}), "
                   f"got {type(given).__name__} of dtype {xs.dtype}")
    if xs.ndim != 3 or xs.shape[0] < 1 or xs.shape[2] != cell.input_size:
        raise fail(f"expected xs of shape (T, B, {cell.input_size}) with T >= 1, got {xs.shape}")
    return xs.astype(cell.dtype, copy=False)


def check_state(cell, state0, batch):
    """state0 as a tuple of Tensors (zeros when None), shapes checked against the cell."""
    if state0 is None:
        return cell.initial_state(batch)
    if isinstance(state0, (Tensor, np.ndarray)) or not isinstance(state0, (tuple, list)):
        raise fail(f"state0 must be a tuple of {len(cell.state_sizes)} arrays or Tensors "
                   f"({', '.join(cell.state_names)}), got {type(state0).__name__}")
    if len(state0) != len(cell.state_sizes):
        raise fail(f"state0 has {len(state0)} parts, the cell's state has "
                   f"{len(cell.state_sizes)} ({', '.join(cell.state_names)})")
    out = []
    for s, n, name in zip(state0, cell.state_sizes, cell.state_names):
        s = as_tensor(np.asarray(s, cell.dtype) if not isinstance(s, Tensor) else s)
        if s.shape != (batch, n):
            raise fail(f"state0 {name} must have shape ({batch}, {n}), got {s.shape}")
        out.append(s)
    return tuple(out)


def check_loss(loss, t):
    if not isinstance(loss, Tensor) or loss.size != 1:
        what = loss.shape if isinstance(loss, Tensor) else type(loss).__name__
        raise fail(f"loss_fn({t}, y_t) must return a scalar Tensor or None, got {what}")
    return loss
