"""The recurrence node: ``scan`` holds a step body graph and runs it over time.

``carry, ys = scan(step, init, xs)`` equals the plain loop

    for t in range(T):               # reversed(range(T)) when reverse=True
        carry, y[t] = step(carry, xs[t])

but is ONE node whatever T is. The body is traced once on fresh placeholders; values it
reads from outside (parameters, loop-invariant products) become explicit inputs of the node
(``consts``), so they are hoisted out of the loop and differentiated like any input. Besides
the final carry and the stacked ys, the node also outputs the carry entering every step (the
residuals BPTT needs).

Its VJP is a reverse-time scan over the body's VJP (this is BPTT); its JVP a forward-time scan
carrying tangents next to the state (this is RTRL's structure). Both are scans themselves,
so they can be differentiated again.
"""
from __future__ import annotations

import re

import numpy as np

from ..ops import leaves
from ..ops.registry import check, primitive
from .autodiff import add_or_first, jvp_graph, vjp_graph, zeros_for
from .node import fail
from .simplify import merged, without_identities
from .traverse import depends_on, frontier, rebuild, toposort


class Body:
    """A traced step: ``inputs`` (placeholders for carry, consts, x_t) -> ``outputs``
    (new carry, y_t). Hashed by identity; what the runtime compiles for it is kept in
    ``_functions`` (see ``runtime.scan_runner``)."""

    def __init__(self, inputs, outputs, n_carry, n_const):
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.n_carry, self.n_const = n_carry, n_const
        self._functions = {}

    @property
    def carry_in(self):
        return self.inputs[:self.n_carry]

    @property
    def x_in(self):
        return self.inputs[self.n_carry + self.n_const:]

    @property
    def ys(self):
        return self.outputs[self.n_carry:]

    def apply(self, carry, consts, xs):
        """The body's outputs rebuilt on the given nodes (inlining one step)."""
        replace = {id(p): v for p, v in zip(self.inputs, list(carry) + list(consts) + list(xs))}
        return rebuild(self.outputs, replace)



def _placeholder_like(node, shape=None, name=None):
    return leaves.placeholder(shape=node.shape if shape is None else shape, dtype=node.dtype,
                              name=name)


def _kept_inside(node) -> bool:
    """Leaves that stay inside the body (cheap, and visible to folding)."""
    return node.op is leaves.fill or node.op is leaves.constant


def trace_body(step, carry_avals, x_avals):
    """Trace ``step(carry_nodes, x_nodes) -> (carry_nodes, y_nodes)`` into a closed Body and
    the outer nodes it reads (its consts)."""
    carry_in = [_placeholder_like(c, name=f"carry{j}") for j, c in enumerate(carry_avals)]
    x_in = [leaves.placeholder(shape=s, dtype=d, name=f"x{j}") for j, (s, d) in enumerate(x_avals)]
    new_carry, ys = step(list(carry_in), list(x_in))
    outputs = without_identities(list(new_carry) + list(ys))
    order = toposort(outputs)
    inside = depends_on(order, carry_in + x_in)
    consts = frontier(order, inside, outputs, lambda n: not _kept_inside(n))
    const_in = [_placeholder_like(c, name=c.name) for c in consts]
    body_out = rebuild(outputs, {id(c): p for c, p in zip(consts, const_in)})
    return Body(carry_in + const_in + x_in, body_out, len(carry_in), len(const_in)), consts


