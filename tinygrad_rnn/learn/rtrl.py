"""Real-time recurrent learning, exact and generic for any cell.

RTRL carries the sensitivities P_t = d state_t / d theta (one row per parameter entry)
forward in time and never stores the past:

    P_{t+1} = (d s_{t+1} / d s_t) P_t  +  d s_{t+1} / d theta |immediate
    d loss / d theta += (d loss_t / d y_t) Y_t + d loss_t / d theta |direct,
    Y_t = (d y_t / d s_t) P_t + d y_t / d theta |immediate

Both terms come from the engine: the first is the cell's JVP with the rows of P_t as a batch
of tangents (the batching transform pushes them all through at once); the second is the
cell's VJP with one cotangent per output entry (an identity batch). Memory is
O(P * state size), independent of T; time per step O(P * state size) times the cell's cost,
which is why RTRL is for small networks.
"""
from __future__ import annotations

import numpy as np

from ..functions import concat as tr_concat
from ..functions import reshape, tensor, transpose
from ..graph.autodiff import jvp_graph, vjp_graph
from ..graph.batching import batch_graph
from ..graph.node import fail
from ..ops.elementwise import lift
from ..tensor import Tensor, api, placeholder
from ..transforms import function, grad
from .common import check_loss, check_sequence, check_state


def _step_function(cell, batch, backend):
    """Compile (x_t, s, P_s) -> (y, s', P_y, P_s'), sensitivities with leading axis P."""
    params = list(cell.parameters().values())
    P = sum(p.size for p in params)
    x = placeholder((batch, cell.input_size), cell.dtype)
    s = [placeholder((batch, n), cell.dtype) for n in cell.state_sizes]
    sens = [placeholder((P, batch, n), cell.dtype) for n in cell.state_sizes]
    y, new = cell(x, tuple(s))
    outs = [y, *new]
    # (1) propagated: JVP along the state with the sensitivity rows as a batch of tangents
    tangents = [placeholder(o.shape, cell.dtype) for o in s]
    jv = jvp_graph([o.node for o in outs], [o.node for o in s], [t.node for t in tangents])
    propagated = batch_graph(jv, {id(t.node): p.node for t, p in zip(tangents, sens)}, P)
    # (2) immediate: VJP with one cotangent per output entry (identity), transposed
    sizes = [o.size for o in outs]
    n_out = sum(sizes)
    eye, off, cots, ident = np.eye(n_out, dtype=cell.dtype), 0, [], {}
    for o, k in zip(outs, sizes):
        g = placeholder(o.shape, cell.dtype)
        cots.append(g)
        ident[id(g.node)] = tensor(eye[:, off:off + k].reshape((n_out,) + o.shape)).node
        off += k
    vj = vjp_graph([o.node for o in outs], [g.node for g in cots], [p.node for p in params],
                   partial=True)
    rows = [Tensor(n if b else lift(n, False, n_out).node)
            for n, b in batch_graph(vj, ident, n_out)]  # each (n_out, *param.shape)
    jac = tr_concat([reshape(r, (n_out, -1)) for r in rows], axis=1)  # (n_out, P)
    immediate, off = [], 0
    for o, k in zip(outs, sizes):
        immediate.append(reshape(transpose(jac[off:off + k]), (P,) + o.shape))
        off += k
    new_sens = []
    for (node, batched), imm in zip(propagated, immediate):
        prop = Tensor(node) if batched else Tensor(lift(node, False, P))
        new_sens.append(prop + imm)
    return function([x, *s, *sens], outs + new_sens, backend), P, len(outs)


@api
def rtrl(cell, xs, state0, loss_fn, backend: str = "numba", observe=None):
    """Total loss and its gradient by real-time recurrent learning (forward in time).

    Arguments and result as ``tr.learn.bptt``: xs (T, B, I), state0 tuple or None,
    loss_fn(t, y_t) -> scalar Tensor or None; returns (total_loss, dict name -> array) and
    equals full BPTT to rounding. observe(t, step): called after every step with a dict of
    the step's arrays: "y" (B, out), "state" (tuple of (B, n)), "sensitivities" (tuple of
    (P, B, n): d state_t / d theta, theta the parameters flattened and concatenated),
    "loss" (float or None) and "gradient" (P,) accumulated so far.
    """
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    state0 = check_state(cell, state0, B)
    if any(_depends_on_params(s, cell) for s in state0):
        raise fail("rtrl: state0 must not depend on the cell's parameters")
    step, P, n_out = _step_function(cell, B, backend)
    params = cell.parameters()
    state = [s.numpy() for s in state0]
    sens = [np.zeros((P,) + s.shape, cell.dtype) for s in state]
    total, g = 0.0, np.zeros(P, np.float64)
    y_in = placeholder((B, cell.output_size), cell.dtype)
    for t in range(T):
        y, *rest = step(xs[t], *state, *sens)
        state, (y_sens, *sens) = rest[:n_out - 1], rest[n_out - 1:]
        loss, value = loss_fn(t, y_in), None
        if loss is not None:
            loss = check_loss(loss, t)
            scalar = reshape(loss, ())
            grads = grad(scalar, [y_in] + list(params.values()))
            value, g_y, *direct = function([y_in], [scalar] + grads, backend)(y)
            total += float(value)
            g += np.tensordot(y_sens, g_y, axes=y_sens.ndim - 1)
            g += np.concatenate([d.ravel() for d in direct])
        if observe is not None:
            observe(t, dict(y=y, state=tuple(state), sensitivities=tuple(sens),
                            loss=None if value is None else float(value), gradient=g.copy()))
    out, off = {}, 0
    for name, p in params.items():
        out[name] = g[off:off + p.size].reshape(p.shape).astype(cell.dtype)
        off += p.size
    return total, out


def _depends_on_params(s, cell):
    from ..graph.traverse import depends_on, toposort
    nodes = [p.node for p in cell.parameters().values()]
    return id(s.node) in depends_on(toposort([s.node]), nodes)
