"""``draw_error_flow``: the error of the losses flowing back through the states of an
unrolled cell. Every edge carries the part of the error that travels along it, coloured and
labelled by its norm; every state shows the norm of its total derivative. Vanishing (a
simple RNN's states fade to grey within a few steps) and the constant error carousel (an
LSTM's cell-state row keeps its colour) show at a glance."""
from __future__ import annotations

import html

import graphviz

from ..learn.error_flow import error_flow_data
from . import style
from .canvas import new_digraph


def _legend(dot):
    rows = "".join(
        f'<TR><TD BGCOLOR="{color}" WIDTH="26"> </TD><TD ALIGN="LEFT">{html.escape(text)}</TD></TR>'
        for _, color, text in style.FLOW_BINS)
    dot.node("legend", f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2">'
             f'<TR><TD COLSPAN="2"><B>‖error‖ carried</B></TD></TR>{rows}</TABLE>>',
             shape="box", style="rounded", color="#cbd5e0", fontsize="9")


def draw_error_flow(cell, xs, loss_fn, state0=None, max_steps: int = 12,
                    backend: str = "numba", flow=None) -> graphviz.Digraph:
    """The error-flow picture for input values xs (T, B, I) and loss_fn(t, y_t) (as in
    ``tr.learn.bptt``). Time runs left to right; the error runs right to left, from the losses
    L(t) down into the states and back through the steps. Beyond ``max_steps`` steps the
    middle collapses into one column. The numbers are ``tr.learn.error_flow_data``'s (pass
    ``flow``, its result for the same arguments, to draw numbers already computed)."""
    if flow is None:
        flow = error_flow_data(cell, xs, loss_fn, state0, backend)
    T, names = len(flow.grads), flow.names
    if T <= max_steps:
        shown, gap = list(range(T)), None
    else:
        head = (max_steps + 1) // 2
        shown, gap = list(range(head)) + list(range(T - (max_steps - head), T)), None
        gap = (head, T - (max_steps - head))
    norms = flow.norms()
    dot = new_digraph(f"Error flow in {cell.title}: ‖∂L/∂state‖ at each step; each "
                      "edge carries the error flowing back along it", "TB", ranksep="0.7",
                      nodesep="0.6")
    keep = set(shown)

    def name(key):
        return f"L{key[1]}" if key[0] == "loss" else f"s{key[1]}_{key[2]}"

    # rows are ranks (losses, then each state component in order), so the row order is the
    # same at every step; time runs left to right inside each row
    rows: dict[str, list] = {}
    for t in shown:
        col = []
        if flow.losses[t] is not None:
            dot.node(f"L{t}", style.html_label(f"L({t + 1})", f"loss {style.number(flow.losses[t])}"),
                     shape="box", style="rounded,filled", fillcolor="#fed7d7", color="#c53030")
            col.append(f"L{t}")
            rows.setdefault("loss", []).append(f"L{t}")
        for i, n in enumerate(names):
            g = float(norms[n][t])
            ink = style.on_flow_color(g)
            dot.node(f"s{t}_{i}", style.html_label(f"{n}({t + 1})", f"‖∂L/∂{n}‖ = {style.number(g)}",
                                                   color=ink),
                     shape="box", style="rounded,filled,bold", fillcolor=style.flow_color(g),
                     color="#2d3748", fontcolor=ink)
            col.append(f"s{t}_{i}")
            rows.setdefault(n, []).append(f"s{t}_{i}")
        for a, b in zip(col, col[1:]):  # losses on top, then the states in order
            dot.edge(a, b, style="invis", weight="4")
    for row in rows.values():
        dot.body.append("{rank=same; " + "; ".join(row) + "}")
    for src, dst, norm in flow.edges:
        if src[1] not in keep or dst[1] not in keep:
            continue
        # drawn from the earlier node with dir=back, so that time still runs left to right
        dot.edge(name(dst), name(src), dir="back", color=style.flow_color(norm),
                 penwidth=style.flow_width(norm), label=style.number(norm),
                 fontcolor="#4a5568")
    if gap:  # one "⋯" per row, in the row's rank, so the jump stays inside its row
        last_head, first_tail = gap[0] - 1, gap[1]
        for i, n in enumerate(names):
            a, b = float(norms[n][last_head]), float(norms[n][first_tail])
            dot.node(f"gap{i}", f"⋯ {gap[1] - gap[0]} steps ⋯", shape="plaintext", fontsize="14")
            dot.body.append(f"{{rank=same; gap{i}; s{last_head}_{i}}}")
            dot.edge(f"s{last_head}_{i}", f"gap{i}", dir="back", style="dashed",
                     color=style.flow_color(a), label=f"{n}: {style.number(a)}")
            dot.edge(f"gap{i}", f"s{first_tail}_{i}", dir="back", style="dashed",
                     color=style.flow_color(b), label=f"{n}: {style.number(b)}")
        for a, b in zip(range(len(names)), range(1, len(names))):
            dot.edge(f"gap{a}", f"gap{b}", style="invis", weight="4")
    _legend(dot)
    return dot
