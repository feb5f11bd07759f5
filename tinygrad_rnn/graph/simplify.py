"""Graph simplification before execution: common-subexpression elimination, and merging a
forward scan into the scan that extends it with residuals.

(Zero and one folding happens earlier, while nodes are built: see each primitive's ``fold``.)
"""
from __future__ import annotations

from .node import Node
from .traverse import rebuild, toposort


def cse(order: list[Node]) -> dict[int, Node]:
    """For each node id in ``order`` (topological), the first structurally equal node.

    Placeholders are never merged (two placeholders of one shape are different inputs), nor
    are impure nodes (two dropout masks are two draws). ``identity`` is its input's value.
    """
    rep: dict[int, Node] = {}
    seen: dict[tuple, Node] = {}
    for node in order:
        if node.op.same_as_input:  # the same value as its input: no step of its own
            rep[id(node)] = rep[id(node.inputs[0])]
            continue
        if node.op.fed or not node.op.pure:
            rep[id(node)] = node
            continue
        op, inputs, attrs, dtype = node.key()
        key = (op, tuple(id(rep[i]) for i in inputs), attrs, dtype, node.shape)
        rep[id(node)] = seen.setdefault(key, node)
    return rep


def without_identities(outputs: list[Node]) -> list[Node]:
    """``outputs`` rebuilt with every ``identity`` node replaced by its input: a traced step
    body keeps only what computes (the loop planner and the code generator match patterns
    such as ``c + x W``, which an identity in between would hide)."""
    done: dict[int, Node] = {}
    for node in toposort(outputs):
        inputs = [done.get(id(i), i) for i in node.inputs]
        if node.op.same_as_input:
            done[id(node)] = inputs[0]
        elif any(a is not b for a, b in zip(inputs, node.inputs)):
            done[id(node)] = Node(node.op, inputs, node.attrs, node.shape, node.dtype,
                                  name=node.name, site=node.site, scope=node.scope,
                                  engine=node.engine)
    return [done.get(id(o), o) for o in outputs]


def merged(outputs: list[Node]) -> list[Node]:
    """``outputs`` rebuilt so that structurally equal nodes are one node."""
    order = toposort(outputs)
    rep = cse(order)
    return rebuild(outputs, {id(n): rep[id(n)] for n in order if rep[id(n)] is not n})


def fuse_scans(outputs: list[Node]) -> list[Node]:
    """One forward scan where there were two: a BPTT gradient adds a scan that extends the
    forward one with residual ys (same inputs, body with extra outputs); every ``get`` of
    the original is read from the extension instead, so the forward runs once."""
    from ..ops.scan import Layout, get, scan

    order = toposort(outputs)
    scans = [n for n in order if n.op is scan]

    def key(n, body):
        return (id(body), tuple(id(i) for i in n.inputs), n.attrs["length"], n.attrs["reverse"])

    plain = {key(n, n.attrs["body"]): n for n in scans}
    into: dict[int, Node] = {}
    for n in scans:
        base = getattr(n.attrs["body"], "extends", None)
        orig = plain.get(key(n, base)) if base is not None else None
        if orig is not None and id(orig) not in into:
            into[id(orig)] = n
    if not into:
        return outputs
    replace = {}
    for node in order:
        if node.op is get and id(node.inputs[0]) in into:
            orig, ext = Layout.of(node.inputs[0]), into[id(node.inputs[0])]
            k = node.attrs["k"]  # a final carry or y keeps its place; the states move
            replace[id(node)] = get(ext, k=k if k < orig.state(0) else
                                    Layout.of(ext).state(k - orig.state(0)))
    return rebuild(outputs, replace)
