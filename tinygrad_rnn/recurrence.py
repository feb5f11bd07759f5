"""``tr.scan`` (one recurrence node, any T) and ``tr.unroll`` (the explicit DAG with T copies
of a cell's step), at the level of Tensors."""
from __future__ import annotations

from .functions import as_tensor, concat, reshape, stop_gradient
from .graph.node import GraphError, fail
from .ops.scan import scan_nodes
from .tensor import Tensor, api


def _flat(tree, what):
    """(list of Tensors, rebuild function) for a Tensor, None, or a tuple/list of Tensors."""
    if tree is None:
        return [], lambda xs: None
    try:
        if isinstance(tree, (tuple, list)):
            items = [as_tensor(t) for t in tree]
            kind = type(tree)
            return items, lambda xs: kind(xs)
        return [as_tensor(tree)], lambda xs: xs[0]
    except GraphError as e:
        raise fail(f"scan: {what}: {str(e).splitlines()[0].split(': ', 1)[-1]}") from None


@api
def scan(step, init, xs, length: int | None = None, reverse: bool = False,
         checkpoint: int | None = None, truncate: int | None = None):
    """``carry, ys = scan(step, init, xs)``: the loop ``carry, ys[t] = step(carry, xs[t])``
    for t = 0..T-1 (T-1..0 when ``reverse``) as ONE graph node.

    checkpoint=k: run the loop as T/k segments of k steps (a scan of scans). Its gradient
    then keeps only the state entering each segment and recomputes one segment at a time:
    activation memory O(T/k + k) steps instead of O(T) (k ~ sqrt(T) gives O(sqrt T)), for
    one more forward pass. truncate=k: the same segments with the carry cut from the
    gradient where each segment after the first begins (truncated BPTT, as
    ``tr.unroll(..., truncate=k)``); the values are unchanged, whatever k (k >= T cuts
    nothing). Segments are counted in the order the scan runs: with ``reverse=True`` the
    first segment is the last k time steps, and the gradient is cut before times T-1-k,
    T-1-2k, ...

    init: a Tensor or a tuple/list of Tensors (the carry); xs: a Tensor (T, ...), a tuple/list
    of them, or None with ``length=T``; step(carry, x_t) -> (new_carry, y_t) where y_t is a
    Tensor, a tuple/list of them, or None. Returns the final carry and the y_t stacked on a
    new leading axis (JAX's convention). Differentiable in both modes, to any order.

    >>> h, hs = tr.scan(lambda h, x: (tr.tanh(x @ W + h @ U),) * 2, h0, xs)
    """
    if not callable(step):
        raise fail(f"scan: step must be callable, step(carry, x_t) -> (new_carry, y_t); got "
                   f"{step!r}")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
        raise fail(f"scan: length must be an int, got {length!r}")
    for name, k in (("checkpoint", checkpoint), ("truncate", truncate)):
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k <= 0):
            raise fail(f"scan: {name} must be None or a positive int (steps per segment), "
                       f"got {k!r}")
    if checkpoint is not None and truncate is not None:
        raise fail("scan: give checkpoint or truncate, not both")
    if checkpoint is not None or truncate is not None:
        return _segmented(step, init, xs, length, reverse, checkpoint or truncate,
                          cut=truncate is not None)
    init_list, rebuild_carry = _flat(init, "init")
    xs_list, rebuild_x = _flat(xs, "xs")
    y_structure = {}

    def node_step(carry_nodes, x_nodes):
        carry = rebuild_carry([Tensor(n) for n in carry_nodes])
        x = rebuild_x([Tensor(n) for n in x_nodes]) if xs is not None else None
        result = step(carry, x)
        if not (isinstance(result, tuple) and len(result) == 2):
            got = (f"a tuple of {len(result)}" if isinstance(result, tuple)
                   else f"a {type(result).__name__}")
            raise fail(f"scan: step must return a pair (new_carry, y), got {got}")
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


def _map(tree, f):
    if tree is None:
        return None
    if isinstance(tree, (tuple, list)):
        return type(tree)(f(t) for t in tree)
    return f(tree)


def _join(trees):
    """The ys of consecutive runs joined along time."""
    first = trees[0]
    if first is None:
        return None
    if isinstance(first, (tuple, list)):
        return type(first)(_join([t[i] for t in trees]) for i in range(len(first)))
    return trees[0] if len(trees) == 1 else concat(list(trees), axis=0)


def _segmented(step, init, xs, length, reverse, k, cut):
    """Scan in segments of k steps: a scan whose step is a k-step scan, plus plain scans for
    the steps that do not fill a segment. cut: detach the carry entering every segment but
    the first one run (truncated BPTT).

    Segments are counted in the order the scan runs: with reverse=True the first segment is
    the last k time steps (T-k..T-1), the cuts fall before times T-k-1, T-2k-1, ... as seen
    from the end, and the leftover steps are the earliest times."""
    xs_list, rebuild_x = _flat(xs, "xs")
    T = length if not xs_list else xs_list[0].shape[0]
    if T is None:
        raise fail("scan: with no xs, give length")
    if not isinstance(T, int) or T < 1:
        raise fail(f"scan: the sequence length must be at least 1, got T={T}")

    def part(a, b):
        return rebuild_x([x[a:b] for x in xs_list]) if xs is not None else None

    def detach(carry):
        return _map(carry, stop_gradient)

    def inner(carry, seg):
        return scan(step, detach(carry) if cut else carry, seg, length=k, reverse=reverse)

    # the pieces in the order they run, as positions p = 0..T-1 of that order: the first
    # segment alone when cutting (its entry keeps the gradient to init), whole segments as
    # one scan of scans, then the leftover steps
    first = min(k, T) if cut else 0
    whole = (T - first) // k * k
    carry, ys = init, {}
    for a, b, kind in ((0, first, "first"), (first, first + whole, "segments"),
                       (first + whole, T, "rest")):
        if b <= a:
            continue
        ta, tb = (T - b, T - a) if reverse else (a, b)  # the time steps of positions a..b-1
        if kind == "segments":
            n = (b - a) // k
            seg = _map(part(ta, tb), lambda x: reshape(x, (n, k) + x.shape[1:]))
            carry, y = scan(inner, carry, seg, length=n, reverse=reverse)
            ys[ta] = _map(y, lambda v: reshape(v, (n * k,) + v.shape[2:]))
        else:
            entry = detach(carry) if cut and kind == "rest" else carry
            carry, ys[ta] = scan(step, entry, part(ta, tb), length=tb - ta, reverse=reverse)
    return carry, _join([ys[t] for t in sorted(ys)])


@api
def unroll(cell, xs, state0=None, truncate: int | None = None):
    """``ys, final_state = unroll(cell, xs, state0)``: the explicit DAG of T applications of
    ``cell`` (parameters shared), what the seeds draw and BPTT walks.

    xs: a Tensor or array (T, B, I); state0: a tuple of Tensors/arrays, or None for zeros.
    truncate=k detaches the carried state before steps k, 2k, ... (truncated BPTT).
    Returns the list of T outputs y_t and the final state tuple.
    """
    xs = as_tensor(xs)
    if xs.ndim != 3 or xs.shape[0] < 1:
        raise fail(f"unroll: expected xs of shape (T, B, input_size) with T >= 1, got {xs.shape}")
    if state0 is not None and not isinstance(state0, (tuple, list)):
        raise fail(f"unroll: state0 must be a tuple of the cell's state tensors, got "
                   f"{type(state0).__name__}")
    if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, int)
                                 or truncate <= 0):
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
