"""Compiling a scan into one Numba function: the time loop and the step body run inside
Numba, not Python.

The step body (a graph) becomes generated source: chains of elementwise primitives fuse into
one loop nest each (a value used once by an elementwise consumer of its shape is computed as
a scalar inside that consumer's loop, ``broadcast_to`` becomes indexing, ``fill`` a literal),
matmul calls BLAS through ``np.dot``, shape primitives become NumPy views. The source never
contains a size: every size is read from a ``dims`` tuple passed at run time, so one compiled
loop serves every batch size, width and length of the same structure. The source is cached on
disk by its text (see ``ops.kernels.codegen``), so a second process compiles nothing.
"""
from __future__ import annotations

import re

import numpy as np

from ..graph.loop_plan import plan_loop
from ..graph.plan import make_plan
from ..graph.simplify import cse
from ..graph.traverse import toposort
from ..ops.kernels.codegen import load_module
from ..ops.leaves import constant, fill, placeholder
from ..ops.linalg import matmul
from ..ops.random import bernoulli
from ..ops.shape import broadcast_to, concat, getitem, reshape, transpose, unslice
from . import background
from .notice import say, slow_notice

_ARG = re.compile(r"\b([xyz])\b")


class Unsupported(Exception):
    """The body holds a primitive the generator cannot express (it then runs in Python)."""


class Source:
    """Collects lines and the run-time sizes (``dims``, shared between the pieces of one
    module) the generated code reads."""

    def __init__(self, dims: list | None = None):
        self.lines: list[str] = []
        self.dims: list[int] = [] if dims is None else dims

    def dim(self, value: int) -> str:
        self.dims.append(int(value))
        return f"dims[{len(self.dims) - 1}]"

    def shape(self, shape) -> str:
        parts = [self.dim(d) for d in shape]
        return "(" + "".join(p + ", " for p in parts) + ")" if parts else "()"

    def emit(self, line: str, indent: int = 1):
        self.lines.append("    " * indent + line)

    def copy(self, target: str, value: str, shape, lead: str = "", indent: int = 1):
        """``target[lead, i...] = value[i...]`` as a loop nest. Slice assignment of arrays
        would be one line, but it makes Numba compile its shape-mismatch message (string
        formatting: seconds, once per process); a loop nest types in milliseconds."""
        idx = [f"i{k}" for k in range(len(shape))]
        for k, d in enumerate(shape):
            self.emit(f"for i{k} in range({self.dim(d)}):", indent + k)
        at = ", ".join(([lead] if lead else []) + idx)
        src = f"{value}[{', '.join(idx)}]" if idx else f"{value}[()]"
        self.emit(f"{target}[{at or '()'}] = {src}", indent + len(shape))


def _scalar(node) -> str:
    return node.op.loop_scalar or node.op.scalar


def _rounded(node, expr: str) -> str:
    """``expr`` rounded to the node's dtype where Numba would compute it wider: a float32
    value whose expression holds a Python float literal is computed in float64. A kernel
    rounds each op's result as it stores it; a fused loop must round each one too, or the
    compiled tier's float32 results differ from the uncompiled tier's."""
    return f"np.float32({expr})" if node.dtype == np.float32 else expr


def _dtype(node) -> str:
    return "np." + ("bool_" if node.dtype == np.bool_ else node.dtype.name)


