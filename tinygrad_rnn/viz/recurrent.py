"""Pictures of a cell: ``draw_folded`` (one step with its delay edge, the left half of the
seeds' "unfold" figure) and ``draw_unrolled`` (T steps as clusters left to right, shared
parameters drawn once, inputs below and outputs above)."""
from __future__ import annotations

import graphviz

from ..graph.node import fail
from ..graph.traverse import toposort
from ..tensor import placeholder
from . import style
from .canvas import Canvas, new_digraph, scope_boxes

STATE = dict(shape="box", style="rounded,filled,bold", fillcolor="#bee3f8", color="#2b6cb0")
OUTPUT = dict(shape="box", style="rounded,filled", fillcolor="#c6f6d5", color="#2f855a")


def _check(cell, detail):
    if detail not in ("ops", "gates"):
        raise fail(f"detail must be 'ops' or 'gates', got {detail!r}")
    return cell


def draw_folded(cell, detail: str = "gates") -> graphviz.Digraph:
    """The cell as one step with its recurrent (delay) edges: x(t) and the state entering
    the step at the bottom, the new state and output at the top; each new state loops back
    through a delay (■) to become the next step's input state."""
    _check(cell, detail)
    x = placeholder((1, cell.input_size), cell.dtype, name="x(t)")
    state = tuple(placeholder((1, n), cell.dtype, name=f"{s}(t−1)")
                  for s, n in zip(cell.state_names, cell.state_sizes))
    y, new = cell(x, state)
    dot = new_digraph(f"{cell.title}: folded (one step; each new state loops back through a "
                      "delay ■, one step later)", "BT")
    order = toposort([y.node] + [s.node for s in new])
    canvas = Canvas(dot, group=scope_boxes(order) if detail == "gates" else None)
    labels = {id(s.node): style.html_label(f"{name}(t)", style.shape_text(s.shape))
              for s, name in zip(new, cell.state_names)}
    if id(y.node) not in labels:
        labels[id(y.node)] = style.html_label("y(t)", style.shape_text(y.shape))
    grouped = canvas.group
    canvas.group = lambda n: None if id(n) in labels else grouped(n)
    looks = {id(s.node): STATE for s in (*state, *new)}
    looks.setdefault(id(y.node), OUTPUT)
    canvas.draw_nodes(order, labels=labels, looks=looks)
    for s_in, s_out in zip(state, new):
        out, inp = canvas.place(s_out.node), canvas.place(s_in.node)
        delay = f"delay_{inp}"
        # explained once in the title: per-edge labels landed on the state nodes
        dot.node(delay, "", shape="square", style="filled", fillcolor="black", width="0.15",
                 height="0.15", fixedsize="true", tooltip="delay: one step later")
        dot.edge(out, delay, constraint="false", color="#2b6cb0", penwidth="1.6", arrowhead="none",
                 style="dashed")
        dot.edge(delay, inp, constraint="false", color="#2b6cb0", penwidth="1.6", style="dashed")
    return canvas.finish()


def _shown_steps(steps, max_steps):
    if not isinstance(steps, int) or steps < 1:
        raise fail(f"steps must be a positive int, got {steps!r}")
    if steps <= max_steps:
        return list(range(steps)), None
    head = (max_steps + 1) // 2
    tail = max_steps - head
    return list(range(head)) + list(range(steps - tail, steps)), (head, steps - tail)


