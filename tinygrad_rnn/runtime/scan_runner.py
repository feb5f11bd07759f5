"""How a ``scan`` node runs: its lowering, entered in the executor's table for both backends.

The numpy backend runs the time loop in Python over the step body's reference plan. The numba
backend, from the COMPILE_AFTER-th run on, runs the whole loop compiled into one Numba
function (``runtime.codegen.compile_scan``); before that it runs the same loop plan in
Python over numba functions of its parts (``PlannedLoop``), the same arithmetic in the same
order, so that both tiers give the same bits. A step that holds something the generator
cannot express (a scan) stays a Python loop over the body's Numba plan. The compiled
functions are kept on the body (``Body._functions``).

The path from ``tr.scan`` to machine code, in the order it runs:

1. ``recurrence.scan`` -> ``ops.scan.scan_nodes``: the step is traced once into a ``Body``
   (placeholders for carry, consts, x_t) and one ``scan`` node; its gradient is another scan
   (``ops.scan_rules.scan_vjp``, BPTT), fused with the forward one by ``graph.simplify``.
2. ``runtime.executor.Function`` schedules the graph (``graph.plan``) and finds the scan's
   lowering here, in ``LOWERING``.
3. ``graph.loop_plan.plan_loop`` splits the body: what depends on x_t but not on the carry
   is hoisted before the loop and batched over T; carries that only accumulate (weight
   gradients) leave the loop as one matmul or sum after it.
4. ``runtime.codegen.scan_source`` writes the Python source of two Numba functions, ``body``
   (the step, elementwise chains fused into loop nests, matmul through BLAS) and ``loop``
   (prologue, time loop, epilogue); every size is read from a ``dims`` array at run time.
5. ``ops.kernels.codegen.load_module`` writes that source to the disk cache under a hash of
   its text and imports it; Numba compiles it on the first call (``runtime.notice`` says so
   when it takes a while) and caches the machine code beside it.
6. ``tr.function(...).source()`` shows the source of every compiled loop of a function.
"""
from __future__ import annotations

import os

import numpy as np

from ..ops.scan import Layout, scan
from ..graph.loop_plan import plan_loop
from .codegen import Unsupported, _check_compilable, compile_scan
from .executor import LOWERING, Function

# Compiling a loop costs seconds, once (the disk cache keeps it); running a loop in Python
# over the body's Numba kernels costs microseconds per step. So a loop is compiled the
# COMPILE_AFTER-th time it runs (as tiered JITs do): one-off graphs never pay for it,
# training loops do from their second step on. 1 compiles at once; 0 never.
COMPILE_AFTER = int(os.environ.get("TINYGRAD_RNN_COMPILE_AFTER", "2"))


def body_function(body, backend: str) -> Function:
    """The step body as a compiled plan of ``backend`` (one per body and backend)."""
    if backend not in body._functions:
        body._functions[backend] = Function(body.inputs, body.outputs, backend, "scan body")
    return body._functions[backend]


def _compiled(body, reverse, length, keep_states):
    """The whole loop compiled into Numba, once it has run COMPILE_AFTER times (None until
    then, or when the body holds something the generator cannot express: the loop then
    runs in Python over the body's numba plan)."""
    key = ("compiled", reverse, length, keep_states)
    runs = body._functions.get(("runs",) + key, 0) + 1
    body._functions[("runs",) + key] = runs
    if key not in body._functions and (COMPILE_AFTER < 1 or runs < COMPILE_AFTER):
        return None
    if key not in body._functions:
        try:
            body._functions[key] = compile_scan(body, reverse, length, keep_states)
        except Unsupported:
            body._functions[key] = None
    return body._functions[key]


