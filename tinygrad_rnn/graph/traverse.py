"""Walks over graphs: topological order and dependency sets, all iterative (no recursion
limit, so a hand-unrolled chain of 100,000 nodes is fine)."""
from __future__ import annotations

from collections.abc import Iterable

from .node import Node


def toposort(roots: Iterable[Node]) -> list[Node]:
    """Every node reachable from ``roots``, each after all of its inputs."""
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if id(inp) not in seen:
                    stack.append((inp, False))
    return order


def depends_on(order: list[Node], sources: Iterable[Node]) -> set[int]:
    """ids of the nodes in ``order`` (topologically sorted) that depend on any of ``sources``."""
    dep = {id(s) for s in sources}
    for node in order:
        if id(node) not in dep and any(id(i) in dep for i in node.inputs):
            dep.add(id(node))
    return dep


def consumers(order: list[Node]) -> dict[int, list[Node]]:
    """For each node id, the nodes in ``order`` that read it (in order)."""
    users: dict[int, list[Node]] = {id(n): [] for n in order}
    for node in order:
        for inp in node.inputs:
            users.setdefault(id(inp), []).append(node)
    return users


def rebuild(outputs: list[Node], replace: dict[int, Node]) -> list[Node]:
    """Copies of ``outputs`` with the nodes in ``replace`` (id -> new node) substituted;
    only nodes downstream of a substitution are copied, the rest are shared."""
    done: dict[int, Node] = dict(replace)
    for node in toposort(outputs):
        if id(node) in done:
            continue
        inputs = [done.get(id(i), i) for i in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            done[id(node)] = Node(node.op, inputs, node.attrs, node.shape, node.dtype,
                                  name=node.name, site=node.site, scope=node.scope,
                                  engine=node.engine)
    return [done.get(id(o), o) for o in outputs]


def frontier(order: list[Node], inside: set[int], outputs: list[Node], accept) -> list[Node]:
    """The nodes outside ``inside`` (ids) that nodes inside read, or that are ``outputs``
    themselves, kept when ``accept(node)``; each once, in order of first use."""
    found, seen = [], set()

    def visit(n):
        if id(n) not in inside and id(n) not in seen and accept(n):
            seen.add(id(n))
            found.append(n)

    for node in order:
        if id(node) in inside:
            for i in node.inputs:
                visit(i)
    for o in outputs:
        visit(o)
    return found
