"""Differential testing with random programs.

Hypothesis draws small DAGs (a few ops over 1-3 float64 placeholders of small shapes, empty
axes included) over the ``tr`` functions. Every program is interpreted three ways from one
description:

- by a NumPy interpreter written here (the oracle for values, IEEE specials included),
- by ``tr`` (built once, compiled with ``tr.function`` on the numba AND the numpy backend,
  every compiled function called three times: the results must not change between calls),
- by PyTorch in float64 (when it imports) for values and gradients, including gradients
  with respect to intermediate tensors (``retain_grad``).

Derivatives are also checked without PyTorch: reverse mode, forward mode, the identity
<v, J u> = <J^T v, u> between them, and Hessian-vector products, against central finite
differences of the NumPy interpreter.

Values are compared op by op (NumPy applied to tr's own inputs of each op, every element)
and end to end (where the value is well-conditioned: stable under 1e-12 relative input
perturbations, so that correct roundings cannot differ by more than the tolerance).

The bugs these tests found (division by zero raising on numba, stop_gradient handing the
caller's array back, cross_entropy's 0 * inf, a reversed slice from before the start, an
empty slice's gradient, pow(x, 0.5) differing between backends, -0.0 merged with 0.0) have
regression tests of their own at the end.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.special import expit

import tinygrad_rnn as tr

F64, BOOL = np.dtype(np.float64), np.dtype(np.bool_)
MAX_SIZE = 160  # elements of any value in a program
MAX_NDIM = 5
SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 800.0, -800.0, 1e-300])

SETTINGS = dict(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - only the torch tests need it
        return None
    return torch


# ==== the operations: one NumPy oracle, one tr builder, one PyTorch twin each ============

@dataclass
class Op:
    np: callable  # (*numpy values, **attrs) -> array or list of arrays
    tr: callable  # (*tr values, **attrs) -> Tensor or list of Tensors
    th: callable  # (*torch values, **attrs) -> torch tensor or list
    ok: callable = None  # (mode, *numpy values, **attrs) -> bool: smooth here (derivatives)
    fd: bool = True  # finite differences see what autodiff sees (not stop_gradient, casts)


def _th_t(v):
    """A torch float64 tensor for a Python float / array argument (tensors pass)."""
    torch = _torch()
    return v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v, np.float64))


def _away(margin, *pairs):
    """Every |a - b| (broadcast) is at least ``margin``."""
    return all(np.all(np.abs(np.subtract(a, b)) >= margin) for a, b in pairs)


KINK = 0.01  # distance kept from kinks (abs, relu, ties, comparisons) in derivative tests
POLE = 0.05  # distance kept from poles and domain edges (log, sqrt, div, pow base)


def _unary(np_fn, tr_fn, tr_alt, th_name, ok=None):
    def th(x, form=0):
        import torch
        return getattr(torch, th_name)(x) if isinstance(th_name, str) else th_name(x)
    return Op(lambda x, form=0: np_fn(x), lambda x, form=0: (tr_fn, tr_alt)[form](x), th, ok)


def _softplus_th(x):
    import torch
    return torch.logaddexp(x, torch.zeros_like(x))


def _relu_np(x):
    return np.maximum(x, 0.0)


UNARY = {
    "exp": _unary(np.exp, tr.exp, lambda x: x.exp(), "exp"),
    "log": _unary(np.log, tr.log, lambda x: x.log(), "log",
                  ok=lambda mode, x, **a: mode == "values" or np.all(x >= POLE)),
    "tanh": _unary(np.tanh, tr.tanh, lambda x: x.tanh(), "tanh"),
    "sigmoid": _unary(expit, tr.sigmoid, lambda x: x.sigmoid(), "sigmoid"),
    "relu": _unary(_relu_np, tr.relu, lambda x: x.relu(), "relu",
                   ok=lambda mode, x, **a: mode != "fd" or _away(KINK, (x, 0))),
    "sqrt": _unary(np.sqrt, tr.sqrt, lambda x: x.sqrt(), "sqrt",
                   ok=lambda mode, x, **a: mode == "values" or np.all(x >= POLE)),
    "abs": _unary(np.abs, tr.abs, abs, "abs",
                  ok=lambda mode, x, **a: mode != "fd" or _away(KINK, (x, 0))),
    "neg": _unary(np.negative, tr.neg, lambda x: -x, "neg"),
    "softplus": _unary(lambda x: np.logaddexp(0.0, x), tr.softplus, tr.softplus, _softplus_th),
}

def np_pow(a, b):
    """pow, elementwise, with x ** 0.5 = sqrt(x) (pow(-inf, 0.5) = nan, pow(-0.0, 0.5) = -0.0):
    np.power's rule for a scalar exponent and PyTorch's for any. (C's pow, and np.power with
    a full array of exponents, give +inf and +0.0 there: tr picks the sqrt rule everywhere.)"""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    shape = a.shape
    a, b = np.array(a).reshape(-1), np.array(b).reshape(-1)
    with np.errstate(all="ignore"):
        out = np.where(b == 0.5, np.sqrt(a), np.power(a, b))
    return out.reshape(shape)


_BIN_NP = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
           "pow": np_pow, "maximum": np.maximum, "minimum": np.minimum}
_BIN_OPERATOR = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
                 "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
                 "pow": lambda a, b: a ** b}


def _binary(name):
    def th(a, b, form=0):
        import torch
        fn = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
              "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum}[name]
        return fn(_th_t(a), _th_t(b))

    def build(a, b, form=0):
        if form == 1 and name in _BIN_OPERATOR:
            return _BIN_OPERATOR[name](a, b)
        return getattr(tr, name)(a, b)

    def ok(mode, a, b, form=0):
        if name == "div":
            return mode == "values" or np.all(np.abs(b) >= POLE)
        if name == "pow":
            return mode == "values" or np.all(np.asarray(a) >= POLE)
        if name in ("maximum", "minimum"):
            return mode != "fd" or _away(KINK, (a, b))
        return True
    return Op(lambda a, b, form=0: _BIN_NP[name](a, b), build, th, ok)


BINARY = {name: _binary(name) for name in _BIN_NP}

_CMP = ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")
_CMP_NP = dict(zip(_CMP, (np.less, np.less_equal, np.greater, np.greater_equal, np.equal,
                          np.not_equal)))
_CMP_OPERATOR = dict(zip(_CMP, (lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b,
                                lambda a, b: a >= b, lambda a, b: a == b,
                                lambda a, b: a != b)))


def _cmp_th(a, b, cmp, form=0):
    import torch
    fn = dict(zip(_CMP, (torch.lt, torch.le, torch.gt, torch.ge, torch.eq, torch.ne)))[cmp]
    return fn(_th_t(a), _th_t(b))


COMPARE = Op(
    lambda a, b, cmp, form=0: _CMP_NP[cmp](a, b),
    lambda a, b, cmp, form=0: (_CMP_OPERATOR[cmp] if form else getattr(tr, cmp))(a, b),
    _cmp_th,
    # a comparison is a jump of whatever it selects: finite differences must not straddle it
    ok=lambda mode, a, b, cmp, form=0: mode != "fd" or _away(KINK, (a, b)))


def _where_th(c, a, b):
    import torch
    c = c if isinstance(c, torch.Tensor) else torch.as_tensor(np.asarray(c))
    return torch.where(c, _th_t(a), _th_t(b))


WHERE = Op(lambda c, a, b: np.where(c, a, b), lambda c, a, b: tr.where(c, a, b), _where_th)


def _reduce_dims(x, axis):
    if axis is None:
        return tuple(range(x.ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _reduce_th(name):
    def th(x, axis=None, keepdims=False, form=0):
        import torch
        fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin,
              "logsumexp": torch.logsumexp}[name]
        if x.ndim == 0:  # numpy reduces a 0-d array to a 0-d array, keepdims or not
            return fn(x.reshape(1), dim=0)
        return fn(x, dim=_reduce_dims(x, axis), keepdim=keepdims)
    return th


def np_logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) with the max shifted out; an infinite max shifts by 0, so that
    logsumexp([inf, 0]) = inf and logsumexp([-inf, -inf]) = -inf (as PyTorch, SciPy)."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _gap_ok(x, axis):
    """The largest and second largest of every reduced group differ by KINK (no ties)."""
    x = np.asarray(x)
    if x.ndim == 0 or x.size == 0:
        return True
    dims = sorted({a % x.ndim for a in _reduce_dims(x, axis)})
    rest = [a for a in range(x.ndim) if a not in dims]
    groups = np.transpose(x, rest + dims).reshape(_size([x.shape[a] for a in rest]), -1)
    if groups.shape[1] < 2:
        return True
    top = np.sort(groups, axis=1)
    return bool(np.all(top[:, -1] - top[:, -2] >= KINK))


def _reduce(name):
    np_fn = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min,
             "logsumexp": np_logsumexp}[name]

    def build(x, axis=None, keepdims=False, form=0):
        if form == 1:
            return getattr(x, name)(axis, keepdims)
        return getattr(tr, name)(x, axis=axis, keepdims=keepdims)

    def ok(mode, x, axis=None, keepdims=False, form=0):
        if name == "max":
            return mode != "fd" or _gap_ok(x, axis)
        if name == "min":
            return mode != "fd" or _gap_ok(-np.asarray(x), axis)
        return True
    return Op(lambda x, axis=None, keepdims=False, form=0: np_fn(x, axis=axis, keepdims=keepdims),
              build, _reduce_th(name), ok)


REDUCE = {name: _reduce(name) for name in ("sum", "mean", "max", "min", "logsumexp")}


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    return x - np_logsumexp(x, axis=axis, keepdims=True)


def np_cross_entropy(logits, targets):
    """-mean over the batch of log_softmax(logits)[b, targets[b]] (PyTorch's definition)."""
    ls = np_log_softmax(logits, -1)
    picked = np.take_along_axis(ls, np.asarray(targets)[..., None], axis=-1)[..., 0]
    return -np.mean(picked)


def _th_cross_entropy(logits, targets):
    import torch
    return torch.nn.functional.cross_entropy(logits, torch.as_tensor(np.asarray(targets)))


def _th_mse(p, t):
    import torch
    return torch.nn.functional.mse_loss(_th_t(p), _th_t(t))


def _gather_th(x, index):
    """x[index] in torch for any NumPy basic index (negative steps too): a gather of the
    flat positions NumPy selects, whose backward is a scatter-add."""
    import torch
    pos = np.arange(int(np.prod(x.shape, dtype=np.int64))).reshape(tuple(x.shape))[index]
    flat = x.reshape(-1)[torch.as_tensor(np.ascontiguousarray(pos).reshape(-1), dtype=torch.long)]
    return flat.reshape(pos.shape)


def _split_np(x, sections, axis):
    return np.split(x, sections, axis=axis)


def _split_th(x, sections, axis):
    n = x.shape[axis]
    cuts = [n // sections * j for j in range(1, sections)] if isinstance(sections, int) \
        else list(sections)
    bounds = [0] + cuts + [n]
    pre = (slice(None),) * (axis % x.ndim)
    return [_gather_th(x, pre + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]


def _transpose_tr(x, axes=None, form=0):
    if form == 1:
        return x.transpose(*axes) if axes is not None else x.transpose()
    if form == 2:
        return x.T
    return tr.transpose(x, axes)


def _transpose_th(x, axes=None, form=0):
    return x.permute(tuple(axes if axes is not None else reversed(range(x.ndim))))


def _swapaxes_tr(x, a, b, form=0):
    return x.mT if form == 1 else tr.swapaxes(x, a, b)


def _reshape_tr(x, shape, form=0):
    return x.reshape(shape) if form else tr.reshape(x, shape)


def _matmul_tr(a, b, form=0):
    return a @ b if form else tr.matmul(a, b)


def _matmul_th(a, b, form=0):
    import torch
    return torch.matmul(_th_t(a), _th_t(b))


def _stop_th(x, form=0):
    # a new leaf: the gradient with respect to it is defined (tr.grad gives the gradient
    # through its uses), and nothing flows back into x
    return x.detach().requires_grad_(True)


def _astype_th(x, dtype):
    import torch
    return x.to({np.float64: torch.float64, np.float32: torch.float32}[dtype])


SHAPE = {
    "reshape": Op(lambda x, shape, form=0: np.reshape(x, shape), _reshape_tr,
                  lambda x, shape, form=0: x.reshape(shape)),
    "transpose": Op(lambda x, axes=None, form=0: np.transpose(x, axes), _transpose_tr,
                    _transpose_th),
    "swapaxes": Op(lambda x, a, b, form=0: np.swapaxes(x, a, b), _swapaxes_tr,
                   lambda x, a, b, form=0: x.transpose(a, b)),
    "broadcast_to": Op(lambda x, shape, form=0: np.broadcast_to(x, shape),
                       lambda x, shape, form=0: x.broadcast_to(shape) if form
                       else tr.broadcast_to(x, shape),
                       lambda x, shape, form=0: x.expand(shape)),
    "getitem": Op(lambda x, index, form=0: x[index],
                  lambda x, index, form=0: tr.getitem(x, index) if form else x[index],
                  lambda x, index, form=0: _gather_th(x, index)),
    "concat": Op(lambda xs, axis: np.concatenate(xs, axis=axis),
                 lambda xs, axis: tr.concat(xs, axis=axis),
                 lambda xs, axis: __import__("torch").cat([_th_t(x) for x in xs], dim=axis)),
    "stack": Op(lambda xs, axis: np.stack(xs, axis=axis), lambda xs, axis: tr.stack(xs, axis),
                lambda xs, axis: __import__("torch").stack([_th_t(x) for x in xs], dim=axis)),
    "split": Op(_split_np, lambda x, sections, axis: tr.split(x, sections, axis), _split_th),
}

OTHER = {
    "compare": COMPARE,
    "where": WHERE,
    "bool_to_float": Op(lambda c: c.astype(np.float64), lambda c: tr.astype(c, np.float64),
                        lambda c: _astype_th(c, np.float64)),
    # a lossy float32 round trip (cast both ways); piecewise constant, so no finite differences
    "f32_roundtrip": Op(lambda x: x.astype(np.float32).astype(np.float64),
                        lambda x: x.astype(np.float32).astype(np.float64),
                        lambda x: _astype_th(_astype_th(x, np.float32), np.float64), fd=False),
    "matmul": Op(lambda a, b, form=0: np.matmul(a, b), _matmul_tr, _matmul_th),
    "stop_gradient": Op(lambda x, form=0: np.array(x, copy=True),
                        lambda x, form=0: x.detach() if form else tr.stop_gradient(x),
                        _stop_th, fd=False),
    "softmax": Op(lambda x, axis: np_softmax(x, axis), lambda x, axis: tr.softmax(x, axis),
                  lambda x, axis: __import__("torch").softmax(x, dim=axis)),
    "log_softmax": Op(lambda x, axis: np_log_softmax(x, axis),
                      lambda x, axis: tr.log_softmax(x, axis),
                      lambda x, axis: __import__("torch").log_softmax(x, dim=axis)),
    "cross_entropy": Op(np_cross_entropy, lambda x, t: tr.cross_entropy(x, t), _th_cross_entropy),
    "mse": Op(lambda p, t: np.mean((np.asarray(p) - t) ** 2), lambda p, t: tr.mse(p, t), _th_mse),
}

# Operations whose result is their input's value: each must still be its own point in the
# graph (a gradient with respect to it is the gradient through its uses only, as PyTorch's
# retain_grad gives). The torch twins make new autograd nodes (``x.to(float64)`` would
# return x itself, so the twin of the cast is a clone).
NOOPS = {
    "reshape_same": Op(lambda x: x, lambda x: x.reshape(x.shape), lambda x: x.reshape(x.shape)),
    "mul_one": Op(lambda x: x * 1.0, lambda x: x * 1.0, lambda x: x * 1.0),
    "add_zero": Op(lambda x: x + 0.0, lambda x: x + 0.0, lambda x: x + 0.0),
    "astype_same": Op(lambda x: x, lambda x: tr.astype(x, np.float64), lambda x: x.clone()),
    "transpose_identity": Op(lambda x: x, lambda x: tr.transpose(x, tuple(range(x.ndim))),
                             lambda x: x.permute(tuple(range(x.ndim)))),
    "broadcast_same": Op(lambda x: x, lambda x: tr.broadcast_to(x, x.shape),
                         lambda x: x.expand(x.shape)),
    "concat_one": Op(lambda x: x, lambda x: tr.concat([x], axis=-1),
                     lambda x: __import__("torch").cat([x], dim=-1)),
}

OPS = {**UNARY, **BINARY, **REDUCE, **SHAPE, **OTHER, **NOOPS}


# ==== programs ============================================================================

@dataclass
class Slot:
    shape: tuple
    dtype: np.dtype
    # known positive (log, sqrt, pow and div then take it without an adapter in derivative
    # tests; the smoothness check at the drawn inputs has the last word)
    pos: bool = False


@dataclass
class Step:
    op: str
    args: list  # ("s", k) slot | ("c", array, raw) constant | ("f", x) Python float | ("l", [...])
    attrs: dict
    outs: list = field(default_factory=list)


@dataclass
class Program:
    mode: str  # "values" (any inputs, IEEE specials), "fd" (smooth), "torch" (smooth or ties)
    slots: list
    n_inputs: int
    input_kinds: list  # "pos" (in [0.5, 2]) or "mixed" (+-[0.3, 2]) for derivative tests
    steps: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def describe(self):
        lines = [f"inputs: {[(k, self.slots[k].shape) for k in range(self.n_inputs)]}"]
        for s in self.steps:
            args = [a if a[0] != "c" else ("c", a[1].shape, a[2]) for a in s.args]
            lines.append(f"  {s.outs} = {s.op}{args} {s.attrs}")
        lines.append(f"outputs: {self.outputs}")
        return "\n".join(lines)


def _quiet():
    """NumPy's warnings for nan/inf results are the expected IEEE behaviour here."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", RuntimeWarning)
    err = np.errstate(all="ignore")
    err.__enter__()

    class Exit:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            err.__exit__(*exc)
            ctx.__exit__(*exc)
    return Exit()


def resolve(arg, env, backend):
    kind = arg[0]
    if kind == "s":
        return env[arg[1]]
    if kind == "f":
        return arg[1]
    if kind == "l":
        return [resolve(a, env, backend) for a in arg[1]]
    array, raw = arg[1], arg[2]
    if backend == "np":
        return array
    if backend == "tr":
        return array if raw else tr.tensor(array)
    if array.dtype.kind in "iub":
        return array  # targets, masks: the torch twins convert them
    return _th_t(array)


def interpret(prog, inputs, backend, after=None):
    """Every slot's value in ``backend`` ("np": arrays, "tr": Tensors, "th": torch)."""
    env = list(inputs) + [None] * (len(prog.slots) - prog.n_inputs)
    for step in prog.steps:
        op = OPS[step.op]
        fn = {"np": op.np, "tr": op.tr, "th": op.th}[backend]
        out = fn(*[resolve(a, env, backend) for a in step.args], **step.attrs)
        outs = out if isinstance(out, list) else [out]
        assert len(outs) == len(step.outs), step
        for k, v in zip(step.outs, outs):
            if backend == "np":
                v = np.asarray(v, dtype=prog.slots[k].dtype)
                assert v.shape == prog.slots[k].shape, (step, v.shape)
            env[k] = after(k, v) if after is not None else v
    return env


# ---- drawing programs --------------------------------------------------------------------

class Draw:
    """The random choices of one example. Hypothesis draws the seed (so a failure replays
    from its database); the choices come from NumPy's generator, uniformly over what is
    legal, which spreads them better than hypothesis' own draws (those lean to the first
    and smallest values). Every failure message prints the whole program."""

    def __init__(self, data):
        self.data = data
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**64 - 1), label="seed"))

    def int(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def bool(self, p=0.5):
        return bool(self.rng.random() < p)

    def choice(self, seq):
        seq = list(seq)
        return seq[self.rng.integers(len(seq))]

    def permutation(self, n):
        return [int(a) for a in self.rng.permutation(n)]


DIMS = (0, 1, 1, 2, 2, 3, 3, 4)


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def draw_shape(d, max_ndim=3):
    return tuple(d.choice(DIMS) for _ in range(d.int(0, max_ndim)))


def draw_const(d, shape, mode, positive=False):
    x = d.rng.uniform(0.3, 2.0, size=shape)
    if not positive:
        x = x * d.rng.choice([-1.0, 1.0], size=shape)
    if mode == "values" and d.bool(0.3):
        x = np.where(d.rng.random(shape) < 0.2, d.rng.choice(SPECIALS, size=shape), x)
    return np.asarray(x, np.float64)


PY_FLOATS = (0.0, 1.0, -1.0, 0.5, 2.0, -1.5, 3.0, 1e-3, -0.0)


def draw_py_float(d, mode, positive=False):
    if positive or mode != "values":
        return d.choice((0.5, 1.0, 2.0, 1.5, 0.75)) * (1 if positive or d.bool() else -1)
    value = d.choice(PY_FLOATS)
    return value


def broadcast_partner_shape(d, shape):
    """A shape that broadcasts with ``shape``: leading dims dropped or added, some set to 1."""
    drop = d.int(0, len(shape))
    out = [1 if d.bool(0.3) else s for s in shape[drop:]]
    if d.bool(0.2):
        out = [d.choice((1, 2))] + out
    return tuple(out)


def float_slots(prog):
    return [k for k, s in enumerate(prog.slots) if s.dtype == F64]


def pick_slot(d, prog, candidates):
    # later slots are likelier: programs grow deep, not only wide
    return candidates[max(d.int(0, len(candidates) - 1), d.int(0, len(candidates) - 1))]


def partner(d, prog, x, positive=False):
    """A second operand for a binary op with slot x: another slot, a constant (a raw array
    or a tr.tensor) or a Python float."""
    shape = prog.slots[x].shape
    r = d.int(0, 9)
    if r < 4:
        cands = [k for k in float_slots(prog)
                 if _broadcasts(prog.slots[k].shape, shape)
                 and (not positive or prog.slots[k].pos)]
        if cands:
            return ("s", d.choice(cands))
    if r < 8:
        s = broadcast_partner_shape(d, shape)
        return ("c", draw_const(d, s, prog.mode, positive), d.bool())
    return ("f", draw_py_float(d, prog.mode, positive))


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def infer(prog, step):
    """Output shapes and dtypes of ``step`` from NumPy on placeholder values; None where
    NumPy refuses the operation (then it is not a legal program)."""
    env = [np.ones(s.shape, s.dtype) for s in prog.slots]
    try:
        with _quiet():
            out = OPS[step.op].np(*[resolve(a, env, "np") for a in step.args], **step.attrs)
    except (ValueError, IndexError, TypeError, np.exceptions.AxisError):
        return None
    outs = out if isinstance(out, list) else [out]
    outs = [np.asarray(o) for o in outs]
    if any(o.size > MAX_SIZE or o.ndim > MAX_NDIM for o in outs):
        return None
    return [(o.shape, F64 if o.dtype.kind == "f" else o.dtype) for o in outs]


def add_step(prog, op, args, attrs, pos=False):
    step = Step(op, args, attrs)
    inferred = infer(prog, step)
    if inferred is None:
        return None
    step.outs = list(range(len(prog.slots), len(prog.slots) + len(inferred)))
    for shape, dtype in inferred:
        prog.slots.append(Slot(shape, dtype, pos))
    prog.steps.append(step)
    return step.outs


def positive_slot(d, prog, x):
    """x itself where it is known positive; in derivative tests otherwise x * x + 0.5 (two
    steps of the program, with x used twice), so that log, sqrt, pow and div stay in their
    domains. Programs for value tests feed anything: nan is a value too."""
    if prog.mode == "values" or prog.slots[x].pos:
        return x
    (sq,) = add_step(prog, "mul", [("s", x), ("s", x)], {"form": d.int(0, 1)})
    (out,) = add_step(prog, "add", [("s", sq), ("f", 0.5)], {"form": d.int(0, 1)}, pos=True)
    return out


def draw_axis(d, ndim, allow_none=True, allow_tuple=True):
    if ndim == 0:
        return None
    r = d.int(0, 2 if allow_tuple else 1)
    if r == 0 and allow_none:
        return None
    if r == 2:
        axes = d.permutation(ndim)[:d.int(1, ndim)]
        return tuple(a - ndim if d.bool() else a for a in axes)
    a = d.int(0, ndim - 1)
    return a - ndim if d.bool() else a


def gen_unary(d, prog, x, op):
    if op in ("log", "sqrt"):
        x = positive_slot(d, prog, x)
    return add_step(prog, op, [("s", x)], {"form": d.int(0, 1)})


def gen_binary(d, prog, x, op):
    form = d.int(0, 1)
    if op == "pow":
        if d.bool(0.3):  # a positive constant or number raised to the slot
            base_arg = partner(d, prog, x, positive=True)
            return add_step(prog, op, [base_arg, ("s", x)], {"form": form})
        base = positive_slot(d, prog, x)
        exp_arg = ("f", d.choice((2.0, 0.5, -1.0, 3.0, 1.5))) if d.bool() else \
            partner(d, prog, x)
        return add_step(prog, op, [("s", base), exp_arg], {"form": form})
    if op == "div" and d.bool():  # something / slot
        den = positive_slot(d, prog, x)
        return add_step(prog, op, [partner(d, prog, den), ("s", den)], {"form": form})
    if op == "div":
        other = partner(d, prog, x, positive=prog.mode != "values")
        return add_step(prog, op, [("s", x), other], {"form": form})
    other = partner(d, prog, x)
    args = [("s", x), other] if d.bool() else [other, ("s", x)]
    pos = op in ("add", "mul", "maximum") and all(
        a[0] == "s" and prog.slots[a[1]].pos for a in args)
    return add_step(prog, op, args, {"form": form}, pos=pos)


def gen_where(d, prog, x):
    if d.bool(0.2):  # a constant mask
        cond = ("c", d.rng.random(broadcast_partner_shape(d, prog.slots[x].shape)) < 0.5,
                d.bool())
    else:
        outs = add_step(prog, "compare", [("s", x), partner(d, prog, x)],
                        {"cmp": d.choice(_CMP), "form": d.int(0, 1)})
        if outs is None:
            return None
        cond = ("s", outs[0])
    branches = [("s", x), partner(d, prog, x)]
    if d.bool():
        branches = branches[::-1]
    return add_step(prog, "where", [cond] + branches, {})


def gen_compare_cast(d, prog, x):
    outs = add_step(prog, "compare", [("s", x), partner(d, prog, x)],
                    {"cmp": d.choice(_CMP), "form": d.int(0, 1)})
    return None if outs is None else add_step(prog, "bool_to_float", [("s", outs[0])], {})


def gen_reduce(d, prog, x, op):
    slot = prog.slots[x]
    axis = draw_axis(d, len(slot.shape))
    keep = d.bool()
    if op in ("mean",) and prog.mode != "values":
        dims = _reduce_dims(np.empty(slot.shape), axis)
        if _size([slot.shape[a] for a in dims]) == 0:
            return None  # the mean of nothing is nan: no derivative to test
    form = d.int(0, 1)
    pos = slot.pos and op in ("mean", "max", "min")
    return add_step(prog, op, [("s", x)], {"axis": axis, "keepdims": keep, "form": form},
                    pos=pos)


def draw_reshape_target(d, shape):
    n = _size(shape)
    if n == 0:
        dims = [d.choice((0, 1, 2, 3)) for _ in range(d.int(1, 4))]
        dims[d.int(0, len(dims) - 1)] = 0
        return tuple(dims)
    factors = []
    m = n
    for p in (2, 3, 5, 7, 11, 13):
        while m % p == 0:
            factors.append(p)
            m //= p
    if m > 1:
        factors.append(m)
    k = d.int(1, 4)
    dims = [1] * k
    for f in factors:
        dims[d.int(0, k - 1)] *= f
    if d.bool(0.4):
        dims[d.int(0, k - 1)] = -1
    return tuple(dims)


def draw_index(d, shape):
    nd = len(shape)
    front = d.int(0, nd)
    back = d.int(0, nd - front) if d.bool(0.3) else 0
    ellipsis = back > 0 or d.bool(0.2)

    def item(dim):
        if dim > 0 and d.bool(0.4):
            return d.int(-dim, dim - 1)

        def bound():
            return None if d.bool(0.3) else d.int(-dim - 2, dim + 2)
        return slice(bound(), bound(), d.choice((None, 1, 2, 3, -1, -2)))

    items = [item(shape[i]) for i in range(front)]
    tail = [item(shape[nd - back + i]) for i in range(back)]
    index = items + ([Ellipsis] if ellipsis else []) + tail
    for _ in range(d.choice((0, 0, 1, 2))):
        index.insert(d.int(0, len(index)), None)
    if len(index) == 1 and d.bool():
        return index[0]
    return tuple(index)


def gen_shape_op(d, prog, x, op):
    slot = prog.slots[x]
    shape, nd = slot.shape, len(slot.shape)
    pos = slot.pos
    if op == "reshape":
        return add_step(prog, op, [("s", x)], {"shape": draw_reshape_target(d, shape),
                                               "form": d.int(0, 1)}, pos)
    if op == "transpose":
        form = d.int(0, 2)
        axes = None if form == 2 or d.bool(0.3) else tuple(
            a - nd if d.bool(0.3) else a for a in d.permutation(nd))
        if form == 1 and axes is not None and nd == 0:
            axes = None
        return add_step(prog, op, [("s", x)], {"axes": axes, "form": form}, pos)
    if op == "swapaxes":
        if nd < 2:
            return None
        if d.bool():
            return add_step(prog, op, [("s", x)], {"a": -1, "b": -2, "form": 1}, pos)
        return add_step(prog, op, [("s", x)], {"a": d.int(-nd, nd - 1), "b": d.int(-nd, nd - 1),
                                               "form": 0}, pos)
    if op == "broadcast_to":
        target = [d.choice((0, 1, 2, 3)) for _ in range(d.choice((0, 1, 1, 2)))]
        target += [d.choice((1, 0, 2, 3)) if s == 1 else s for s in shape]
        return add_step(prog, op, [("s", x)], {"shape": tuple(target), "form": d.int(0, 1)}, pos)
    if op == "getitem":
        return add_step(prog, op, [("s", x)], {"index": draw_index(d, shape),
                                               "form": d.int(0, 1)}, pos)
    if op in ("concat", "stack"):
        if op == "concat" and nd == 0:
            return None
        axis = d.int(-nd, nd - 1) if op == "concat" else d.int(-nd - 1, nd)
        parts = [("s", x)]
        for _ in range(d.choice((0, 1, 1, 2))):
            same = [k for k in float_slots(prog) if len(prog.slots[k].shape) == nd and all(
                a == b for i, (a, b) in enumerate(zip(prog.slots[k].shape, shape))
                if op == "stack" or i != axis % max(nd, 1))]
            if same and d.bool(0.6):
                parts.append(("s", d.choice(same)))
            else:
                s = list(shape)
                if op == "concat":
                    s[axis] = d.choice((0, 1, 2, 3))
                parts.append(("c", draw_const(d, tuple(s), prog.mode), d.bool()))
        if d.bool():
            parts = parts[::-1]
        return add_step(prog, op, [("l", parts)], {"axis": axis})
    if op == "split":
        if nd == 0:
            return None
        axis = d.int(-nd, nd - 1)
        n = shape[axis]
        if d.bool():
            sections = d.choice([k for k in (1, 2, 3, 4) if n % k == 0])
        else:
            sections = [d.int(0, n + 1) for _ in range(d.int(1, 3))]
            if d.bool(0.7):
                sections = sorted(sections)
        return add_step(prog, op, [("s", x)], {"sections": sections, "axis": axis}, pos)
    raise AssertionError(op)


def gen_matmul(d, prog, x):
    shape = prog.slots[x].shape
    if not shape:
        return None
    left = d.bool()
    k = shape[-1] if left else (shape[0] if len(shape) == 1 else shape[-2])
    cands = []
    for s in float_slots(prog):
        other = prog.slots[s].shape
        a, b = (shape, other) if left else (other, shape)
        if other and _matmul_shape(a, b) is not None:
            cands.append(s)
    if cands and d.bool(0.4):
        other = ("s", d.choice(cands))
    else:
        n = d.choice((0, 1, 2, 3, 4)) if d.bool(0.9) else 0
        kind = d.int(0, 2)
        if kind == 0:
            s = (k,)
        elif kind == 1:
            s = (k, n) if left else (n, k)
        else:
            batch = broadcast_partner_shape(d, shape[:-2]) if len(shape) > 2 else (d.int(1, 2),)
            s = batch + ((k, n) if left else (n, k))
        other = ("c", draw_const(d, s, prog.mode), d.bool())
    args = [("s", x), other] if left else [other, ("s", x)]
    return add_step(prog, "matmul", args, {"form": d.int(0, 1)})


def _matmul_shape(a, b):
    try:
        return np.matmul(np.ones(a), np.ones(b)).shape
    except ValueError:
        return None


def gen_softmax(d, prog, x, op):
    nd = len(prog.slots[x].shape)
    if nd == 0:
        return None
    return add_step(prog, op, [("s", x)], {"axis": d.int(-nd, nd - 1)})


def gen_cross_entropy(d, prog, x):
    shape = prog.slots[x].shape
    if len(shape) not in (1, 2) or shape[-1] == 0:
        return None
    if prog.mode != "values" and _size(shape[:-1]) == 0 and len(shape) == 2:
        return None
    targets = d.rng.integers(0, shape[-1], size=shape[:-1])
    return add_step(prog, "cross_entropy", [("s", x), ("c", targets, d.bool())], {})


def gen_mse(d, prog, x):
    shape = prog.slots[x].shape
    if prog.mode != "values" and _size(shape) == 0:
        return None
    same = [k for k in float_slots(prog) if prog.slots[k].shape == shape]
    other = ("s", d.choice(same)) if same and d.bool() else (
        "c", draw_const(d, shape, prog.mode), d.bool())
    args = [("s", x), other] if d.bool() else [other, ("s", x)]
    return add_step(prog, "mse", args, {})


def gen_noop(d, prog, x, op):
    if op == "concat_one" and not prog.slots[x].shape:
        return None
    return add_step(prog, op, [("s", x)], {}, pos=prog.slots[x].pos)


def gen_op(d, prog, op, x):
    if op in UNARY:
        return gen_unary(d, prog, x, op)
    if op in BINARY:
        return gen_binary(d, prog, x, op)
    if op in REDUCE:
        return gen_reduce(d, prog, x, op)
    if op in SHAPE:
        return gen_shape_op(d, prog, x, op)
    if op in NOOPS:
        return gen_noop(d, prog, x, op)
    if op == "where":
        return gen_where(d, prog, x)
    if op == "compare_cast":
        return gen_compare_cast(d, prog, x)
    if op == "matmul":
        return gen_matmul(d, prog, x)
    if op in ("softmax", "log_softmax"):
        return gen_softmax(d, prog, x, op)
    if op == "cross_entropy":
        return gen_cross_entropy(d, prog, x)
    if op == "mse":
        return gen_mse(d, prog, x)
    if op == "f32_roundtrip":
        return add_step(prog, op, [("s", x)], {})
    if op == "stop_gradient":
        return add_step(prog, op, [("s", x)], {"form": d.int(0, 1)}, pos=prog.slots[x].pos)
    raise AssertionError(op)


GEN_OPS = (list(UNARY) + list(BINARY) * 2 + list(REDUCE) * 2
           + ["reshape", "transpose", "swapaxes", "broadcast_to", "getitem", "getitem",
              "concat", "stack", "split", "matmul", "matmul", "where", "where", "compare_cast",
              "softmax", "log_softmax", "cross_entropy", "mse", "f32_roundtrip",
              "stop_gradient"] + list(NOOPS))


LAST_PROGRAM = None  # the program drawn last (for debugging a failure by hand)


def draw_program(data, mode, min_ops=2, max_ops=6):
    """A random program for ``mode`` and the Draw that made it (for the inputs)."""
    d = Draw(data)
    n_inputs = d.int(1, 3)
    shapes = [draw_shape(d) for _ in range(n_inputs)]
    if d.bool(0.5) and n_inputs > 1:  # a shared shape makes binary partners likelier
        shapes[1] = shapes[0]
    kinds = [d.choice(("pos", "mixed", "mixed")) for _ in range(n_inputs)]
    prog = Program(mode, [Slot(s, F64, pos=k == "pos") for s, k in zip(shapes, kinds)],
                   n_inputs, kinds)
    # finite differences see through stop_gradient and float32 rounding: not in "fd"
    allowed = [o for o in GEN_OPS if mode != "fd" or o not in OPS or OPS[o].fd]
    target = d.int(min_ops, max_ops)
    tries = 0
    while len(prog.steps) < target and tries < 4 * target:
        tries += 1
        x = pick_slot(d, prog, float_slots(prog))
        gen_op(d, prog, d.choice(allowed), x)
    assume(prog.steps)
    global LAST_PROGRAM
    LAST_PROGRAM = prog
    # outputs: every value nothing else reads (so that every op matters), and sometimes one
    # more (an intermediate, or even an input, which must come back as a copy)
    read = {a[1] for s in prog.steps for a in _flat_args(s.args) if a[0] == "s"}
    sinks = [k for k in range(n_inputs, len(prog.slots)) if k not in read]
    extra = [d.int(0, len(prog.slots) - 1)] if d.bool(0.4) else []
    prog.outputs = list(dict.fromkeys(sinks[-4:] + extra))
    return prog, d


def _flat_args(args):
    for a in args:
        if a[0] == "l":
            yield from a[1]
        else:
            yield a


# ---- inputs --------------------------------------------------------------------------------

def draw_special_inputs(d, prog):
    """Inputs for value tests: mostly moderate numbers, some IEEE specials and ties."""
    xs = []
    for k in range(prog.n_inputs):
        shape = prog.slots[k].shape
        x = d.rng.uniform(-2.0, 2.0, size=shape)
        p = d.rng.choice((0.0, 0.1, 0.3, 0.6))
        x = np.where(d.rng.random(shape) < p, d.rng.choice(SPECIALS, size=shape), x)
        xs.append(np.asarray(x, np.float64))
    return xs


def draw_smooth_inputs(d, prog, ties=False):
    xs = []
    for k in range(prog.n_inputs):
        shape = prog.slots[k].shape
        if ties:  # few distinct values: ties in max / maximum / minimum are likely
            grid = np.array([0.5, 1.0, 1.5]) if prog.input_kinds[k] == "pos" else \
                np.array([-1.5, -1.0, -0.5, 0.5, 1.0, 1.5])
            xs.append(d.rng.choice(grid, size=shape).astype(np.float64))
            continue
        x = d.rng.uniform(0.3, 2.0, size=shape)
        if prog.input_kinds[k] == "pos":
            x = d.rng.uniform(0.5, 2.0, size=shape)
        else:
            x = x * d.rng.choice([-1.0, 1.0], size=shape)
        xs.append(x)
    return xs


def smooth_at(prog, env, mode, limit=1e4):
    """Every op is away from its kinks and poles at these values, every value finite and
    moderate: derivatives exist and finite differences converge."""
    for k, slot in enumerate(prog.slots):
        if slot.dtype == F64:
            v = env[k]
            if not np.all(np.isfinite(v)) or (v.size and np.max(np.abs(v)) > limit):
                return False
    for step in prog.steps:
        ok = OPS[step.op].ok
        if ok is not None and not ok(mode, *[resolve(a, env, "np") for a in step.args],
                                     **step.attrs):
            return False
    return True


def find_smooth_inputs(d, prog, mode, ties=False, tries=12):
    for _ in range(tries):
        xs = draw_smooth_inputs(d, prog, ties)
        with _quiet():
            env = interpret(prog, xs, "np")
        if smooth_at(prog, env, mode):
            return xs, env
    assume(False)


# ==== checks ===============================================================================

def assert_values(got, want, rtol, atol, what, mask=None):
    """Same shape and dtype, bools equal, nan and +-inf at the same places, numbers close.
    ``mask`` restricts the comparison to well-conditioned elements."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if mask is not None:
        got, want = got[mask], want[mask]
    if want.dtype == BOOL:
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want),
                                      err_msg=f"{what}: {test.__name__} differs")
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def assert_identical(a, b, what):
    """Bit-for-bit the same numbers (signed zeros included; any nan for a nan)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, what
    if a.dtype == BOOL:
        assert np.array_equal(a, b), what
        return
    na, nb = np.isnan(a), np.isnan(b)
    assert np.array_equal(na, nb), f"{what}: nan positions differ"
    assert np.array_equal(a[~na], b[~na]), f"{what}: values differ"
    assert np.array_equal(np.signbit(a[~na]), np.signbit(b[~na])), f"{what}: zero signs differ"


def call_three_times(f, args, what):
    """f(*args) three times: the results must never change (the first call may run a
    different tier than later ones), the inputs must not be written, and the arrays
    returned must be the caller's own: no two share memory, none shares memory with an
    input, and scribbling on them changes no later result."""
    kept = None
    for call in (1, 2, 3):
        fed = [np.array(a, copy=True) for a in args]
        with _quiet():
            out = f(*fed)
        for a, b in zip(fed, args):
            assert_identical(a, b, f"{what}: call {call} wrote into an input array")
        for i, r in enumerate(out):
            assert isinstance(r, np.ndarray), f"{what}: output {i} is a {type(r).__name__}"
            assert not any(np.shares_memory(r, a) for a in fed), \
                f"{what}: output {i} shares memory with an input array"
            assert not any(np.shares_memory(r, o) for o in out[:i]), \
                f"{what}: output {i} shares memory with an earlier output"
        if kept is None:
            kept = [np.array(r, copy=True) for r in out]
        else:
            for i, (k, r) in enumerate(zip(kept, out)):
                assert_identical(r, k, f"{what}: output {i}, call {call} vs call 1")
        for r in out:  # the caller owns what it got: writing there changes nothing else
            if r.dtype == F64 and r.flags.writeable:
                r[...] = 7.25
    return kept


def scale_of(*arrays):
    finite = [np.abs(a[np.isfinite(a)]) for a in map(np.asarray, arrays)
              if a.dtype == F64 and a.size]
    finite = [f for f in finite if f.size]
    return 1.0 + (max(float(f.max()) for f in finite) if finite else 0.0)


def conditioned(prog, xs, env, rel=1e-12, tol=1e-9, times=3, seed=0):
    """For each slot, the elements whose value is stable under relative input perturbations
    of ``rel`` (changes of at most ``tol`` relative, same nan/inf). Elsewhere the value is
    ill-conditioned (a cancellation, a comparison of near-equal numbers): tiny rounding
    differences between correct implementations may change it a lot, so only the
    op-by-op checks look there."""
    rng = np.random.default_rng(seed)
    masks = {k: np.ones(s.shape, bool) for k, s in enumerate(prog.slots)}
    for _ in range(times):
        ys = [x * (1 + rel * rng.uniform(-1, 1, size=x.shape)) for x in xs]
        with _quiet():
            other = interpret(prog, ys, "np")
        for k, slot in enumerate(prog.slots):
            a, b = env[k], other[k]
            if slot.dtype == BOOL:
                masks[k] &= a == b
                continue
            same_special = (np.isnan(a) == np.isnan(b)) & (np.isposinf(a) == np.isposinf(b)) \
                & (np.isneginf(a) == np.isneginf(b))
            with _quiet():
                close = np.abs(a - b) <= tol * np.abs(a)
            finite = np.isfinite(a) & np.isfinite(b)
            masks[k] &= same_special & (~finite | close)
    return masks


def _step_tolerance(step, arg_vals):
    """(rtol, atol) for one op applied by tr vs by NumPy to the same inputs."""
    flat = []
    for v in arg_vals:
        flat.extend(v if isinstance(v, list) else [v])
    scale = scale_of(*[np.asarray(v) for v in flat if not isinstance(v, float)],
                      np.asarray([v for v in flat if isinstance(v, float)] or [0.0]))
    if step.op in ("sum", "mean", "matmul", "logsumexp", "softmax", "log_softmax",
                   "cross_entropy", "mse"):
        n = max([np.asarray(v).size for v in flat if not isinstance(v, float)] + [1])
        atol = 1e-13 * n * scale * (scale if step.op in ("matmul", "mse") else 1.0)
        return 1e-11, min(atol, np.finfo(np.float64).max)
    return 1e-12, 1e-14 * scale


# ==== 1. values: NumPy vs tr (numba and numpy backends), IEEE specials included ============

@settings(max_examples=400, **SETTINGS)
@given(data=st.data())
def test_random_programs_match_numpy(data):
    prog, d = draw_program(data, "values")
    xs = draw_special_inputs(d, prog)
    with _quiet():
        want = interpret(prog, xs, "np")
    masks = conditioned(prog, xs, want)
    phs = [tr.placeholder(prog.slots[k].shape) for k in range(prog.n_inputs)]
    env = interpret(prog, phs, "tr")
    every = list(range(len(prog.slots)))
    results = {}
    for backend in ("numpy", "numba"):
        f_out = tr.function(phs, [env[k] for k in prog.outputs], backend=backend)
        f_all = tr.function(phs, [env[k] for k in every], backend=backend)
        outs = call_three_times(f_out, xs, f"{backend} outputs")
        alls = call_three_times(f_all, xs, f"{backend} all values")
        results[backend] = alls
        for k, got in zip(prog.outputs, outs):  # the outputs alone: the same values
            assert_identical(got, alls[k], f"{backend}: slot {k} alone vs among all")
        for k in every:  # end to end, where the value is well-conditioned
            assert_values(alls[k], want[k], 1e-10, 1e-12 * scale_of(want[k]),
                          f"{backend}: slot {k} vs NumPy\n{prog.describe()}", masks[k])
        for step in prog.steps:  # op by op: NumPy applied to tr's own inputs of the op
            args = [resolve(a, alls, "np") for a in step.args]
            with _quiet():
                local = OPS[step.op].np(*args, **step.attrs)
            local = local if isinstance(local, list) else [local]
            rtol, atol = _step_tolerance(step, args)
            for k, v in zip(step.outs, local):
                assert_values(alls[k], np.asarray(v, prog.slots[k].dtype), rtol, atol,
                              f"{backend}: step {step.op} -> slot {k} vs NumPy on its "
                              f"inputs\n{prog.describe()}")
    if len(results) == 2:
        for k in every:  # the two backends: same specials, same well-conditioned numbers
            assert_values(results["numba"][k], results["numpy"][k], 1e-10,
                          1e-12 * scale_of(want[k]), f"numba vs numpy: slot {k}\n"
                          f"{prog.describe()}", masks[k])


# ==== 2. derivatives against finite differences ============================================

def projection(prog, d, env_tr):
    """loss = sum_k <W_k, out_k> over the float outputs, with random W_k."""
    outs = [k for k in prog.outputs if prog.slots[k].dtype == F64]
    assume(outs)
    ws = [d.rng.standard_normal(prog.slots[k].shape) for k in outs]
    loss = None
    for k, w in zip(outs, ws):
        term = tr.sum(env_tr[k] * w) if d.bool() else tr.dot(env_tr[k], w)
        loss = term if loss is None else loss + term
    return outs, ws, loss


def np_loss(prog, outs, ws, xs):
    with _quiet():
        env = interpret(prog, xs, "np")
    return sum(float(np.sum(env[k] * w)) for k, w in zip(outs, ws)), env


def close(got, want, rtol, atol, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    bad = np.abs(got - want) > atol + rtol * np.abs(want)
    assert not np.any(bad), (f"{what}: max abs error {np.max(np.abs(got - want)):.3g}\n"
                             f"got  {got.ravel()[:8]}\nwant {want.ravel()[:8]}")


@settings(max_examples=250, **SETTINGS)
@given(data=st.data())
def test_derivatives_match_finite_differences(data):
    prog, d = draw_program(data, "fd")
    xs, env_np = find_smooth_inputs(d, prog, "fd")
    phs = [tr.placeholder(x.shape) for x in xs]
    env = interpret(prog, phs, "tr")
    outs, ws, loss = projection(prog, d, env)
    grads = tr.grad(loss, phs)
    us = [d.rng.standard_normal(x.shape) for x in xs]
    jus = tr.jvp([env[k] for k in outs], phs, us)
    dirs = [d.rng.standard_normal(x.shape) for x in xs]
    gd = None
    for g, v in zip(grads, dirs):
        term = tr.dot(g, v)
        gd = term if gd is None else gd + term
    hvps = tr.grad(gd, phs)
    n = len(xs)
    vals = {}
    for backend in ("numba", "numpy"):
        f = tr.function(phs, [loss] + grads + jus + hvps, backend=backend)
        vals[backend] = call_three_times(f, xs, f"{backend} derivatives")
    scale = scale_of(*vals["numpy"])
    for a, b in zip(vals["numba"], vals["numpy"]):
        close(a, b, 1e-10, 1e-12 * scale, f"numba vs numpy derivatives\n{prog.describe()}")
    v = vals["numba"]
    lval, g, ju, hv = v[0], v[1:1 + n], v[1 + n:1 + n + len(outs)], v[1 + n + len(outs):]
    L0, _ = np_loss(prog, outs, ws, xs)
    close(lval, L0, 1e-10, 1e-12 * scale_of(np.asarray(L0)), "loss vs NumPy")
    # reverse mode: <grad, u> against the central difference of the loss along u
    eps = 1e-6
    Lp, env_p = np_loss(prog, outs, ws, [x + eps * u for x, u in zip(xs, us)])
    Lm, env_m = np_loss(prog, outs, ws, [x - eps * u for x, u in zip(xs, us)])
    fd = (Lp - Lm) / (2 * eps)
    gu = sum(float(np.sum(gi * ui)) for gi, ui in zip(g, us))
    terms = scale_of(*[gi * ui for gi, ui in zip(g, us)], np.asarray(L0))
    close(gu, fd, 1e-6, 1e-7 * terms, f"reverse mode vs finite differences\n{prog.describe()}")
    # forward mode: J u against the central differences of every output
    for k, j in zip(outs, ju):
        fdk = (env_p[k] - env_m[k]) / (2 * eps)
        close(j, fdk, 1e-6, 1e-7 * scale_of(env_np[k], j), f"forward mode, slot {k}\n"
              f"{prog.describe()}")
    # the two modes are transposes: <W, J u> = <J^T W, u> = <grad, u>
    wju = sum(float(np.sum(w * j)) for w, j in zip(ws, ju))
    close(wju, gu, 1e-10, 1e-12 * scale_of(*[w * j for w, j in zip(ws, ju)]),
          "<v, J u> vs <J^T v, u>")
    # Hessian-vector product: the gradient's central difference along the direction
    f_grad = tr.function(phs, grads, backend="numpy")
    h = 1e-5
    with _quiet():
        gp = f_grad(*[x + h * dv for x, dv in zip(xs, dirs)])
        gm = f_grad(*[x - h * dv for x, dv in zip(xs, dirs)])
    for i, hvi in enumerate(hv):
        fdh = (gp[i] - gm[i]) / (2 * h)
        close(hvi, fdh, 1e-5, 1e-6 * scale_of(*g, hvi), f"Hessian-vector product, input {i}\n"
              f"{prog.describe()}")


# ==== 3. against PyTorch: values, gradients (inputs and intermediates), ties ==============

def torch_twin(prog, xs, torch):
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]

    def keep(k, v):
        if isinstance(v, torch.Tensor) and v.dtype == torch.float64:
            if not v.requires_grad:  # built from comparisons or constants only: a leaf
                v = v.detach().requires_grad_(True)
            elif not v.is_leaf:
                v.retain_grad()
        return v
    return leaves, interpret(prog, leaves, "th", after=keep)


def _th_np(v):
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


def compare_with_torch(prog, d, xs, torch, wrt_slots):
    """Values of every slot, the gradient of a random projection with respect to the inputs
    and to ``wrt_slots`` (intermediates): tr (both backends) vs PyTorch."""
    phs = [tr.placeholder(x.shape) for x in xs]
    env = interpret(prog, phs, "tr")
    outs, ws, loss = projection(prog, d, env)
    g_inputs = tr.grad(loss, phs)
    g_mid = tr.grad(loss, [env[k] for k in wrt_slots]) if wrt_slots else []
    g_both = tr.grad(loss, [env[k] for k in wrt_slots] + phs) if wrt_slots else []
    every = list(range(len(prog.slots)))
    leaves, th_env = torch_twin(prog, xs, torch)
    th_loss = sum((th_env[k] * torch.as_tensor(w)).sum() for k, w in zip(outs, ws))
    th_loss.backward()

    def th_grad(t):
        return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy()
    want_in = [th_grad(t) for t in leaves]
    want_mid = [th_grad(th_env[k]) for k in wrt_slots]
    for backend in ("numba", "numpy"):
        f = tr.function(phs, [env[k] for k in every] + g_inputs + g_mid + g_both,
                        backend=backend)
        got = call_three_times(f, xs, f"{backend} values and gradients")
        vals, rest = got[:len(every)], got[len(every):]
        # an exact tie in one and not the other is rounding (PyTorch's vectorized pow can
        # differ from its scalar tail by an ulp for equal inputs), not semantics
        assume(same_ties(prog, vals, th_env))
        gi, rest = rest[:len(xs)], rest[len(xs):]
        gm, gb = rest[:len(wrt_slots)], rest[len(wrt_slots):]
        scale = scale_of(*vals)
        for k in every:
            assert_values(vals[k], _th_np(th_env[k]).astype(prog.slots[k].dtype), 1e-9,
                          1e-11 * scale, f"{backend}: slot {k} vs PyTorch\n{prog.describe()}")
        gscale = scale_of(*gi, *gm, *want_in, *want_mid)
        for i, (a, b) in enumerate(zip(gi, want_in)):
            assert_values(a, b, 1e-8, 1e-10 * gscale,
                          f"{backend}: d loss / d input {i} vs PyTorch\n{prog.describe()}")
        for k, a, b in zip(wrt_slots, gm, want_mid):
            assert_values(a, b, 1e-8, 1e-10 * gscale,
                          f"{backend}: d loss / d slot {k} ({_producer(prog, k)}) vs PyTorch "
                          f"retain_grad\n{prog.describe()}")
        for a, b in zip(gb, want_mid + want_in):  # asked together: the same gradients
            assert_values(a, b, 1e-8, 1e-10 * gscale,
                          f"{backend}: gradients asked together\n{prog.describe()}")


def tie_patterns(prog, env):
    """Where each tie-sensitive op (maximum, minimum, max, min, comparisons) sees ties and
    which way it orders its operands: the structure its derivative depends on."""
    out = []
    for step in prog.steps:
        if step.op in ("maximum", "minimum", "compare"):
            a, b = (np.asarray(_th_np(resolve(x, env, "np"))) for x in step.args[:2])
            out.append(np.sign(np.subtract(*np.broadcast_arrays(a, b))))
        elif step.op in ("max", "min"):
            x = np.asarray(_th_np(env[step.args[0][1]]))
            m = np.max(x, axis=step.attrs["axis"], keepdims=True)
            out.append(x == m if step.op == "max" else x == -np.max(-x, axis=step.attrs["axis"],
                                                                  keepdims=True))
    return out


def same_ties(prog, env_a, env_b):
    return all(np.array_equal(a, b) for a, b in zip(tie_patterns(prog, env_a),
                                                     tie_patterns(prog, env_b)))


def _producer(prog, k):
    for s in prog.steps:
        if k in s.outs:
            return s.op
    return "input"


def intermediates(d, prog):
    cands = [k for k in range(prog.n_inputs, len(prog.slots)) if prog.slots[k].dtype == F64]
    if not cands:
        return []
    return [int(k) for k in d.rng.permutation(cands)[:d.int(1, 3)]]


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_random_programs_match_pytorch(data):
    torch = pytest.importorskip("torch")
    prog, d = draw_program(data, "torch")
    ties = d.bool(0.4)  # inputs on a coarse grid: ties in maximum / minimum / max
    xs, _ = find_smooth_inputs(d, prog, "torch", ties=ties)
    compare_with_torch(prog, d, xs, torch, intermediates(d, prog))


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_noop_intermediates_are_their_own_points_in_the_graph(data):
    """y = noop(x) (x.reshape(x.shape), x * 1.0, x + 0.0, astype(x, float64), identity
    transpose, same-shape broadcast_to, concat([x])), possibly chained, with x used
    elsewhere too: d loss / d y is the gradient through y's uses only, as PyTorch's
    retain_grad gives, and d loss / d x includes both paths."""
    torch = pytest.importorskip("torch")
    prog, d = draw_program(data, "torch", min_ops=1, max_ops=4)
    base = pick_slot(d, prog, float_slots(prog))
    chain = [base]
    for _ in range(d.int(1, 2)):
        op = d.choice(sorted(NOOPS))
        outs = gen_noop(d, prog, chain[-1], op)
        if outs is None:
            break
        chain.append(outs[0])
    assume(len(chain) > 1)
    # the no-op's result feeds an op of its own; x stays an output, so it has both uses
    last = chain[-1]
    follow = d.choice(("tanh", "exp", "sigmoid", "mul"))
    if follow == "mul":
        y = add_step(prog, "mul", [("s", last), ("s", last)], {"form": 0})
    else:
        y = add_step(prog, follow, [("s", last)], {"form": 0})
    prog.outputs = list(dict.fromkeys(prog.outputs + [base, y[0]]))
    xs, _ = find_smooth_inputs(d, prog, "torch", ties=d.bool(0.2))
    wrt = chain[1:] + ([base] if base >= prog.n_inputs else [])
    compare_with_torch(prog, d, xs, torch, wrt)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ties_split_the_gradient_like_pytorch(backend):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 2.0, 3.0], [3.0, 3.0, -1.0]])
    b = np.array([[1.0, 0.0, 3.0], [3.0, 5.0, -1.0]])
    at, bt = tr.placeholder(a.shape), tr.placeholder(b.shape)
    w1, w2, w3, w4 = (np.arange(1.0, 7.0).reshape(2, 3) * s for s in (1, 2, 3, 5))
    loss = (tr.sum(tr.maximum(at, bt) * w1) + tr.sum(tr.minimum(at, bt) * w2)
            + tr.sum(tr.max(at, axis=1, keepdims=True) * w3[:, :1])
            + tr.sum(tr.min(bt, axis=0) * w4[0]) + tr.max(at) * 7.0)
    f = tr.function([at, bt], tr.grad(loss, [at, bt]), backend=backend)
    ga, gb = call_three_times(f, [a, b], "ties")
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    tl = ((torch.maximum(ta, tb) * torch.tensor(w1)).sum()
          + (torch.minimum(ta, tb) * torch.tensor(w2)).sum()
          + (torch.amax(ta, dim=1, keepdim=True) * torch.tensor(w3[:, :1])).sum()
          + (torch.amin(tb, dim=0) * torch.tensor(w4[0])).sum() + torch.amax(ta) * 7.0)
    tl.backward()
    np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-14, atol=0)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-14, atol=0)
    # and the rule itself: a tie of maximum / minimum gives each side half
    x, y = tr.placeholder((3,)), tr.placeholder((3,))
    g = tr.grad(tr.sum(tr.maximum(x, y)) + 10 * tr.sum(tr.minimum(x, y)), [x, y])
    gx, gy = call_three_times(tr.function([x, y], g, backend=backend),
                              [np.array([1.0, 2.0, -3.0]), np.array([1.0, 0.0, -3.0])], "tie rule")
    np.testing.assert_array_equal(gx, [5.5, 1.0, 5.5])
    np.testing.assert_array_equal(gy, [5.5, 10.0, 5.5])


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_indexing_and_split_match_numpy(data):
    """Values and gradients of basic indexing (ints, slices with any step, None, ...) and
    of split, against NumPy (the gradient: a scatter-add of the weights at the positions
    NumPy selects)."""
    d = Draw(data)
    shape = draw_shape(d, 4)
    x = d.rng.standard_normal(shape)
    positions = np.arange(x.size).reshape(shape)
    if len(shape) and d.bool(0.3):
        axis = d.int(-len(shape), len(shape) - 1)
        n = shape[axis]
        sections = d.choice([k for k in (1, 2, 3) if n % k == 0]) if d.bool() else sorted(
            d.int(0, n + 1) for _ in range(d.int(1, 3)))
        build = lambda t: tr.split(t, sections, axis)  # noqa: E731
        want, picked = np.split(x, sections, axis), np.split(positions, sections, axis)
        what = f"split({shape}, {sections}, axis={axis})"
    else:
        index = draw_index(d, shape)
        build = lambda t: [t[index]]  # noqa: E731
        want, picked = [x[index]], [positions[index]]
        what = f"x{shape}[{index}]"
    ph = tr.placeholder(shape)
    outs = build(ph)
    ws = [d.rng.standard_normal(w.shape) for w in want]
    (g,) = tr.grad(sum((tr.sum(o * w) for o, w in zip(outs, ws)), tr.zeros(())), [ph])
    want_g = np.zeros(x.size)
    for p, w in zip(picked, ws):
        np.add.at(want_g, p.ravel(), w.ravel())
    for backend in ("numba", "numpy"):
        got = call_three_times(tr.function([ph], outs + [g], backend), [x], what)
        for o, a, b in zip(outs, got, want):
            assert o.shape == b.shape, f"{what}: tensor shape {o.shape} != {b.shape}"
            assert_values(a, b, 0, 0, f"{backend}: {what}")
        np.testing.assert_allclose(got[-1], want_g.reshape(shape), rtol=1e-14, atol=1e-14,
                                   err_msg=f"{backend}: gradient of {what}")


