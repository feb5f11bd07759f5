"""The jax backend: a function's whole plan lowered to ONE Python function of ``jax.numpy``
operations, compiled once by ``jax.jit`` (XLA: CPUs, GPUs, TPUs); ``scan`` becomes
``jax.lax.scan``. ``tr.function(..., backend="jax")`` runs it (``JaxFunction``) and
``tr.export.to_jax`` hands it to users as a pure JAX function (``Program``).

How each primitive lowers is the table ``JAX`` below, keyed by the primitive's record, as
``runtime.codegen.EMIT`` is for compiled loops and ``executor.LOWERING`` for the scan's
runner: the records in ``ops/`` stay free of JAX (installing the package never needs it, and
it is imported only when backend="jax" or the exporter asks), and the backend is one table
kept apart from the op definitions, picked by dispatch (PyTensor's ``jax_funcify``). A
rule is ``rule(at, *arrays, **attrs) -> array``: the node's attributes as keywords, and
``at`` (an ``At``) for the few rules that need more than their inputs (leaves read what
the caller feeds, random primitives a key, the scan the outputs that are read). A primitive
missing from the table fails ``tests/test_jax_backend.py``.

Randomness goes through JAX's explicit keys: every random node (``pure=False`` on its
record), and every scan whose step holds one, takes one key. ``tr.function`` draws each key
at each call from the node's NumPy ``Generator`` (so draws are fresh every run and a seeded
graph repeats its runs); the exporter derives them from the ``key`` its caller passes.
Inside a scan, step t folds t into the scan's key. The draws are JAX's, not NumPy's: the
jax backend agrees with the others in distribution, not draw for draw.

float64: ``tr.function`` runs every call inside ``jax.enable_x64`` (whatever the user's
global setting), so each value keeps the dtype the graph gives it; the exporter's function
runs in its caller's JAX and asks for ``jax_enable_x64`` when the graph holds 64-bit values.
"""
from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..graph.node import GraphError, Node, fail, user_site
from ..graph.plan import Plan, make_plan
from ..ops import elementwise as ew
from ..ops import leaves, linalg, random, reduce, shape
from ..ops.scan import Layout, get, scan
from ..ops.shape import _py_index
from .executor import Function

# ---- the lowering of every primitive -----------------------------------------------------
JAX: dict = {}


def _lowers(*prims):
    def enter(rule):
        for p in prims:
            JAX[p] = rule
        return rule
    return enter


def _plain(fn):
    """The rule of a primitive that is one jnp function of its inputs."""
    return lambda at, *xs, **attrs: fn(*xs)


for _prim, _fn in (
        (ew.add, jnp.add), (ew.sub, jnp.subtract), (ew.mul, jnp.multiply), (ew.div, jnp.divide),
        (ew.neg, jnp.negative), (ew.exp, jnp.exp), (ew.log, jnp.log), (ew.sqrt, jnp.sqrt),
        (ew.tanh, jnp.tanh), (ew.sigmoid, jax.nn.sigmoid), (ew.sign, jnp.sign),
        (ew.abs, jnp.abs), (ew.maximum, jnp.maximum), (ew.minimum, jnp.minimum),
        (ew.where, jnp.where), (ew.less, jnp.less), (ew.less_equal, jnp.less_equal),
        (ew.greater, jnp.greater), (ew.greater_equal, jnp.greater_equal),
        (ew.equal, jnp.equal), (ew.not_equal, jnp.not_equal),
        # stop_gradient is lax's: jax.grad of an exported graph then cuts where ours does
        # (truncated BPTT, LSTM1997's truncated gradient)
        (ew.stop_gradient, lax.stop_gradient), (ew.identity, lambda x: x),
        (linalg.matmul, jnp.matmul)):
    JAX[_prim] = _plain(_fn)


@_lowers(ew.pow)
def _pow(at, x, y):
    # x ** 0.5 is sqrt(x) at the IEEE extremes too, as the reference gives (ops.elementwise)
    return jnp.where(y == 0.5, jnp.sqrt(x), jnp.power(x, y))


