"""Runs a plan: each step calls its primitive's implementation for the chosen backend.

``numpy`` calls the reference implementations; ``numba`` the Numba kernels (primitives that
only move memory use the same NumPy views on both). Values are released after their last
reader, so peak memory follows the schedule, not the graph size.
"""
from __future__ import annotations

import numpy as np

from ..graph.node import GraphError, Node, fail, rectangular, user_site
from ..graph.plan import make_plan
from .blas_threads import ThreadChoice, call_with_threads

BACKENDS = ("numba", "numpy", "jax")
# lowerings the runtime gives primitives whose running it owns (scan: runtime.scan_runner),
# per backend, keyed by the primitive; the others run their record's numba / numpy field
LOWERING: dict[str, dict] = {backend: {} for backend in BACKENDS}


class Function:
    """A compiled graph: ``f(*arrays) -> list of arrays``, one per output.

    inputs: placeholder nodes, fed positionally; outputs: nodes. Parameters are read at each
    call, so ``assign`` between calls is seen. ``backend="jax"`` gives a
    ``runtime.jax_backend.JaxFunction`` (imported only then: JAX is an optional extra).
    """

    def __new__(cls, inputs=(), outputs=(), backend: str = "numba", caller: str = "function"):
        if cls is Function and backend == "jax":
            try:
                from .jax_backend import JaxFunction
            except ImportError as e:
                if not (e.name or "").startswith("jax"):
                    raise
                raise fail(f"{caller}: the jax backend needs JAX, which is not installed: "
                           "pip install 'tinygrad_rnn[jax]' (or pip install jax jaxlib)") from None
            return super().__new__(JaxFunction)
        return super().__new__(cls)

    def __init__(self, inputs: list[Node], outputs: list[Node], backend: str = "numba",
                 caller: str = "function"):
        if backend not in BACKENDS:
            raise fail(f"{caller}: backend must be one of {BACKENDS}, got {backend!r}")
        first: dict[int, int] = {}
        for i, x in enumerate(inputs):
            if not x.op.fed:
                raise fail(f"{caller}: input {i} must be a placeholder, got a {x.op.name} node "
                           f"{x.shape} (built at {x.site})")
            if id(x) in first:
                label = f" '{x.name}'" if x.name else ""
                raise fail(f"{caller}: inputs {first[id(x)]} and {i} are the same placeholder"
                           f"{label} {x.shape}; each input needs its own placeholder (one "
                           "would be fed and the other ignored)")
            first[id(x)] = i
        self.inputs, self.outputs, self.backend = list(inputs), list(outputs), backend
        self.plan = make_plan(self.outputs)
        fed = {id(x) for x in inputs}
        for step in self.plan.steps:
            node = step.node
            if node.op.fed and id(node) not in fed:
                label = f"'{node.name}' " if node.name else ""
                raise fail(f"{caller}: the outputs depend on placeholder {label}{node.shape} "
                           f"{node.dtype}, which is not among the inputs (feed it through "
                           "tr.function([...placeholders], outputs))", node.site)
        self._impls = [self._impl(s.node) for s in self.plan.steps]
        # which outputs of each multi-output node are read (a scan stores no per-step
        # states nobody reads)
        used: dict[int, set] = {}
        for s in self.plan.steps:
            if s.node.op.selects:
                used.setdefault(s.args[0], set()).add(s.node.attrs["k"])
        for s in self.plan.output_slots:
            used.setdefault(s, set())
        self._extra = [dict(_used=frozenset(used.get(s.slot, ()))) if s.node.op.multi else {}
                       for s in self.plan.steps]
        self._feed_slots = [self.plan.placeholder_slots.get(id(x)) for x in inputs]
        self._threads = ThreadChoice()  # BLAS threads per call, learnt from this one's calls
        # what each step calls, gathered once (a tiny call is mostly this loop)
        self._calls = [(s.slot, None if s.node.op.fed else impl, s.args,
                        {**s.node.attrs, **extra}, s.release)
                       for s, impl, extra in zip(self.plan.steps, self._impls, self._extra)]

    def source(self) -> str:
        """The Numba source generated for every scan this function runs as a compiled loop
        (a scan's time loop and its step body, fused), each headed by the line of the user's
        code that built the step; a scan that runs as a Python loop says why. The same text
        is written to the disk cache (see ``ops.kernels.codegen.cache_dir``) when it compiles."""
        from ..ops.scan import Layout, scan
        from .codegen import Unsupported, compile_scan_source
        parts = []
        for step, extra in zip(self.plan.steps, self._extra):
            node = step.node
            if node.op is not scan:
                continue
            body, attrs, lay = node.attrs["body"], node.attrs, Layout.of(node)
            used = extra.get("_used") or frozenset()
            keep = frozenset(j for j in range(lay.n_carry) if lay.state(j) in used)
            where = body.outputs[0].site if body.outputs else "?"
            head = (f"# scan over T={attrs['length']}{' (reverse)' if attrs['reverse'] else ''},"
                    f" step built at {where}")
            try:
                parts.append(f"{head}\n{compile_scan_source(body, attrs['reverse'], attrs['length'], keep)}")
            except Unsupported as e:
                from .scan_runner import body_function
                inner = body_function(body, self.backend).source()
                parts.append(f"{head}: runs as a Python loop over its step ({e})"
                             + (f"\n{inner}" if inner else ""))
        return "\n\n".join(parts)

    def _impl(self, node):
        op = node.op
        if op in LOWERING[self.backend]:
            return LOWERING[self.backend][op]
        if self.backend == "numba" and op.numba is not None:
            return op.numba
        return op.numpy

    def _feed(self, i, value):
        node = self.inputs[i]
        array = rectangular(value, lambda got: GraphError(
            f"function: input {i} expects an array of shape {node.shape}, got {got}\n"
            f"  (called at {user_site()})"))
        if array.dtype.kind not in "biuf":
            text = " ".join(repr(value).split())[:40]
            raise GraphError(f"function: input {i} expects an array of shape {node.shape} "
                             f"{node.dtype}, got {type(value).__name__} {text} of dtype "
                             f"{array.dtype}\n"
                             f"  (called at {user_site()})")
        if array.shape != node.shape:
            label = f" '{node.name}'" if node.name else ""
            raise GraphError(f"function: input {i}{label} expects shape {node.shape}, got "
                             f"{array.shape}\n  (called at {user_site()}; placeholder built at "
                             f"{node.site})")
        if array.dtype != node.dtype:
            if not np.can_cast(array.dtype, node.dtype, casting="same_kind"):
                raise GraphError(f"function: input {i} expects dtype {node.dtype}, got "
                                 f"{array.dtype}\n  (called at {user_site()}; placeholder built "
                                 f"at {node.site})")
            array = array.astype(node.dtype)
        return array

    def __call__(self, *args) -> list[np.ndarray]:
        if len(args) != len(self.inputs):
            raise TypeError(f"function expects {len(self.inputs)} inputs, got {len(args)}\n"
                            f"  (called at {user_site()})")
        values: list = [None] * self.plan.nslots
        given = set()  # arrays an output must not be: the caller's, or one returned already
        for i, (slot, arg) in enumerate(zip(self._feed_slots, args)):
            array = self._feed(i, arg)
            given.add(id(array))
            if slot is not None:
                values[slot] = array
        call_with_threads(self._threads, self._run, values)
        steps = self.plan.steps
        return [_owned(values[s], steps[s].node.op.leaf, given) for s in self.plan.output_slots]


    def _run(self, values):
        for slot, impl, args, kw, release in self._calls:
            if impl is not None:
                values[slot] = impl(*[values[a] for a in args], **kw)
            for s in release:
                values[s] = None


def _owned(value, leaf, given):
    """A fresh writable array: never a parameter's storage, a constant, a view, an input
    array (the numpy backend's stop_gradient hands its input on), or an array already
    returned for another output of the same call."""
    value = np.asarray(value)
    if leaf or value.base is not None or not value.flags.writeable or id(value) in given:
        value = np.array(value)
    given.add(id(value))
    return value
