"""``draw(tensors)``: any graph, left to right, as micrograd's ``draw_dot`` does: op nodes
show the primitive and output shape; leaves show name, shape and (when small) values;
parameters are drawn apart from data."""
from __future__ import annotations

import graphviz
import numpy as np

from ..graph.traverse import toposort
from ..tensor import Tensor

_LEAF_STYLE = {
    "parameter": dict(shape="box", style="rounded,filled", fillcolor="#fde2c8", color="#d9822b"),
    "placeholder": dict(shape="box", style="rounded,filled", fillcolor="#d8e8f8", color="#2b6cb0"),
    "constant": dict(shape="box", style="rounded", color="#718096"),
    "fill": dict(shape="box", style="rounded,dashed", color="#718096"),
}


def _shape(s):
    return "scalar" if s == () else "×".join(map(str, s))


def _value(array, limit=6):
    a = np.asarray(array)
    if a.size > limit:
        return ""
    return np.array2string(a, precision=3, separator=",", suppress_small=True).replace("\n", "")


def _label(node):
    kind = node.op.name
    title = node.name or kind
    lines = [title if not node.name else f"{title} ({kind})", _shape(node.shape)]
    if kind == "constant":
        lines.append(_value(node.attrs["value"]))
    elif kind == "parameter":
        lines.append(_value(node.attrs["box"].value))
    elif kind == "fill":
        lines[0] = f"{node.attrs['value']:g}" if node.shape == () else f"full {node.attrs['value']:g}"
    return "\n".join(line for line in lines if line)


def draw(tensors, rankdir: str = "LR") -> graphviz.Digraph:
    """A Digraph of everything ``tensors`` (a Tensor or a list) is computed from.

    >>> tr.viz.draw(loss).render("loss", format="svg")
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    order = toposort([t.node for t in tensors])
    outputs = {id(t.node) for t in tensors}
    dot = graphviz.Digraph(graph_attr=dict(rankdir=rankdir, fontname="Helvetica"),
                           node_attr=dict(fontname="Helvetica", fontsize="10"),
                           edge_attr=dict(color="#4a5568", arrowsize="0.6"))
    ids = {id(n): f"n{k}" for k, n in enumerate(order)}
    for node in order:
        style = _LEAF_STYLE.get(node.op.name, dict(shape="ellipse"))
        if id(node) in outputs:
            style = dict(style, penwidth="2")
        dot.node(ids[id(node)], _label(node), **style)
        for i in node.inputs:
            dot.edge(ids[id(i)], ids[id(node)])
    return dot