# ==== 4. regressions ========================================================================

def _run(inputs, outputs, args, backend):
    return call_three_times(tr.function(inputs, outputs, backend=backend), args, backend)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_users_zero_is_never_folded(backend):
    x = tr.placeholder((2,))
    (got,) = _run([x], [x * 0.0], [np.array([np.nan, np.inf])], backend)
    assert np.isnan(got).all()
    (got,) = _run([x], [0.0 * x + tr.zeros((2,))], [np.array([np.nan, -np.inf])], backend)
    assert np.isnan(got).all()


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_logsumexp_of_infinities(backend):
    x = tr.placeholder((2,))
    f = tr.function([x], [tr.logsumexp(x), tr.logsumexp(x, axis=0, keepdims=True)], backend)
    for value, want in (([np.inf, 0.0], np.inf), ([-np.inf, -np.inf], -np.inf),
                        ([np.inf, np.inf], np.inf), ([-np.inf, 1.0], 1.0),
                        ([np.nan, 0.0], np.nan)):
        a, b = call_three_times(f, [np.array(value)], f"logsumexp({value})")
        assert a.shape == () and b.shape == (1,)
        np.testing.assert_array_equal(a, want)
        np.testing.assert_array_equal(b, [want])
        with _quiet():
            np.testing.assert_array_equal(np_logsumexp(np.array(value)), want)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_reductions_over_an_empty_axis(backend):
    x = tr.placeholder((0, 3))
    outs = [tr.sum(x, axis=0), tr.mean(x, axis=0), tr.sum(x), tr.mean(x),
            tr.sum(x, axis=1), tr.mean(x, axis=1), tr.sum(x, axis=0, keepdims=True)]
    got = _run([x], outs, [np.zeros((0, 3))], backend)
    z = np.zeros((0, 3))
    with _quiet():
        want = [z.sum(0), z.mean(0), z.sum(), z.mean(), z.sum(1), z.mean(1), z.sum(0, keepdims=True)]
    for g, w in zip(got, want):
        assert_values(g, w, 0, 0, f"{backend} empty reduction")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_maximum_minimum_ties_split_half_and_half(backend):
    x, y = tr.placeholder(()), tr.placeholder(())
    for op in (tr.maximum, tr.minimum):
        f = tr.function([x, y], tr.grad(op(x, y), [x, y]), backend=backend)
        gx, gy = call_three_times(f, [np.array(2.0), np.array(2.0)], op.__name__)
        assert gx == 0.5 and gy == 0.5
        (jx,) = tr.jvp([op(x, y)], [x, y], [np.array(1.0), np.array(0.0)])
        assert tr.function([x, y], [jx], backend)(np.array(2.0), np.array(2.0))[0] == 0.5


