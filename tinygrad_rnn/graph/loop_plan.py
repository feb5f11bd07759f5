"""Planning a compiled scan (a graph-to-graph transformation): what runs before, inside and
after the time loop.

Two graph transformations, for any body:

- hoisting: every value of the body that depends on x_t but not on the carry (an input
  projection x_t W; in a BPTT scan, the whole recomputation of the forward step from the
  saved states) is computed for all t at once before the loop, by batching its subgraph
  over T (one big matmul instead of T small ones);
- accumulators: a carry updated as c' = c + sum of terms (the weight gradients of BPTT:
  g_W += x_t^T delta_t) leaves the loop: the terms' operands are stacked and reduced after
  it, as one matmul (sum_t A_t B_t = [A_1 .. A_T] [B_1; ..; B_T]), one sum, or (any other
  term) the sum of the stacked terms. This needs nobody to read the per-step values of
  that carry, which the caller says through ``keep_states``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ops import leaves
from ..ops.elementwise import add
from ..ops.linalg import matmul
from ..ops.reduce import reduce_sum
from ..ops.shape import reshape, transpose
from .batching import batch_graph
from .traverse import depends_on, frontier, rebuild, toposort


def _ph(shape, dtype, name=None):
    return leaves.placeholder(shape=tuple(shape), dtype=dtype, name=name)


@dataclass
class LoopPlan:
    """pre: (inputs, outputs) graph on the full xs and consts, before the loop;
    body: (inputs, outputs) graph of one step (kept carries, consts, x_t, hoisted_t);
    post: (inputs, outputs) graph on the accumulators' inits and stacked operands;
    kept: original carry index of each loop carry; y_from: where each original y comes
    from (("loop", k) a body output, ("pre", k) a hoisted value); final_from: where each
    final carry comes from (("loop", k) or ("post", k))."""
    pre_in: list
    pre_out: list
    body_in: list
    body_out: list
    post_in: list
    post_out: list
    kept: list
    y_from: list
    final_from: list
    n_extra: int = 0  # body outputs beyond kept carries and ys: operands stacked for post
    operand_from: list = None  # each post operand: ("loop", k) extra k, ("x", j), ("pre", k)


def plan_loop(body, length: int, keep_states: set) -> LoopPlan:
    n, nk = body.n_carry, body.n_const
    C, K, X = body.inputs[:n], body.inputs[n:n + nk], body.inputs[n + nk:]
    outs = list(body.outputs)
    order = toposort(outs)
    cdep, xdep = depends_on(order, C), depends_on(order, X)
    hoist = frontier(order, cdep, outs, lambda n: id(n) in xdep and not n.op.leaf)
    # before the loop: the hoisted values for all t, by batching their subgraph over T
    full_x = [_ph((length,) + x.shape, x.dtype, f"xs{j}") for j, x in enumerate(X)]
    batched = batch_graph(hoist, {id(x): f for x, f in zip(X, full_x)}, length) if hoist else []
    pre_out = [b for b, _ in batched]
    slices = [_ph(h.shape, h.dtype) for h in hoist]
    new_outs = rebuild(outs, {id(h): s for h, s in zip(hoist, slices)})
    # accumulators: c' = c + terms, c read by nothing else
    users: dict[int, int] = {}
    for node in toposort(new_outs):
        for i in node.inputs:
            users[id(i)] = users.get(id(i), 0) + 1
    kept, acc = [], {}
    for j in range(n):
        terms = None if j in keep_states else _accumulator_terms(new_outs[j], C[j], users)
        if terms is None:
            kept.append(j)
        else:
            acc[j] = terms
    y_from, body_ys, hoisted_ids = [], [], {id(h): k for k, h in enumerate(hoist)}
    for k, y in enumerate(outs[n:]):
        if id(y) in hoisted_ids:
            y_from.append(("pre", hoisted_ids[id(y)]))
        else:
            y_from.append(("loop", len(body_ys)))
            body_ys.append(new_outs[n + k])
    extra, operands, operand_from, post_out, final_from = [], [], [], [], []
    slot: dict[int, int] = {}
    outside = {id(x): ("x", j) for j, x in enumerate(X)}
    outside.update({id(s): ("pre", k) for k, s in enumerate(slices)})

    def stacked(node):
        """The post-graph placeholder for ``node`` stacked over T: an xs or a hoisted value
        as it is (no copy), else a body output stacked by the loop."""
        if id(node) not in slot:
            slot[id(node)] = len(operands)
            if id(node) in outside:
                operand_from.append(outside[id(node)])
            else:
                operand_from.append(("loop", len(extra)))
                extra.append(node)
            operands.append(_ph((length,) + node.shape, node.dtype))
        return operands[slot[id(node)]]

    inits = {}
    for j in range(n):
        if j in acc:
            init = _ph(C[j].shape, C[j].dtype, f"init{j}")
            inits[j] = init
            total = init
            for term in acc[j]:
                total = add(total, _reduced(term, stacked, length))
            final_from.append(("post", len(post_out)))
            post_out.append(total)
        else:
            final_from.append(("loop", kept.index(j)))
    plan = LoopPlan(
        pre_in=full_x + list(K), pre_out=pre_out,
        body_in=[C[j] for j in kept] + list(K) + list(X) + slices,
        body_out=[new_outs[j] for j in kept] + body_ys + extra,
        post_in=[inits[j] for j in sorted(inits)] + operands, post_out=post_out,
        kept=kept, y_from=y_from, final_from=final_from, n_extra=len(extra),
        operand_from=operand_from)
    return plan


def _accumulator_terms(new, c, users):
    """[terms] when new = c + t1 + t2 + ... with c read nowhere else and c' read by nothing in
    the step (the 1997 LSTM's c' = c + i g is no accumulator: h reads c'); else None."""
    if new.op is not add or users.get(id(c), 0) != 1 or users.get(id(new), 0):
        return None
    a, b = new.inputs
    if a is c and b is not c:
        rest = b
    elif b is c and a is not c:
        rest = a
    else:
        return None
    terms, stack = [], [rest]
    while stack:
        t = stack.pop()
        if t.op is add and users.get(id(t), 0) == 1:
            stack.extend(t.inputs)
        else:  # a matmul or a sum is reduced with one big op; anything else is stacked and summed
            terms.append(t)
    if any(id(t) in depends_on(toposort([t]), [c]) for t in terms):
        return None
    return terms


def _reduced(term, stacked, length):
    """sum over t of ``term`` from its stacked operands, as one matmul or one sum."""
    if term.op not in (matmul, reduce_sum) or (term.op is matmul and term.ndim != 2):
        return reduce_sum(stacked(term), axis=(0,), keepdims=False)
    if term.op is matmul:
        A, B = term.inputs
        m, k = A.shape
        n = B.shape[1]
        Bs = stacked(B)  # (T, k, n)
        if A.op is transpose:  # A_t = P_t^T (BPTT's h^T delta): stack P, no copy
            left = transpose(reshape(stacked(A.inputs[0]), shape=(length * k, m)), axes=(1, 0))
        else:
            left = reshape(transpose(stacked(A), axes=(1, 0, 2)), shape=(m, length * k))
        return matmul(left, reshape(Bs, shape=(length * k, n)))
    (E,) = term.inputs
    axis, keep = term.attrs["axis"], term.attrs["keepdims"]
    out = reduce_sum(stacked(E), axis=(0,) + tuple(a + 1 for a in axis), keepdims=False)
    return reshape(out, shape=term.shape) if keep else out