def draw_unrolled(cell, steps: int, detail: str = "gates", max_steps: int = 8,
                  loss: bool = False) -> graphviz.Digraph:
    """The unrolled DAG over ``steps`` steps: each step a cluster, laid left to right; the
    shared parameters drawn once with an edge into every step that reads them; inputs x(t)
    below, outputs y(t) above. Beyond ``max_steps`` the middle steps collapse into one
    "⋯" node. ``loss=True`` adds a loss node L(t) on each output (the error's source)."""
    _check(cell, detail)
    shown, gap = _shown_steps(steps, max_steps)
    dot = new_digraph(f"{cell.title} unrolled over {steps} steps (parameters shared)", "BT")
    params = {id(p.node) for p in cell.parameters().values()}
    state = tuple(placeholder((1, n), cell.dtype, name=f"{s}(0)")
                  for s, n in zip(cell.state_names, cell.state_sizes))
    step_of, labels, looks, outputs, entry, inputs = {}, {}, {}, [], {}, []
    seen = set(params)
    for t in shown:
        if gap and t == gap[1]:
            state = tuple(placeholder((1, n), cell.dtype, name=f"{s}({t})")
                          for s, n in zip(cell.state_names, cell.state_sizes))
            entry[t] = state
        x = placeholder((1, cell.input_size), cell.dtype, name=f"x({t + 1})")
        inputs.append(x)
        y, new = cell(x, state)
        roots = [y.node] + [s.node for s in new]
        for node in toposort(roots):
            if id(node) not in seen:
                seen.add(id(node))
                step_of[id(node)] = t
        for s, name in zip(new, cell.state_names):
            labels[id(s.node)] = style.html_label(f"{name}({t + 1})", style.shape_text(s.shape))
            looks[id(s.node)] = STATE
        if id(y.node) not in labels:
            labels[id(y.node)] = style.html_label(f"y({t + 1})", style.shape_text(y.shape))
            looks[id(y.node)] = OUTPUT
        outputs.append((t, y, new))
        state = new
    first_state = [n for n in toposort([o[1].node for o in outputs[:1]])
                   if n.op.fed and n.name and n.name.endswith("(0)")]
    for node in first_state:
        labels[id(node)] = style.html_label(node.name, style.shape_text(node.shape))
        looks[id(node)] = STATE

    def cluster(node):
        t = step_of.get(id(node))
        return None if t is None else f"t{t}"

    def group(node):
        if id(node) in labels or detail != "gates" or not node.scope:
            return None
        return (step_of.get(id(node)),) + node.scope

    canvas = Canvas(dot, group=group, cluster=cluster)
    for t in shown:
        canvas.add_cluster(f"t{t}", f"step t = {t + 1}")
    order = toposort([n for _, y, new in outputs for n in (y.node, *[s.node for s in new])])
    canvas.draw_nodes(order, labels=labels, looks=looks, edge_attrs=lambda a, b: (
        dict(color="#d9822b", style="dashed", penwidth="0.6", constraint="false")
        if id(a) in params else
        dict(color="#2b6cb0", penwidth="1.8", constraint="false", tailport="e", headport="w")
        if id(a) in looks
        and looks[id(a)] is STATE and step_of.get(id(a)) != step_of.get(id(b)) else {}))
    if loss:
        for t, y, _ in outputs:
            name = f"loss{t}"
            canvas._target(f"t{t}").node(name, style.html_label(f"L({t + 1})", "loss"),
                                        shape="box", style="rounded,filled", fillcolor="#fed7d7",
                                        color="#c53030")
            canvas.connect(canvas.place(y.node), name, color="#c53030")
    row = [canvas.place(x.node) for x in inputs]
    if gap:  # the collapsed middle: each state jumps over the hidden steps in one dashed edge
        last = outputs[len([t for t in shown if t < gap[0]]) - 1][2]
        for s_out, s_in in zip(last, entry[gap[1]]):
            canvas.connect(canvas.place(s_out.node), canvas.place(s_in.node), color="#2b6cb0",
                           penwidth="1.8", style="dashed", constraint="false", fontsize="12",
                           label=f"⋯ {gap[1] - gap[0]} steps ⋯")
    canvas.finish()
    # time runs left to right: the inputs share one rank, chained by invisible edges (after
    # the clusters, so that the nodes are already defined inside them)
    dot.body.append("{rank=same; " + "; ".join(row) + "}")
    for a, b in zip(row, row[1:]):
        dot.edge(a, b, style="invis", weight="10")
    return dot

