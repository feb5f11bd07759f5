"""The scan's derivative rules, each itself a scan: ``scan_vjp`` (BPTT: a reverse-time scan
whose carry is d loss / d carry plus the running sum of d loss / d consts, with the forward
values the backward reads stored by the forward scan, ``_with_residuals``) and ``scan_jvp``
(forward mode: the same scan carrying the state's tangent next to the state, RTRL's
structure)."""
from __future__ import annotations

import re

from ..graph.autodiff import add_or_first, jvp_graph, vjp_graph, zeros_for
from ..graph.simplify import merged
from ..graph.traverse import depends_on, frontier, rebuild, toposort
from .scan import Body, Layout, _placeholder_like, cut, get, scan, scan_nodes, trace_body


def scan_vjp(gs, out, *inputs, needed, body, n_carry, n_const, length, reverse):
    """BPTT: a reverse-time scan whose carry is d loss / d carry (plus the running sum of
    d loss / d consts) and whose ys are d loss / d x_t."""
    lay = Layout(n_carry, n_const, len(body.ys))
    g_final, g_ys, g_cs = lay.outputs(gs)
    init, consts, xs = lay.inputs(inputs)
    need_init, need_const, need_xs = lay.inputs(needed)
    fc = [j for j, c in enumerate(init) if c.dtype.kind == "f"]
    th = [i for i in range(n_const) if need_const[i]]
    xi = [i for i in range(len(xs)) if need_xs[i]]
    gy_k = [k for k in range(lay.n_y) if g_ys[k] is not None]
    gc_k = [j for j in fc if g_cs[j] is not None]
    cs = [get(out, k=lay.state(j)) for j in range(n_carry)]

    def step(carry, sl):
        g_c, g_th = cut(carry, len(fc))
        c_t, x_t, gy, gc = cut(sl, n_carry, len(xs), len(gy_k))
        gy_t, gcs_t = dict(zip(gy_k, gy)), dict(zip(gc_k, gc))
        outs = body.apply(c_t, consts, x_t)
        pairs = [(outs[j], g) for j, g in zip(fc, g_c)] + [(outs[lay.y(k)], gy_t[k]) for k in gy_k]
        wrt = [c_t[j] for j in fc] + [consts[i] for i in th] + [x_t[i] for i in xi]
        grads = vjp_graph([p[0] for p in pairs], [p[1] for p in pairs], wrt, partial=True)
        d_carry, d_consts, d_xs = cut(grads, len(fc), len(th))
        new_gc = [add_or_first(d, gcs_t.get(j)) for d, j in zip(d_carry, fc)]
        new_th = [add_or_first(g, d) for g, d in zip(g_th, d_consts)]
        return new_gc + new_th, d_xs

    init_carry = [g_final[j] if g_final[j] is not None else zeros_for(init[j]) for j in fc]
    init_carry += [zeros_for(consts[i]) for i in th]
    seq = cs + list(xs) + [g_ys[k] for k in gy_k] + [g_cs[j] for j in gc_k]
    bwd, bconsts = trace_body(step, init_carry, [(s.shape[1:], s.dtype) for s in seq])
    bwd, seq = _with_residuals(out, bwd, bconsts, seq)
    node = scan(*init_carry, *bconsts, *seq, body=bwd, n_carry=len(init_carry),
                n_const=len(bconsts), length=length, reverse=not reverse)
    final = [get(node, k=k) for k in range(len(init_carry))]
    g_x = [get(node, k=Layout.of(node).y(k)) for k in range(len(bwd.ys))]
    r_init, r_consts, r_xs = [None] * n_carry, [None] * n_const, [None] * len(xs)
    for d, j in zip(final, fc):
        r_init[j] = d if need_init[j] else None
    for d, i in zip(final[len(fc):], th):
        r_consts[i] = d
    for d, i in zip(g_x, xi):
        r_xs[i] = d
    return r_init + r_consts + r_xs


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
    body, lay = fwd.attrs["body"], Layout.of(fwd)
    n = lay.n_carry
    c_ph, x_ph, cot_ph = cut(bwd.x_in, n, len(body.x_in))  # states, xs, cotangents per step
    order = toposort(bwd.outputs)
    cot = depends_on(order, bwd.carry_in + cot_ph)
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
    if not stored or any(v.op.multi or v.op.selects for v in stored):
        return bwd, seq  # (a scan inside: a checkpointed scan recomputes, by design)
    # the stored values written on the forward body's placeholders
    _, fwd_consts, _ = lay.inputs(fwd.inputs)
    replace = {id(p): q for p, q in zip(c_ph + x_ph, body.carry_in + body.x_in)}
    for p, outer in zip(bwd.const_in, bconsts):
        for c, q in zip(fwd_consts, body.const_in):
            if outer is c:
                replace[id(p)] = q
    for v in toposort(stored):
        if v.op.fed and id(v) not in replace:
            return bwd, seq  # reads something the forward step does not have
    # merged: the stored values are recomputed copies of the step's own nodes
    extended = Body(body.inputs, merged(body.outputs + rebuild(stored, replace)), n, lay.n_const)
    extended.extends = body
    node = scan(*fwd.inputs, body=extended, **{k: fwd.attrs[k] for k in
                                               ("n_carry", "n_const", "length", "reverse")})
    ext = Layout.of(node)  # the forward's ys, then the residuals as more ys
    res = [get(node, k=ext.y(lay.n_y + r)) for r in range(len(stored))]
    cs = [get(node, k=ext.state(j)) for j in range(n)]
    res_ph = [_placeholder_like(v, name=f"residual{r}") for r, v in enumerate(stored)]
    outs = rebuild(bwd.outputs, {id(v): p for v, p in zip(stored, res_ph)})
    # xs the backward no longer reads (often the states) are not passed, nor stored
    xs_in, xs = bwd.x_in + res_ph, cs + list(seq[n:]) + res
    read = {id(v) for v in toposort(outs)}
    keep = [k for k, p in enumerate(xs_in) if id(p) in read]
    if not keep:
        keep = [len(xs_in) - 1]  # a scan needs one xs for its length
    inputs = bwd.carry_in + bwd.const_in + [xs_in[k] for k in keep]
    return Body(inputs, outs, bwd.n_carry, bwd.n_const), [xs[k] for k in keep]


