"""Where the error goes: the total derivative of the loss with respect to every state of an
unrolled cell, and how much of it travels along each one-step edge.

For states s_t (the state a cell produces at step t, t = 0..T-1) and the summed loss L,

    dL/ds_t = dL_t/ds_t|direct  +  sum_j  (dL/ds_{t+1,j}) (d s_{t+1,j} / d s_{t,i})

The terms of this sum are the edges of the error-flow picture: from the loss at step t, and
from each state component at t+1 to each at t. Their norms show the vanishing of a simple
RNN (a product of f'(net) w factors per step, seed 003) and the constant error carousel of
an LSTM's cell state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..functions import reshape
from ..graph.autodiff import vjp_graph
from ..ops.leaves import is_fill
from ..tensor import Tensor, api, tensor
from ..transforms import function, grad
from .common import check_loss, check_sequence, check_state


@dataclass
class ErrorFlow:
    """Everything behind an error-flow picture.

    names: the state components ("h", "c", ...); grads[t][i]: dL/ds_t for component i (an
    array (B, size)); losses[t]: the loss value at step t or None; edges: (source, target,
    norm) with nodes ("loss", t) and ("state", t, i), error flowing from source to target.
    """
    names: tuple
    grads: list
    losses: list
    edges: list = field(default_factory=list)
    edge_values: dict = field(default_factory=dict)  # (source, target) -> array

    def norms(self) -> dict[str, np.ndarray]:
        """name -> (T,) array of ||dL/ds_t|| (Frobenius norm over batch and units)."""
        return {n: np.array([np.linalg.norm(g[i]) for g in self.grads])
                for i, n in enumerate(self.names)}

    def total_norms(self) -> np.ndarray:
        """(T,) ||dL/ds_t|| over every component of the state together."""
        return np.array([np.sqrt(sum(float(np.linalg.norm(c)) ** 2 for c in g)) for g in self.grads])

    def kept(self) -> float:
        """How much of the error at the last step's state reaches the first step's state:
        ||dL/ds_0|| / ||dL/ds_(T-1)|| (nan when the last state receives no error)."""
        n = self.total_norms()
        return float(n[0] / n[-1]) if n[-1] > 0 else float("nan")


@api
def error_flow_data(cell, xs, loss_fn, state0=None, backend: str = "numba") -> ErrorFlow:
    """The total derivatives and the per-edge flow for input values xs (T, B, I).

    An edge's value is what flows from its source (a loss, or a state's total derivative)
    to its target along the paths that meet no other state on the way; the values arriving
    at a state add up to its total derivative exactly.
    """
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    s = check_state(cell, state0, B)
    states, losses = [], []
    for t in range(T):
        y, s = cell(tensor(xs[t]), s)
        states.append(s)
        loss = loss_fn(t, y)
        losses.append(None if loss is None else reshape(check_loss(loss, t), ()))
    n = len(cell.state_sizes)
    flat = [c for st in states for c in st]
    key = [("state", t, i) for t in range(T) for i in range(n)]
    present = [loss for loss in losses if loss is not None]
    if not present:
        zeros = [[np.zeros(c.shape, cell.dtype) for c in st] for st in states]
        return ErrorFlow(tuple(cell.state_names), zeros, [None] * T)
    total = sum(present[1:], present[0])
    totals = grad(total, flat)
    pieces, ends = [], []  # symbolic edge values and their (source, target)

    def pull(source_node, cotangent, source_key, skip):
        wrt = [c.node for k, c in enumerate(flat) if k != skip]
        targets = [k for k in range(len(flat)) if k != skip]
        for k, part in zip(targets, vjp_graph([source_node], [cotangent], wrt, partial=True)):
            if not is_fill(part, 0):  # no path at all
                pieces.append(Tensor(part))
                ends.append((source_key, key[k]))

    for t, loss in enumerate(losses):
        if loss is not None:
            pull(loss.node, tensor(np.ones((), cell.dtype)).node, ("loss", t), None)
    for k, (c, g) in enumerate(zip(flat, totals)):
        pull(c.node, g.node, key[k], k)
    values = function([], totals + pieces + [loss if loss is not None else total
                                             for loss in losses], backend)()
    g_vals = values[:len(flat)]
    flow = ErrorFlow(tuple(cell.state_names), [g_vals[t * n:(t + 1) * n] for t in range(T)],
                     [float(v) if loss is not None else None
                      for v, loss in zip(values[len(flat) + len(pieces):], losses)])
    for (src, dst), v in zip(ends, values[len(flat):len(flat) + len(pieces)]):
        flow.edges.append((src, dst, float(np.linalg.norm(v))))
    flow.edge_values = dict(zip(ends, values[len(flat):len(flat) + len(pieces)]))
    return flow


@api
def error_flow(cell, xs, loss_fn, state0=None, backend: str = "numba") -> dict[str, np.ndarray]:
    """state name -> (T,) array of ||d loss / d state_t||, the total derivative of the summed
    loss with respect to the state produced at step t ("h", and "c" for an LSTM).

    >>> tr.learn.error_flow(tr.nn.RNNCell(1, 8), xs, lambda t, y: y.sum() if t == T - 1 else None)
    """
    return error_flow_data(cell, xs, loss_fn, state0, backend).norms()

