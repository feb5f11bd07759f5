"""The output layer of Goodfellow et al.'s recurrent network (Deep Learning, ch. 10; seed 001),
step by step: o(t) = c + V h(t), y_hat(t) = softmax(o(t)), the cross-entropy L(t) = -log
y_hat_y(t)(t) of the target class y(t), and its gradients

    grad_o(t) L = y_hat(t) - 1_y(t)       grad_c L = sum_t grad_o(t) L
    grad_V L = sum_t grad_o(t) L h(t)^T   V^T grad_o(t) L: what enters BPTT at h(t)

computed from these formulas and checked against reverse-mode autodiff (``tr.grad``) of
the same loss built from the library's primitives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functions as F
from ..graph.node import fail
from ..tensor import placeholder
from ..transforms import function, grad
from .text import block, table_block


@dataclass
class OutputLayerTrace:
    """Every quantity of the output layer over T steps (one sequence).

    h (T, n): the hidden states fed in; V (K, n), c (K,); y (T,) the target classes;
    o (T, K) = c + V h(t); y_hat (T, K) = softmax(o(t)); losses (T,) = -log y_hat_y(t)(t);
    loss = their sum; grad_o (T, K) = y_hat - 1_y; grad_V_steps (T, K, n) = grad_o(t) h(t)^T;
    grad_V (K, n), grad_c (K,) their sums; grad_h (T, n) = V^T grad_o(t); autodiff: "V",
    "c", "h" by ``tr.grad``; max_difference: the largest |formula - autodiff| entry.
    """
    h: np.ndarray
    V: np.ndarray
    c: np.ndarray
    y: np.ndarray
    o: np.ndarray
    y_hat: np.ndarray
    losses: np.ndarray
    loss: float
    grad_o: np.ndarray
    grad_V_steps: np.ndarray
    grad_V: np.ndarray
    grad_c: np.ndarray
    grad_h: np.ndarray
    autodiff: dict
    max_difference: float

    def __str__(self) -> str:
        T, K = self.o.shape
        classes = [f"class {k}" for k in range(K)]
        hs = [f"h{j}" for j in range(self.h.shape[1])]
        out = ["Output layer (Goodfellow et al., Deep Learning, ch. 10): o(t) = c + V h(t), "
               "ŷ(t) = softmax(o(t)),",
               "L(t) = -log ŷ_y(t)(t), the cross-entropy of the target class y(t); L = Σ_t L(t)",
               "  ∇_o(t) L = ŷ(t) - 1_y(t);  ∇_c L = Σ_t ∇_o(t) L;  ∇_V L = Σ_t ∇_o(t) L h(t)^T;",
               "  V^T ∇_o(t) L is what the output sends back into h(t) (BPTT's ∂L(t)/∂h(t))",
               f"V ({K} classes x {self.h.shape[1]} hidden units), c ({K},)", ""]
        for t in range(T):
            cls = int(self.y[t])
            out.append(f"-- t={t}: target class y({t}) = {cls}")
            out.append(block(f"h({t})", self.h[t]))
            out.append(block(f"o({t}) = c + V h({t})", self.o[t]))
            out.append(block(f"ŷ({t}) = softmax(o({t}))", self.y_hat[t]))
            out.append(f"  L({t}) = -log ŷ_{cls}({t}) = {self.losses[t]:.6g}")
            out.append(block(f"1_y({t})", np.eye(K)[cls]))
            out.append(block(f"∇_o({t}) L = ŷ({t}) - 1_y({t})", self.grad_o[t]))
            out.append(table_block(f"∇_V L from t={t}: ∇_o({t}) L h({t})^T", self.grad_V_steps[t],
                                   classes, hs))
            out.append(block(f"V^T ∇_o({t}) L (into h({t}))", self.grad_h[t]))
        out += ["", f"== L = Σ_t L(t) = {self.loss:.6g}; the gradients =="]
        out.append(block("∇_c L = Σ_t ∇_o(t) L", self.grad_c))
        out.append(table_block("∇_V L = Σ_t ∇_o(t) L h(t)^T", self.grad_V, classes, hs))
        out.append(f"largest |formula - reverse-mode autodiff (tr.grad)| over ∇_V, ∇_c, ∇_h: "
                   f"{self.max_difference:.3g}")
        return "\n".join(out)


def output_layer_trace(h, V, c, y) -> OutputLayerTrace:
    """Goodfellow's output layer step by step: h (n,) one step or (T, n) a sequence (a batch
    of one: (T, 1, n) is taken as (T, n)), V (K, n), c (K,), y the target class (an int) or
    classes (T,). Forward with the library's softmax, the gradients by the formulas above,
    checked against ``tr.grad``; ``str(trace)`` is the walk-through.

        tr.teach.output_layer_trace(np.array([0.5, -0.2]), np.eye(3, 2), np.zeros(3), 2)
    """
    h = np.asarray(h, np.float64)
    if h.ndim == 3 and h.shape[1] == 1:
        h = h[:, 0, :]
    h = h[None] if h.ndim == 1 else h
    V, c = np.asarray(V, np.float64), np.asarray(c, np.float64)
    y = np.atleast_1d(np.asarray(y))
    if h.ndim != 2 or V.ndim != 2 or V.shape[1] != h.shape[1] or c.shape != (V.shape[0],):
        raise fail(f"output_layer_trace: need h (T, n), V (K, n), c (K,); got h {h.shape}, "
                   f"V {V.shape}, c {c.shape}")
    T, K = h.shape[0], V.shape[0]
    if y.shape != (T,) or y.dtype.kind not in "iu" or (y < 0).any() or (y >= K).any():
        raise fail(f"output_layer_trace: y must be {T} class index(es) in 0..{K - 1}, got {y!r}")
    h_in = placeholder(h.shape, np.float64, name="h")
    V_in = placeholder(V.shape, np.float64, name="V")
    c_in = placeholder(c.shape, np.float64, name="c")
    o = h_in @ V_in.T + c_in                        # (T, K): row t is o(t) = c + V h(t)
    y_hat = F.softmax(o, -1)
    picked = F.where(F.one_hot(y, K, np.bool_), F.log_softmax(o, -1), 0.0)
    losses = -F.sum(picked, -1)                     # (T,)
    total = F.sum(losses)
    g_V, g_c, g_h = grad(total, [V_in, c_in, h_in])
    values = function([h_in, V_in, c_in], [o, y_hat, losses, total, g_V, g_c, g_h], "numpy")(h, V, c)
    o_v, yh_v, l_v, tot_v, aV, ac, ah = (np.asarray(v) for v in values)
    grad_o = yh_v - np.eye(K)[y]                    # y_hat - 1_y
    steps_V = np.einsum("tk,tn->tkn", grad_o, h)
    grad_V, grad_c, grad_h = steps_V.sum(0), grad_o.sum(0), grad_o @ V
    diff = max(float(np.abs(grad_V - aV).max()), float(np.abs(grad_c - ac).max()),
               float(np.abs(grad_h - ah).max()))
    return OutputLayerTrace(h, V, c, y, o_v, yh_v, l_v, float(tot_v), grad_o, steps_V, grad_V,
                            grad_c, grad_h, {"V": aV, "c": ac, "h": ah}, diff)
