"""Keeping big pictures drawable: which application of a recurrent step (which time step)
each node belongs to, and, above a node budget, folding the middle steps into one box.

Graphviz's ``dot`` needs seconds for a few hundred nodes with clusters and minutes for a
thousand (an unrolled 50-step LSTM has ~1,150), so every view draws at most ``max_nodes``
boxes: the first and last steps in full, the steps between them as one box that says how
many nodes it stands for."""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.node import Node

MAX_NODES = 100  # boxes per picture: dot lays this out in about a second, a page can show it


@dataclass(frozen=True)
class Folded:
    """The group key of the folded steps ``first``..``last`` (1-based), ``nodes`` nodes."""
    first: int
    last: int
    nodes: int

    def label(self) -> str:
        return f"⋯ steps {self.first}–{self.last} ⋯"


def step_numbers(order: list[Node]) -> dict[int, int]:
    """id(node) -> its time step (1-based, in the order the steps were applied) for the nodes
    built inside a cell's step, and for the unscoped nodes that only serve one step (the slice
    x[t] a step reads) or only read from steps (a loss on the outputs: the latest step read).
    Leaves (parameters, inputs) belong to no step."""
    calls = {}
    for n in order:
        c = next((s.call for s in n.scope if getattr(s, "call", None) is not None), None)
        if c is not None:
            calls[id(n)] = c
    if not calls:
        return {}
    rank = {c: k for k, c in enumerate(sorted(set(calls.values())), 1)}
    step = {i: rank[c] for i, c in calls.items()}
    users: dict[int, list[int]] = {}
    for n in order:
        for i in n.inputs:
            users.setdefault(id(i), []).append(id(n))
    for n in order:  # results of steps: the latest step they read
        if id(n) not in step and not n.op.leaf:
            read = [step[id(i)] for i in n.inputs if id(i) in step]
            if read:
                step[id(n)] = max(read)
    for n in reversed(order):  # what a step reads and nothing else uses: that step
        if id(n) not in step and not n.op.leaf:
            used = [step[u] for u in users.get(id(n), ()) if u in step]
            if used and len(used) == len(users[id(n)]):
                step[id(n)] = min(used)
    return step


def fold_steps(order: list[Node], key, max_nodes: int = MAX_NODES):
    """(group, folded): ``group(node)`` is a ``Folded`` key for the nodes of the folded
    steps (else None); ``folded`` is that key, or None when everything fits. ``key(node)``
    is the box a node is drawn in, so the budget counts boxes, not nodes."""
    if not isinstance(max_nodes, int) or isinstance(max_nodes, bool) or max_nodes < 1:
        from ..graph.node import fail
        raise fail(f"max_nodes must be a positive int, got {max_nodes!r}")
    step = step_numbers(order)
    boxes: dict[int | None, set] = {}
    for n in order:
        boxes.setdefault(step.get(id(n)), set()).add(key(n))
    total = len(set().union(*boxes.values()))
    steps = sorted(s for s in boxes if s is not None)
    if total <= max_nodes or len(steps) < 3:
        return (lambda n: None), None
    room = max_nodes - len(boxes.get(None, ())) - 1
    head, tail, used = [steps[0]], [steps[-1]], len(boxes[steps[0]]) + len(boxes[steps[-1]])
    middle = steps[1:-1]
    while middle:  # alternate: one more step at the end, one more at the start
        pick = middle[-1] if len(tail) <= len(head) else middle[0]
        if used + len(boxes[pick]) > room:
            break
        used += len(boxes[pick])
        (tail if pick == middle[-1] else head).append(pick)
        middle.remove(pick)
    if not middle:
        return (lambda n: None), None
    hidden = set(middle)
    count = sum(1 for n in order if step.get(id(n)) in hidden)
    folded = Folded(min(middle), max(middle), count)
    return (lambda n: folded if step.get(id(n)) in hidden else None), folded
