"""Long graphs (iterative walks, linear cost), random graphs on both backends, and the
on-disk kernel cache across processes."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn.graph.traverse import toposort


def chain(steps, x_value=0.1):
    """A hand-unrolled scalar recurrence h <- tanh(w * h + x): 4 nodes per step."""
    w = tr.placeholder((), name="w")
    h = tr.tensor(np.float64(0.5))
    x = tr.tensor(np.float64(x_value))
    for _ in range(steps):
        h = tr.tanh(w * h + x)
    return w, h


def test_ten_thousand_node_chain_builds_differentiates_and_runs():
    w, h = chain(2500)
    assert len(toposort([h.node])) >= 7500
    (g,) = tr.grad(h, [w])
    (t,) = tr.jvp([h], [w], [np.float64(1.0)])
    for backend in ("numpy", "numba"):
        hv, gv, tv = tr.function([w], [h, g, t], backend)(0.7)
        # fixed point of h = tanh(0.7 h + 0.1); the derivative by implicit differentiation
        d = 1 - hv**2
        np.testing.assert_allclose(gv, d * hv / (1 - d * 0.7), rtol=1e-9)
        np.testing.assert_allclose(tv, gv, rtol=1e-12)


def test_gradient_graph_grows_linearly_with_the_chain():
    sizes = []
    for steps in (1000, 2000, 4000):
        w, h = chain(steps)
        (g,) = tr.grad(h, [w])
        sizes.append(len(toposort([g.node])))
    assert sizes[1] / sizes[0] < 2.05 and sizes[2] / sizes[1] < 2.05


UNARY = [tr.tanh, tr.sigmoid, lambda a: -a, lambda a: a * 0.5, lambda a: tr.exp(a * 0.1),
         lambda a: tr.sum(a, axis=0, keepdims=True) * a, lambda a: a.max(axis=-1, keepdims=True) - a,
         lambda a: a @ a.T if a.shape[0] == a.shape[1] else a.T @ a[:, :1] * a.T[:1, :]]
BINARY = [tr.add, tr.sub, tr.mul, tr.maximum, lambda a, b: tr.where(a > b, a, b * 2)]


@given(st.integers(1, 4), st.integers(1, 4), st.lists(st.tuples(
    st.booleans(), st.integers(0, 7), st.integers(0, 100), st.integers(0, 100)),
    min_size=1, max_size=12), st.integers(0, 1000))
def test_random_graphs_agree_across_backends(rows, cols, recipe, seed):
    rng = np.random.default_rng(seed)
    xs = [tr.placeholder((rows, cols)) for _ in range(3)]
    pool = list(xs)
    for is_binary, k, i, j in recipe:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        out = BINARY[k % len(BINARY)](a, b) if is_binary else UNARY[k](a)
        if out.shape == (rows, cols):
            pool.append(out)
    y = (pool[-1] * pool[len(pool) // 2]).sum()
    grads = tr.grad(y, xs)
    vals = [rng.standard_normal((rows, cols)) for _ in xs]
    ref = tr.function(xs, [y] + grads, "numpy")(*vals)
    got = tr.function(xs, [y] + grads, "numba")(*vals)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


PROGRAM = textwrap.dedent("""
    import json, numpy as np, tinygrad_rnn as tr
    from tinygrad_rnn.ops.kernels.codegen import loaded_kernels
    x = tr.placeholder((4, 3)); w = tr.parameter(np.ones((3, 3)) * 0.1)
    h = x
    for _ in range(3):
        h = tr.tanh(h @ w) * tr.sigmoid(h).max(axis=1, keepdims=True)
    loss = tr.cross_entropy(h, np.array([0, 1, 2, 0]))
    f = tr.function([x], [loss] + tr.grad(loss, [w]))
    f(np.ones((4, 3)))
    hits = sum(sum(k.stats.cache_hits.values()) for k in loaded_kernels())
    misses = sum(sum(k.stats.cache_misses.values()) for k in loaded_kernels())
    print(json.dumps({"hits": hits, "misses": misses}))
""")


def test_second_process_recompiles_nothing(tmp_path):
    env = dict(os.environ, TINYGRAD_RNN_CACHE=str(tmp_path / "kernels"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"))

    def run():
        out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert first["misses"] > 0
    assert second["misses"] == 0 and second["hits"] >= first["misses"]