class GraphEmitter:
    """Straight-line source computing ``outputs`` from ``inputs`` (each bound to a variable
    name); value names start with ``prefix``; constants go to the shared ``constants``
    list (argument ``q<i>``). ``into``: (output node, variable name) pairs: a fused value
    that is one of the outputs is written straight into that caller's buffer (a loop's
    stacked output at step t) instead of an array of its own; ``bound`` says which were."""

    def __init__(self, inputs, outputs, src: Source, constants: list, prefix: str = "v",
                 into=()):
        self.plan = make_plan(list(outputs))
        self.canon = cse(toposort(list(outputs)))
        self.inputs, self.outputs, self.prefix = list(inputs), list(outputs), prefix
        self.src = src
        self.var: dict[int, str] = {}
        self.layout: dict[int, str] = {}
        self.constants = constants
        steps = self.plan.steps
        rep = {id(s.node): s.node for s in steps}
        self.users: dict[int, list] = {id(s.node): [] for s in steps}
        for s in steps:
            for a in s.args:
                self.users[id(steps[a].node)].append(s.node)
        self.out_ids = {id(steps[k].node) for k in self.plan.output_slots}
        self.rep = rep
        self.temp = 0
        self.in_loop: dict[int, str] = {}  # group members computed in the current iteration
        self.into: dict[int, str] = {}
        for o, name in into:
            self.into.setdefault(id(self.rep.get(id(o), self.c(o))), name)
        self.bound: set[str] = set()

    # ---- which values become arrays ------------------------------------------------------
    def _elementwise(self, node) -> bool:
        return node.op.scalar is not None

    def _inlined(self, node) -> bool:
        """Computed inside its consumer's loop instead of as an array of its own."""
        node = self.c(node)
        if id(node) in self.out_ids:
            return False
        users = self.users[id(node)]
        if node.op is fill:
            return bool(users) and all(self._elementwise(u) or bool(u.op.reduction)
                                       for u in users)
        if node.op is broadcast_to:
            return bool(users) and all(self._elementwise(u) for u in users)
        # an elementwise value read once by a reduction is computed inside the reduction's
        # loop; every other elementwise value joins a fused loop group (see ``generate``)
        return self._elementwise(node) and len(users) == 1 and bool(users[0].op.reduction)

    # ---- scalar expressions --------------------------------------------------------------
    def c(self, node):
        """The representative of ``node`` after common-subexpression elimination."""
        return self.canon.get(id(node), node)

    def scalar(self, node, idx, body):
        """The value of ``node`` at index ``idx`` inside a loop: a temp computed earlier in
        this iteration, an inlined expression, or a read of its array."""
        node = self.c(node)
        if id(node) in self.in_loop:
            return self.in_loop[id(node)]
        if self._inlined(node):
            expr = self.expression(node, idx, body)
            if not self._elementwise(node):
                return expr  # a literal or an index mapping: nothing to compute
            self.temp += 1
            name = f"{self.prefix}s{self.temp}"
            body.append(f"{name} = {_rounded(node, expr)}")
            return name
        ref = self.ref(node)
        return f"{ref}[{', '.join(idx)}]" if node.ndim else f"{ref}[()]"

    def expression(self, node, idx, body):
        """``node`` computed from its inputs at index ``idx`` (fill: a literal; broadcast_to:
        its input at the broadcast index; elementwise: the primitive's scalar form)."""
        if node.op is fill:
            v = node.attrs["value"]
            literal = repr(bool(v) if node.dtype == np.bool_ else float(v)
                           if node.dtype.kind == "f" else int(v))
            return _rounded(node, literal)
        if node.op is broadcast_to:
            (x,) = node.inputs
            lead = node.ndim - x.ndim
            mapped = ["0" if d == 1 and node.shape[lead + k] != 1 else idx[lead + k]
                      for k, d in enumerate(x.shape)]
            return self.scalar(x, mapped, body)
        args = [self.scalar(i, idx, body) for i in node.inputs]
        return _ARG.sub(lambda m: f"({args['xyz'.index(m.group(1))]})", _scalar(node))

    def ref(self, node, contiguous=False):
        node = self.c(node)
        name = self.var[id(node)]
        if contiguous and self.layout.get(id(node), "C") != "C":
            return f"np.ascontiguousarray({name})"
        return name

    # ---- emission ------------------------------------------------------------------------
    def loops(self, shape_expr_of, ndim, body, inner, depth=1):
        idx = [f"i{k}" for k in range(ndim)]
        for k in range(ndim):
            self.src.emit(f"for i{k} in range({shape_expr_of(k)}):", depth + k)
        for line in body:
            self.src.emit(line, depth + ndim)
        for line in inner:
            self.src.emit(line, depth + ndim)
        return idx

    def group(self, members):
        """One loop nest computing every member (same shape) as a scalar per index; only the
        members read outside the group are stored in arrays."""
        ids = {id(m) for m in members}
        shape = members[0].shape
        stored = [m for m in members if id(m) in self.out_ids
                  or any(id(u) not in ids for u in self.users[id(m)])]
        for m in stored:
            out = f"{self.prefix}{len(self.var)}"
            self.var[id(m)] = out
            self.layout[id(m)] = "C"
            if id(m) in self.into:  # the caller's buffer: no array, no copy afterwards
                self.src.emit(f"{out} = {self.into[id(m)]}")
                self.bound.add(self.into[id(m)])
                continue
            self.src.emit(f"{out} = np.empty({self.src.shape(shape)}, {_dtype(m)})")
        extent = self.src.shape(shape)
        ext = f"{self.prefix}e{len(self.var)}"
        self.src.emit(f"{ext} = {extent}")
        idx = [f"i{k}" for k in range(len(shape))]
        body: list[str] = []
        for m in members:
            expr = self.expression(m, idx, body)
            self.temp += 1
            name = f"{self.prefix}s{self.temp}"
            body.append(f"{name} = {_rounded(m, expr)}")
            self.in_loop[id(m)] = name
            if id(m) in self.var:
                target = f"{self.var[id(m)]}[{', '.join(idx)}]" if idx else f"{self.var[id(m)]}[()]"
                body.append(f"{target} = {name}")
        self.loops(lambda k: f"{ext}[{k}]", len(shape), body, [])
        self.in_loop.clear()

    def reads(self, node):
        """ids of the values ``node`` reads, looking through the nodes inlined into it."""
        out, stack = set(), list(node.inputs)
        while stack:
            i = self.c(stack.pop())
            if self._inlined(i) and i.op is not fill:
                stack.extend(i.inputs)
            else:
                out.add(id(i))
        return out

    def reduce(self, node, out):
        (x,) = node.inputs
        axis, keep = node.attrs["axis"], node.attrs["keepdims"]
        is_max = node.op.reduction == "max"
        init = "-np.inf" if is_max else "0"
        # a float32 sum adds up in float64 and is rounded once (as the sum_rows kernel does)
        wide = not is_max and node.dtype == np.float32
        acc = f"{out}_acc" if wide else out
        self.src.emit(f"{acc} = np.full({self.src.shape(node.shape)}, {init}, "
                      f"{'np.float64' if wide else _dtype(node)})")
        xs = self.src.shape(x.shape)
        self.src.emit(f"xs_{out} = {xs}")
        idx = [f"i{k}" for k in range(x.ndim)]
        body: list[str] = []
        val = self.scalar(x, idx, body)
        o = [("0" if keep else None) if k in axis else idx[k] for k in range(x.ndim)]
        o = [v for v in o if v is not None]
        target = f"{acc}[{', '.join(o)}]" if o else f"{acc}[()]"
        if is_max:
            inner = [f"v_ = {val}", f"if v_ > {target} or v_ != v_:", f"    {target} = v_"]
        else:
            inner = [f"{target} += {val}"]
        self.loops(lambda k: f"xs_{out}[{k}]", x.ndim, body, inner)
        if wide:
            self.src.emit(f"{out} = {acc}.astype(np.float32)")

    def node(self, node):
        """Emit ``node`` as an array of its own, by its primitive's entry in ``EMIT``."""
        out = f"{self.prefix}{len(self.var)}"
        self.var[id(node)] = out
        self.layout[id(node)] = "C"
        if node.op.reduction:
            return self.reduce(node, out)
        emit = EMIT.get(node.op)
        if emit is None:
            raise Unsupported(node.op.name)
        emit(self, node, out, [self.c(i) for i in node.inputs])

    def index(self, index):
        parts = []
        for e in index:
            if e[0] == "i":
                parts.append(self.src.dim(e[1]))
            else:
                start, stop, step = e[1:]
                stop_code = "" if stop < 0 else self.src.dim(stop)
                # the step stays literal: it is structure (almost always 1), and a run-time
                # step makes Numba's slicing far slower to compile
                step_code = "" if step == 1 else f":{step}"
                parts.append(f"{self.src.dim(start)}:{stop_code}{step_code}")
        return ", ".join(parts) if len(parts) != 1 else parts[0] + ","

    def emit_graph(self, bound) -> list[str]:
        """Emit the code; ``bound``: one variable name per input. Returns the outputs' names
        (C-contiguous)."""
        for p, name in zip(self.inputs, bound):
            self.var[id(p)] = name
            self.layout[id(p)] = "C"
        pending: dict[tuple, list] = {}  # open fused groups, one per shape
        for step in self.plan.steps:
            n = step.node
            if id(n) in self.var:
                continue
            if n.op is placeholder:
                raise Unsupported("a placeholder that is not an input")
            if self._inlined(n):
                continue
            wanted = self.reads(n)
            elementwise = self._elementwise(n) or n.op is broadcast_to
            # a member may read members of its own group (same iteration), not of others
            for shape in [k for k, ms in pending.items()
                          if (not elementwise or k != n.shape) and wanted & {id(m) for m in ms}]:
                self.group(pending.pop(shape))
            if elementwise:
                pending.setdefault(n.shape, []).append(n)
            else:
                self.node(n)
        for members in pending.values():
            self.group(members)
        outs = []
        for o in self.outputs:
            o = self.rep.get(id(o), self.c(o))
            ref = self.ref(o)
            outs.append(ref if self.layout.get(id(o), "C") == "C" else f"np.ascontiguousarray({ref})")
        return outs


