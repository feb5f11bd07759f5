"""The fully recurrent network of Williams & Zipser (1992), in their notation.

Network (all shapes per example; the batch adds a leading axis B):

- ``n`` units, ``m`` external input lines; with ``bias=True`` one more input line whose value
  is always 1 is appended to the external inputs (the textbook counts it among the m lines;
  here ``m`` counts only the lines *you* feed, the constant line is added by the network).
- ``y(t)``: the n-tuple of unit outputs at time t; ``x_net(t)``: the external inputs.
- ``x(t) = concat(x_net(t), [1], y(t))``: a vector of length ``m + 1 + n`` (``m + n``
  without bias). ``I`` is the tuple of its indices that are input lines (the bias line
  included), ``U`` the tuple of its indices that are unit outputs:
  ``I = (0, ..., m)``, ``U = (m + 1, ..., m + n)`` (with bias).
- ``W``: (n, m + 1 + n); ``w_kj`` is the weight to unit k from x_j (a unit if j in U, an
  input line if j in I); the column of the always-1 line holds the biases.
- net input ``s_k(t) = sum_j w_kj x_j(t)``, i.e. ``s(t) = W x(t)``; output
  ``y_k(t+1) = f_k(s_k(t))`` with the logistic ``f(s) = 1 / (1 + exp(-s))``.
- targets ``d_k(t)`` for k in ``T(t)`` (a time-varying subset of U);
  ``e_k(t) = d_k(t) - y_k(t)`` if k in T(t) else 0; ``J(t) = -1/2 sum_k e_k(t)^2``;
  learning ascends J: ``dw_ij = eta dJ/dw_ij`` (= descent on the loss ``-J``).

Time-index convention (used here, in ``wz_loss_fn`` and in ``tinygrad_rnn.learn.textbook_rtrl``):
step ``t = 0, ..., T-1`` of the cell reads ``x_net(t)`` (``xs[t]``) and the state ``y(t)``
and returns ``y(t+1)``. The initial state is ``y(0)``. Python's "output at step t", ``y_t``,
is therefore the seed's ``y(t+1)``, and ``targets[t]`` / ``mask[t]`` hold ``d(t+1)`` /
``T(t+1)``: the error the loss at array index t measures is the seed's ``e(t+1)``. ``y(0)``
does not depend on W, so there is no error term at seed time 0.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..graph.node import GraphError, scope
from ..tensor import Tensor
from .cells import Cell


class WilliamsZipserNet(Cell):
    """Fully recurrent logistic network: ``y(t+1) = sigmoid(W x(t))``,
    ``x(t) = concat(x_net(t), [1], y(t))``.

    n: units (``hidden_size``); m: external input lines fed at each step (``input_size``);
    bias: append an always-1 input line (its W column are the biases); seed: for the initial
    weights, drawn uniformly from [-init_scale, init_scale] (``init_scale=None``: 1/sqrt of
    the row length ``m + 1 + n``); dtype: of the weights and the state.

    Attributes: ``n, m, bias, input_size (= m), hidden_size (= n), dtype, I, U, W``
    (the parameter, shape ``(n, m + 1 + n)`` with bias else ``(n, m + n)``).

    ``net(x_t, (y,)) -> (y_next, (y_next,))``: x_t (B, m) is x_net(t), y (B, n) is y(t),
    y_next (B, n) is y(t+1).
    """

    state_names = ("y",)

    def __init__(self, n: int, m: int, bias: bool = True, seed=None, dtype=np.float64,
                 init_scale: float | None = None):
        if int(n) != n or n < 1:
            raise ValueError(f"WilliamsZipserNet: n (number of units) must be a positive int, "
                             f"got {n!r}")
        if int(m) != m or m < 0:
            raise ValueError(f"WilliamsZipserNet: m (external input lines) must be an int >= 0, "
                             f"got {m!r}")
        try:
            super().__init__(int(m), int(n), dtype, seed)
        except GraphError as e:
            raise ValueError(str(e).split("\n")[0]) from None
        self.n, self.m, self.bias = int(n), int(m), bool(bias)
        n_lines = self.m + int(self.bias)                     # |I|: external lines + bias line
        self.I: tuple[int, ...] = tuple(range(n_lines))
        self.U: tuple[int, ...] = tuple(range(n_lines, n_lines + self.n))
        width = n_lines + self.n                              # length of x(t)
        scale = 1.0 / np.sqrt(width) if init_scale is None else float(init_scale)
        self.W = self._param("W", self._uniform((self.n, width), scale))

    def x_vector(self, x_t, y) -> Tensor:
        """``x(t) = concat(x_net(t), [1], y(t))``: (B, m), (B, n) -> (B, m + 1 + n);
        columns ``I`` are the input lines (the always-1 line last among them), ``U`` the units."""
        parts = [x_t] if self.m else []
        if self.bias:
            parts.append(F.ones((x_t.shape[0], 1), self.dtype))
        parts.append(y)
        return F.concat(parts, axis=1) if len(parts) > 1 else parts[0]

    def net_input(self, x_t, state) -> Tensor:
        """``s(t) = x(t) W^T`` (row-wise ``s_k(t) = sum_j w_kj x_j(t)``): (B, n)."""
        x_t, (y,) = self.check(x_t, state)
        return F.matmul(self.x_vector(x_t, y), self.W.T)

    def step(self, x_t, state):
        """One step: x_t = x_net(t) (B, m), state = (y(t),) with y(t) (B, n) ->
        ``(y(t+1), (y(t+1),))`` with ``y(t+1) = sigmoid(s(t))``, ``s(t) = x(t) W^T``."""
        with scope("net input s(t) = W x(t)"):
            s = F.matmul(self.x_vector(x_t, state[0]), self.W.T)
        with scope("output y(t+1) = f(s(t))"):
            y_next = F.sigmoid(s)
        return y_next, (y_next,)

    def __repr__(self):
        return (f"WilliamsZipserNet(n={self.n}, m={self.m}, bias={self.bias}, "
                f"dtype={self.dtype.name})")


def _check_targets(targets, mask, n=None):
    targets = np.asarray(targets)
    if targets.ndim != 3 or (n is not None and targets.shape[2] != n):
        want = f"(T, B, {n})" if n is not None else "(T, B, n)"
        raise ValueError(f"targets (d_k(t)) expected shape {want}, given {targets.shape}")
    if mask is None:
        mask = np.ones(targets.shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ValueError(f"mask (k in T(t)) expected a bool array, given dtype {mask.dtype}")
    if mask.shape != targets.shape:
        raise ValueError(f"mask expected the shape of targets {targets.shape}, given {mask.shape}")
    return targets, mask


def wz_loss_fn(targets, mask=None):
    """The per-step loss ``-J`` of Williams & Zipser, as ``loss_fn(t, y_t) -> Tensor | None``.

    targets: (T, B, n) array, ``targets[t, b, k]`` is d_k; mask: (T, B, n) bool,
    ``mask[t, b, k]`` says k is in the target set (``None``: every unit, every step). Entries
    of targets where the mask is False are ignored (they may be NaN).

    ``loss_fn(t, y_t)`` with y_t (B, n) the cell's output at step t returns the scalar Tensor
    ``1/2 sum_b sum_k mask[t,b,k] (targets[t,b,k] - y_t[b,k])^2``, or None when mask[t] is all
    False. Off-by-one: y_t is the seed's y(t+1), so ``targets[t]`` = d(t+1), ``mask[t]`` =
    T(t+1), and loss_fn(t, .) = -J(t+1) summed over the batch. The total loss
    ``sum_t loss_fn(t, y_t)`` is ``-J_total``; its gradient is ``-dJ_total/dW``.
    """
    targets, mask = _check_targets(targets, mask)
    T, B, n = targets.shape

    def loss_fn(t: int, y_t: Tensor):
        if not 0 <= t < T:
            raise ValueError(f"wz_loss_fn: step t={t} out of range for {T} target steps")
        if tuple(y_t.shape) != (B, n):
            raise GraphError(f"wz_loss_fn: y_t expected shape ({B}, {n}), given {y_t.shape}")
        m_t = mask[t]
        if not m_t.any():
            return None
        d = np.where(m_t, targets[t], 0.0).astype(y_t.dtype)
        e = (F.as_tensor(d) - y_t) * F.as_tensor(m_t.astype(y_t.dtype))   # e_k, 0 outside T
        return F.sum(e * e) * 0.5

    return loss_fn
