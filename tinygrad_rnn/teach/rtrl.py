"""RTRL step by step: the sensitivities carried forward in time and the gradient they give,
in Williams & Zipser's notation for their network (p^k_ij(t) = dy_k(t)/dw_ij, with d_k(t),
e_k(t) = d_k(t) - y_k(t), J(t) = -1/2 sum_k e_k(t)^2 and dJ(t)/dw_ij = sum_k e_k(t)
p^k_ij(t) written beside the numbers) and as P(t) = d state(t) / d theta for any other cell;
the gradient so far shaped like each weight; the cost (n |W| sensitivities, n^2 |W| time
per step); at the end, the comparison with BPTT."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..learn.bptt import bptt
from ..learn.rtrl import rtrl
from . import notation
from .text import block, table_block


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

    so_far[t]: name -> the gradient accumulated over steps 0..t, shaped like the parameter
    (``steps[t]["gradient"]`` split); targets[t], masks[t]: d and which entries have a
    target (None without ``tr.teach.target_loss``); errors[t]: e = -dL_t/dy (B, out), None
    without a loss at t; param_labels: name -> (row labels, column labels); state_names;
    wz: for a Williams-Zipser net "n", "m", "I", "U", "columns" (labels of x(t)), else None;
    cost: RTRL's cost counted on this net (``notation.rtrl_cost``); cost_text: in words.
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
    so_far: list = None
    targets: list = None
    masks: list = None
    errors: list = None
    param_labels: dict = None
    state_names: tuple = None
    wz: dict = None
    cost: dict = None
    cost_text: list = None

    def _param_block(self, label, name, a):
        rows, cols = (self.param_labels or {}).get(name, (None, None))
        a = np.asarray(a)
        if rows is None and cols is None:
            return block(label, a)
        if a.ndim == 1:
            return table_block(label, a[None], None, rows)
        return table_block(label, a, rows, cols)

    def _so_far(self, t):
        if self.so_far is not None:
            return self.so_far[t]
        out, off, flat = {}, 0, self.steps[t]["gradient"]
        for k, shape in self.param_shapes.items():
            size = int(np.prod(shape, dtype=np.int64))
            out[k] = np.asarray(flat[off:off + size]).reshape(shape)
            off += size
        return out

    def __str__(self) -> str:
        T = len(self.steps)
        wz = self.p[0] is not None
        out = [f"RTRL through {T} steps of {self.cell_title}"
               + (" (Williams & Zipser's notation)" if wz else "")]
        if wz and self.wz is not None:
            out += self.wz["header"]
        if wz:
            out += ["p^k_ij(t) = ∂y_k(t)/∂w_ij, carried forward (Williams & Zipser):",
                    "  p^k_ij(t+1) = f'(s_k(t)) [ Σ_l w_kl p^l_ij(t) + δ_ik x_j(t) ],  p(0) = 0,",
                    "  with f'(s_k(t)) = y_k(t+1) (1 - y_k(t+1)), δ_ik = 1 if i = k, else 0 "
                    "(Kronecker's delta)",
                    "  e_k(t) = d_k(t) - y_k(t) for k in T(t), else 0;  J(t) = -1/2 Σ_k e_k(t)^2;"
                    "  the loss is L = -J",
                    "  ∂J(t)/∂w_ij = Σ_k e_k(t) p^k_ij(t);  weight change Δw_ij(t) = η ∂J(t)/∂w_ij"
                    f"  (η = {self.lr:g})"]
        else:
            names = self._names()
            out += ["P(t) = ∂state(t)/∂θ, carried forward (W&Z's p^k_ij(t) for their fully "
                    "recurrent net):",
                    "  P(t) = (∂state(t)/∂state(t-1)) P(t-1) + ∂state(t)/∂θ (immediate),  "
                    "P(-1) = 0;  state = " + ", ".join(names),
                    "  ∂L_t/∂θ = (∂L_t/∂y(t)) ∂y(t)/∂θ, from P(t), with ∂L_t/∂y(t) = -e(t)"]
        out += list(self.cost_text or []) + [""]
        for t, step in enumerate(self.steps):
            a = t + 1 if wz else t   # W&Z: step t makes y(t+1)
            lt = "" if step["loss"] is None else f"   loss L_{t} = {step['loss']:.6g}"
            out.append(f"-- step t={t}{lt}")
            out.append(block(f"y({a})", step["y"]))
            if wz:
                p = self.p[t][0]  # batch element 0
                cols = self.wz["columns"] if self.wz is not None else None
                rows = [f"i={i}" for i in range(p.shape[1])]
                for k in range(p.shape[0]):
                    out.append(table_block(f"p^{k}_ij({a}) = ∂y_{k}({a})/∂w_ij [i rows, j columns]",
                                           p[k], rows, cols))
            else:
                out.extend(self._sensitivity_lines(t, step))
            out.extend(self._error_lines(t, a, wz))
            for k, dw in self.changes[t].items():
                if np.any(dw):
                    what = (f"η ∂J({a})/∂{k} = -η ∂L_{t}/∂{k}" if wz else f"-η ∂L_{t}/∂{k}")
                    out.append(self._param_block(f"weight change Δ{k}({t}) = {what}  "
                                                 f"(η = {self.lr:g})", k, dw))
            for k, g in self._so_far(t).items():
                out.append(self._param_block(f"gradient so far ∂L/∂{k} (steps 0..{t})", k, g))
        out += ["", "== RTRL gradient (forward in time, no past stored) =="]
        out.extend(self._param_block(f"∂L/∂{k}", k, g) for k, g in self.grads.items())
        out += ["", f"largest |RTRL - BPTT| over all entries: {self.max_difference:.3g}"]
        return "\n".join(out)

    def _names(self):
        n_states = len(self.steps[0]["state"])
        return self.state_names or tuple(f"state{j}" for j in range(n_states))

    def _sensitivity_lines(self, t, step):
        """The state and P(t) = ∂state(t)/∂θ as one table: a row per parameter entry (its
        gate and column named), a column per state entry (batch element 0)."""
        names = self._names()
        lines = [block(f"{name}({t})", v) for name, v in zip(names, step["state"])]
        cols = [f"{name}{k}" for name, s in zip(names, step["state"]) for k in range(s.shape[-1])]
        P = np.concatenate([np.asarray(s)[:, 0, :] for s in step["sensitivities"]], axis=1)
        rows = []
        for k, shape in self.param_shapes.items():
            r, c = (self.param_labels or {}).get(k, (None, None))
            for idx in np.ndindex(*shape):
                if len(idx) == 2:
                    parts = [r[idx[0]] if r else str(idx[0]), c[idx[1]] if c else str(idx[1])]
                else:
                    parts = [r[idx[0]] if r and len(idx) == 1 else ",".join(map(str, idx))]
                rows.append(f"{k}[{','.join(parts)}]")
        label = f"P({t}) = ∂state({t})/∂θ [a row per weight, a column per state entry]"
        lines.append(table_block(label, P, rows, cols, limit=max(64, 8 * P.shape[1] * 6)))
        return lines

    def _error_lines(self, t, a, wz):
        step = self.steps[t]
        if step["loss"] is None:
            if self.targets is None:
                return []
            return [f"  no target for y({a}): " + (f"T({a}) is empty, e({a}) = 0, J({a}) = 0"
                                                   if wz else "no loss at this step")]
        lines = []
        d = self.targets[t] if self.targets is not None else None
        e = self.errors[t] if self.errors is not None else None
        if d is not None:
            mask = self.masks[t]
            note = "" if mask.all() else "   (nan: no target, k not in T)"
            lines.append(block(f"target d({a})", np.where(mask, d, np.nan)) + note)
            lines.append(block(f"error e({a}) = d({a}) - y({a})", e))
            if wz:
                lines.append(f"  J({a}) = -1/2 Σ_k e_k({a})^2 = {-step['loss']:.6g}   (the loss "
                             f"L_{t} = -J({a}))")
            else:
                lines.append(f"  L_{t} = 1/2 Σ_k e_k({a})^2 = {step['loss']:.6g}")
        elif e is not None:
            lines.append(block(f"error e({a}) = -∂L_{t}/∂y({a})", e))
        if wz and e is not None and self.p[t] is not None:
            dj = np.einsum("k,kij->ij", e[0], self.p[t][0])
            lines.append(self._param_block(f"∂J({a})/∂W = Σ_k e_k({a}) p^k_ij({a})", "W", dj))
        return lines

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
    ``str(trace)`` is the walk-through. With ``loss_fn = tr.teach.target_loss(d, mask)`` it
    shows d, e = d - y and J at each step with a target.

        trace = tr.teach.rtrl_trace(tr.nn.WilliamsZipserNet(2, 1), np.ones((3, 1, 1)), None,
                                    tr.teach.target_loss(np.full((3, 1, 2), 0.5)))
    """
    steps = []
    loss, grads = rtrl(cell, xs, state0, loss_fn, backend, observe=lambda t, s: steps.append(s))
    _, by_bptt = bptt(cell, xs, state0, loss_fn, backend=backend)
    params = cell.parameters()
    wz = notation.is_williams_zipser(cell)
    p = []
    for step in steps:
        if wz:  # rows of P are the entries w_ij in row-major order: (n*(|I|+n), B, n)
            s = step["sensitivities"][0]
            n, cols = params["W"].shape
            p.append(np.transpose(s.reshape(n, cols, s.shape[1], n), (2, 3, 0, 1)))
        else:
            p.append(None)
    diff = max(float(np.abs(grads[k] - by_bptt[k]).max()) for k in grads)
    changes, so_far, before = [], [], np.zeros_like(steps[0]["gradient"])
    for step in steps:  # this step's own gradient term: the accumulated one's increment
        own, off, change, acc = step["gradient"] - before, 0, {}, {}
        for k, param in params.items():
            change[k] = -lr * own[off:off + param.size].reshape(param.shape)
            acc[k] = step["gradient"][off:off + param.size].reshape(param.shape).copy()
            off += param.size
        changes.append(change)
        so_far.append(acc)
        before = step["gradient"]
    errors = notation.injected_errors(loss_fn, [s["y"] for s in steps], cell.dtype)
    targets, masks = None, None
    if getattr(loss_fn, "targets", None) is not None:
        pairs = [notation.loss_targets(loss_fn, t) if errors[t] is not None else (None, None)
                 for t in range(len(steps))]
        targets, masks = [q[0] for q in pairs], [q[1] for q in pairs]
    wz_data = None
    if wz:
        wz_data = {"n": cell.n, "m": cell.m, "I": tuple(cell.I), "U": tuple(cell.U),
                   "columns": notation.wz_column_labels(cell), "header": notation.wz_header(cell)}
    return RTRLTrace(getattr(cell, "title", type(cell).__name__),
                     {k: v.shape for k, v in params.items()}, steps, p, grads, by_bptt, diff,
                     loss, lr, changes, so_far, targets, masks, errors,
                     notation.param_labels(cell), tuple(cell.state_names), wz_data,
                     notation.rtrl_cost(cell), notation.rtrl_cost_text(cell))
