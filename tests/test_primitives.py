"""Every registered primitive: derivatives (VJP and JVP, to second order) against finite
differences in float64 over hypothesis-drawn shapes, and the numba backend against the numpy
reference to 1e-12. A primitive without a spec here fails ``test_every_primitive_has_a_spec``."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn.graph.traverse import toposort
from tinygrad_rnn.ops import REGISTRY
from tinygrad_rnn.ops.random import bernoulli, dropout_mask
from tinygrad_rnn.testing import check_grads

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


def broadcastable(data, base):
    """A shape that broadcasts against ``base`` (some leading dims dropped, some set to 1)."""
    drop = data.draw(st.integers(0, len(base)))
    return tuple(1 if data.draw(st.booleans()) else d for d in base[drop:])


def floats(data, shape, low=-2.0, high=2.0, away_from=None):
    seed = data.draw(st.integers(0, 2**31 - 1))
    x = np.random.default_rng(seed).uniform(low, high, size=shape)
    if away_from is not None:  # keep clear of kinks and poles, where differences lie
        x = np.where(np.abs(x - away_from) < 0.1, away_from + 0.3, x)
    return x


def distinct(data, shape):
    """Values whose pairwise gaps are all >= 0.05 (so max/argmax is unambiguous)."""
    seed = data.draw(st.integers(0, 2**31 - 1))
    n = int(np.prod(shape, dtype=np.int64))
    return (np.random.default_rng(seed).permutation(n) * 0.05 - 0.5).reshape(shape)


@dataclass
class Spec:
    draw: callable  # data -> (differentiable args, extra constants)
    build: callable  # (*tensors, *constants) -> Tensor
    differentiable: bool = True
    kw: dict = field(default_factory=dict)


def unary(fn, low=-2.0, high=2.0, away=None):
    return Spec(lambda d: ([floats(d, d.draw(shapes), low, high, away)], []), fn)


def binary(fn, low=-2.0, high=2.0, apart=False, y_low=None, differentiable=True):
    def draw(d):
        s = d.draw(shapes)
        x = floats(d, s, low, high)
        y = floats(d, broadcastable(d, s), y_low if y_low is not None else low, high)
        if apart:  # x and y never within 0.1 of each other (maximum/minimum kinks)
            x = np.where(np.abs(x - y) < 0.1, y + 0.3, x) if x.shape == np.broadcast_shapes(
                x.shape, y.shape) else x
            y = np.where(np.abs(np.broadcast_to(x, np.broadcast_shapes(x.shape, y.shape)) -
                                np.broadcast_to(y, np.broadcast_shapes(x.shape, y.shape)))
                         < 0.1, np.nan, np.broadcast_to(y, np.broadcast_shapes(x.shape, y.shape)))
            y = np.where(np.isnan(y), np.broadcast_to(x, y.shape) + 0.3, y)
        return [x, y], []
    return Spec(draw, fn, differentiable)


def matmul_draw(d):
    batch = d.draw(st.lists(st.integers(1, 3), max_size=2).map(tuple))
    m, k, n = (d.draw(st.integers(1, 4)) for _ in range(3))
    b_batch = batch[d.draw(st.integers(0, len(batch))):]
    return [floats(d, batch + (m, k)), floats(d, b_batch + (k, n))], []


def reduce_draw(distinct_values):
    def draw(d):
        s = d.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
        axis = tuple(sorted(d.draw(st.sets(st.integers(0, len(s) - 1), min_size=1))))
        x = distinct(d, s) if distinct_values else floats(d, s)
        return [x], [axis, d.draw(st.booleans())]
    return draw


def index_draw(d):
    s = d.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    index = []
    for dim in s[:d.draw(st.integers(1, len(s)))]:
        if d.draw(st.booleans()):
            index.append(d.draw(st.integers(-dim, dim - 1)))
        else:
            start = d.draw(st.one_of(st.none(), st.integers(-dim, dim)))
            stop = d.draw(st.one_of(st.none(), st.integers(-dim, dim)))
            step = d.draw(st.sampled_from([None, 1, 2, -1, -2]))
            index.append(slice(start, stop, step))
    return [floats(d, s)], [tuple(index)]


def concat_draw(d):
    s = d.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple))
    axis = d.draw(st.integers(0, len(s) - 1))
    parts = []
    for _ in range(d.draw(st.integers(2, 3))):
        shape = list(s)
        shape[axis] = d.draw(st.integers(1, 3))
        parts.append(floats(d, tuple(shape)))
    return parts, [axis]


def where_draw(d):
    s = d.draw(shapes)
    seed = d.draw(st.integers(0, 2**31 - 1))
    cond = np.random.default_rng(seed).random(s) < 0.5
    return [floats(d, s), floats(d, broadcastable(d, s))], [cond]


def transpose_draw(d):
    s = d.draw(st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple))
    axes = tuple(d.draw(st.permutations(range(len(s)))))
    return [floats(d, s)], [axes if axes != tuple(range(len(s))) else axes[::-1]]


def reshape_draw(d):
    s = d.draw(shapes)
    n = int(np.prod(s, dtype=np.int64))
    divisors = [k for k in range(1, n + 1) if n % k == 0]
    k = d.draw(st.sampled_from(divisors))
    return [floats(d, s)], [(k, 1, n // k, 1)]  # 4-d: never the input's own shape


def unslice_draw(d):
    (x,), (index,) = index_draw(d)
    from tinygrad_rnn.ops.shape import _covers, normalize_index
    assume(not _covers(normalize_index(x.shape, index), x.shape))  # that one folds away
    return [x[index]], [index, x.shape]


def _unslice(g, index, shape):
    # unslice is reached as the VJP of getitem; build it directly to test its own rules
    from tinygrad_rnn.ops.shape import normalize_index, unslice
    return tr.Tensor(unslice(g.node, index=normalize_index(shape, index), shape=shape))


def compare_draw(d):
    s = d.draw(shapes)
    return [distinct(d, s), distinct(d, broadcastable(d, s))], []


def scan_draw(d):
    T, B, H = (d.draw(st.integers(1, 3)) for _ in range(3))
    return [floats(d, (T, B, H)), floats(d, (B, H)), floats(d, (H, H))], []


def scan_build(xs, h0, U):
    h, ys = tr.scan(lambda h, x: (tr.tanh(x + h @ U), h * x), h0, xs)
    return ys.sum(axis=0) * h


SPECS = {
    "add": binary(tr.add), "sub": binary(lambda x, y: x - y), "mul": binary(lambda x, y: x * y),
    "div": binary(lambda x, y: x / y, y_low=0.5),
    "neg": unary(lambda x: -x),
    "pow": binary(lambda x, y: x ** y, low=0.5),
    "exp": unary(tr.exp), "log": unary(tr.log, 0.2, 3.0), "sqrt": unary(tr.sqrt, 0.2, 3.0),
    "tanh": unary(tr.tanh), "sigmoid": unary(tr.sigmoid, -6, 6),
    "relu": unary(tr.relu, away=0.0), "abs": unary(abs, away=0.0),
    "sign": Spec(lambda d: ([floats(d, d.draw(shapes), away_from=0.0)], []), tr.sign, False),
    "maximum": binary(tr.maximum, apart=True), "minimum": binary(tr.minimum, apart=True),
    "where": Spec(where_draw, lambda a, b, c: tr.where(c, a, b)),
    **{name: Spec(compare_draw, getattr(tr, name), False)
       for name in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")},
    "cast": Spec(lambda d: ([floats(d, d.draw(shapes))], []),
                 lambda x: tr.astype(tr.astype(x, np.float32) > 0, np.float64), False),
    # what a user's no-op (x.reshape(x.shape), x * 1.0 ...) becomes: its own point in the graph
    "identity": unary(lambda x: x.reshape(x.shape)),
    "stop_gradient": Spec(lambda d: ([floats(d, d.draw(shapes))], []), tr.stop_gradient, False),
    "reduce_sum": Spec(reduce_draw(False), lambda x, a, k: tr.sum(x, a, k)),
    "reduce_max": Spec(reduce_draw(True), lambda x, a, k: tr.max(x, a, k)),
    "matmul": Spec(matmul_draw, tr.matmul),
    "reshape": Spec(reshape_draw, tr.reshape),
    "transpose": Spec(transpose_draw, tr.transpose),
    "broadcast_to": Spec(lambda d: ([floats(d, (s := d.draw(shapes)))], [(2,) + s]),
                         tr.broadcast_to),
    "getitem": Spec(index_draw, lambda x, i: x[i]),
    "unslice": Spec(unslice_draw, _unslice),
    "concat": Spec(concat_draw, lambda *a: tr.concat(a[:-1], a[-1])),
    "constant": Spec(lambda d: ([floats(d, d.draw(shapes))], []),
                     lambda x: x * tr.tensor(np.full(x.shape, 3.0, x.dtype))),
    "parameter": Spec(lambda d: ([floats(d, d.draw(shapes))], []),
                      lambda x: x * tr.parameter(np.full(x.shape, -2.0, x.dtype))),
    "placeholder": unary(lambda x: x * 1.5),
    "fill": unary(lambda x: x + tr.full(x.shape, 0.5, x.dtype)),
    "scan": Spec(scan_draw, scan_build),
    # p = 0 keeps every entry, so the draw is deterministic and differences are meaningful;
    # the randomness itself is tested in test_cells_and_layers (dropout)
    "dropout_mask": unary(lambda x: x * tr.Tensor(dropout_mask(
        shape=x.shape, p=0.0, dtype=x.dtype, rng=np.random.default_rng(0)))),
    "get": Spec(scan_draw, scan_build),
    # p in {0, 1} (1 where x > 0) makes the coins deterministic (True exactly where x > 0);
    # run-time draws, decay and reproducibility are tested in test_teacher_forcing
    "bernoulli": unary(lambda x: x * tr.astype(tr.Tensor(bernoulli(
        tr.astype(x > 0, x.dtype).node, shape=x.shape, dtype=np.bool_,
        rng=np.random.default_rng(0))), x.dtype), away=0.0),
}
UNBATCHABLE = {"scan", "get"}  # batching a graph that holds a scan raises a clear error


def test_every_primitive_has_a_spec():
    assert sorted(REGISTRY) == sorted(SPECS)


def _built(spec, args, consts):
    """The spec's graph on placeholders; checks it really contains the primitive."""
    xs = [tr.placeholder(a.shape) for a in args]
    return xs, spec.build(*xs, *consts)


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_derivatives_match_finite_differences(name, data):
    spec = SPECS[name]
    args, consts = spec.draw(data)
    xs, out = _built(spec, args, consts)
    assert name in {n.op.name for n in toposort([out.node])}, f"spec does not build {name}"
    if spec.differentiable:
        check_grads(lambda *ts: spec.build(*ts, *consts), args, order=2)
    else:
        (g,) = tr.grad(out.astype(np.float64).sum() if out.dtype != np.float64 else out.sum(),
                       xs[:1])
        assert np.all(tr.function(xs, [g])(*args)[0] == 0)


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_numba_matches_numpy(name, data):
    spec = SPECS[name]
    args, consts = spec.draw(data)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        xs = [tr.placeholder(a.shape, dtype) for a in args]
        out = spec.build(*xs, *consts)
        outputs = [out]
        if spec.differentiable and out.dtype.kind == "f":
            seed = np.random.default_rng(0).standard_normal(out.shape)
            outputs += tr.grad(out, xs, seed=seed.astype(out.dtype))
        vals = [a.astype(dtype) for a in args]
        ref = tr.function(xs, outputs, backend="numpy")(*vals)
        got = tr.function(xs, outputs, backend="numba")(*vals)
        for r, g in zip(ref, got):
            assert r.shape == g.shape and r.dtype == g.dtype
            np.testing.assert_allclose(g, r, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_batching_equals_a_loop_over_examples(name, data):
    """The vmap rule: the graph batched over P examples equals P separate evaluations."""
    from tinygrad_rnn.graph.batching import batch_graph
    spec = SPECS[name]
    args, consts = spec.draw(data)
    P = data.draw(st.integers(1, 3))
    which = [data.draw(st.booleans()) for _ in args]
    which[0] = True
    xs = [tr.placeholder(a.shape) for a in args]
    out = spec.build(*xs, *consts)
    stacks = [np.stack([a + k for k in range(P)]) if w else a for a, w in zip(args, which)]
    big = [tr.placeholder(s.shape) for s in stacks]
    replace = {id(x.node): b.node for x, b, w in zip(xs, big, which) if w}
    if name in UNBATCHABLE:
        with pytest.raises(tr.GraphError, match="batching a graph that contains a scan"):
            batch_graph([out.node], replace, P)
        return
    ((node, batched),) = batch_graph([out.node], replace, P)
    got = tr.function([b for b, w in zip(big, which) if w] + [x for x, w in zip(xs, which) if not w],
                      [tr.Tensor(node)], "numpy")(*[s for s, w in zip(stacks, which) if w],
                                                  *[a for a, w in zip(args, which) if not w])[0]
    f = tr.function(xs, [out], "numpy")
    want = np.stack([f(*[s[k] if w else s for s, w in zip(stacks, which)])[0] for k in range(P)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_compiler_facts_are_fields_of_the_records():
    """What the loop compiler needs to know about a primitive (it only moves memory, it is a
    reduction and of which kind) is on its record, not in lists of names elsewhere."""
    moves = {n for n, p in REGISTRY.items() if p.moves}
    assert moves == {"reshape", "transpose", "broadcast_to", "getitem", "unslice", "concat",
                     "cast", "stop_gradient", "identity"}
    assert {n: p.reduction for n, p in REGISTRY.items() if p.reduction} == {
        "reduce_sum": "sum", "reduce_max": "max"}
    assert {n for n, p in REGISTRY.items() if p.fed} == {"placeholder"}
    assert {n for n, p in REGISTRY.items() if p.selects} == {"get"}
    assert {n for n, p in REGISTRY.items() if p.same_as_input} == {"identity"}


# a scan's step that holds a scan runs as a Python loop over compiled inner loops, by design
RUNS_AS_A_PYTHON_LOOP = {"scan", "get"}


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=3)
@given(data=st.data())
def test_every_primitive_compiles_inside_a_scan_body(name, data):
    """Each primitive inside a loop's step: the loop compiles into Numba (no silent fallback
    to a Python loop) and gives the NumPy reference's values, on every call (the first
    uncompiled, the next compiled: runtime.scan_runner.COMPILE_AFTER is 2)."""
    spec = SPECS[name]
    args, consts = spec.draw(data)
    T = 2
    xs = [tr.placeholder((T,) + a.shape) for a in args]
    c0 = tr.placeholder(args[0].shape)

    def step(c, x_t):
        # every input reads the carry, so the primitive is computed inside the loop
        ins = [x + c if x.shape == c.shape else x + tr.sum(c) for x in x_t]
        out = spec.build(*ins, *consts)
        return c, out.astype(np.float64) if out.dtype != np.float64 else out
    _, ys = tr.scan(step, c0, tuple(xs))
    stacked = [np.stack([a * (1 + 0.1 * t) for t in range(T)]) for a in args]
    zero = np.zeros(args[0].shape)
    ref = tr.function([c0, *xs], [ys], "numpy")(zero, *stacked)[0]
    f = tr.function([c0, *xs], [ys], "numba")
    for call in range(3):
        np.testing.assert_allclose(f(zero, *stacked)[0], ref, rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name}, call {call + 1}")
    (step_node,) = [s.node for s in f.plan.steps if s.node.op.name == "scan"]
    compiled = [v for k, v in step_node.attrs["body"]._functions.items() if k[0] == "compiled"]
    if name in RUNS_AS_A_PYTHON_LOOP:
        assert compiled and all(v is None for v in compiled)
    else:
        assert compiled and all(v is not None for v in compiled), f"{name} did not compile"


def test_unslice_of_one_element_compiles_inside_a_scan_body():
    """Found by CI: the gradient of ``x[i]`` (a 0-d element) inside a loop is an unslice of a
    0-d value; indexing a 1-d buffer with an integer gives Numba a scalar, not a view to
    write through, so the element is written directly."""
    xs = tr.placeholder((3, 4))
    c0 = tr.placeholder((4,))

    def step(c, x_t):
        v = (x_t + c)[1]
        return c, _unslice(v * v, (1,), (4,))
    _, ys = tr.scan(step, c0, xs)
    x = np.arange(12.0).reshape(3, 4)
    ref = tr.function([c0, xs], [ys], "numpy")(np.ones(4), x)[0]
    expected = np.zeros((3, 4))
    expected[:, 1] = (x[:, 1] + 1) ** 2
    np.testing.assert_array_equal(ref, expected)
    f = tr.function([c0, xs], [ys], "numba")
    for call in range(3):
        np.testing.assert_array_equal(f(np.ones(4), x)[0], ref, err_msg=f"call {call + 1}")


# ---- float32 sums: within float32 rounding however many terms --------------------------

def _float32_sum_cases():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(1_100_000).astype(np.float32) ** 2  # positive: no cancellation
    return x, float(np.sum(x.astype(np.float64)))


def test_float32_sum_of_a_million_terms_is_rounded_once():
    """A float32 running sum of 1.1M squares drifted by ~6e-4 relative (the loss of a large
    LSTM benchmark step); NumPy, PyTorch and XLA stay within float32 rounding, and so must both
    backends, every call."""
    x, exact = _float32_sum_cases()
    v = tr.placeholder(x.shape, np.float32)
    for backend in ("numba", "numpy"):
        f = tr.function([v], [tr.sum(v), tr.sum(tr.reshape(v, (1100, 1000)), axis=0)], backend)
        for _ in range(3):
            total, columns = f(x)
            assert total.dtype == np.float32
            assert abs(float(total) - exact) <= 2e-7 * exact, backend
            if backend == "numba":  # (NumPy adds float32 rows in float32: 1.6e-6 here)
                want = x.reshape(1100, 1000).astype(np.float64).sum(axis=0)
                np.testing.assert_allclose(columns, want, rtol=2e-7)


def test_float32_sum_inside_a_compiled_loop_is_rounded_once():
    """The same sum inside a scan step: the uncompiled tier (first call) and the compiled loop
    (later calls) both stay within float32 rounding and give the same bits."""
    x, exact = _float32_sum_cases()
    xs = tr.placeholder((3, x.size), np.float32)
    total, _ = tr.scan(lambda c, x_t: (c + tr.sum(x_t * x_t), None), tr.zeros((), np.float32), xs)
    f = tr.function([xs], [total])
    data = np.stack([np.sqrt(x)] * 3)
    want = 3 * float(np.sum(data[0].astype(np.float64) ** 2))
    runs = [f(data)[0] for _ in range(3)]
    for r in runs:
        assert abs(float(r) - want) <= 5e-7 * want
    assert runs[0] == runs[1] == runs[2]
