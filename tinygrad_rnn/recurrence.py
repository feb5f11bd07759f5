"""``tr.scan`` (one recurrence node, any T) and ``tr.unroll`` (the explicit DAG with T copies
of a cell's step), at the level of Tensors."""
from __future__ import annotations

from .functions import as_tensor, stop_gradient
from .graph.node import fail
from .graph.scan import scan_nodes
from .tensor import Tensor


def _flat(tree, what):
    """(list of Tensors, rebuild function) for a Tensor, None, or a tuple/list of Tensors."""
    if tree is None:
        return [], lambda xs: None
    if isinstance(tree, (tuple, list)):
        items = [as_tensor(t) for t in tree]
        kind = type(tree)
        return items, lambda xs: kind(xs)
    return [as_tensor(tree)], lambda xs: xs[0]


def scan(step, init, xs, length: int | None = None, reverse: bool = False):
    """``carry, ys = scan(step, init, xs)``: the loop ``carry, ys[t] = step(carry, xs[t])``
    for t = 0..T-1 (T-1..0 when ``reverse``) as ONE graph node.

    init: a Tensor or a tuple/list of Tensors (the carry); xs: a Tensor (T, ...), a tuple/list
    of them, or None with ``length=T``; step(carry, x_t) -> (new_carry, y_t) where y_t is a
    Tensor, a tuple/list of them, or None. Returns the final carry and the y_t stacked on a
    new leading axis (JAX's convention). Differentiable in both modes, to any order.

    >>> h, hs = tr.scan(lambda h, x: (tr.tanh(x @ W + h @ U),) * 2, h0, xs)
    """
    init_list, rebuild_carry = _flat(init, "init")
    xs_list, rebuild_x = _flat(xs, "xs")
    y_structure = {}

    def node_step(carry_nodes, x_nodes):
        carry = rebuild_carry([Tensor(n) for n in carry_nodes])
        x = rebuild_x([Tensor(n) for n in x_nodes]) if xs is not None else None
        result = step(carry, x)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise fail("scan: step must return a pair (new_carry, y)")
        new_carry, y = result
        new_list, _ = _flat(new_carry, "carry")
        if len(new_list) != len(init_list) or type(new_carry) is not type(init) and not (
                isinstance(new_carry, Tensor) and isinstance(init, Tensor)):
            raise fail(f"scan: step returned a carry of {len(new_list)} tensors "
                       f"({type(new_carry).__name__}); init has {len(init_list)} "
                       f"({type(init).__name__})")
        y_list, rebuild_y = _flat(y, "y")
        y_structure["rebuild"] = rebuild_y
        return [t.node for t in new_list], [t.node for t in y_list]

    final, ys, _ = scan_nodes(node_step, [t.node for t in init_list], [x.node for x in xs_list],
                              length, reverse)
    return rebuild_carry([Tensor(n) for n in final]), y_structure["rebuild"]([Tensor(n) for n in ys])


def unroll(cell, xs, state0=None, truncate: int | None = None):
    """``ys, final_state = unroll(cell, xs, state0)``: the explicit DAG of T applications of
    ``cell`` (parameters shared), what the seeds draw and BPTT walks.

    xs: a Tensor or array (T, B, I); state0: a tuple of Tensors/arrays, or None for zeros.
    truncate=k detaches the carried state before steps k, 2k, ... (truncated BPTT).
    Returns the list of T outputs y_t and the final state tuple.
    """
    xs = as_tensor(xs)
    if xs.ndim < 2 or xs.shape[0] < 1:
        raise fail(f"unroll: expected xs of shape (T, B, input_size) with T >= 1, got {xs.shape}")
    if truncate is not None and (not isinstance(truncate, int) or truncate <= 0):
        raise fail(f"unroll: truncate must be a positive int (steps between detaches), got "
                   f"{truncate!r}")
    state = cell.initial_state(xs.shape[1]) if state0 is None else tuple(
        as_tensor(s) for s in state0)
    ys = []
    for t in range(xs.shape[0]):
        if truncate and t and t % truncate == 0:
            state = tuple(stop_gradient(s) for s in state)
        y, state = cell(xs[t], state)
        ys.append(y)
    return ys, state
