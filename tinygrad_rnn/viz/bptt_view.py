"""``draw_bptt``: backpropagation through time as a picture that mirrors the unrolled one.

Reverse mode turns every edge A -> B of the forward graph into an edge δB -> δA of the
backward graph: so at the level of the boxes the unrolled picture draws (a gate, a state,
a weight read at step t), the backward graph is the same graph with its edges turned round.
This view draws that graph, one cluster per step, time still running left to right and the
error entering at the loss on the right and flowing right to left: δh(t), δc(t) and the gate
deltas of step t, and for every weight the contribution ΔW(t) of each step, all feeding one
∂L/∂W = Σ_t ΔW(t). The numbers (‖δh(t)‖, ‖ΔW(t)‖, ‖∂L/∂W‖) are those of
``tr.teach.bptt_trace`` for the same cell, inputs and loss.
"""
from __future__ import annotations

import graphviz
import numpy as np

from ..functions import sum as fsum
from ..graph.node import fail
from ..graph.traverse import toposort
from ..tensor import placeholder
from . import style
from .canvas import new_digraph
from .recurrent import _shown_steps

LOSS = dict(shape="box", style="rounded,filled", fillcolor="#fed7d7", color="#c53030")
DELTA_STATE = dict(shape="box", style="rounded,filled,bold", fillcolor="#fff5f5", color="#c53030")
DELTA = dict(shape="box", style="rounded,filled", fillcolor="#fff5f5", color="#e53e3e",
             fontsize="9", margin="0.05,0.03", height="0.3")
CONTRIBUTION = dict(shape="box", style="rounded,filled", fillcolor="#fde2c8", color="#d9822b",
                    fontsize="9", margin="0.05,0.03", height="0.3")
TOTAL = dict(shape="box", style="rounded,filled,bold", fillcolor="#fde2c8", color="#d9822b")
ERROR_EDGE = dict(color="#c53030", penwidth="1.2")


def _symbol(scope_name: str) -> str:
    """What a box is called in a delta's name: the gate's letter ("forget gate f" -> f), the
    expression of a named value ("tanh(c)"), else the scope's name."""
    words = scope_name.split()
    if scope_name.startswith("pre-activations"):
        return "net" + (" " + " ".join(words[1:]) if "_" in scope_name else "")
    if "=" not in scope_name and len(words) > 1 and len(words[-1]) <= 3 and words[-1].isalpha():
        return words[-1]
    return scope_name


def _state_named(scope_name: str, state_names) -> int | None:
    """The index of the state a scope computes ("cell state c" -> c, "hidden h = ..." -> h)."""
    head = str(scope_name).split("=")[0].split()
    return state_names.index(head[-1]) if len(head) > 1 and head[-1] in state_names else None


def _forward_boxes(cell, T):
    """The unrolled forward graph at the level of boxes: (boxes, edges, y_box) where boxes
    maps a key to (kind, step, name), edges is a set of (from key, to key), y_box[t] the key
    of the output of step t. Keys: ("state", t, i), ("y", t), ("gate", t, scope path),
    ("op", t, id), ("param", name)."""
    params = {id(p.node): k for k, p in cell.parameters().items()}
    state = tuple(placeholder((1, n), cell.dtype, name=f"{s}(0)")
                  for s, n in zip(cell.state_names, cell.state_sizes))
    key_of: dict = {}  # id(node) -> its box, over all the steps built so far
    boxes, edges, y_box = {}, set(), []
    for t in range(T):
        x = placeholder((1, cell.input_size), cell.dtype, name=f"x({t + 1})")
        y, new = cell(x, state)
        states = {id(s.node): i for i, s in enumerate(new)}
        order = [n for n in toposort([y.node] + [s.node for s in new]) if id(n) not in key_of]
        for n in order:
            if id(n) in params:
                key_of[id(n)] = ("param", params[id(n)])
            elif id(n) in states:
                key_of[id(n)] = ("state", t, states[id(n)])
            elif id(n) == id(y.node):
                key_of[id(n)] = ("y", t)
            elif n.op.leaf:
                continue  # x(t) and the initial state: no error is drawn for them
            elif n.scope and _state_named(n.scope[-1], cell.state_names) is not None:
                # the terms of a new state ("cell state c": f c + i g) are drawn as its δ
                key_of[id(n)] = ("state", t, _state_named(n.scope[-1], cell.state_names))
            elif n.scope:
                key_of[id(n)] = ("gate", t, tuple(str(s) for s in n.scope))
            else:
                key_of[id(n)] = ("op", t, n.op.symbol or n.op.name, id(n))
        for n in order:
            b = key_of.get(id(n))
            if b is None or b[0] == "param":
                continue
            boxes[b] = n
            if n.op.name == "stop_gradient":  # no error crosses it (truncated gradients)
                continue
            for i in n.inputs:
                a = key_of.get(id(i))
                if a is not None and a != b:
                    edges.add((a, b))
        y_box.append(key_of[id(y.node)])
        state = new
    return boxes, edges, y_box


