"""Batching (JAX's vmap): the same graph with a new leading axis on some inputs.

Each primitive's ``batch`` rule says how it acts when some of its inputs carry the extra axis;
nodes that depend on no batched input are shared unchanged. RTRL uses this to push one
tangent per parameter entry through a step at once: its sensitivities d state / d params are
the batched tangents.
"""
from __future__ import annotations

from collections.abc import Sequence

from .node import Node, engine_made, fail
from .traverse import toposort


def batch_graph(outputs: Sequence[Node], replace: dict[int, Node], size: int):
    """``outputs`` recomputed with each node id in ``replace`` swapped for a batched node
    (leading axis ``size``). Returns [(node, is_batched)] per output."""
    with engine_made():  # (a with, not a decorator: nodes' sites must not name contextlib)
        return _batch_graph(outputs, replace, size)


def _batch_graph(outputs, replace, size):
    done: dict[int, tuple[Node, bool]] = {k: (v, True) for k, v in replace.items()}
    for v in replace.values():
        if v.ndim == 0 or v.shape[0] != size:
            raise fail(f"batch: a batched input has shape {v.shape}, expected leading axis {size}")
    for node in toposort(outputs):
        if id(node) in done:
            continue
        ins = [done.get(id(i), (i, False)) for i in node.inputs]
        flags = tuple(b for _, b in ins)
        if not any(flags):
            done[id(node)] = (node, False)
            continue
        if node.op.batch is None:
            raise fail(f"batch: primitive {node.op.name} has no batching rule", node.site)
        out = node.op.batch(tuple(n for n, _ in ins), flags, size, **node.attrs)
        expected = (size,) + node.shape
        if out.shape != expected:
            raise fail(f"batch: the {node.op.name} rule gave {out.shape}, expected {expected}",
                       node.site)
        done[id(node)] = (out, True)
    return [done[id(o)] for o in outputs]
