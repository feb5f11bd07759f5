"""``draw`` (any graph) and ``draw_backward`` (the gradient graph over its faded forward
graph): left to right, as micrograd's ``draw_dot`` does."""
from __future__ import annotations

import graphviz

from ..graph.node import fail
from ..graph.traverse import toposort
from ..tensor import Tensor
from ..transforms import grad
from . import style
from .canvas import Canvas, new_digraph, plan, scope_boxes
from .fold import MAX_NODES


def _tensors(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _detail(detail, order):
    if detail not in ("ops", "gates"):
        raise fail(f"detail must be 'ops' or 'gates', got {detail!r}")
    return scope_boxes(order) if detail == "gates" else None


def draw(tensors, detail: str = "ops", rankdir: str = "LR", title: str | None = None,
         max_nodes: int = MAX_NODES) -> graphviz.Digraph:
    """A Digraph of everything ``tensors`` (a Tensor or a list) is computed from: op nodes
    show the primitive and output shape, leaves their name, shape and small values;
    parameters orange, inputs blue. ``detail="gates"`` draws one box per named scope. Each
    time step of an unrolled cell is a cluster; beyond ``max_nodes`` boxes the middle steps
    fold into one box (the title says which), so that Graphviz lays it out in seconds.

    >>> tr.viz.draw(loss).render("loss", format="svg")
    """
    ts = _tensors(tensors)
    order = toposort([t.node for t in ts])
    p = plan(order, _detail(detail, order), max_nodes, title)
    canvas = Canvas(new_digraph(p.title, rankdir), group=p.group, cluster=p.cluster,
                    shared=p.shared)
    for name, label in p.clusters:
        canvas.add_cluster(name, label)
    labels = {id(t.node): style.html_label(t.name or "output", style.shape_text(t.shape))
              for t in ts if t.name}
    canvas.draw_nodes(order, labels=labels, emphasize={id(t.node) for t in ts})
    canvas.align_clusters(order)
    return canvas.finish()


def draw_backward(loss: Tensor, wrt, detail: str = "ops", rankdir: str = "LR",
                  max_nodes: int = MAX_NODES) -> graphviz.Digraph:
    """The graph ``tr.grad(loss, wrt)`` builds, with the forward graph it reads faded: BPTT
    as a graph. Gradient outputs are labelled ∂loss/∂name; backward nodes are red. Beyond
    ``max_nodes`` boxes the middle time steps fold into one box, as in ``draw``."""
    wrt = _tensors(wrt)
    grads = grad(loss, wrt)
    forward = {id(n) for n in toposort([loss.node])}
    order = toposort([g.node for g in grads])
    p = plan(order, _detail(detail, order), max_nodes,
             "backward graph: ∂loss/∂" + ", ∂loss/∂".join(w.name or "x" for w in wrt))
    canvas = Canvas(new_digraph(p.title, rankdir), group=p.group, cluster=p.cluster,
                    faded=lambda n: id(n) in forward, accent=lambda n: id(n) not in forward,
                    shared=p.shared)
    for name, label in p.clusters:
        canvas.add_cluster(name, label)
    labels = {}
    for w, g in zip(wrt, grads):
        labels[id(g.node)] = style.html_label(f"∂loss/∂{w.name or 'x'}", style.shape_text(g.shape))
    canvas.draw_nodes(order, labels=labels, emphasize={id(g.node) for g in grads},
                      edge_attrs=lambda a, b: (dict(color="#cbd5e0") if id(a) in forward
                                               and id(b) in forward else dict(color="#c53030")))
    canvas.align_clusters(order)
    return canvas.finish()