def test_division_by_zero_is_ieee_on_numba():
    x, y = tr.placeholder((4,)), tr.placeholder((4,))
    got = _run([x, y], [x / y, tr.grad(tr.sum(tr.log(x)), [x])[0]],
               [np.array([1.0, -1.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0, -0.0])], "numba")
    np.testing.assert_array_equal(got[0], [np.inf, -np.inf, np.nan, -np.inf])
    np.testing.assert_array_equal(got[1], [1.0, -1.0, np.inf, 1.0])


def test_outputs_never_alias_the_inputs_on_numba():
    x = tr.placeholder((2,))
    a = np.ones(2)
    outs = tr.function([x], [tr.stop_gradient(x), x.detach(), x], "numba")(a)
    for out in outs:
        assert not np.shares_memory(out, a)


@pytest.mark.parametrize("backend", ["numpy"])
def test_outputs_never_alias_the_inputs(backend):
    x = tr.placeholder((2,))
    a = np.ones(2)
    outs = tr.function([x], [tr.stop_gradient(x), x.detach(), x], backend)(a)
    for out in outs:
        assert not np.shares_memory(out, a)
    outs[0][0] = 5.0
    np.testing.assert_array_equal(a, [1.0, 1.0])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_cross_entropy_with_a_masked_logit(backend):
    logits = np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, 0.5]])
    targets = np.array([1, 0])
    x = tr.placeholder(logits.shape)
    loss = tr.cross_entropy(x, targets)
    (g,) = tr.grad(loss, [x])
    value, grad = _run([x], [loss, g], [logits], backend)
    with _quiet():
        want = np_cross_entropy(logits, targets)
    assert np.isfinite(want)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    sm = np.exp(np_log_softmax(logits))
    np.testing.assert_allclose(grad, (sm - np.eye(3)[targets]) / 2, atol=1e-12)