def scan_jvp(ts, out, *inputs, body, n_carry, n_const, length, reverse):
    """Forward mode: the same scan, carrying the state's tangent next to the state."""
    lay = Layout(n_carry, n_const, len(body.ys))
    t_init, t_const, t_xs = lay.inputs(ts)
    init, consts, xs = lay.inputs(inputs)
    fc = [j for j, c in enumerate(init) if c.dtype.kind == "f"]
    tci = [i for i in range(n_const) if t_const[i] is not None]
    txi = [i for i in range(len(xs)) if t_xs[i] is not None]

    def step(carry, sl):
        c, tc = cut(carry, n_carry)
        x, tx = cut(sl, len(xs))
        outs = body.apply(c, consts, x)
        primals = [c[j] for j in fc] + [consts[i] for i in tci] + [x[i] for i in txi]
        tangents = tc + [t_const[i] for i in tci] + tx
        touts = jvp_graph(outs, primals, tangents)
        ty = [touts[lay.y(k)] for k in range(lay.n_y) if outs[lay.y(k)].dtype.kind == "f"]
        return outs[:n_carry] + [touts[j] for j in fc], outs[n_carry:] + ty

    t0 = [t_init[j] if t_init[j] is not None else zeros_for(init[j]) for j in fc]
    final, ys, cs = scan_nodes(step, list(init) + t0, list(xs) + [t_xs[i] for i in txi],
                               length, reverse)
    fy = [k for k in range(lay.n_y) if body.ys[k].dtype.kind == "f"]
    r_final, r_ys, r_cs = [None] * n_carry, [None] * lay.n_y, [None] * n_carry
    for t_final, t_cs, j in zip(final[n_carry:], cs[n_carry:], fc):
        r_final[j], r_cs[j] = t_final, t_cs
    for t_y, k in zip(ys[lay.n_y:], fy):
        r_ys[k] = t_y
    return r_final + r_ys + r_cs