def scan_nodes(step, init, xs, length=None, reverse=False):
    """Node-level scan: returns (final carry nodes, stacked y nodes, stacked carry nodes)."""
    init, xs = list(init), list(xs)
    if length is None:
        if not xs:
            raise fail("scan: with no xs, give length")
        length = xs[0].shape[0] if xs[0].ndim else None
    for j, x in enumerate(xs):
        if x.ndim == 0 or x.shape[0] != length:
            raise fail(f"scan: xs[{j}] has shape {x.shape}; every xs needs leading axis T={length}")
    if length is None or length < 1:
        raise fail(f"scan: the sequence length must be at least 1, got T={length}")
    body, consts = trace_body(step, init, [(x.shape[1:], x.dtype) for x in xs])
    for j, (c, new) in enumerate(zip(init, body.outputs)):
        if (new.shape, new.dtype) != (c.shape, c.dtype):
            raise fail(f"scan: step returned carry {j} of shape {new.shape} {new.dtype}, but the "
                       f"carry entering it is {c.shape} {c.dtype}; the carry must keep its shape",
                       new.site)
    node = scan(*init, *consts, *xs, body=body, n_carry=len(init), n_const=len(consts),
                length=int(length), reverse=bool(reverse))
    n, ny = len(init), len(body.ys)
    outs = [get(node, k=k) for k in range(2 * n + ny)]
    return outs[:n], outs[n:n + ny], outs[n + ny:]


def _avals(node):
    body, T = node.attrs["body"], node.attrs["length"]
    carry = [(c.shape, c.dtype) for c in body.carry_in]
    return carry + [((T,) + y.shape, y.dtype) for y in body.ys] + [((T,) + s, d) for s, d in carry]


def _rule(*inputs, body, n_carry, n_const, length, reverse):
    check(len(inputs) == len(body.inputs), f"expected {len(body.inputs)} inputs, got {len(inputs)}")
    for k, (x, p) in enumerate(zip(inputs, body.inputs)):
        want = p.shape if k < n_carry + n_const else (length,) + p.shape
        check(x.shape == want and x.dtype == p.dtype,
              f"input {k} has {x.shape} {x.dtype}, the body expects {want} {p.dtype}")
    return (), np.dtype(object)


def _split(seq, n_carry, n_const):
    return seq[:n_carry], seq[n_carry:n_carry + n_const], seq[n_carry + n_const:]


def _scan_vjp(gs, out, *inputs, needed, body, n_carry, n_const, length, reverse):
    """BPTT: a reverse-time scan whose carry is d loss / d carry (plus the running sum of
    d loss / d consts) and whose ys are d loss / d x_t."""
    ny = len(body.ys)
    g_final, g_ys, g_cs = gs[:n_carry], gs[n_carry:n_carry + ny], gs[n_carry + ny:]
    init, consts, xs = _split(inputs, n_carry, n_const)
    need_init, need_const, need_xs = _split(needed, n_carry, n_const)
    fc = [j for j, c in enumerate(init) if c.dtype.kind == "f"]
    th = [i for i in range(n_const) if need_const[i]]
    xi = [i for i in range(len(xs)) if need_xs[i]]
    gy_k = [k for k in range(ny) if g_ys[k] is not None]
    gc_k = [j for j in fc if g_cs[j] is not None]
    cs = [get(out, k=n_carry + ny + j) for j in range(n_carry)]

    def step(carry, sl):
        g_c, g_th = carry[:len(fc)], carry[len(fc):]
        c_t, x_t = sl[:n_carry], sl[n_carry:n_carry + len(xs)]
        gy_t = dict(zip(gy_k, sl[n_carry + len(xs):n_carry + len(xs) + len(gy_k)]))
        gcs_t = dict(zip(gc_k, sl[n_carry + len(xs) + len(gy_k):]))
        outs = body.apply(c_t, consts, x_t)
        pairs = [(outs[j], g) for j, g in zip(fc, g_c)] + [(outs[n_carry + k], gy_t[k]) for k in gy_k]
        wrt = [c_t[j] for j in fc] + [consts[i] for i in th] + [x_t[i] for i in xi]
        grads = vjp_graph([p[0] for p in pairs], [p[1] for p in pairs], wrt, partial=True)
        new_gc = [add_or_first(grads[a], gcs_t.get(j)) for a, j in enumerate(fc)]
        new_th = [add_or_first(g, grads[len(fc) + b]) for b, g in enumerate(g_th)]
        return new_gc + new_th, grads[len(fc) + len(th):]

    init_carry = [g_final[j] if g_final[j] is not None else zeros_for(init[j]) for j in fc]
    init_carry += [zeros_for(consts[i]) for i in th]
    seq = cs + list(xs) + [g_ys[k] for k in gy_k] + [g_cs[j] for j in gc_k]
    bwd, bconsts = trace_body(step, init_carry, [(s.shape[1:], s.dtype) for s in seq])
    bwd, seq = _with_residuals(out, bwd, bconsts, seq)
    node = scan(*init_carry, *bconsts, *seq, body=bwd, n_carry=len(init_carry),
                n_const=len(bconsts), length=length, reverse=not reverse)
    final = [get(node, k=k) for k in range(len(init_carry))]
    g_x = [get(node, k=len(init_carry) + k) for k in range(len(bwd.ys))]
    result = [None] * len(inputs)
    for a, j in enumerate(fc):
        result[j] = final[a] if need_init[j] else None
    for b, i in enumerate(th):
        result[n_carry + i] = final[len(fc) + b]
    for c, i in enumerate(xi):
        result[n_carry + n_const + i] = g_x[c]
    return result


