"""The public API of the engine, used exactly as the issue's contract writes it."""
import numpy as np
import pytest

import tinygrad_rnn as tr


def test_public_api_block():
    a = tr.tensor(np.ones((3, 4)))
    w = tr.parameter(np.zeros((4, 2)), name="w")
    x = tr.placeholder((3, 4), name="x")
    assert x.dtype == np.float64 and a.shape == (3, 4)
    y = tr.tanh(x @ w).sum()
    (gw,) = tr.grad(y, [w])
    assert isinstance(gw, tr.Tensor) and gw.shape == w.shape
    f = tr.function([x], [y, gw])
    xv = np.arange(12.0).reshape(3, 4) / 10
    w.assign(np.full((4, 2), 0.1))
    yv, gwv = f(xv)
    h = np.tanh(xv @ np.full((4, 2), 0.1))
    np.testing.assert_allclose(yv, h.sum(), rtol=1e-14)
    np.testing.assert_allclose(gwv, xv.T @ (1 - h**2), rtol=1e-14)
    (t,) = tr.jvp([y], [w], [np.ones((4, 2))])
    assert isinstance(t, tr.Tensor)
    np.testing.assert_allclose(tr.function([x], [t])(xv)[0], np.sum((1 - h**2) * (xv @ np.ones((4, 2)))))
    assert (x @ w).tanh().shape == (3, 2) and (x @ w).sum(axis=0).shape == (2,) and x.T.shape == (4, 3)


def test_assign_is_seen_by_compiled_functions_and_numpy():
    w = tr.parameter(np.ones(3), name="w")
    y = (w * 2).sum()
    f = tr.function([], [y])
    assert f()[0] == 6 and y.numpy() == 6
    w.assign(np.array([1.0, 2.0, 3.0]))
    assert f()[0] == 12 and y.numpy() == 12
    with pytest.raises(tr.GraphError, match=r"expected shape \(3,\), got \(2,\)"):
        w.assign(np.ones(2))
    with pytest.raises(tr.GraphError, match="only parameters"):
        y.assign(1.0)


def test_outputs_never_alias_parameter_storage():
    w = tr.parameter(np.ones(3))
    (out,) = tr.function([], [w])()
    out[0] = 99
    assert w.value[0] == 1


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "<", "<=", ">", ">=", "==", "!="])
def test_operators_mix_with_arrays_and_numbers_on_both_sides(op):
    xv = np.array([[0.5, 1.5, 2.0]])
    arr = np.array([[1.0], [2.0]])  # broadcasts to (2, 3)
    x = tr.tensor(xv)
    for left, right, expect_l, expect_r in [  # noqa: B007 (read by eval)(x, 2.0, xv, 2.0), (2.0, x, 2.0, xv),
                                            (x, arr, xv, arr), (arr, x, arr, xv)]:
        got = eval(f"left {op} right")
        assert isinstance(got, tr.Tensor)
        np.testing.assert_allclose(got.numpy(), eval(f"expect_l {op} expect_r"))


def test_unary_methods_and_functions():
    xv = np.array([[0.5, -1.5], [2.0, 0.25]])
    x = tr.tensor(xv)
    np.testing.assert_allclose((-x).numpy(), -xv)
    np.testing.assert_allclose(abs(x).numpy(), np.abs(xv))
    np.testing.assert_allclose(x.exp().numpy(), np.exp(xv))
    np.testing.assert_allclose(x.abs().log().numpy(), np.log(np.abs(xv)))
    np.testing.assert_allclose(tr.relu(x).numpy(), np.maximum(xv, 0))
    np.testing.assert_allclose(x.sigmoid().numpy(), 1 / (1 + np.exp(-xv)))
    np.testing.assert_allclose(x.max(axis=1, keepdims=True).numpy(), xv.max(1, keepdims=True))
    np.testing.assert_allclose(x.mean().numpy(), xv.mean())
    np.testing.assert_allclose(x.min(axis=0).numpy(), xv.min(0))
    np.testing.assert_allclose(x.reshape(4).numpy(), xv.reshape(4))
    np.testing.assert_allclose(x.reshape(1, -1).numpy(), xv.reshape(1, -1))
    np.testing.assert_allclose(x.transpose(1, 0).numpy(), xv.T)
    np.testing.assert_allclose(tr.maximum(x, 0.3).numpy(), np.maximum(xv, 0.3))
    np.testing.assert_allclose(tr.where(x > 0, x, 0.0).numpy(), np.where(xv > 0, xv, 0))


def test_np_asarray_and_function_without_inputs():
    x = tr.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(x * 2), np.arange(6.0).reshape(2, 3) * 2)
    assert tr.function([], [x.sum()])()[0] == 15


@pytest.mark.parametrize("index", [
    0, -1, (slice(None), 1), (Ellipsis, 0), (None, 0), (slice(None, None, -1),),
    (slice(1, None), None, slice(0, 3, 2)), (1, Ellipsis, None), (Ellipsis,)])
def test_getitem_matches_numpy(index):
    xv = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(tr.tensor(xv)[index].numpy(), xv[index])


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
    ((3,), (5, 3, 2)), ((5, 1, 2, 3), (4, 3, 2)), ((2, 3), (5, 3, 1))])
def test_matmul_has_numpy_semantics(a_shape, b_shape, rng):
    av, bv = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    got = tr.matmul(tr.tensor(av), bv)
    assert got.shape == np.matmul(av, bv).shape
    for backend in ("numpy", "numba"):
        np.testing.assert_allclose(got.numpy(backend), np.matmul(av, bv), rtol=1e-12)


def test_concat_stack_split(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_array_equal(tr.concat([a, b], 1).numpy(), np.concatenate([a, b], 1))
    np.testing.assert_array_equal(tr.stack([a, b], 1).numpy(), np.stack([a, b], 1))
    np.testing.assert_array_equal(tr.stack([a, b], -1).numpy(), np.stack([a, b], -1))
    for got, want in zip(tr.split(tr.tensor(a), 3, axis=1), np.split(a, 3, axis=1)):
        np.testing.assert_array_equal(got.numpy(), want)
    for got, want in zip(tr.split(tr.tensor(a), [1], axis=0), np.split(a, [1], axis=0)):
        np.testing.assert_array_equal(got.numpy(), want)


def test_float32_end_to_end():
    x = tr.placeholder((2, 3), np.float32)
    w = tr.parameter(np.ones((3, 2), np.float32))
    y = tr.sigmoid(x @ w * 0.5 + 1).sum()
    (g,) = tr.grad(y, [w])
    assert y.dtype == np.float32 and g.dtype == np.float32
    vals = tr.function([x], [y, g])(np.ones((2, 3)))
    assert all(v.dtype == np.float32 for v in vals)


def test_masks_mix_with_floats_and_comparisons_give_bool():
    x = tr.tensor(np.array([-1.0, 2.0]))
    assert (x > 0).dtype == np.bool_
    np.testing.assert_array_equal(((x > 0) * x).numpy(), [0.0, 2.0])


def test_int_tensors_for_targets():
    t = tr.tensor(np.array([2, 0]))
    assert t.dtype.kind == "i"
    np.testing.assert_array_equal(tr.one_hot(t, 3).numpy(), np.eye(3)[[2, 0]])


def test_repr_and_len():
    x = tr.placeholder((2, 3), name="x")
    assert "placeholder" in repr(x) and "'x'" in repr(x) and len(x) == 2
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)
