"""RTRL step by step: the sensitivities carried forward in time and the gradient they give,
in Williams & Zipser's notation for their network (p^k_ij(t) = d y_k(t) / d w_ij) and as
d state / d theta for any other cell; at the end, the comparison with BPTT."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..learn.bptt import bptt
from ..learn.rtrl import rtrl
from .text import block


@dataclass
class RTRLTrace:
    """Every quantity of one RTRL computation.

    steps[t]: dict with "y" (B, out), "state" (tuple of (B, n)), "sensitivities" (tuple of
    (P, B, n), d state_t / d theta), "loss" (float or None), "gradient" (P,) accumulated;
    p[t]: for a Williams-Zipser net, p^k_ij(t+1) as an array (B, n, n, |I| + n), else None;
    grads: name -> array, equal to ``tr.learn.rtrl``'s; bptt_grads: the same by BPTT;
    max_difference: the largest |RTRL - BPTT| entry; loss: the total loss; lr: the learning
    rate of ``changes[t]``, the weight change step t's error asks for (name -> array,
    -lr * d loss_t / d theta: what real-time learning applies at once; the trace holds the
    weights fixed so that the total compares with BPTT).
    """
    cell_title: str
    param_shapes: dict
    steps: list
    p: list
    grads: dict
    bptt_grads: dict
    max_difference: float
    loss: float
    lr: float = 1.0
    changes: list = None

    def __str__(self) -> str:
        T = len(self.steps)
        wz = self.p[0] is not None
        out = [f"RTRL through {T} steps of {self.cell_title}", ""]
        if wz:
            out += ["p^k_ij(t) = d y_k(t) / d w_ij, carried forward (Williams & Zipser):",
                    "  p^k_ij(t+1) = f'(s_k(t)) [ sum_l w_kl p^l_ij(t) + delta_ik x_j(t) ],"
                    "  p(0) = 0", "  dJ(t)/dw_ij = sum_k e_k(t) p^k_ij(t)", ""]
        else:
            out += ["P_t = d state_t / d theta, carried forward:",
                    "  P_{t+1} = (d s_{t+1}/d s_t) P_t + d s_{t+1}/d theta (immediate)", ""]
        for t, step in enumerate(self.steps):
            lt = "" if step["loss"] is None else f"   loss = {step['loss']:.6g}"
            out.append(f"-- step t={t}{lt}")
            out.append(block("y", step["y"]))
            if wz:
                p = self.p[t][0]  # batch element 0
                for k in range(p.shape[0]):
                    out.append(block(f"p^{k}_ij(t+1) [i rows, j columns]", p[k]))
            else:
                for j, s in enumerate(step["sensitivities"]):
                    out.append(block(f"d state{j} / d theta", s[:, 0, :].T))
            for k, dw in self.changes[t].items():
                if np.any(dw):
                    out.append(block(f"weight change d{k}(t) = -{self.lr:g} dL_t/d{k}", dw))
            out.append(block("gradient so far", step["gradient"]))
        out += ["", "== RTRL gradient (forward in time, no past stored) =="]
        out.extend(block(f"dL/d{k}", g) for k, g in self.grads.items())
        out += ["", f"largest |RTRL - BPTT| over all entries: {self.max_difference:.3g}"]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """The step-through page of this trace alone (``tr.teach.step_page(None, trace)``),
        shown inline by notebooks: forward t=0..T-1 carrying the sensitivities, ending with
        the gradient beside BPTT's."""
        from .page import _fragment
        return _fragment(None, self)[0]


def rtrl_trace(cell, xs, state0, loss_fn, backend: str = "numba", lr: float = 1.0) -> RTRLTrace:
    """Step-by-step RTRL of ``cell`` over ``xs`` (T, B, I); arguments as ``tr.learn.rtrl``,
    lr the learning rate the weight changes are shown for. Returns an ``RTRLTrace`` (its
    ``grads`` are ``tr.learn.rtrl``'s, its ``bptt_grads`` ``tr.learn.bptt``'s);
    ``str(trace)`` is the walk-through."""
    steps = []
    loss, grads = rtrl(cell, xs, state0, loss_fn, backend, observe=lambda t, s: steps.append(s))
    _, by_bptt = bptt(cell, xs, state0, loss_fn, backend=backend)
    params = cell.parameters()
    wz = set(params) == {"W"} and hasattr(cell, "n") and hasattr(cell, "m")
    p = []
    for step in steps:
        if wz:  # rows of P are the entries w_ij in row-major order: (n*(|I|+n), B, n)
            s = step["sensitivities"][0]
            n, cols = params["W"].shape
            p.append(np.transpose(s.reshape(n, cols, s.shape[1], n), (2, 3, 0, 1)))
        else:
            p.append(None)
    diff = max(float(np.abs(grads[k] - by_bptt[k]).max()) for k in grads)
    changes, before = [], np.zeros_like(steps[0]["gradient"])
    for step in steps:  # this step's own gradient term: the accumulated one's increment
        own, off, change = step["gradient"] - before, 0, {}
        for k, param in params.items():
            change[k] = -lr * own[off:off + param.size].reshape(param.shape)
            off += param.size
        changes.append(change)
        before = step["gradient"]
    return RTRLTrace(getattr(cell, "title", type(cell).__name__),
                     {k: v.shape for k, v in params.items()}, steps, p, grads, by_bptt, diff,
                     loss, lr, changes)