@_lowers(ew.relu)
def _relu(at, x):
    return jnp.maximum(x, jnp.zeros((), x.dtype))  # (NaN stays NaN, as in the reference)


@_lowers(ew.cast)
def _cast(at, x, dtype):
    return x.astype(dtype)


@_lowers(reduce.reduce_sum)
def _sum(at, x, axis, keepdims):
    return jnp.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


@_lowers(reduce.reduce_max)
def _max(at, x, axis, keepdims):
    return jnp.max(x, axis=axis, keepdims=keepdims)


JAX[shape.reshape] = lambda at, x, shape: jnp.reshape(x, shape)
JAX[shape.transpose] = lambda at, x, axes: jnp.transpose(x, axes)
JAX[shape.broadcast_to] = lambda at, x, shape: jnp.broadcast_to(x, shape)
JAX[shape.getitem] = lambda at, x, index: x[_py_index(index)]
JAX[shape.unslice] = lambda at, g, index, shape: jnp.zeros(shape, g.dtype).at[_py_index(index)].set(g)
JAX[shape.concat] = lambda at, *xs, axis: jnp.concatenate(xs, axis=axis)

# leaves: what the caller feeds (placeholders; parameters and constants as arguments, so a
# parameter is read at each call); a constant nobody feeds (inside a step) is baked in
JAX[leaves.placeholder] = lambda at, **attrs: at.fed()
JAX[leaves.parameter] = lambda at, box: at.fed()
JAX[leaves.constant] = lambda at, value: at.fed(value)
JAX[leaves.fill] = lambda at, value, shape, dtype, user=False: jnp.full(shape, value, dtype)


@_lowers(random.dropout_mask)
def _dropout_mask(at, shape, p, dtype, rng):
    keep = 1.0 - p  # (p = 0: u < 1 always, every entry kept, as the reference)
    u = jax.random.uniform(at.key(), shape)
    return jnp.where(u < keep, jnp.asarray(1.0 / keep, dtype), jnp.zeros((), dtype))


@_lowers(random.bernoulli)
def _bernoulli(at, p, shape, dtype, rng):
    return (jax.random.uniform(at.key(), shape, p.dtype) < p).astype(dtype)


JAX[get] = lambda at, x, k: x[k]


@_lowers(scan)
def _scan(at, *arrays, body, n_carry, n_const, length, reverse):
    """``jax.lax.scan`` over the step body's own lowered program. The per-step carries
    (residuals our BPTT reads) are stacked only where something reads them. A step that holds
    a scan (``tr.scan(..., checkpoint=k)`` or ``truncate=k``: a scan of k-step segments) is
    wrapped in ``jax.checkpoint``, so that ``jax.grad`` of an exported graph keeps only the
    state entering each segment and recomputes the segment, as our own gradient does."""
    lay = Layout(n_carry, n_const, len(body.ys))
    carry, consts, xs = lay.inputs(arrays)
    step = program_of(body)
    kept = [j for j in range(n_carry) if lay.state(j) in at.used]
    key = at.key() if step.keyed else None

    def one(c, x):
        x_t, t = (x, None) if key is None else x
        keys = [] if key is None else step.keys(jax.random.fold_in(key, t))
        outs = step.run(list(c) + list(consts) + list(x_t), keys)
        return tuple(outs[:n_carry]), (tuple(outs[n_carry:]), tuple(c[j] for j in kept))

    if step.holds_scan:
        one = jax.checkpoint(one, prevent_cse=False)
    seq = tuple(xs) if key is None else (tuple(xs), jnp.arange(length))
    final, (ys, states) = lax.scan(one, tuple(carry), seq, length=length, reverse=reverse)
    out = list(final) + list(ys) + [None] * n_carry
    for j, s in zip(kept, states):
        out[lay.state(j)] = s
    return tuple(out)


