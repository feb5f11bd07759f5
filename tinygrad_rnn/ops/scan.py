"""The recurrence primitive: ``scan`` holds a step body graph and runs it over time, and
``get`` selects one of its outputs.

``carry, ys = scan(step, init, xs)`` equals the plain loop

    for t in range(T):               # reversed(range(T)) when reverse=True
        carry, y[t] = step(carry, xs[t])

but is ONE node whatever T is. The body is traced once on fresh placeholders; values it
reads from outside (parameters, loop-invariant products) become explicit inputs of the node
(``consts``), so they are hoisted out of the loop and differentiated like any input. Besides
the final carry and the stacked ys, the node also outputs the carry entering every step (the
residuals BPTT needs).

Its derivative rules (``ops.scan_rules``: the VJP is a reverse-time scan over the body's VJP,
BPTT; the JVP a forward-time scan carrying tangents, RTRL's structure) are scans themselves,
so they can be differentiated again. How it runs is the runtime's (``runtime.scan_runner``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.node import fail
from ..graph.simplify import without_identities
from ..graph.traverse import depends_on, frontier, rebuild, toposort
from . import leaves
from .registry import check, primitive


def cut(seq, *sizes) -> list:
    """``seq`` cut into consecutive pieces of ``sizes``, then the rest: cut(s, 2, 1) is
    [s[:2], s[2:3], s[3:]]."""
    pieces, start = [], 0
    for n in sizes:
        pieces.append(list(seq[start:start + n]))
        start += n
    return pieces + [list(seq[start:])]


@dataclass(frozen=True)
class Layout:
    """Where values sit around a scan node: its inputs are the carry entering the loop
    (n_carry), the consts the step reads (n_const), then the xs; its outputs the final carry,
    the stacked ys (n_y), then the carry entering each step (n_carry again)."""
    n_carry: int
    n_const: int
    n_y: int

    @classmethod
    def of(cls, node) -> Layout:
        return cls(node.attrs["n_carry"], node.attrs["n_const"], len(node.attrs["body"].ys))

    def inputs(self, seq):
        """(carry, consts, xs) of a list in the order of the node's inputs."""
        return cut(seq, self.n_carry, self.n_const)

    def outputs(self, seq):
        """(final carry, ys, per-step carries) of a list in the order of the node's outputs."""
        return cut(seq, self.n_carry, self.n_y)

    def y(self, k: int) -> int:
        """The output index of ys[k]."""
        return self.n_carry + k

    def state(self, j: int) -> int:
        """The output index of carry j stacked over the steps."""
        return self.n_carry + self.n_y + j


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
    def const_in(self):
        return self.inputs[self.n_carry:self.n_carry + self.n_const]

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


def _vjp_all(*args, **kwargs):
    from .scan_rules import scan_vjp  # (its own module: it builds scans with this record)
    return scan_vjp(*args, **kwargs)


def _jvp_all(*args, **kwargs):
    from .scan_rules import scan_jvp
    return scan_jvp(*args, **kwargs)


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
    avals=_avals, vjp_all=_vjp_all, jvp_all=_jvp_all, batch=_no_batch)


def _get_rule(x, k):
    check(x.op.multi, f"get selects an output of a multi-output node, got {x.op.name}")
    avals = x.op.avals(x)
    check(0 <= k < len(avals), f"output {k} of {len(avals)}")
    return avals[k]


get = primitive(
    name="get", arity=1, selects=True, shape_rule=_get_rule,
    numpy=lambda x, k: x[k], numba=lambda x, k: x[k],
    batch=lambda xs, batched, size, k: _no_batch())
# get's derivatives are structural (autodiff routes a get's cotangent or tangent to slot k of
# its multi-output input), so its rule tables stay empty.

