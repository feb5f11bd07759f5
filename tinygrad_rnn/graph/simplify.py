"""Graph simplification before execution: common-subexpression elimination.

(Zero and one folding happens earlier, while nodes are built: see each primitive's ``fold``.)
"""
from __future__ import annotations

from .node import Node


def cse(order: list[Node]) -> dict[int, Node]:
    """For each node id in ``order`` (topological), the first structurally equal node.

    Placeholders are never merged (two placeholders of one shape are different inputs), nor
    are impure nodes (two dropout masks are two draws).
    """
    rep: dict[int, Node] = {}
    seen: dict[tuple, Node] = {}
    for node in order:
        if node.op.name == "placeholder" or not node.op.pure:
            rep[id(node)] = node
            continue
        op, inputs, attrs, dtype = node.key()
        key = (op, tuple(id(rep[i]) for i in inputs), attrs, dtype, node.shape)
        rep[id(node)] = seen.setdefault(key, node)
    return rep
