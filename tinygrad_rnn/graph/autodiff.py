"""Symbolic differentiation: graph in, graph out.

``vjp_graph`` (reverse mode) walks the nodes between the outputs and ``wrt`` in reverse
topological order and applies each primitive's VJP rule; ``jvp_graph`` (forward mode) walks
forward applying JVP rules. Zero cotangents and tangents are ``None`` and never become nodes;
only nodes on a path from ``wrt`` to the outputs are visited. Rules are written with
primitives, so the results can be differentiated again.

Multi-output nodes (``scan``) hold one cotangent (or tangent) per output; ``get`` nodes route
between a single output and that list, and the primitive's joint rule handles all at once.
"""
from __future__ import annotations

from collections.abc import Sequence

from .node import Node, engine_made, fail, scope_as
from .traverse import depends_on, toposort

BACKWARD = ("backward",)  # scope prefix of the nodes a VJP rule builds


def add_or_first(a, b):
    """a + b where None means zero."""
    from ..ops.elementwise import add
    if a is None:
        return b
    return a if b is None else add(a, b)


def zeros_for(node):
    from ..ops.leaves import full_like
    return full_like(node, 0)


def _check(value, node, what, site):
    if value.shape != node.shape or value.dtype != node.dtype:
        raise fail(f"{what}: the rule gave {value.shape} {value.dtype} for a value of "
                   f"{node.shape} {node.dtype}", site)


def _differentiable(node) -> bool:
    return node.op.multi or node.dtype.kind == "f"


def vjp_graph(outputs: Sequence[Node], cotangents: Sequence[Node], wrt: Sequence[Node],
              partial: bool = False) -> list[Node]:
    """Nodes for sum_k cotangents[k] . d outputs[k] / d wrt[j], one per ``wrt`` (zeros where
    the outputs do not depend on it).

    By default these are total derivatives: when one ``wrt`` node depends on another, the
    upstream one also receives what flows through the downstream one. ``partial=True``
    treats every ``wrt`` node as an independent input (what a scan body needs, whose consts
    may be computed from each other outside the loop).
    """
    with engine_made():  # (a with, not a decorator: nodes' sites must not name contextlib)
        return _vjp(outputs, cotangents, wrt, partial)


def _vjp(outputs, cotangents, wrt, partial):
    order = toposort(outputs)
    stop = {id(w) for w in wrt} if partial else set()
    needed = depends_on(order, wrt)
    cot: dict[int, object] = {}  # id -> Node, or a list of Node|None for multi nodes
    for out, g in zip(outputs, cotangents):
        if id(out) in needed:
            cot[id(out)] = add_or_first(cot.get(id(out)), g)
    for node in reversed(order):
        g = cot.get(id(node))
        if g is None or node.op.leaf or id(node) in stop:
            continue
        if node.op.selects:
            (src,) = node.inputs
            slots = cot.setdefault(id(src), [None] * len(src.op.avals(src)))
            k = node.attrs["k"]
            slots[k] = add_or_first(slots[k], g)
            continue
        mask = [id(x) in needed and _differentiable(x) for x in node.inputs]
        with scope_as(BACKWARD + tuple(s for s in node.scope if s != BACKWARD[0])):
            if node.op.multi:
                gis = node.op.vjp_all(g, node, *node.inputs, needed=mask, **node.attrs)
            else:
                gis = [None] * len(node.inputs)
                for i in range(len(node.inputs)):
                    rule = node.op.vjp_rule(i) if mask[i] else None
                    if rule is not None:
                        gis[i] = rule(g, node, *node.inputs, **node.attrs)
        for x, gi, m in zip(node.inputs, gis, mask):
            if gi is None or not m:
                continue
            _check(gi, x, f"vjp of {node.op.name}", node.site)
            with scope_as(BACKWARD):  # where error from several paths adds up: its own node
                cot[id(x)] = add_or_first(cot.get(id(x)), gi)
    return [cot.get(id(w)) or zeros_for(w) for w in wrt]


def jvp_graph(outputs: Sequence[Node], primals: Sequence[Node], tangents: Sequence[Node]) -> list[Node]:
    """Nodes for sum_j d outputs[k] / d primals[j] . tangents[j], one per output."""
    with engine_made():
        return _jvp(outputs, primals, tangents)


def _jvp(outputs, primals, tangents):
    order = toposort(outputs)
    needed = depends_on(order, primals)
    tan: dict[int, object] = {}
    for x, t in zip(primals, tangents):
        tan[id(x)] = add_or_first(tan.get(id(x)), t)
    for node in order:
        if id(node) not in needed or id(node) in tan or node.op.leaf:
            continue
        ts = [tan.get(id(x)) for x in node.inputs]
        if node.op.selects:
            t = ts[0][node.attrs["k"]] if ts[0] is not None else None
        elif node.op.multi:
            t = node.op.jvp_all(ts, node, *node.inputs, **node.attrs)
        else:
            t = None
            for i, ti in enumerate(ts):
                rule = node.op.jvp_rule(i) if ti is not None else None
                if rule is not None:
                    contribution = rule(ti, node, *node.inputs, **node.attrs)
                    if contribution is not None:
                        _check(contribution, node, f"jvp of {node.op.name}", node.site)
                        t = add_or_first(t, contribution)
        if t is not None:
            tan[id(node)] = t
    return [tan.get(id(y)) or zeros_for(y) for y in outputs]