def _keep(edges, losses):
    """The keys on a path into a loss (what receives error)."""
    into: dict = {}
    for a, b in edges:
        into.setdefault(b, set()).add(a)
    keep, todo = set(losses), list(losses)
    while todo:
        for a in into.get(todo.pop(), ()):
            if a not in keep:
                keep.add(a)
                todo.append(a)
    return keep


def draw_bptt(cell, steps: int = 4, xs=None, loss: str = "last", max_steps: int = 6,
              seed: int = 0):
    """The backward graph of ``cell`` unrolled over ``steps`` steps, as BPTT walks it.

    xs: input values (steps, 1, input_size) (default N(0, 1) with ``seed``); loss: "last"
    (the squared output of the last step: all earlier error came back through time) or
    "every" (the squared output of every step). Beyond ``max_steps`` the middle steps
    collapse into one column. Returns a ``graphviz.Digraph``.
    """
    from ..teach import bptt_trace
    shown, gap = _shown_steps(steps, max_steps)
    if loss not in ("last", "every"):
        raise fail(f"draw_bptt: loss must be 'last' or 'every', got {loss!r}")
    if xs is None:
        xs = np.random.default_rng(seed).standard_normal((steps, 1, cell.input_size))
    xs = np.asarray(xs, dtype=cell.dtype)
    if xs.shape != (steps, 1, cell.input_size):
        raise fail(f"draw_bptt: xs must have shape (steps, 1, input_size) = "
                   f"{(steps, 1, cell.input_size)}, got {xs.shape}")
    loss_steps = list(range(steps)) if loss == "every" else [steps - 1]
    trace = bptt_trace(cell, xs, None,
                       lambda t, y: fsum(y * y) if t in loss_steps else None)
    boxes, edges, y_box = _forward_boxes(cell, steps)
    keep = _keep(edges, [y_box[t] for t in loss_steps])
    names = cell.state_names
    visible = set(shown)

    def step_of(key):
        return None if key[0] == "param" else key[1]

    dot = new_digraph(
        f"BPTT through {cell.title}: the error enters at the loss and flows right to left; "
        "each step adds ΔW(t) to every weight's gradient", "RL", ranksep="0.3", nodesep="0.12")
    clusters = {}
    for t in shown:
        sub = clusters[t] = graphviz.Digraph(name=f"cluster_step{t}")
        sub.attr(label=f"step {t + 1}", style="rounded,filled", fillcolor="#fafafa",
                 color="#cbd5e0", fontname=style.FONT, fontsize="11")

    def dname(key):
        return "d_" + "_".join(str(k) for k in key).replace(" ", "").replace("-", "m").replace(
            "(", "").replace(")", "").replace("=", "").replace("*", "").replace("+", "p").replace(
            "'", "").replace(",", "").replace("[", "").replace("]", "")

    drawn = {}
    for key in sorted((k for k in keep if k[0] != "param"), key=str):
        t = step_of(key)
        if t not in visible:
            continue
        if key[0] == "state":
            n = names[key[2]]
            g = float(np.linalg.norm(trace.deltas[t][n]))
            label = style.html_label(f"δ{n}({t + 1})", f"‖δ{n}‖ = {style.number(g)}")
            look = DELTA_STATE
        elif key[0] == "y":
            label, look = style.html_label(f"δy({t + 1})"), DELTA_STATE
        elif key[0] == "gate":
            label, look = style.html_label(f"δ{_symbol(key[2][-1])}({t + 1})", bold=False), DELTA
        else:
            label, look = style.html_label(f"δ{key[2]}", bold=False), DELTA
        drawn[key] = dname(key)
        clusters[t].node(drawn[key], label, **look)
    for t in loss_steps:
        if t in visible:
            clusters[t].node(f"L{t}", style.html_label(f"L({t + 1})",
                                                       f"loss {style.number(trace.losses[t])}"),
                             **LOSS)
            dot.edge(f"L{t}", drawn[y_box[t]], **ERROR_EDGE)
    # the error flowing back: every forward edge A -> B between drawn boxes, turned round
    gap_name = None
    if gap:
        gap_name = "gap"
        dot.node(gap_name, f"⋯ steps {gap[0] + 1}–{gap[1]} ⋯", shape="plaintext", fontsize="12")
    for a, b in sorted(edges, key=str):
        if a not in keep or b not in keep or a[0] == "param":
            continue
        ta, tb = step_of(a), step_of(b)
        if ta in visible and tb in visible:
            attrs = dict(ERROR_EDGE)
            if ta != tb:  # back through time: one free rank between steps, blue as the state
                attrs.update(color="#2b6cb0", penwidth="1.8", minlen="2")
            dot.edge(drawn[b], drawn[a], **attrs)
        elif tb in visible and ta not in visible:  # into the folded middle
            dot.edge(drawn[b], gap_name, style="dashed", color="#2b6cb0")
        elif ta in visible and tb not in visible and a[0] == "state":  # out of it
            n = names[a[2]]
            g = float(np.linalg.norm(trace.deltas[ta][n]))
            dot.edge(gap_name, drawn[a], style="dashed", color="#2b6cb0",
                     label=f"δ{n}: {style.number(g)}")
    # each step's contribution to each weight, and their sum
    params = list(cell.parameters())
    reads = sorted({(step_of(b), a[1]) for a, b in edges
                    if a[0] == "param" and b in keep and step_of(b) in visible})
    for t, p in reads:
        c = float(np.linalg.norm(trace.contributions[t][p]))
        acc = float(np.linalg.norm(trace.accumulated[t][p]))
        clusters[t].node(f"D_{p}_{t}", style.html_label(
            f"Δ{p}({t + 1})", f"‖Δ‖ = {style.number(c)}", f"‖Σ so far‖ = {style.number(acc)}",
            bold=False), **CONTRIBUTION)
    for a, b in sorted(edges, key=str):
        if a[0] == "param" and b in drawn:
            dot.edge(drawn[b], f"D_{a[1]}_{step_of(b)}", color="#d9822b", penwidth="0.8")
    # the gradient accumulates as BPTT walks back: each step's ΔW(t) is added to the sum of
    # the later steps' (a chain from step to step, not one long edge per step: those made
    # dot stack the steps diagonally)
    for p in params:
        at = [t for t, q in reads if q == p]
        if not at:
            continue
        for later, earlier in zip(reversed(at), list(reversed(at))[1:]):
            skipped = f"+ steps {gap[0] + 1}–{gap[1]}" if gap and later == gap[1] else "+"
            dot.edge(f"D_{p}_{later}", f"D_{p}_{earlier}", color="#d9822b", style="dashed",
                     penwidth="0.8", label=skipped, fontcolor="#d9822b", minlen="2")
        g = float(np.linalg.norm(trace.grads[p]))
        dot.node(f"S_{p}", style.html_label(f"∂L/∂{p} = Σ_t Δ{p}(t)", f"‖∂L/∂{p}‖ = "
                                            f"{style.number(g)}"), **TOTAL)
        dot.edge(f"D_{p}_{at[0]}", f"S_{p}", color="#d9822b", style="dashed", penwidth="0.8")
    for sub in clusters.values():
        dot.subgraph(sub)
    # the steps on one line: a step's contributions rank before the next step (leftwards)
    # begins, else the two clusters share a rank and dot stacks them diagonally
    for later, earlier in zip(reversed(shown), list(reversed(shown))[1:]):
        for t, p in reads:
            if t == later:
                for i in range(len(names)):
                    if ("state", earlier, i) in drawn:
                        dot.edge(f"D_{p}_{t}", drawn[("state", earlier, i)], style="invis",
                                 weight="0")
    for i, n in enumerate(names):
        row = [drawn[("state", t, i)] for t in reversed(shown) if ("state", t, i) in drawn]
        for a, b in zip(row, row[1:]):
            dot.edge(a, b, style="invis", weight="20")
    return dot