class PlannedLoop:
    """The compiled loop's plan (``graph.loop_plan``: hoisted prologue, step, accumulator
    epilogue) run in Python over numba functions of its three parts: what a loop does on
    its runs before it is compiled. It performs the compiled loop's arithmetic, operation
    for operation (the same batched products, the same kernels), so both tiers give the
    same bits."""

    def __init__(self, body, length, keep_states):
        self.plan = plan = plan_loop(body, length, set(keep_states))
        self.body, self.keep = body, keep_states
        self.pre = Function(plan.pre_in, plan.pre_out, "numba", "scan prologue")
        self.step = Function(plan.body_in, plan.body_out, "numba", "scan body")
        self.post = Function(plan.post_in, plan.post_out, "numba", "scan epilogue")

    def __call__(self, arrays, length, reverse):
        plan, body = self.plan, self.body
        n, nk = body.n_carry, body.n_const
        carry, consts, xs = Layout(n, nk, len(body.ys)).inputs(arrays)
        pre = self.pre(*xs, *consts)
        kept = plan.kept
        c = [carry[j] for j in kept]
        outs = plan.body_out[len(kept):]
        stacked = [np.empty((length,) + o.shape, o.dtype) for o in outs]
        states = {j: np.empty((length,) + body.carry_in[j].shape, body.carry_in[j].dtype)
                  for j in kept if j in self.keep}
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            for a, j in enumerate(kept):
                if j in states:
                    states[j][t] = c[a]
            got = self.step(*c, *consts, *[x[t] for x in xs], *[h[t] for h in pre])
            c = got[:len(kept)]
            for buf, v in zip(stacked, got[len(kept):]):
                buf[t] = v
        n_y = sum(1 for where, _ in plan.y_from if where == "loop")
        operand = {"loop": lambda k: stacked[n_y + k], "x": lambda j: xs[j], "pre": lambda k: pre[k]}
        post = self.post(*[carry[j] for j in range(n) if j not in kept],
                         *[operand[where](k) for where, k in plan.operand_from])
        finals = [c[k] if where == "loop" else post[k] for where, k in plan.final_from]
        ys = [stacked[k] if where == "loop" else pre[k] for where, k in plan.y_from]
        empty = [states.get(j, np.empty((0,) * body.carry_in[j].ndim, body.carry_in[j].dtype))
                 for j in range(n)]
        return tuple(finals) + tuple(ys) + tuple(empty)


def _planned(body, length, keep_states):
    """The uncompiled tier of a loop that will compile (None where it will not: the step
    holds a scan, and runs in Python over the body's own plan)."""
    key = ("planned", length, keep_states)
    if key not in body._functions:
        try:
            _check_compilable(body)
            body._functions[key] = PlannedLoop(body, length, keep_states)
        except Unsupported:
            body._functions[key] = None
    return body._functions[key]


def _run(backend):
    def run(*arrays, body, n_carry, n_const, length, reverse, _used=None):
        lay = Layout(n_carry, n_const, len(body.ys))
        if backend == "numba":
            keep = frozenset(range(n_carry)) if _used is None else frozenset(
                j for j in range(n_carry) if lay.state(j) in _used)
            loop = _compiled(body, reverse, length, keep)
            if loop is not None and loop.ready(*arrays, length=length):
                return loop(*arrays, length=length)
            planned = _planned(body, length, keep)
            if planned is not None:
                return planned(arrays, length, reverse)
        fn = body_function(body, backend)
        carry, consts, xs = lay.inputs(arrays)
        ys = [np.empty((length,) + y.shape, y.dtype) for y in body.ys]
        cs = [np.empty((length,) + c.shape, c.dtype) for c in body.carry_in]
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            for c, buf in zip(carry, cs):
                buf[t] = c
            outs = fn(*carry, *consts, *[x[t] for x in xs])
            carry = outs[:n_carry]
            for y, buf in zip(outs[n_carry:], ys):
                buf[t] = y
        return tuple(carry) + tuple(ys) + tuple(cs)
    return run


for _backend in ("numba", "numpy"):
    LOWERING[_backend][scan] = _run(_backend)