# an elementwise scalar form calling a function (exp, tanh, log...) is worth storing
_CALL = re.compile(r"[A-Za-z_][\w.]*\s*\(")


def _cheap(node) -> bool:
    """Recomputing ``node`` from its inputs costs a few flops per element (no call, no matmul)."""
    scalar = node.op.loop_scalar or node.op.scalar
    return node.op.moves or (scalar is not None and not _CALL.search(scalar))


def _with_residuals(fwd, bwd, bconsts, seq):
    """Remat policy for BPTT: the backward body reads forward values of each step (gate
    activations...). Rather than recompute them from the saved states, the forward scan
    stores them: the values the backward reads, traced back through cheap elementwise and
    shape ops to what is costly to recompute (matmuls, transcendental functions). Returns
    (backward body, its xs): the xs read residuals from a forward scan that extends ``fwd``
    with those ys (``fuse_scans`` makes the two forward scans one before running)."""
    body, (n, nk) = fwd.attrs["body"], (fwd.attrs["n_carry"], fwd.attrs["n_const"])
    nx = len(body.x_in)
    c_ph, x_ph = bwd.x_in[:n], bwd.x_in[n:n + nx]
    order = toposort(bwd.outputs)
    cot = depends_on(order, bwd.carry_in + bwd.x_in[n + nx:])
    fwd_dep = depends_on(order, c_ph + x_ph)
    stored, seen = [], set()
    stack = frontier(order, cot, bwd.outputs, lambda v: id(v) in fwd_dep and not v.op.leaf)
    while stack:
        v = stack.pop()
        if id(v) in seen or id(v) not in fwd_dep or v.op.leaf:
            continue
        seen.add(id(v))
        if _cheap(v):
            stack.extend(v.inputs)
        else:
            stored.append(v)
    if not stored or any(v.op.multi or v.op.name == "get" for v in stored):
        return bwd, seq  # (a scan inside: a checkpointed scan recomputes, by design)
    # the stored values written on the forward body's placeholders
    fwd_consts = fwd.inputs[n:n + nk]
    replace = {id(p): q for p, q in zip(c_ph + x_ph, body.carry_in + body.x_in)}
    for p, outer in zip(bwd.inputs[bwd.n_carry:bwd.n_carry + bwd.n_const], bconsts):
        for i, c in enumerate(fwd_consts):
            if outer is c:
                replace[id(p)] = body.inputs[n + i]
    for v in toposort(stored):
        if v.op.name == "placeholder" and id(v) not in replace:
            return bwd, seq  # reads something the forward step does not have
    # merged: the stored values are recomputed copies of the step's own nodes
    extended = Body(body.inputs, merged(body.outputs + rebuild(stored, replace)), n, nk)
    extended.extends = body
    node = scan(*fwd.inputs, body=extended, **{k: fwd.attrs[k] for k in
                                               ("n_carry", "n_const", "length", "reverse")})
    ny, nr = len(body.ys), len(stored)
    res = [get(node, k=n + ny + r) for r in range(nr)]
    cs = [get(node, k=n + ny + nr + j) for j in range(n)]
    res_ph = [_placeholder_like(v, name=f"residual{r}") for r, v in enumerate(stored)]
    outs = rebuild(bwd.outputs, {id(v): p for v, p in zip(stored, res_ph)})
    # xs the backward no longer reads (often the states) are not passed, nor stored
    xs_in, xs = bwd.x_in + res_ph, cs + list(seq[n:]) + res
    read = {id(v) for v in toposort(outs)}
    keep = [k for k, p in enumerate(xs_in) if id(p) in read]
    if not keep:
        keep = [len(xs_in) - 1]  # a scan needs one xs for its length
    inputs = bwd.inputs[:bwd.n_carry + bwd.n_const] + [xs_in[k] for k in keep]
    return Body(inputs, outs, bwd.n_carry, bwd.n_const), [xs[k] for k in keep]


