"""The jax backend (``tr.function(..., backend="jax")``) and the exporter (``tr.export.to_jax``).

Every primitive lowers to JAX (a test parametrised over the registry) and agrees with the
NumPy reference on the primitive specs of test_primitives.py, to 1e-12 in float64 and 1e-5 in
float32; scans, cells and layers (bidirectional, two layers, dropout, truncate, checkpoint)
agree with the numba backend; ``jax.grad`` of an exported LSTM loss equals our own gradient
graph exported, to 1e-12. XLA compiles every new graph (about a second for a scan's gradient
on a small CPU), so shapes are tiny and graphs are reused.

JAX is an optional extra: these tests skip where it is missing, except in CI (``CI`` set),
whose .ci/run installs it, so that there a missing JAX fails instead of passing silently.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn.graph.traverse import rebuild, toposort
from tinygrad_rnn.ops import REGISTRY
from tinygrad_rnn.ops.random import bernoulli, dropout_mask


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


try:
    import jax
    import jax.numpy as jnp
except ImportError:
    if _in_ci():
        raise  # .ci/run installs the jax extra: in CI these tests must run, never skip
    pytest.skip("JAX is not installed (pip install -e '.[jax]')", allow_module_level=True)

from test_primitives import SPECS  # noqa: E402  (the primitive specs, shared)

from tinygrad_rnn.runtime.jax_backend import JAX  # noqa: E402
from tinygrad_rnn.runtime.jax_backend import x64 as x64_mode  # noqa: E402

TOL = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.fixture
def x64():
    """64-bit JAX inside one test only (tr.function needs nothing: it runs every call in
    64-bit mode itself; the exporter runs in its caller's JAX)."""
    with x64_mode(True):
        yield


def close(got, want, dtype=np.float64, what=""):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g)
        assert g.shape == w.shape and g.dtype == w.dtype, (what, k, g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=TOL[dtype], atol=TOL[dtype], err_msg=f"{what} output {k}")


# ---- every primitive --------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_primitive_lowers_to_jax(name):
    """A primitive declared without a JAX lowering fails here (the table is keyed by the
    primitive's record: runtime.jax_backend.JAX)."""
    assert REGISTRY[name] in JAX, f"{name} has no JAX lowering (runtime.jax_backend.JAX)"


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=3)
@given(data=st.data())
def test_jax_matches_numpy(name, data):
    """Each primitive's spec (test_primitives.SPECS), value and gradient, float64 to 1e-12 and
    float32 to 1e-5, same shapes and dtypes as the reference."""
    spec = SPECS[name]
    args, consts = spec.draw(data)
    for dtype in (np.float64, np.float32):
        xs = [tr.placeholder(a.shape, dtype) for a in args]
        out = spec.build(*xs, *consts)
        assert name in {n.op.name for n in toposort([out.node])}, f"spec does not build {name}"
        outputs = [out]
        if spec.differentiable and out.dtype.kind == "f":
            seed = np.random.default_rng(0).standard_normal(out.shape)
            outputs += tr.grad(out, xs, seed=seed.astype(out.dtype))
        vals = [a.astype(dtype) for a in args]
        ref = tr.function(xs, outputs, backend="numpy")(*vals)
        close(tr.function(xs, outputs, backend="jax")(*vals), ref, dtype, name)


def test_a_primitive_without_lowering_is_a_clear_error(monkeypatch):
    x = tr.placeholder((2,))
    monkeypatch.delitem(JAX, REGISTRY["tanh"])
    with pytest.raises(tr.GraphError, match="primitive 'tanh' has no JAX lowering"):
        tr.function([x], [tr.tanh(x)], backend="jax")


# ---- scans, cells, layers: jax against numba -------------------------------------------

T, B, I, H = 5, 2, 3, 4


def _xs(dtype=np.float64, seed=1):
    return np.random.default_rng(seed).standard_normal((T, B, I)).astype(dtype)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_forward_and_reverse(reverse):
    rng = np.random.default_rng(0)
    W = tr.parameter(rng.standard_normal((I, H)) * 0.5, name="W")
    U = tr.parameter(rng.standard_normal((H, H)) * 0.5, name="U")
    xs, h0 = tr.placeholder((T, B, I)), tr.placeholder((B, H))
    h, hs = tr.scan(lambda h, x: (tr.tanh(x @ W + h @ U),) * 2, h0, xs, reverse=reverse)
    loss = (hs * hs).sum() + h.sum()
    outs = [h, hs, loss] + tr.grad(loss, [W, U, xs, h0])
    args = (_xs(), rng.standard_normal((B, H)))
    close(tr.function([xs, h0], outs, "jax")(*args), tr.function([xs, h0], outs)(*args))


