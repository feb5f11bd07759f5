"""The drawing machinery every view shares: place graph nodes (one by one, or collapsed into
one box per scope), group them in clusters, and connect them without duplicate edges."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import graphviz

from ..graph.node import Node
from . import style
from .fold import Folded, fold_steps, step_numbers
from .save import Picture


def new_digraph(title: str | None = None, rankdir: str = "LR", **graph_attr) -> graphviz.Digraph:
    attrs = dict(dict(rankdir=rankdir, fontname=style.FONT, newrank="true", nodesep="0.25",
                      ranksep="0.35"), **graph_attr)
    if title:
        attrs.update(label=title, labelloc="t", fontsize="14")
    return Picture(graph_attr=attrs, node_attr=dict(fontname=style.FONT, fontsize="10"),
                            edge_attr=dict(color="#4a5568", arrowsize="0.6", fontname=style.FONT,
                                           fontsize="8"))


def scope_group(node: Node, prefix=()):
    """The box key of ``detail="gates"``: the node's scope path (None: not in a scope, or
    only in the bare "backward" scope of gradient bookkeeping)."""
    if not node.scope or node.scope == ("backward",):
        return None
    return prefix + node.scope


def scope_boxes(order: list[Node]):
    """``detail="gates"`` grouping: one box per connected piece of one scope within one
    application of a step, so that the same gate at two time steps stays two boxes (even
    where one step's cell state reads the previous step's)."""
    parent: dict[int, int] = {}
    nodes = {id(n): n for n in order}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def key(n):  # the scope path with the step application of each entry
        group = scope_group(n)
        return None if group is None else tuple((s, getattr(s, "call", None)) for s in group)

    keys = {id(n): key(n) for n in order}
    for n in order:
        if keys[id(n)] is not None:
            parent[id(n)] = id(n)
    for n in order:
        k = keys[id(n)]
        for i in n.inputs:
            if k is not None and keys.get(id(i)) == k:
                parent[find(id(i))] = find(id(n))
    boxes = {i: scope_group(nodes[i]) + (find(i),) for i in parent}
    return lambda n: boxes.get(id(n))


def node_label(node: Node, title: str | None = None) -> str:
    kind = node.op.name
    if kind == "parameter":
        return style.html_label(node.name or "parameter", style.shape_text(node.shape),
                                style.value_text(node.attrs["box"].value))
    if kind == "placeholder":
        return style.html_label(node.name or "input", style.shape_text(node.shape))
    if kind == "constant":
        return style.html_label(node.name or "constant", style.shape_text(node.shape),
                                style.value_text(node.attrs["value"]))
    if kind == "fill":
        v = node.attrs["value"]
        return style.html_label(f"{v:g}" if node.shape == () else f"full {v:g}",
                                "" if node.shape == () else style.shape_text(node.shape), bold=False)
    if kind == "scan":
        return style.html_label(f"scan ⟲ T={node.attrs['length']}",
                                f"{len(node.attrs['body'].outputs)} outputs per step")
    if kind == "get":
        return style.html_label(f"output {node.attrs['k']}", style.shape_text(node.shape), bold=False)
    return style.html_label(title or node.op.symbol or kind, style.shape_text(node.shape))


class Canvas:
    """Nodes are drawn once; ``group(node)`` may map a node to a box key (then every node with
    that key is one box); ``cluster(node)`` names the subgraph a node (or box) sits in."""

    def __init__(self, dot: graphviz.Digraph, group: Callable | None = None,
                 cluster: Callable | None = None, faded: Callable | None = None,
                 accent: Callable | None = None, shared: set | None = None):
        self.shared = shared or set()
        self.dot, self.group, self.cluster = dot, group or (lambda n: None), cluster or (lambda n: None)
        self.faded = faded or (lambda n: False)
        self.accent = accent or (lambda n: False)
        self.names: dict[object, str] = {}
        self.clusters: dict[str, graphviz.Digraph] = {}
        self.cluster_labels: dict[str, str] = {}
        self.edges: set[tuple[str, str]] = set()
        self.box_shapes: dict[object, tuple] = {}

    def _target(self, name):
        return self.clusters[name] if name is not None and name in self.clusters else self.dot

    def add_cluster(self, name: str, label: str, **attrs):
        sub = graphviz.Digraph(name=f"cluster_{name}")
        sub.attr(label=label, style=attrs.pop("style", "rounded,filled"),
                 fillcolor=attrs.pop("fillcolor", "#fafafa"), color=attrs.pop("color", "#cbd5e0"),
                 fontname=style.FONT, fontsize="11", **attrs)
        self.clusters[name] = sub
        return sub

    def key(self, node: Node):
        box = self.group(node)
        return ("box", box) if box is not None else ("node", id(node))

    def place(self, node: Node, label: str | None = None, **attrs) -> str:
        """Draw ``node`` (or the box it belongs to) if not drawn yet; return its dot name."""
        k = self.key(node)
        if k in self.names:
            return self.names[k]
        name = f"n{len(self.names)}"
        self.names[k] = name
        if k[0] == "box" and isinstance(k[1], Folded):
            look = dict(style.FOLDED)
            text = label or style.html_label(k[1].label(), f"{k[1].nodes} nodes folded into "
                                             "this box")
        elif k[0] == "box":
            path = [p for p in k[1] if isinstance(p, str)]
            scope_name = path[-1]
            backward = path[0] == "backward"
            look = dict(style.GATE, fillcolor=style.gate_color(scope_name))
            if backward:
                look.update(style.BACKWARD)
                scope_name = "∇ " + scope_name
            text = label or style.html_label(scope_name, style.shape_text(
                self.box_shapes.get(k, node.shape)))
        else:
            look = dict(style.LEAF.get(node.op.name, style.OP))
            text = label or node_label(node)
        if self.faded(node):
            look.update(style.FADED)
        elif self.accent(node) and not node.op.leaf:
            look.update(style.BACKWARD)
        look.update(attrs)
        where = "shared" if id(node) in self.shared else self.cluster(node)
        if where == "shared" and "shared" not in self.clusters:
            self.add_cluster("shared", "read by every step (each read is a dashed stub)",
                             fillcolor="#fffaf0")
        self._target(where).node(name, text, **look)
        return name

    def connect(self, src: str, dst: str, **attrs):
        if src == dst or (src, dst) in self.edges:
            return
        self.edges.add((src, dst))
        self.dot.edge(src, dst, **attrs)

    def draw_nodes(self, order: list[Node], skip: Callable = lambda n: False, edge_attrs=None,
                   labels: dict | None = None, emphasize: set | None = None,
                   looks: dict | None = None):
        """Place every node of ``order`` (topological) and connect it to its inputs.
        labels: id(node) -> label overriding the default; emphasize: ids drawn bold;
        looks: id(node) -> node attributes overriding the default style."""
        labels, emphasize, looks = labels or {}, emphasize or set(), looks or {}
        for node in order:  # a box shows the shape of the last node it holds
            k = self.key(node)
            if k[0] == "box":
                self.box_shapes[k] = node.shape
        for node in order:
            if id(node) in labels or id(node) in emphasize or id(node) in looks:
                bold = dict(penwidth="2") if id(node) in emphasize else {}
                self.place(node, labels.get(id(node)), **bold, **looks.get(id(node), {}))
        for node in order:
            if skip(node):
                continue
            dst = self.place(node)
            for i in node.inputs:
                if skip(i):
                    continue
                extra = (edge_attrs or (lambda a, b: {}))(i, node)
                ci, cn = self.cluster(i), self.cluster(node)
                if ci is not None and cn is not None and ci != cn:
                    # one free rank between two steps, so that no rank holds both (dot would
                    # then stack the steps into a diagonal staircase)
                    extra = dict(extra, minlen="2")
                self.connect(self._source(i, node), dst, **extra)

    def _source(self, leaf: Node, user: Node) -> str:
        """The dot name an edge into ``user`` starts from: a shared leaf read inside a step is
        a stub in that step (the leaf itself is drawn once, in the "shared" cluster)."""
        where = self.cluster(user)
        if id(leaf) not in self.shared or where is None:
            return self.place(leaf)
        if "shared" not in self.clusters:
            self.add_cluster("shared", "read by every step (each read is a dashed stub)",
                             fillcolor="#fffaf0")
        original = self.place(leaf)
        name = f"{original}_{where}"
        if (name, where) not in self.edges:
            self.edges.add((name, where))
            look = dict(style.LEAF.get(leaf.op.name, style.OP), style="rounded,dashed",
                        fontsize="8", height="0.2", margin="0.04")
            # outside the step's cluster: a cluster holding a source node spans back to the
            # ranks of the step before, and dot then stacks the steps diagonally
            self.dot.node(name, leaf.name or node_label(leaf), **look)
        return name

    def align_clusters(self, order: list[Node]):
        """Keep the clusters (time steps) side by side on one line. Two clusters that share a
        rank are stacked by dot, and the part of a step that reads only x(t) and the weights
        would rank as early as the first step: so every entry of step k+1 is put after every
        exit of step k (invisible edges), and the first entries are tied by a heavy one
        (without it the steps still drift into a diagonal staircase)."""
        members: dict[str, list] = {}
        for n in order:
            c = self.cluster(n)
            if c is not None and not n.op.leaf:
                members.setdefault(c, []).append(n)
        inside_users = set()
        for c, nodes in members.items():
            ids = {id(n) for n in nodes}
            inside_users.update(id(i) for n in nodes for i in n.inputs if id(i) in ids)
        ends = {}
        for c, nodes in members.items():
            ids = {id(n) for n in nodes}
            entries = {self.place(n) for n in nodes if not any(id(i) in ids for i in n.inputs)}
            exits = {self.place(n) for n in nodes if id(n) not in inside_users}
            first = next((n for n in nodes if any(id(i) in ids for i in n.inputs)), nodes[0])
            ends[c] = (sorted(entries), sorted(exits), self.place(first))
        names = [c for c in self.clusters if c in ends]
        for a, b in zip(names, names[1:]):
            for x in ends[a][1]:
                for y in ends[b][0]:
                    self.dot.edge(x, y, style="invis", weight="0")
            self.dot.edge(ends[a][2], ends[b][2], style="invis", weight="50")

    def finish(self):
        for sub in self.clusters.values():
            self.dot.subgraph(sub)
        return self.dot


@dataclass
class Plan:
    """How to draw a graph within a node budget (see ``plan``)."""
    group: Callable
    cluster: Callable | None
    title: str | None
    clusters: list
    shared: set


def plan(order: list[Node], group, max_nodes: int, title: str | None) -> Plan:
    """The drawing plan of ``order`` in at most ``max_nodes`` boxes: the steps beyond the
    budget folded into one box (the title says so), every step a cluster "step k", and the
    leaves that several steps read (shared weights) drawn once, in a cluster of their own,
    with a small stub where each step reads them: long edges from one weight into every step
    made dot stack the steps into a diagonal staircase (TensorBoard's graph view likewise
    takes such high-degree nodes out of the layout)."""
    group = group or (lambda n: None)

    def key(n):
        g = group(n)
        return ("node", id(n)) if g is None else ("box", g)
    fold_group, folded = fold_steps(order, key, max_nodes)
    step = step_numbers(order)
    shown = sorted(set(step.values()) - (set(range(folded.first, folded.last + 1))
                                         if folded else set()))
    if folded:
        note = (f"steps {folded.first}–{folded.last} of {max(step.values())} folded into one box "
                f"({folded.nodes} nodes) to stay within max_nodes={max_nodes}")
        title = f"{title}: {note}" if title else note

    def cluster(n):
        s = step.get(id(n))
        return f"step{s}" if s in shown else None
    clusters = [(f"step{s}", f"step {s}") for s in shown] if len(shown) > 1 else []
    readers: dict[int, set] = {}
    for n in order:
        for i in n.inputs:
            if i.op.leaf:
                readers.setdefault(id(i), set()).add(step.get(id(n)))
    shared = {i for i, r in readers.items() if len(r) > 1} if clusters else set()
    return Plan(lambda n: fold_group(n) or group(n), cluster if clusters else None, title,
                clusters, shared)