def _scan_jvp(ts, out, *inputs, body, n_carry, n_const, length, reverse):
    """Forward mode: the same scan, carrying the state's tangent next to the state."""
    t_init, t_const, t_xs = _split(ts, n_carry, n_const)
    init, consts, xs = _split(inputs, n_carry, n_const)
    fc = [j for j, c in enumerate(init) if c.dtype.kind == "f"]
    tci = [i for i in range(n_const) if t_const[i] is not None]
    txi = [i for i in range(len(xs)) if t_xs[i] is not None]
    ny = len(body.ys)

    def step(carry, sl):
        c, tc = carry[:n_carry], carry[n_carry:]
        x, tx = sl[:len(xs)], sl[len(xs):]
        outs = body.apply(c, consts, x)
        primals = [c[j] for j in fc] + [consts[i] for i in tci] + [x[i] for i in txi]
        tangents = list(tc) + [t_const[i] for i in tci] + list(tx)
        touts = jvp_graph(outs, primals, tangents)
        ty = [touts[n_carry + k] for k in range(ny) if outs[n_carry + k].dtype.kind == "f"]
        return outs[:n_carry] + [touts[j] for j in fc], outs[n_carry:] + ty

    t0 = [t_init[j] if t_init[j] is not None else zeros_for(init[j]) for j in fc]
    final, ys, cs = scan_nodes(step, list(init) + t0, list(xs) + [t_xs[i] for i in txi],
                               length, reverse)
    fy = [k for k in range(ny) if body.ys[k].dtype.kind == "f"]
    result = [None] * (2 * n_carry + ny)
    for a, j in enumerate(fc):
        result[j] = final[n_carry + a]
        result[n_carry + ny + j] = cs[n_carry + a]
    for a, k in enumerate(fy):
        result[n_carry + k] = ys[ny + a]
    return result


def _no_batch(*args, **kwargs):
    raise fail("scan: batching a graph that contains a scan is not supported; batch the step "
               "function's graph instead (as tr.learn.rtrl does)")


def _in_runtime(*arrays, **attrs):
    raise fail("scan: runs through the runtime's lowering (tinygrad_rnn.runtime.scan_runner); "
               "call it through tr.function")


# how a scan runs (a Python loop over the step, or the loop compiled into Numba) is the
# runtime's: runtime.scan_runner enters it in the executor's lowering table
scan = primitive(
    name="scan", multi=True, shape_rule=_rule, numpy=_in_runtime, numba=_in_runtime,
    avals=_avals, vjp_all=_scan_vjp, jvp_all=_scan_jvp, batch=_no_batch)


def _get_rule(x, k):
    check(x.op.multi, f"get selects an output of a multi-output node, got {x.op.name}")
    avals = x.op.avals(x)
    check(0 <= k < len(avals), f"output {k} of {len(avals)}")
    return avals[k]


get = primitive(
    name="get", arity=1, shape_rule=_get_rule,
    numpy=lambda x, k: x[k], numba=lambda x, k: x[k],
    batch=lambda xs, batched, size, k: _no_batch())
# get's derivatives are structural (autodiff routes a get's cotangent or tangent to slot k of
# its multi-output input), so its rule tables stay empty.