# ---- a graph as one function of jnp arrays -----------------------------------------------
class At:
    """What a rule may ask about the node it lowers, beyond its inputs."""

    __slots__ = ("node", "feeds", "_key", "used")

    def __init__(self, node, feeds, key, used):
        self.node, self.feeds, self._key, self.used = node, feeds, key, used

    def fed(self, default=None):
        """The value the caller gives this leaf (a constant nobody feeds: its own value)."""
        value = self.feeds.get(id(self.node))
        if value is None:
            if default is None:
                raise fail(f"jax backend: {self.node.op.name} {self.node.shape} is not fed",
                           self.node.site)
            return jnp.asarray(default)
        return value

    def key(self):
        return self._key


class Program:
    """A plan (``graph.plan``: scans fused, common subexpressions merged) as one function of
    jnp arrays, ``run(inputs, keys, params, consts) -> list of arrays``: one array per input
    placeholder, one PRNG key per node in ``keyed``, one array per node in ``params`` and in
    ``consts`` (the parameter and constant leaves, in plan order). Built once per graph (a
    scan's step: once per body, ``program_of``); ``run`` is what jax traces."""

    def __init__(self, inputs: list[Node], plan: Plan):
        self.inputs, self.plan = list(inputs), plan
        self.steps = plan.steps
        for s in self.steps:
            if s.node.op not in JAX:
                raise fail(f"jax backend: primitive {s.node.op.name!r} has no JAX lowering "
                           "(runtime.jax_backend.JAX)", s.node.site)
        # which outputs of each multi-output node are read (a scan stacks no per-step states
        # nobody reads)
        used: dict[int, set] = {}
        for s in self.steps:
            if s.node.op.selects:
                used.setdefault(s.args[0], set()).add(s.node.attrs["k"])
        for slot in plan.output_slots:  # (a multi-output node as an output: all of it)
            if self.steps[slot].node.op.multi:
                used[slot] = set(range(len(self.steps[slot].node.op.avals(self.steps[slot].node))))
        self.used = {slot: frozenset(ks) for slot, ks in used.items()}
        # the leaves fed by the caller beside the placeholders: parameters and constants
        self.params = [s.node for s in self.steps if s.node.op is leaves.parameter]
        self.consts = [s.node for s in self.steps if s.node.op is leaves.constant]
        self.keyed = [s.node for s in self.steps if _draws(s.node)]
        self._key_of = {id(n): i for i, n in enumerate(self.keyed)}
        self.holds_scan = any(s.node.op is scan for s in self.steps)

    def keys(self, key) -> list:
        """One key per keyed node, derived from ``key``."""
        return [jax.random.fold_in(key, i) for i in range(len(self.keyed))]

    def run(self, inputs, keys, params=(), consts=None) -> list:
        """The outputs, given one array per input, per keyed node, per parameter, and per
        constant (``consts`` None: the constants are baked in)."""
        feeds = {id(x): v for x, v in zip(self.inputs, inputs)}
        feeds.update((id(p), v) for p, v in zip(self.params, params))
        if consts is not None:
            feeds.update((id(c), v) for c, v in zip(self.consts, consts))
        values: list = [None] * self.plan.nslots
        for s in self.steps:
            node = s.node
            i = self._key_of.get(id(node))
            at = At(node, feeds, None if i is None else keys[i], self.used.get(s.slot, frozenset()))
            value = JAX[node.op](at, *[values[a] for a in s.args], **node.attrs)
            if not node.op.multi and value.dtype != node.dtype:
                value = value.astype(node.dtype)  # (the graph's dtype, whatever jnp promotes to)
            values[s.slot] = value
        return [values[s] for s in self.plan.output_slots]

    def rngs(self) -> list:
        """The NumPy Generator each keyed node draws its key from (a scan: the first random
        node of its step)."""
        return [_rng_of(n) for n in self.keyed]


