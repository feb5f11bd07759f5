"""Symbolic differentiation: graph in, graph out.

``vjp_graph`` (reverse mode) walks the nodes between the outputs and ``wrt`` in reverse
topological order and applies each primitive's VJP rule; ``jvp_graph`` (forward mode) walks
forward applying JVP rules. Zero cotangents and tangents are ``None`` and never become nodes;
only nodes on a path from ``wrt`` to the outputs are visited. Rules are written with
primitives, so the results can be differentiated again.
"""
from __future__ import annotations

from collections.abc import Sequence

from .node import Node, fail
from .traverse import depends_on, toposort


def _add(a, b):
    from ..ops.elementwise import add
    return b if a is None else add(a, b)


def _zeros(node):
    from ..ops.leaves import full_like
    return full_like(node, 0)


def _check_cotangent(value, node, what, site):
    if value.shape != node.shape or value.dtype != node.dtype:
        raise fail(f"{what}: {node.op.name} rule gave {value.shape} {value.dtype} for an input "
                   f"of {node.shape} {node.dtype}", site)


def vjp_graph(outputs: Sequence[Node], cotangents: Sequence[Node], wrt: Sequence[Node]) -> list[Node]:
    """Nodes for sum_k cotangents[k] . d outputs[k] / d wrt[j], one per ``wrt`` (zeros where
    an output does not depend on it)."""
    order = toposort(outputs)
    needed = depends_on(order, wrt)
    cot: dict[int, Node] = {}
    for out, g in zip(outputs, cotangents):
        if id(out) in needed:
            cot[id(out)] = _add(cot.get(id(out)), g)
    for node in reversed(order):
        g = cot.get(id(node))
        if g is None or node.op.leaf:
            continue
        for i, x in enumerate(node.inputs):
            if id(x) not in needed:
                continue
            rule = node.op.vjp_rule(i)
            if rule is None:
                continue
            gi = rule(g, node, *node.inputs, **node.attrs)
            if gi is None:
                continue
            _check_cotangent(gi, x, "vjp", node.site)
            cot[id(x)] = _add(cot.get(id(x)), gi)
    return [cot.get(id(w)) or _zeros(w) for w in wrt]


def jvp_graph(outputs: Sequence[Node], primals: Sequence[Node], tangents: Sequence[Node]) -> list[Node]:
    """Nodes for sum_j d outputs[k] / d primals[j] . tangents[j], one per output."""
    order = toposort(outputs)
    needed = depends_on(order, primals)
    tan: dict[int, Node] = {}
    for x, t in zip(primals, tangents):
        tan[id(x)] = _add(tan.get(id(x)), t)
    for node in order:
        if id(node) not in needed or id(node) in tan or node.op.leaf:
            continue
        total = None
        for i, x in enumerate(node.inputs):
            t = tan.get(id(x))
            rule = node.op.jvp_rule(i) if t is not None else None
            if rule is None:
                continue
            ti = rule(t, node, *node.inputs, **node.attrs)
            if ti is not None:
                _check_cotangent(ti, node, "jvp", node.site)
                total = _add(total, ti)
        if total is not None:
            tan[id(node)] = total
    return [tan.get(id(y)) or _zeros(y) for y in outputs]