# ---- the lowering of each primitive that becomes an array of its own ----------------------
# Elementwise primitives (``scalar``), ``broadcast_to`` and ``fill`` (read at an index) and
# reductions (``reduction``) are fused into loop nests by GraphEmitter itself; every other
# primitive a step may hold has an entry here: emit(emitter, node, out, inputs) writes the
# lines computing ``out``. A primitive without one cannot be compiled (``Unsupported``), and
# tests/test_primitives.py compiles every primitive inside a scan body, so a missing entry
# fails a test rather than silently running the loop in Python.
EMIT: dict = {}


def _lowers(*prims):
    def enter(fn):
        for p in prims:
            EMIT[p] = fn
        return fn
    return enter


@_lowers(fill)
def _fill(e, node, out, ins):
    e.src.emit(f"{out} = np.full({e.src.shape(node.shape)}, {e.expression(node, [], [])}, "
               f"{_dtype(node)})")


@_lowers(constant)
def _constant(e, node, out, ins):
    e.constants.append(np.array(node.attrs["value"], order="C"))
    e.var[id(node)] = f"q{len(e.constants) - 1}"


@_lowers(matmul)
def _matmul(e, node, out, ins):
    a, b = ins
    if a.ndim == 2:
        # np.dot takes C and F operands as they are; only a strided view is copied
        e.src.emit(f"{out} = np.dot({e.ref(a, e.layout.get(id(a)) == 'A')}, "
                   f"{e.ref(b, e.layout.get(id(b)) == 'A')})")
        return
    m, p, n = a.shape[-2], a.shape[-1], b.shape[-1]
    nb = int(np.prod(a.shape[:-2]))
    d_nb, d_m, d_p, d_n = (e.src.dim(v) for v in (nb, m, p, n))
    e.src.emit(f"a_{out} = {e.ref(a, True)}.reshape(({d_nb}, {d_m}, {d_p}))")
    e.src.emit(f"b_{out} = {e.ref(b, True)}.reshape(({d_nb}, {d_p}, {d_n}))")
    e.src.emit(f"o_{out} = np.empty(({d_nb}, {d_m}, {d_n}), {_dtype(node)})")
    e.src.emit(f"for bq in range({d_nb}):")
    e.src.emit(f"np.dot(a_{out}[bq], b_{out}[bq], o_{out}[bq])", 2)
    e.src.emit(f"{out} = o_{out}.reshape({e.src.shape(node.shape)})")


