"""BPTT step by step: the forward pass (every named quantity of every step), then the
backward pass (the error signal delta at each state and step, the gradient contribution of
each step to each weight, accumulating).

The unrolled graph is built with one copy of every parameter per step (each step reads its
own placeholder holding the same value), so d loss / d copy_t IS the contribution of step
t, and the contributions add up to the gradient (the weight is shared: the gradient of a
shared weight is the sum over its uses).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.traverse import rebuild, toposort
from ..learn.bptt import bptt
from ..learn.common import check_loss, check_sequence, check_state
from ..tensor import Tensor, placeholder, tensor
from ..transforms import function, grad
from .text import block


@dataclass
class BPTTTrace:
    """Every quantity of one BPTT computation.

    forward[t]: dict name -> array (B, n) of step t (x, each named gate/quantity of the cell,
    the new state components, y); losses[t]: float or None; deltas[t]: dict state name ->
    dL/ds_t (B, n), the error signal arriving at the state produced at step t;
    contributions[t]: dict parameter name -> the part of the gradient that step t adds;
    accumulated[t]: dict name -> the sum of the contributions of steps t..T-1 (what the
    backward pass has accumulated after visiting step t); grads: name -> array, equal to
    ``tr.learn.bptt``'s; loss: the total loss.
    """
    cell_title: str
    state_names: tuple
    forward: list
    losses: list
    deltas: list
    contributions: list
    accumulated: list
    grads: dict
    loss: float

    def __str__(self) -> str:
        T = len(self.forward)
        out = [f"BPTT through {T} steps of {self.cell_title}",
               f"loss L = sum_t L_t = {self.loss:.6g}", "",
               "== forward pass (t = 0 .. T-1): net inputs and activations =="]
        for t, values in enumerate(self.forward):
            lt = "" if self.losses[t] is None else f"   L_{t} = {self.losses[t]:.6g}"
            out.append(f"-- step t={t}{lt}")
            out.extend(block(name, v) for name, v in values.items())
        out += ["", "== backward pass (t = T-1 .. 0) ==",
                "delta_t = dL/ds_t, the error signal at the state made at step t (it arrives from",
                "the loss at t and, through the next step, from delta_{t+1}); each step adds",
                "its own term to the gradient of every (shared) weight:"]
        for t in reversed(range(T)):
            out.append(f"-- step t={t}")
            out.extend(block(f"delta {name}", v) for name, v in self.deltas[t].items())
            for name, c in self.contributions[t].items():
                out.append(block(f"dL/d{name} from step {t}", c))
        out += ["", "== gradient = sum of the steps' contributions =="]
        out.extend(block(f"dL/d{name}", g) for name, g in self.grads.items())
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """The step-through page of this trace (``tr.teach.step_page``), shown inline by
        notebooks: forward t=0..T-1, then backward t=T-1..0."""
        from .page import _fragment
        return _fragment(self)[0]


def _named_values(order, before):
    """label -> node: the output of each name scope the step built (a gate's activation,
    a net input), in build order."""
    members: dict[str, list] = {}
    for n in order:
        if id(n) not in before and not n.op.leaf and n.scope:
            members.setdefault("/".join(n.scope), []).append(n)
    found = {}
    for label, nodes in members.items():
        inside = {id(i) for n in nodes for i in n.inputs}
        outputs = [n for n in nodes if id(n) not in inside]
        found[label] = outputs[-1]
    return found


def bptt_trace(cell, xs, state0, loss_fn, backend: str = "numba") -> BPTTTrace:
    """Step-by-step BPTT of ``cell`` over ``xs`` (T, B, I); arguments as ``tr.learn.bptt``
    (state0 a tuple or None; loss_fn(t, y_t) -> scalar Tensor or None). Returns a
    ``BPTTTrace``; ``str(trace)`` is the walk-through."""
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    state = check_state(cell, state0, B)
    params = cell.parameters()
    copies = [{k: placeholder(p.shape, p.dtype, name=f"{k}@{t}") for k, p in params.items()}
              for t in range(T)]
    swap = [{id(p.node): c[k].node for k, p in params.items()} for c in copies]
    records, losses, states = [], [], []
    seen = {id(n) for s in state for n in toposort([s.node])}
    for t in range(T):
        x = tensor(xs[t])
        y, new = cell(x, state)
        outs = rebuild([y.node] + [s.node for s in new], swap[t])
        y, new = Tensor(outs[0]), tuple(Tensor(n) for n in outs[1:])
        order = toposort(outs)
        # the step's own nodes, rebuilt on its parameter copies: name them for the reader
        named = _named_values(order, seen)
        record = {"x": x}
        record.update({k: Tensor(n) for k, n in named.items()})
        record.update({name: s for name, s in zip(cell.state_names, new)})
        record["y"] = y
        records.append(record)
        seen.update(id(n) for n in order)
        loss = loss_fn(t, y)
        losses.append(None if loss is None else check_loss(loss, t))
        states.append(new)
        state = new
    present = [ls for ls in losses if ls is not None]
    total = present[0] if present else None
    for ls in present[1:]:
        total = total + ls
    if total is None:
        raise ValueError("bptt_trace: loss_fn returned None at every step (nothing to learn)")
    total = total.reshape(())
    flat_states = [s for st in states for s in st]
    flat_copies = [c[k] for c in copies for k in params]
    g = grad(total, flat_states + flat_copies)
    keys = [(t, k) for t in range(T) for k in records[t]]
    fwd = [records[t][k] for t, k in keys]
    shown = [ls for ls in losses if ls is not None]
    values = function(flat_copies, [total] + shown + g + fwd, backend)(
        *[params[k].numpy() for _ in range(T) for k in params])
    it = iter(values)
    loss_value = float(next(it))
    loss_values = [float(next(it)) if ls is not None else None for ls in losses]
    n_s = len(cell.state_names)
    delta_vals = [next(it) for _ in range(T * n_s)]
    contrib_vals = [next(it) for _ in range(T * len(params))]
    fwd_vals = [next(it) for _ in keys]
    forward = [dict() for _ in range(T)]
    for (t, k), v in zip(keys, fwd_vals):
        forward[t][k] = v
    deltas = [dict(zip(cell.state_names, delta_vals[t * n_s:(t + 1) * n_s])) for t in range(T)]
    contributions = [dict(zip(params, contrib_vals[t * len(params):(t + 1) * len(params)]))
                     for t in range(T)]
    accumulated, running = [None] * T, {k: np.zeros(p.shape, p.dtype) for k, p in params.items()}
    for t in reversed(range(T)):
        running = {k: running[k] + contributions[t][k] for k in params}
        accumulated[t] = running
    _, grads = bptt(cell, xs, state0, loss_fn, backend=backend)
    return BPTTTrace(getattr(cell, "title", type(cell).__name__), tuple(cell.state_names),
                     forward, loss_values, deltas, contributions, accumulated, grads,
                     loss_value)