def program_of(body) -> Program:
    """The lowered program of a scan's step body (one per body)."""
    key = ("jax", "program")
    if key not in body._functions:
        body._functions[key] = Program(body.inputs, make_plan(body.outputs))
    return body._functions[key]


def _draws(node) -> bool:
    """The node needs a key: a random primitive, or a scan whose step holds one."""
    if not node.op.pure and not node.op.multi:
        return True
    return node.op is scan and bool(program_of(node.attrs["body"]).keyed)


def _rng_of(node):
    if node.op is scan:
        return _rng_of(program_of(node.attrs["body"]).keyed[0])
    return node.attrs["rng"]


def needs_x64(nodes) -> list:
    """The 64-bit dtypes among ``nodes`` (JAX runs them as such only with x64 enabled)."""
    return sorted({str(n.dtype) for n in nodes if n.dtype.kind in "fiu" and n.dtype.itemsize == 8})


@contextlib.contextmanager
def x64(on: bool = True):
    """64-bit JAX inside (or 32-bit: ``on=False``), whatever the global setting
    (``jax.enable_x64`` in recent JAX; ``jax.experimental.enable_x64`` / ``disable_x64``
    before it)."""
    scoped = getattr(jax, "enable_x64", None)
    if scoped is not None:
        with scoped(on):
            yield
        return
    from jax import experimental
    with (experimental.enable_x64() if on else experimental.disable_x64()):
        yield


# ---- tr.function(..., backend="jax") -----------------------------------------------------
class JaxFunction(Function):
    """``Function`` on the jax backend: the same checks and plan, then the whole plan as one
    jitted JAX function of (parameters, constants, keys, inputs). ``jax.jit`` compiles it at
    the first call (inputs always have the placeholders' shapes and dtypes, so once) and keeps
    it; parameters are passed at each call, so ``assign`` between calls is seen."""

    def __init__(self, inputs, outputs, backend="jax", caller="function"):
        super().__init__(inputs, outputs, backend, caller)
        self.program = Program(self.inputs, self.plan)
        self._boxes = [p.attrs["box"] for p in self.program.params]
        self._const_values = [c.attrs["value"] for c in self.program.consts]
        self._rngs = self.program.rngs()
        self._jitted = jax.jit(self._pure)

    def _impl(self, node):
        return None  # (nothing runs step by step)

    def data_parallel(self, devices, batch_axes=None, caller: str = "function"):
        """Run every call across the first ``devices`` JAX devices (an int), each input split
        along its batch axis (``batch_axes``: one int or None per input; None replicates
        that input; default ``batch_axes_of``), the parameters replicated. XLA partitions
        the one jitted program (SPMD): each device computes its shard's part of every sum
        over the batch, and an all-reduce adds the parts, so the outputs are the one-device
        outputs on the whole batch (a mean loss's gradient is the mean of the shards'
        gradients), up to the order of the additions. Returns self."""
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        have = jax.devices()
        if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
            raise fail(f"{caller}: devices must be a positive int, got {devices!r}")
        if devices > len(have):
            raise fail(f"{caller}: devices={devices}, but JAX sees {len(have)} "
                       f"({', '.join(str(d) for d in have)}); on a CPU, simulate more with "
                       f"XLA_FLAGS=--xla_force_host_platform_device_count={devices} set before "
                       "JAX is first imported")
        axes = self._batch_axes(batch_axes, devices, caller)
        mesh = Mesh(np.array(have[:devices]), ("batch",))
        whole = NamedSharding(mesh, PartitionSpec())
        split = [whole if a is None else NamedSharding(mesh, PartitionSpec(*[None] * a, "batch"))
                 for a in axes]
        self.devices, self.batch_axes, self._shardings = list(have[:devices]), axes, split
        self._jitted = jax.jit(self._pure, in_shardings=(whole, whole, whole, split))
        return self

    def _batch_axes(self, batch_axes, devices, caller) -> list:
        if batch_axes is None:
            batch_axes = batch_axes_of(self.inputs, self.plan)
        elif isinstance(batch_axes, int) and not isinstance(batch_axes, bool):
            batch_axes = [batch_axes] * len(self.inputs)
        batch_axes = list(batch_axes)
        if len(batch_axes) != len(self.inputs):
            raise fail(f"{caller}: batch_axes needs one entry (an axis or None) per input, "
                       f"{len(self.inputs)}, got {len(batch_axes)}")
        for i, (x, a) in enumerate(zip(self.inputs, batch_axes)):
            if a is None:
                continue
            if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < len(x.shape):
                raise fail(f"{caller}: batch_axes[{i}] must be None or an axis of input {i} "
                           f"{x.shape}, got {a!r}")
            if x.shape[a] % devices:
                raise fail(f"{caller}: input {i} {x.shape} splits along axis {a} (size "
                           f"{x.shape[a]}), which {devices} devices do not divide; give a batch "
                           f"that {devices} divides, or batch_axes", x.site)
        return batch_axes

    def _pure(self, params, consts, key_data, inputs):
        keys = [jax.random.wrap_key_data(key_data[i], impl="threefry2x32")
                for i in range(len(self._rngs))]
        return self.program.run(inputs, keys, params, consts)

    def _args(self, args):
        if len(args) != len(self.inputs):
            raise TypeError(f"function expects {len(self.inputs)} inputs, got {len(args)}\n"
                            f"  (called at {user_site()})")
        inputs = [self._feed(i, a) for i, a in enumerate(args)]
        params = [b.value for b in self._boxes]
        key_data = np.stack([rng.integers(0, 2**32, size=2, dtype=np.uint32)
                             for rng in self._rngs]) if self._rngs else np.zeros((0, 2), np.uint32)
        return params, self._const_values, key_data, inputs

    def __call__(self, *args) -> list[np.ndarray]:
        params, consts, key_data, inputs = self._args(args)
        with x64():
            outs = self._jitted(params, consts, key_data, inputs)
            # fresh writable arrays of the graph's dtypes (np.asarray of a jax array is
            # read-only)
            return [np.array(o) for o in outs]

    def source(self) -> str:
        """The jaxpr of the whole function (what XLA compiles)."""
        with x64():
            return str(jax.make_jaxpr(self._pure)(*self._args(
                [np.zeros(x.shape, x.dtype) for x in self.inputs])))