@_lowers(reshape)
def _reshape(e, node, out, ins):
    e.src.emit(f"{out} = {e.ref(ins[0], True)}.reshape({e.src.shape(node.shape)})")


@_lowers(transpose)
def _transpose(e, node, out, ins):
    axes = tuple(node.attrs["axes"])
    (x,) = ins
    if axes == (1, 0):  # .T keeps Numba's layout exact (C <-> F): a view, no copy
        e.src.emit(f"{out} = {e.ref(x)}.T")
        e.layout[id(node)] = {"C": "F", "F": "C"}.get(e.layout.get(id(x), "C"), "A")
        return
    # other permutations are copied by a loop nest: np.transpose with an axes tuple costs
    # Numba seconds of typing, and its result would be copied to contiguous anyway
    e.src.emit(f"{out} = np.empty({e.src.shape(node.shape)}, {_dtype(node)})")
    inverse = [axes.index(k) for k in range(len(axes))]
    idx = [f"i{k}" for k in range(node.ndim)]
    for k, d in enumerate(node.shape):
        e.src.emit(f"for i{k} in range({e.src.dim(d)}):", 1 + k)
    e.src.emit(f"{out}[{', '.join(idx)}] = {e.ref(x)}[{', '.join(idx[j] for j in inverse)}]",
               1 + node.ndim)