def test_transpose_method_one_int():
    x = tr.placeholder((3,))
    got = _run([x], [x.transpose(0), x.transpose(-1)], [np.arange(3.0)], "numba")
    np.testing.assert_array_equal(got[0], np.arange(3.0).transpose(0))
    np.testing.assert_array_equal(got[1], np.arange(3.0).transpose(-1))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_reversed_slice_from_before_the_start(backend):
    x = tr.placeholder((3,))
    a = np.arange(1.0, 4.0)
    outs = [x[-5::-1], x[-4:0:-1], x[-4::-2]]
    got = _run([x], outs, [a], backend)
    for o, v, want in zip(outs, got, (a[-5::-1], a[-4:0:-1], a[-4::-2])):
        assert o.shape == want.shape == v.shape, (o.shape, want.shape, v.shape)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_gradient_of_an_empty_slice_beside_another_slice(backend):
    x = tr.placeholder((4,))
    (g,) = tr.grad(tr.sum(x[3:1]) + tr.sum(x[1:4] * 2.0), [x])
    (got,) = _run([x], [g], [np.ones(4)], backend)
    np.testing.assert_array_equal(got, [0.0, 2.0, 2.0, 2.0])
    parts = tr.split(x, [3, 1])  # np.split: x[0:3], x[3:1] (empty), x[1:4]
    (g,) = tr.grad(tr.sum(parts[0]) + tr.sum(parts[1]) + 10.0 * tr.sum(parts[2]), [x])
    (got,) = _run([x], [g], [np.ones(4)], backend)
    np.testing.assert_array_equal(got, [1.0, 11.0, 11.0, 10.0])


def test_pow_half_of_negative_inf_and_zero():
    x = tr.placeholder((3,))
    a = np.array([-np.inf, -0.0, 4.0])
    got = [_run([x], [x ** 0.5], [a], b)[0] for b in ("numba", "numpy")]
    want = np_pow(a, 0.5)  # [inf, 0.0, 2.0], C's pow
    for g in got:
        assert_identical(g, want, "x ** 0.5")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_numbers_minus_zero_and_zero_stay_apart(backend):
    x = tr.placeholder(())
    got = _run([x], [x * -0.0, x * 0.0], [np.array(2.0)], backend)
    assert_identical(got[0], np.array(-0.0), "x * -0.0")
    assert_identical(got[1], np.array(0.0), "x * 0.0")