@pytest.mark.parametrize("cell_type", ["LSTMCell", "GRUCell"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cell_gradient(cell_type, dtype):
    """A cell run by tr.scan: loss and every parameter's gradient (BPTT) agree with numba."""
    cell = getattr(tr.nn, cell_type)(I, H, dtype=dtype, seed=0)
    xs = tr.placeholder((T, B, I), dtype)
    state0 = cell.initial_state(B)

    def step(state, x_t):
        y, new = cell(x_t, state)
        return new, y
    _, ys = tr.scan(step, tuple(state0), xs)
    loss = (ys * ys).sum()
    outs = [loss] + tr.grad(loss, list(cell.parameters().values()))
    x = _xs(dtype)
    close(tr.function([xs], outs, "jax")(x), tr.function([xs], outs)(x), dtype, cell_type)


@pytest.fixture(scope="module")
def lstm():
    """A two-layer bidirectional LSTM, float64, and its loss and gradients compiled once by
    each backend (shared: compiling it takes XLA several seconds)."""
    layer = tr.nn.LSTM(I, H, num_layers=2, bidirectional=True, seed=0)
    xs, params, outs = _layer_step(layer)
    return layer, xs, params, outs, tr.function([xs], outs, "jax"), tr.function([xs], outs)


def _layer_step(layer, dtype=np.float64, **options):
    xs = tr.placeholder((T, B, I), dtype)
    out, (h, c) = layer(xs, **options)
    loss = (out * out).sum() + (c * c).sum()
    params = list(layer.parameters().values())
    return xs, params, [loss, out, h] + tr.grad(loss, params + [xs])


def test_lstm_two_layers_bidirectional(lstm):
    *_, f_jax, f_numba = lstm
    x = _xs()
    close(f_jax(x), f_numba(x))


@pytest.mark.parametrize("options", [{"truncate": 2}, {"checkpoint": 2}],
                         ids=["truncate", "checkpoint"])
def test_lstm_layer_options(options):
    """truncate=k and checkpoint=k (scans of k-step segments, in both directions): values and
    gradients agree with numba to 1e-12. (One layer: the options act per layer.)"""
    layer = tr.nn.LSTM(I, H, bidirectional=True, seed=0)
    xs, _, outs = _layer_step(layer, **options)
    x = _xs()
    close(tr.function([xs], outs, "jax")(x), tr.function([xs], outs)(x), what=str(options))


def test_lstm_layer_float32():
    layer = tr.nn.LSTM(I, H, bidirectional=True, dtype=np.float32, seed=0)
    xs, _, outs = _layer_step(layer, np.float32)
    x = _xs(np.float32)
    got = tr.function([xs], outs, "jax")(x)
    assert all(g.dtype == np.float32 for g in got)
    close(got, tr.function([xs], outs)(x), np.float32)


def _random_nodes(outputs):
    return [n for n in toposort([o.node for o in outputs]) if not n.op.pure]


def test_dropout_masks_fed_the_same():
    """Dropout draws differ between backends (JAX keys, NumPy streams), so the layer is
    compared with the masks fed the same: the jax function also returns the masks it drew;
    the graph with those masks as constants, run by numba, gives its loss and gradients to
    1e-12. That also shows the forward and backward passes of one jax call read one mask."""
    layer = tr.nn.LSTM(I, H, num_layers=2, dropout=0.5, seed=0)
    xs, _, outs = _layer_step(layer)
    (mask,) = _random_nodes(outs)
    assert mask.op is dropout_mask
    f = tr.function([xs], [tr.Tensor(mask)] + outs, "jax")
    x = _xs()
    drawn, *got = f(x)
    fixed = rebuild([o.node for o in outs], {id(mask): tr.tensor(drawn).node})
    close(got, tr.function([xs], [tr.Tensor(n) for n in fixed])(x))
    keep = 0.5
    assert set(np.unique(drawn)) <= {0.0, 1 / keep}
    assert not np.array_equal(f(x)[0], drawn)  # fresh masks at each call


def test_random_draws_are_fresh_seeded_and_of_the_right_law():
    """dropout_mask and bernoulli through JAX keys: the right statistics, a new draw each
    call, the same sequence of draws from the same seed."""
    p = tr.placeholder(())

    def graph(seed):
        rng = np.random.default_rng(seed)
        mask = tr.Tensor(dropout_mask(shape=(100, 100), p=0.3, dtype=np.float32, rng=rng))
        coins = tr.Tensor(bernoulli(p.node, shape=(100, 100), dtype=np.bool_, rng=rng))
        return tr.function([p], [mask, coins], "jax")

    f, g = graph(7), graph(7)
    first = f(0.25)
    mask, coins = first
    assert mask.dtype == np.float32 and coins.dtype == np.bool_
    assert set(np.unique(mask)) == {np.float32(0), np.float32(1 / 0.7)}
    assert abs((mask > 0).mean() - 0.7) < 0.03 and abs(coins.mean() - 0.25) < 0.03
    again = f(0.75)
    assert abs(again[1].mean() - 0.75) < 0.03  # p is read at run time
    assert not np.array_equal(again[0], mask)
    for a, b in zip(g(0.25), first):
        np.testing.assert_array_equal(a, b)  # same seed, same draws


def test_random_inside_a_scan_step_draws_each_step():
    """A coin that reads the step's carry is drawn inside the loop: a key per step (t folded
    into the scan's key), so the steps' coins differ."""
    h0 = tr.placeholder((50, 40))

    def step(h, _):
        coins = tr.Tensor(bernoulli((h * 0 + 0.5).node, shape=h.shape, dtype=h.dtype,
                                    rng=np.random.default_rng(3)))
        return h, coins
    _, ys = tr.scan(step, h0, None, length=4)
    (got,) = tr.function([h0], [ys], "jax")(np.zeros((50, 40)))
    assert abs(got.mean() - 0.5) < 0.02
    assert all(not np.array_equal(got[0], got[t]) for t in range(1, 4))


def test_three_calls_and_parameters_read_at_call_time(lstm):
    _, xs, params, outs, f, f_numba = lstm
    x = _xs()
    first = f(x)
    want = [a.copy() for a in first]
    first[1][...] = 0  # returned arrays are the caller's (fresh and writable)
    for _ in range(2):
        for a, b in zip(f(x), want):
            np.testing.assert_array_equal(a, b)
    w = params[0]
    old = np.array(w.value)
    try:
        w.assign(old * 0.5)
        close(f(x), f_numba(x), what="after assign")
    finally:
        w.assign(old)


def test_train_step_trajectory_matches_numba():
    """tr.train_step(..., backend="jax") with an optimizer assigning between calls: the same
    losses, step for step, as numba (parameters are read at each call)."""
    losses = {}
    for backend in ("numba", "jax"):
        layer = tr.nn.GRU(I, H, seed=3)
        xs = tr.placeholder((T, B, I))
        out, _ = layer(xs)
        step = tr.train_step([xs], (out * out).mean(), layer, backend=backend)
        opt = tr.optim.Adam(layer.parameters(), lr=0.05)
        x, run = _xs(), []
        for _ in range(4):
            loss, grads, _ = step(x)
            opt.step(grads)
            run.append(loss)
        losses[backend] = run
    np.testing.assert_allclose(losses["jax"], losses["numba"], rtol=1e-12, atol=1e-12)
    assert losses["jax"][-1] < losses["jax"][0]


# ---- the exporter -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported():
    """An LSTM layer's loss and gradients (parameters and input) exported once."""
    xs, params, outs = _layer_step(tr.nn.LSTM(I, H, bidirectional=True, seed=2))
    with x64_mode(True):
        fn, values = tr.export.to_jax([xs], outs)
    return xs, params, outs, fn, values


def test_export_grad_equals_our_gradient_graph(x64, exported):
    """jax.grad of the exported forward loss == our symbolic gradient graph, exported: two
    independent derivations of BPTT (JAX's transpose of lax.scan, our scan VJP), to 1e-12."""
    xs, params, outs, fn, values = exported
    assert sorted(values) == sorted(p.name for p in params)
    x = _xs()
    run = jax.jit(fn)
    res = run(values, x)
    g_params, g_x = jax.jit(jax.grad(lambda p, x: fn(p, x)[0], argnums=(0, 1)))(values, x)
    ours = dict(zip([p.name for p in params], res[3:3 + len(params)]))
    for name, g in g_params.items():
        np.testing.assert_allclose(g, ours[name], rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(g_x, res[-1], rtol=1e-12, atol=1e-12)
    close(res, tr.function([xs], outs)(x), what="exported vs numba")


def test_export_under_vmap_and_jit(x64, exported):
    xs, _, outs, fn, values = exported
    batch = np.stack([_xs(seed=s) for s in range(3)])
    losses = jax.jit(jax.vmap(lambda x: fn(values, x)[0]))(batch)
    f = tr.function([xs], [outs[0]])
    np.testing.assert_allclose(losses, [f(x)[0] for x in batch], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", [{"truncate": 2}, {"checkpoint": 2}],
                         ids=["truncate", "checkpoint"])
def test_export_grad_with_truncate_and_checkpoint(x64, options):
    """truncate=k: our stop_gradient lowers to lax.stop_gradient, so jax.grad cuts where our
    gradient graph does. checkpoint=k: the segment step runs under jax.checkpoint (JAX then
    recomputes each segment, as our gradient does)."""
    cell = tr.nn.LSTMCell(I, H, seed=0)
    xs = tr.placeholder((T, B, I))
    params = list(cell.parameters().values())

    def loss_of(**options):
        def step(state, x_t):
            y, new = cell(x_t, state)
            return new, y
        _, ys = tr.scan(step, tuple(cell.initial_state(B)), xs, **options)
        return (ys * ys).sum()
    loss = loss_of(**options)
    fn, values = tr.export.to_jax([xs], [loss] + tr.grad(loss, params))
    x = _xs()
    res = jax.jit(fn)(values, x)
    g = jax.jit(jax.grad(lambda p: fn(p, x)[0]))(values)
    for p, ours in zip(params, res[1:]):
        np.testing.assert_allclose(g[p.name], ours, rtol=1e-12, atol=1e-12, err_msg=p.name)
    if "checkpoint" in options:
        text = str(jax.make_jaxpr(lambda p: fn(p, x)[0])(values))
        assert "remat" in text or "checkpoint" in text  # (remat2: jax.checkpoint's primitive)
    else:  # the cut changes the gradient (this is not the full BPTT)
        full = tr.function([xs], tr.grad(loss_of(), params))(x)
        assert not np.allclose(full[0], res[1])


def test_export_of_an_unrolled_cell(x64):
    """tr.unroll's explicit DAG exports too (straight-line code, no scan)."""
    cell = tr.nn.LSTMCell(I, H, seed=1)
    xs = tr.placeholder((3, B, I))
    ys, _ = tr.unroll(cell, xs)
    loss = sum((y * y).sum() for y in ys)
    params = list(cell.parameters().values())
    fn, values = tr.export.to_jax([xs], [loss] + tr.grad(loss, params))
    x = _xs()[:3]
    g = jax.jit(jax.grad(lambda p: fn(p, x)[0]))(values)
    res = jax.jit(fn)(values, x)
    for p, ours in zip(params, res[1:]):
        np.testing.assert_allclose(g[p.name], ours, rtol=1e-12, atol=1e-12)


def test_export_params_names_and_errors(x64):
    a = tr.parameter(np.ones(2), name="w")
    b = tr.parameter(np.full(2, 2.0), name="w")
    c = tr.parameter(np.full(2, 3.0))
    x = tr.placeholder((2,))
    fn, values = tr.export.to_jax([x], [(x * a + b * c).sum()])
    assert sorted(values) == ["param2", "w", "w_1"]
    assert {k: t.node.attrs["box"] for k, t in fn.parameters.items()} == {
        "w": a.node.attrs["box"], "w_1": b.node.attrs["box"], "param2": c.node.attrs["box"]}
    assert float(fn(values, np.ones(2))[0]) == 14.0
    with pytest.raises(KeyError, match=r"missing \['w_1'\]"):
        fn({"w": 1, "param2": 2}, np.ones(2))
    with pytest.raises(tr.GraphError, match=r"input 0 expects shape \(2,\), got \(3,\)"):
        fn(values, np.ones(3))
    with pytest.raises(tr.GraphError, match="must be a placeholder"):
        tr.export.to_jax([a], [a * 2])
    r = tr.Tensor(dropout_mask(shape=(2,), p=0.5, dtype=np.float64, rng=np.random.default_rng(0)))
    fr, vr = tr.export.to_jax([x], [x * r])
    with pytest.raises(tr.GraphError, match=r"draws random numbers .*pass key="):
        fr(vr, np.ones(2))
    assert set(np.asarray(fr(vr, np.ones(2), key=jax.random.key(0))[0])) <= {0.0, 2.0}


def test_export_of_float64_needs_x64():
    x = tr.placeholder((2,))
    with x64_mode(False):
        with pytest.raises(tr.GraphError, match="jax_enable_x64"):
            tr.export.to_jax([x], [x * 2])
        x32 = tr.placeholder((2,), np.float32)
        fn, _ = tr.export.to_jax([x32], [x32 * 2])
        assert fn({}, np.ones(2, np.float32))[0].dtype == jnp.float32


# ---- errors and packaging ----------------------------------------------------------------

def test_bad_backend_name_is_still_a_clear_error():
    x = tr.placeholder((2,))
    with pytest.raises(tr.GraphError, match=r"backend must be one of \('numba', 'numpy', "
                                            r"'jax'\), got 'jaxx'"):
        tr.function([x], [x * 2], backend="jaxx")


def test_missing_jax_is_a_clear_error(monkeypatch):
    monkeypatch.delitem(sys.modules, "tinygrad_rnn.runtime.jax_backend")
    monkeypatch.setitem(sys.modules, "jax", None)
    x = tr.placeholder((2,))
    with pytest.raises(tr.GraphError,
                       match=r"the jax backend needs JAX, which is not installed: .*tinygrad_rnn\[jax\]"):
        tr.function([x], [x * 2], backend="jax")


def test_the_core_never_imports_jax():
    code = "import sys, tinygrad_rnn; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_feeding_errors_are_the_other_backends():
    x = tr.placeholder((2, 3), name="x")
    f = tr.function([x], [x.sum()], "jax")
    with pytest.raises(tr.GraphError, match=r"input 0 'x' expects shape \(2, 3\), got \(3, 2\)"):
        f(np.ones((3, 2)))
    with pytest.raises(TypeError, match="function expects 1 inputs, got 2"):
        f(np.ones((2, 3)), 1)
    assert f(np.ones((2, 3), np.float32))[0].dtype == np.float64  # cast as the others do
    assert "reduce_sum" in f.source()


# ---- random programs (tests/test_differential.py's generator) ----------------------------

import test_differential as diff  # noqa: E402


@settings(max_examples=60, **diff.SETTINGS)
@given(data=st.data())
def test_random_programs_match_numba(data):
    """Random DAGs over the tr functions, IEEE specials and empty axes in the inputs: every
    value on the jax backend as on numba (the same nan and +-inf, well-conditioned numbers
    to 1e-10), each function called three times."""
    prog, d = diff.draw_program(data, "values")
    xs = diff.draw_special_inputs(d, prog)
    with diff._quiet():
        want = diff.interpret(prog, xs, "np")
    masks = diff.conditioned(prog, xs, want)
    phs = [tr.placeholder(prog.slots[k].shape) for k in range(prog.n_inputs)]
    env = diff.interpret(prog, phs, "tr")
    every = list(range(len(prog.slots)))
    got = {}
    for backend in ("numba", "jax"):
        f = tr.function(phs, [env[k] for k in every], backend=backend)
        got[backend] = diff.call_three_times(f, xs, f"{backend} all values")
    for k in every:
        diff.assert_values(got["jax"][k], got["numba"][k], 1e-10, 1e-12 * diff.scale_of(want[k]),
                           f"jax vs numba: slot {k}\n{prog.describe()}", masks[k])


@settings(max_examples=40, **diff.SETTINGS)
@given(data=st.data())
def test_random_program_derivatives_match_numba(data):
    """Reverse mode, forward mode and Hessian-vector products of random programs: the jax
    backend runs our derivative graphs to the numba backend's numbers."""
    prog, d = diff.draw_program(data, "fd")
    xs, _ = diff.find_smooth_inputs(d, prog, "fd")
    phs = [tr.placeholder(x.shape) for x in xs]
    env = diff.interpret(prog, phs, "tr")
    outs, _, loss = diff.projection(prog, d, env)
    grads = tr.grad(loss, phs)
    jus = tr.jvp([env[k] for k in outs], phs, [d.rng.standard_normal(x.shape) for x in xs])
    gd = None
    for g, v in zip(grads, [d.rng.standard_normal(x.shape) for x in xs]):
        gd = tr.dot(g, v) if gd is None else gd + tr.dot(g, v)
    wanted = [loss] + grads + jus + tr.grad(gd, phs)
    vals = {b: diff.call_three_times(tr.function(phs, wanted, backend=b), xs, f"{b} derivatives")
            for b in ("numba", "jax")}
    scale = diff.scale_of(*vals["numba"])
    for a, b in zip(vals["jax"], vals["numba"]):
        diff.close(a, b, 1e-10, 1e-12 * scale, f"jax vs numba derivatives\n{prog.describe()}")