@_lowers(getitem)
def _getitem(e, node, out, ins):
    if node.ndim == 0:  # an element: kept a 0-d array, as values are
        e.src.emit(f"{out} = np.empty((), {_dtype(node)})")
        e.src.emit(f"{out}[()] = {e.ref(ins[0])}[{e.index(node.attrs['index'])}]")
        return
    e.src.emit(f"{out} = {e.ref(ins[0])}[{e.index(node.attrs['index'])}]")
    e.layout[id(node)] = "A"


@_lowers(unslice)
def _unslice(e, node, out, ins):
    e.src.emit(f"{out} = np.zeros({e.src.shape(node.shape)}, {_dtype(node)})")
    if ins[0].ndim == 0:  # one element: indexing gives a scalar, not a view to write through
        e.src.emit(f"{out}[{e.index(node.attrs['index'])}] = {e.ref(ins[0])}[()]")
        return
    e.src.emit(f"w_{out} = {out}[{e.index(node.attrs['index'])}]")
    e.src.copy(f"w_{out}", e.ref(ins[0]), ins[0].shape)


@_lowers(concat)
def _concat(e, node, out, ins):
    parts = ", ".join(e.ref(i) for i in ins)
    e.src.emit(f"{out} = np.concatenate(({parts},), axis={node.attrs['axis']})")


@_lowers(bernoulli)
def _bernoulli(e, node, out, ins):
    # the node's NumPy Generator is an argument of the compiled loop (a constant ``q``):
    # Numba draws from its stream, in the same C order as the reference, so both tiers and
    # both backends give the same coins for the same seed
    (p,) = ins
    e.constants.append(node.attrs["rng"])
    rng = f"q{len(e.constants) - 1}"
    e.src.emit(f"{out} = np.empty({e.src.shape(node.shape)}, {_dtype(node)})")
    if node.ndim == 0:
        e.src.emit(f"{out}[()] = {rng}.random() < {e.ref(p)}[()]")
        return
    e.src.emit(f"u_{out} = {rng}.random({e.src.shape(node.shape)})")
    idx = [f"i{k}" for k in range(node.ndim)]
    lead = node.ndim - p.ndim  # p broadcasts: its size-1 axes read index 0
    at = ["0" if d == 1 and node.shape[lead + k] != 1 else idx[lead + k]
          for k, d in enumerate(p.shape)]
    for k, d in enumerate(node.shape):
        e.src.emit(f"for i{k} in range({e.src.dim(d)}):", 1 + k)
    e.src.emit(f"{out}[{', '.join(idx)}] = u_{out}[{', '.join(idx)}] < "
               f"{e.ref(p)}[{', '.join(at) if at else '()'}]", 1 + node.ndim)


HEADER = "@njit(cache=True, nogil=True, error_model='numpy')"
# the step is called only from the loop: no wrappers for calls from Python or C (less to
# generate and optimize)
BODY_HEADER = ("@njit(cache=True, nogil=True, error_model='numpy', no_cpython_wrapper=True, "
               "no_cfunc_wrapper=True)")


