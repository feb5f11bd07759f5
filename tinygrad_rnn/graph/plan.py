"""Scheduling: turn the graph behind some outputs into a flat list of steps, with the step
after which each intermediate value is no longer needed (so it can be released)."""
from __future__ import annotations

from dataclasses import dataclass

from .node import Node
from .simplify import cse, fuse_scans
from .traverse import toposort


@dataclass
class Step:
    node: Node
    slot: int
    args: tuple[int, ...]  # slots of the inputs
    release: tuple[int, ...]  # slots whose last reader is this step


@dataclass
class Plan:
    steps: list[Step]
    output_slots: list[int]
    placeholder_slots: dict[int, int]  # id(placeholder node) -> slot
    nslots: int


def make_plan(outputs: list[Node]) -> Plan:
    """Topological schedule of ``outputs``' graph after scan fusion and common-subexpression
    elimination."""
    outputs = fuse_scans(outputs)
    order = toposort(outputs)
    rep = cse(order)
    slot: dict[int, int] = {}
    steps: list[Step] = []
    for node in order:
        if rep[id(node)] is not node:
            continue
        slot[id(node)] = len(steps)
        steps.append(Step(node, len(steps), tuple(slot[id(rep[id(i)])] for i in node.inputs), ()))
    output_slots = [slot[id(rep[id(o)])] for o in outputs]
    last: dict[int, int] = {}
    for step in steps:
        for a in step.args:
            last[a] = step.slot
    keep = set(output_slots)
    frees: dict[int, list[int]] = {}
    for s, reader in last.items():
        if s not in keep:
            frees.setdefault(reader, []).append(s)
    for step in steps:
        step.release = tuple(frees.get(step.slot, ()))
    placeholders = {id(s.node): s.slot for s in steps if s.node.op.fed}
    return Plan(steps, output_slots, placeholders, len(steps))
