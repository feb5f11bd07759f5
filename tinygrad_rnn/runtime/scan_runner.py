"""How a ``scan`` node runs: its lowering, entered in the executor's table for both backends.

The numpy backend runs the time loop in Python over the step body's reference plan. The numba
backend does the same on its first runs and, from the COMPILE_AFTER-th run on, runs the
whole loop compiled into one Numba function (``runtime.codegen.compile_scan``), unless the
step holds something the generator cannot express (then it stays a Python loop over the
body's Numba plan). The compiled functions are kept on the body (``Body._functions``).

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
from .codegen import Unsupported, compile_scan
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


def _run(backend):
    def run(*arrays, body, n_carry, n_const, length, reverse, _used=None):
        lay = Layout(n_carry, n_const, len(body.ys))
        if backend == "numba":
            keep = frozenset(range(n_carry)) if _used is None else frozenset(
                j for j in range(n_carry) if lay.state(j) in _used)
            loop = _compiled(body, reverse, length, keep)
            if loop is not None and loop.ready(*arrays, length=length):
                return loop(*arrays, length=length)
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