def scan_source(body, reverse: bool, length: int, keep_states: frozenset = frozenset()):
    """(module source, dims, constants) of a compiled scan over ``body``; the loop function
    is ``loop(*carries, *consts, *xs, *constants, length, reverse, dims)`` (the source is
    the same for both directions)."""
    plan = plan_loop(body, length, set(keep_states))
    n, nk, nx = body.n_carry, body.n_const, len(body.inputs) - body.n_carry - body.n_const
    dims, consts = [], []
    # the step function
    bsrc = Source(dims)
    b_args = [f"a{k}" for k in range(len(plan.body_in))]
    kept = plan.kept
    loop_outs = list(plan.body_out[len(kept):])
    # a step's outputs are computed in place in the stacked arrays where they can be (a
    # fused value: its loop nest stores into y[t]), so the loop copies none of them
    emitter = GraphEmitter(plan.body_in, plan.body_out, bsrc, consts, "v",
                           into=[(o, f"w{k}") for k, o in enumerate(loop_outs) if o.ndim])
    bouts = emitter.emit_graph(b_args)
    w_args = [f"w{k}" for k in range(len(loop_outs)) if f"w{k}" in emitter.bound]
    # the loop function: prologue (hoisted), loop, epilogue (accumulators)
    src = Source(dims)
    c_in, k_in, x_in = ([f"c{j}_0" for j in range(n)], [f"k{i}" for i in range(nk)],
                        [f"x{i}" for i in range(nx)])
    pre = GraphEmitter(plan.pre_in, plan.pre_out, src, consts, "p").emit_graph(x_in + k_in)
    for k, expr in enumerate(pre):  # made contiguous once, not at every step
        if not expr.isidentifier():
            src.emit(f"h{k} = {expr}")
            pre[k] = f"h{k}"
    for j in kept:
        src.emit(f"c{j} = c{j}_0")
    n_y = len([f for f in plan.y_from if f[0] == "loop"])
    for k, o in enumerate(loop_outs):
        src.emit(f"y{k} = np.empty((length,) + {src.shape(o.shape)}, {_dtype(o)})")
    for j in kept:
        if j in keep_states:
            src.emit(f"s{j} = np.empty((length,) + {src.shape(body.carry_in[j].shape)}, "
                     f"{_dtype(body.carry_in[j])})")
    src.emit("for step in range(length):")
    # the direction is an argument, not part of the source: a reverse scan (a backward pass,
    # a bidirectional layer) shares the compiled module of the forward one with its body
    src.emit("t = length - 1 - step if reverse else step", 2)
    def at_t(name, node):
        # a step's 0-d slice stays an array (x[t] would be a bare scalar, which the body
        # cannot index with [()])
        return f"{name}[t:t + 1].reshape(())" if node.ndim == 0 else f"{name}[t]"

    for j in kept:
        if j in keep_states:
            src.copy(f"s{j}", f"c{j}", body.carry_in[j].shape, lead="t", indent=2)
    slices = plan.body_in[len(kept) + nk + nx:]
    call = ([f"c{j}" for j in kept] + k_in
            + [at_t(f"x{i}", x) for i, x in enumerate(body.x_in)]
            + [at_t(p, h) for p, h in zip(pre, slices)]
            + [f"y{w[1:]}[t]" for w in w_args]
            + [f"q{i}" for i in range(len(consts))] + ["dims"])
    src.emit(f"out = body({', '.join(call)})", 2)
    for a, j in enumerate(kept):
        src.emit(f"c{j} = out[{a}]", 2)
    for k, o in enumerate(loop_outs):
        if f"w{k}" not in w_args:
            src.emit(f"o{k} = out[{len(kept) + k}]", 2)
            src.copy(f"y{k}", f"o{k}", o.shape, lead="t", indent=2)
    inits = [f"c{j}_0" for j in range(n) if j not in kept]
    operand = {"loop": lambda k: f"y{n_y + k}", "x": lambda j: f"x{j}", "pre": lambda k: pre[k]}
    post = GraphEmitter(plan.post_in, plan.post_out, src, consts, "e").emit_graph(
        inits + [operand[where](k) for where, k in plan.operand_from])
    finals = [f"c{j}" if where == "loop" else post[k]
              for j, (where, k) in enumerate(plan.final_from)]
    ys = [f"y{k}" if where == "loop" else pre[k] for where, k in plan.y_from]
    states = [f"s{j}" if j in keep_states else
              f"np.empty({(0,) * body.carry_in[j].ndim!r}, {_dtype(body.carry_in[j])})"
              for j in range(n)]
    q_args = [f"q{i}" for i in range(len(consts))]
    body_fn = "\n".join([f"{BODY_HEADER}\ndef body({', '.join(b_args + w_args + q_args + ['dims'])}):"]
                        + bsrc.lines + ["    return (" + "".join(o + ", " for o in bouts) + ")"])
    loop_fn = "\n".join([f"{HEADER}\ndef loop({', '.join(c_in + k_in + x_in + q_args)}, "
                         "length, reverse, dims):"] + src.lines
                        + ["    return (" + "".join(o + ", " for o in finals + ys + states) + ")"])
    head = ("import math\nimport numpy as np\nfrom numba import njit\n\n"
            "from tinygrad_rnn.ops.kernels.fast_math import fast_exp, fast_sigmoid, fast_tanh\n\n\n")
    return head + body_fn + "\n\n\n" + loop_fn + "\n", dims, consts