def batch_axes_of(inputs: list[Node], plan: Plan) -> list:
    """Each input's batch axis, guessed from the graph: axis 1 of a sequence a scan reads
    (its axis 0 is time), and of any input shaped like one ((T, B, ...) with that B); else
    the first axis of that batch size B; else axis 0; None (replicated) for a scalar. A
    wrong guess costs communication between devices, never a wrong value."""
    sequences = {}
    for s in plan.steps:
        if s.node.op is scan:
            sequences.update((id(n), n) for n in Layout.of(s.node).inputs(s.node.inputs)[2])
    sizes = {n.shape[1] for n in sequences.values() if len(n.shape) > 1}
    axes = []
    for x in inputs:
        if not x.shape:
            axes.append(None)
        elif len(x.shape) > 1 and (id(x) in sequences or (
                x.shape[1] in sizes and any(n.shape[:2] == x.shape[:2]
                                            for n in sequences.values()))):
            axes.append(1)
        else:
            axes.append(next((a for a, n in enumerate(x.shape) if n in sizes), 0))
    return axes


def check_jax_dtypes(nodes, what: str) -> None:
    """A clear error where JAX would silently run 64-bit values as 32-bit."""
    wide = needs_x64(nodes)
    if wide and not jax.config.jax_enable_x64:
        raise GraphError(f"{what}: the graph holds {', '.join(wide)} values, which JAX runs as "
                         "32-bit unless 64-bit mode is on: call "
                         "jax.config.update('jax_enable_x64', True) first (or build the graph "
                         "in float32)")
