"""tinygrad_rnn.optim: SGD and Adam against NumPy re-implementations of PyTorch's documented
algorithms (and against torch itself when it is installed), clip_grad_norm, and every error."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import optim

SHAPES = {"W": (3, 4), "b": (4,), "s": ()}


# references, written from the pseudocode in the torch.optim.SGD / torch.optim.Adam docs

def ref_sgd(p, grads, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    b = None
    for t, g in enumerate(grads, start=1):
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            b = g if t == 1 else momentum * b + g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if weight_decay != 0:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def setup(seed, n_steps, as_dict, dtype=np.float64):
    """Initial values, parameters (dict or list) and a list of per-step gradients."""
    rng = np.random.default_rng(seed)
    init = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
             for _ in range(n_steps)]
    params = {k: tr.parameter(a, name=k) for k, a in init.items()}
    if not as_dict:
        params = list(params.values())
        grads = [list(g.values()) for g in grads]
    return init, params, grads


def values(params):
    return {p.name: np.array(p.value) for p in (params.values() if isinstance(params, dict) else params)}


def grads_for(grads, key):
    return [g[key] if isinstance(g, dict) else g[list(SHAPES).index(key)] for g in grads]


SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.02, momentum=0.5, weight_decay=0.1, nesterov=True),
]
ADAM_CONFIGS = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.05),
    dict(lr=0.1, betas=(0.0, 0.5), weight_decay=0.5),
]


@pytest.mark.parametrize("as_dict", [True, False])
@pytest.mark.parametrize("kw", SGD_CONFIGS)
def test_sgd_matches_reference(kw, as_dict):
    init, params, grads = setup(0, 6, as_dict)
    opt = optim.SGD(params, **kw)
    for g in grads:
        opt.step(g)
    assert opt.steps == 6
    for k, got in values(params).items():
        np.testing.assert_allclose(got, ref_sgd(init[k], grads_for(grads, k), **kw), rtol=1e-12, atol=0)


@pytest.mark.parametrize("as_dict", [True, False])
@pytest.mark.parametrize("kw", ADAM_CONFIGS)
def test_adam_matches_reference(kw, as_dict):
    init, params, grads = setup(1, 6, as_dict)
    opt = optim.Adam(params, **kw)
    for g in grads:
        opt.step(g)
    for k, got in values(params).items():
        np.testing.assert_allclose(got, ref_adam(init[k], grads_for(grads, k), **kw), rtol=1e-12, atol=0)


@given(seed=st.integers(0, 2 ** 32 - 1), lr=st.floats(1e-4, 1.0), momentum=st.floats(0.0, 0.99),
       weight_decay=st.sampled_from([0.0, 1e-3, 0.3]), nesterov=st.booleans())
def test_sgd_matches_reference_for_any_hyperparameters(seed, lr, momentum, weight_decay, nesterov):
    nesterov = nesterov and momentum > 0
    kw = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    init, params, grads = setup(seed, 4, as_dict=True)
    opt = optim.SGD(params, **kw)
    for g in grads:
        opt.step(g)
    for k, got in values(params).items():
        np.testing.assert_allclose(got, ref_sgd(init[k], grads_for(grads, k), **kw), rtol=1e-12, atol=0)


@given(seed=st.integers(0, 2 ** 32 - 1), lr=st.floats(1e-4, 1.0), b1=st.floats(0.0, 0.99),
       b2=st.floats(0.0, 0.9999), eps=st.sampled_from([1e-8, 1e-3]),
       weight_decay=st.sampled_from([0.0, 1e-2]))
def test_adam_matches_reference_for_any_hyperparameters(seed, lr, b1, b2, eps, weight_decay):
    kw = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay)
    init, params, grads = setup(seed, 4, as_dict=False)
    opt = optim.Adam(params, **kw)
    for g in grads:
        opt.step(g)
    for k, got in values(params).items():
        np.testing.assert_allclose(got, ref_adam(init[k], grads_for(grads, k), **kw), rtol=1e-12, atol=0)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1)])
def test_float32_parameters_are_updated_in_float32(make):
    init, params, grads = setup(2, 3, as_dict=True, dtype=np.float32)
    opt = make(params)
    for g in grads:
        opt.step({k: a.astype(np.float64) for k, a in g.items()})  # float64 grads are cast
    for p in params.values():
        assert p.dtype == np.float32 and p.value.dtype == np.float32
    for buffers in opt.state_dict().values():
        if isinstance(buffers, dict):
            assert all(b.dtype == np.float32 for b in buffers.values())
    ref = ref_sgd if isinstance(opt, optim.SGD) else ref_adam
    kw = (dict(lr=0.1, momentum=0.9, weight_decay=0.1) if isinstance(opt, optim.SGD)
          else dict(lr=0.01, weight_decay=0.1))
    for k, got in values(params).items():
        want = ref(init[k].astype(np.float64), [g.astype(np.float64) for g in grads_for(grads, k)], **kw)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, steps", [(lambda w: optim.SGD([w], lr=0.1), 60),
                                         (lambda w: optim.SGD([w], lr=0.02, momentum=0.9,
                                                              nesterov=True), 100),
                                         (lambda w: optim.Adam({"w": w}, lr=0.1), 300)])
def test_optimizers_minimise_a_quadratic_built_with_the_library(make, steps):
    target = np.array([1.0, -2.0, 0.5, 3.0])
    w = tr.parameter(np.zeros(4), name="w")
    loss = ((w - target) ** 2).sum()
    (gw,) = tr.grad(loss, [w])
    f = tr.function([], [loss, gw], backend="numpy")
    opt = make(w)
    first, _ = f()
    for _ in range(steps):
        value, g = f()
        opt.step({"w": g} if isinstance(opt.params, dict) else [g])
    last, _ = f()
    assert float(last) < 1e-4 * float(first)
    np.testing.assert_allclose(w.value, target, atol=1e-2)


@pytest.mark.parametrize("as_dict", [True, False])
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: optim.Adam(ps, lr=0.05, weight_decay=0.01)])
def test_state_dict_resumes_training_exactly(make, as_dict):
    init, params, grads = setup(3, 6, as_dict)
    straight = make(params)
    for g in grads:
        straight.step(g)

    _, first, _ = setup(3, 6, as_dict)
    opt = make(first)
    for g in grads[:3]:
        opt.step(g)
    saved = opt.state_dict()
    assert saved["step"] == 3 and saved["optimizer"] == type(opt).__name__
    snapshot = values(first)
    opt.step(grads[3])  # later steps must not reach the saved copies
    _, resumed_params, _ = setup(3, 6, as_dict)
    for p in (resumed_params.values() if as_dict else resumed_params):
        p.assign(snapshot[p.name])
    resumed = make(resumed_params)
    resumed.load_state_dict(saved)
    assert resumed.steps == 3
    for g in grads[3:]:
        resumed.step(g)
    for k, got in values(resumed_params).items():
        np.testing.assert_array_equal(got, values(params)[k])


def test_state_dict_layout():
    _, params, grads = setup(4, 1, as_dict=True)
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    assert sgd.state_dict() == {"optimizer": "SGD", "step": 0, "momentum_buffer": None}
    sgd.step(grads[0])
    buf = sgd.state_dict()["momentum_buffer"]
    assert list(buf) == list(SHAPES)
    np.testing.assert_array_equal(buf["W"], grads[0]["W"])  # torch starts at the first gradient
    assert optim.SGD(params, lr=0.1).state_dict()["momentum_buffer"] is None
    _, plist, _ = setup(4, 1, as_dict=False)
    adam = optim.Adam(plist)
    state = adam.state_dict()
    assert isinstance(state["exp_avg"], list) and len(state["exp_avg_sq"]) == 3
    assert all(not a.any() for a in state["exp_avg"])


def test_step_does_not_keep_or_modify_the_callers_arrays():
    _, params, grads = setup(5, 1, as_dict=True)
    kept = {k: a.copy() for k, a in grads[0].items()}
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    opt.step(grads[0])
    grads[0]["W"][...] = 100.0  # the momentum buffer is a copy
    assert not np.any(opt.state_dict()["momentum_buffer"]["W"] == 100.0)
    np.testing.assert_array_equal(grads[0]["b"], kept["b"])


def test_lr_can_be_changed_between_steps():
    w = tr.parameter(np.ones(2), name="w")
    opt = optim.SGD([w], lr=0.1)
    opt.step([np.ones(2)])
    opt.lr = 0.5
    opt.step([np.ones(2)])
    np.testing.assert_allclose(w.value, [0.4, 0.4], rtol=1e-12)
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = 0.0


# clip_grad_norm

def test_clip_grad_norm_scales_as_torch_does():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}
    clipped, norm = optim.clip_grad_norm(grads, 1.0)
    assert isinstance(norm, float) and norm == 5.0
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(clipped["a"], [3.0 * coef, 0.0], rtol=1e-15)
    np.testing.assert_allclose(clipped["b"], [[0.0], [4.0 * coef]], rtol=1e-15)
    assert list(clipped) == ["a", "b"]


def test_clip_grad_norm_leaves_small_gradients_and_inputs_alone():
    grads = [np.array([0.3, 0.4]), np.full((2, 2), 0.0)]
    before = [g.copy() for g in grads]
    clipped, norm = optim.clip_grad_norm(grads, 10.0)
    assert isinstance(clipped, list) and math.isclose(norm, 0.5, rel_tol=1e-15)
    for c, b in zip(clipped, before):
        np.testing.assert_array_equal(c, b)
    clipped[0][0] = 99.0  # new arrays, not the inputs
    np.testing.assert_array_equal(grads[0], before[0])

    big = (np.array([30.0, 40.0]),)
    out, norm = optim.clip_grad_norm(big, 1.0)
    assert isinstance(out, tuple) and norm == 50.0
    np.testing.assert_array_equal(big[0], [30.0, 40.0])
    assert np.float32 == optim.clip_grad_norm([np.ones(3, np.float32) * 9], 1.0)[0][0].dtype
    assert optim.clip_grad_norm([], 1.0) == ([], 0.0)


@given(seed=st.integers(0, 2 ** 32 - 1), scale=st.floats(1e-3, 1e3), max_norm=st.floats(0.01, 10.0))
def test_clipped_norm_is_at_most_max_norm_and_direction_is_kept(seed, scale, max_norm):
    rng = np.random.default_rng(seed)
    grads = [scale * rng.standard_normal(s) for s in SHAPES.values()]
    clipped, norm = optim.clip_grad_norm(grads, max_norm)
    flat = np.concatenate([g.ravel() for g in grads])
    assert math.isclose(norm, np.linalg.norm(flat), rel_tol=1e-12)
    new_norm = np.linalg.norm(np.concatenate([c.ravel() for c in clipped]))
    assert new_norm <= max_norm * (1 + 1e-12)
    coef = min(1.0, max_norm / (norm + 1e-6))
    for c, g in zip(clipped, grads):
        np.testing.assert_allclose(c, g * coef, rtol=1e-15)


# errors

def test_constructor_errors():
    w = tr.parameter(np.zeros(3), name="w")
    cases = [
        (lambda: optim.SGD([w], lr=0.0), r"lr must be a finite number > 0, got 0\.0"),
        (lambda: optim.SGD([w], lr=-1), "lr must be"),
        (lambda: optim.Adam([w], lr=float("nan")), "lr must be a number, got nan"),
        (lambda: optim.Adam([w], lr="fast"), "lr must be a number, got 'fast'"),
        (lambda: optim.SGD([w], lr=0.1, momentum=-0.5), r"momentum must be >= 0, got -0\.5"),
        (lambda: optim.SGD([w], lr=0.1, weight_decay=-1), "weight_decay must be >= 0"),
        (lambda: optim.SGD([w], lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda: optim.Adam([w], betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1\.0"),
        (lambda: optim.Adam([w], betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\)"),
        (lambda: optim.Adam([w], betas=(0.9,)), "betas must be a pair"),
        (lambda: optim.Adam([w], eps=0.0), r"eps must be a finite number > 0, got 0\.0"),
        (lambda: optim.Adam([w], eps=-1e-8), "eps must be"),
        (lambda: optim.Adam([w], weight_decay=-0.1), "weight_decay must be >= 0"),
        (lambda: optim.SGD([w, np.zeros(3)], lr=0.1), "parameter 1 must be a parameter Tensor.*ndarray"),
        (lambda: optim.SGD({"w": w * 2.0}, lr=0.1), "parameter 'w' must be a parameter Tensor.*'mul'"),
        (lambda: optim.SGD([tr.tensor(np.zeros(2))], lr=0.1), "made by 'constant'"),
        (lambda: optim.Adam([]), "params is empty"),
        (lambda: optim.Adam(w), r"single Tensor; wrap it in a list: \[w\]"),
        (lambda: optim.Adam(3.0), "must be a dict or list of parameter Tensors, got float"),
        (lambda: optim.Adam([w, w]), "same parameter as parameter 0"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()


def test_step_errors_name_the_parameter_and_change_nothing():
    w = tr.parameter(np.zeros((2, 3)), name="w")
    b = tr.parameter(np.zeros(3), name="b")
    opt = optim.Adam({"w": w, "b": b})
    cases = [
        ({"w": np.ones((2, 3)), "b": np.ones(3), "c": np.ones(1)}, r"unexpected \['c'\]"),
        ({"w": np.ones((2, 3))}, r"missing \['b'\]"),
        ([np.ones((2, 3)), np.ones(3)], "params is a dict, so grads must be a dict"),
        ({"w": np.ones((2, 3)), "b": np.ones(4)},
         r"gradient for parameter 'b' has shape \(4,\), expected \(3,\)"),
        ({"w": np.ones((3, 2)), "b": np.ones(3)}, r"parameter 'w' has shape \(3, 2\), expected \(2, 3\)"),
        ({"w": np.ones((2, 3)), "b": w}, "symbolic Tensor"),
        ({"w": np.ones((2, 3)), "b": np.array(["x", "y", "z"])}, "real numeric array"),
    ]
    for grads, message in cases:
        with pytest.raises(ValueError, match=message):
            opt.step(grads)
    assert opt.steps == 0 and not w.value.any() and not b.value.any()

    listed = optim.SGD([w, b], lr=0.1)
    with pytest.raises(ValueError, match="grads has 1 entries, expected 2"):
        listed.step([np.ones((2, 3))])
    with pytest.raises(ValueError, match="params is a list, so grads must be a list"):
        listed.step({"w": np.ones((2, 3)), "b": np.ones(3)})
    with pytest.raises(ValueError, match=r"parameter 1 \('b'\) has shape \(2,\), expected \(3,\)"):
        listed.step([np.ones((2, 3)), np.ones(2)])
    assert not w.value.any()


def test_load_state_dict_errors():
    w = tr.parameter(np.zeros(3), name="w")
    adam = optim.Adam({"w": w})
    good = adam.state_dict()
    cases = [
        (optim.SGD({"w": w}, lr=0.1).state_dict(), "state is from 'SGD', expected 'Adam'"),
        ({k: v for k, v in good.items() if k != "exp_avg"}, r"missing \['exp_avg'\]"),
        ({**good, "step": -1}, "step must be an int >= 0"),
        ({**good, "exp_avg": {"w": np.zeros(4)}}, r"'exp_avg' for parameter 'w' has shape \(4,\)"),
        ({**good, "exp_avg_sq": {"v": np.zeros(3)}}, r"unexpected \['v'\]"),
        ({**good, "exp_avg": None}, "'exp_avg' must hold arrays"),
        ([1, 2], "expected a dict from state_dict"),
    ]
    for state, message in cases:
        with pytest.raises(ValueError, match=message):
            adam.load_state_dict(state)
    assert adam.steps == 0


def test_clip_grad_norm_errors():
    with pytest.raises(ValueError, match="max_norm must be >= 0, got -1"):
        optim.clip_grad_norm([np.ones(2)], -1.0)
    with pytest.raises(ValueError, match="grads must be a dict or list of arrays, got ndarray"):
        optim.clip_grad_norm(np.ones(2), 1.0)
    with pytest.raises(ValueError, match=r"grads\['a'\] is a symbolic Tensor"):
        optim.clip_grad_norm({"a": tr.tensor(np.ones(2))}, 1.0)


# live parity with PyTorch, when it is installed

def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    configs = ([(optim.SGD, torch.optim.SGD, kw) for kw in SGD_CONFIGS]
               + [(optim.Adam, torch.optim.Adam, kw) for kw in ADAM_CONFIGS])
    for ours_cls, torch_cls, kw in configs:
        init, params, grads = setup(6, 6, as_dict=False)
        theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in init.values()]
        ours, ref = ours_cls(params, **kw), torch_cls(theirs, **kw)
        for gs in grads:
            ours.step(gs)
            for t, g in zip(theirs, gs):
                t.grad = torch.tensor(g, dtype=torch.float64)
            ref.step()
        for p, t in zip(params, theirs):
            np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=1e-12, atol=1e-15,
                                       err_msg=f"{ours_cls.__name__} {kw}")

    # float32: the same algorithm, rounded differently (torch fuses some multiply-adds)
    for ours_cls, torch_cls, kw in [configs[len(SGD_CONFIGS) - 1], configs[-1]]:
        init, params, grads = setup(8, 10, as_dict=False, dtype=np.float32)
        theirs = [torch.tensor(a, requires_grad=True) for a in init.values()]
        ours, ref = ours_cls(params, **kw), torch_cls(theirs, **kw)
        for gs in grads:
            ours.step(gs)
            for t, g in zip(theirs, gs):
                t.grad = torch.tensor(g)
            ref.step()
        for p, t in zip(params, theirs):
            np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=1e-5, atol=1e-6)

    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(s) for s in SHAPES.values()]
    for max_norm in [0.5, 100.0]:
        ts = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
        for t, a in zip(ts, arrays):
            t.grad = torch.tensor(a, dtype=torch.float64)
        torch_norm = float(torch.nn.utils.clip_grad_norm_(ts, max_norm))
        clipped, norm = optim.clip_grad_norm(arrays, max_norm)
        assert math.isclose(norm, torch_norm, rel_tol=1e-12)
        for c, t in zip(clipped, ts):
            np.testing.assert_allclose(c, t.grad.numpy(), rtol=1e-12, atol=1e-15)