def compile_scan_source(body, reverse: bool, length: int,
                        keep_states: frozenset = frozenset()) -> str:
    """The module source ``compile_scan`` compiles (raises Unsupported where it would)."""
    _check_compilable(body)
    return scan_source(body, reverse, length, keep_states)[0]


def _check_compilable(body):
    if any(n.op.multi for n in toposort(body.outputs)):
        # a scan inside the step (checkpoint=, truncate=): the outer loop runs in Python,
        # each inner scan compiled on its own
        raise Unsupported("a scan inside a scan's step")


def compile_scan(body, reverse: bool, length: int, keep_states: frozenset = frozenset()):
    """The whole scan as one Numba function: ``run(*arrays, length) -> tuple of outputs``.
    keep_states: the carries whose per-step values someone reads (the rest are not stored).

    ``run.ready(*arrays, length)`` says whether a call now runs compiled without waiting:
    the machine code is loaded or in the disk cache; otherwise (the first time) it starts a
    helper process that compiles it (``runtime.background``) and says False until that one
    is done, so the caller runs the loop uncompiled meanwhile. With background compiles off
    it is always True: the first call compiles, in this process."""
    _check_compilable(body)
    source, dims, consts = scan_source(body, reverse, length, keep_states)
    # an array, not a tuple: Numba types each index into a long tuple at great cost
    dims = np.array(dims, dtype=np.int64)
    module = load_module(source)
    loop, path = module.loop, module.__file__
    site = body.outputs[0].site if body.outputs else "?"
    what = (f"the {'reverse-time' if reverse else 'forward'} loop of a scan (step built at "
            f"{site}) into machine code")
    announced: list = []
    # whether this process has the machine code (Numba's ``loop.signatures`` says the same
    # but costs tens of microseconds a call, a tenth of a tiny training step)
    loaded = [False]

    def arguments(arrays, length):
        # a transposed weight is F-contiguous: passed as it is (np.dot reads either order;
        # making it C would transpose megabytes on every call); views with gaps and
        # read-only arrays (a broadcast bias) are copied
        ready = [a if (a.flags.c_contiguous or a.flags.f_contiguous) and a.flags.writeable
                 else np.array(a, order="C") for a in (np.asarray(x) for x in arrays)]
        return ready + consts + [length, int(reverse), dims]

    def ready(*arrays, length) -> bool:
        if loaded[0] or not background.ENABLED:
            return True
        sig = background.signature(arguments(arrays, length))
        if sig not in announced:
            announced.append(sig)
            if not background.ready(path, sig):
                say(f"tinygrad_rnn: compiling {what} in a helper process; calls run "
                    "uncompiled until it is ready. This happens once (the disk cache keeps "
                    "it, for this and later processes).")
                return False
            return True
        return background.ready(path, sig)

    def run(*arrays, length):
        args = arguments(arrays, length)
        if not loaded[0]:  # the first call compiles (or loads from the disk cache)
            with slow_notice(what):
                out = loop(*args)
            background.mark_cached(path, background.signature(args))
            loaded[0] = True
            return out
        return loop(*args)

    run.ready = ready
    run.source = source
    run.loop = loop  # the Numba dispatcher: .signatures (compiled here?), .stats (disk cache)
    return run
