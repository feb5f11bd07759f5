"""Bad input: each error says what was expected, what was given, and points at the line of
the user's code (this file) that built the offending node."""
import re

import numpy as np
import pytest

import tinygrad_rnn as tr

HERE = re.escape(__file__)


def raises_here(match):
    """pytest.raises for a GraphError whose message matches and names this file."""
    return pytest.raises(tr.GraphError, match=f"(?s){match}.*{HERE}:\\d+")


def test_shape_mismatch_names_primitive_shapes_and_line():
    a, b = tr.placeholder((3, 4)), tr.placeholder((5, 4))
    with raises_here(r"add: shapes \(3, 4\), \(5, 4\) do not broadcast"):
        a + b
    with raises_here(r"matmul: \(3, 4\) @ \(5, 4\): inner dimensions differ \(4 != 5\)"):
        a @ b


def test_error_points_at_the_users_line():
    a = tr.placeholder((2,))
    with pytest.raises(tr.GraphError) as info:
        a.reshape(3)  # this line
    line = [i for i, text in enumerate(open(__file__), 1) if "a.reshape(3)  # this line" in text][0]
    assert f"{__file__}:{line}" in str(info.value)
    assert "(2,)" in str(info.value) and "(3,)" in str(info.value)


def test_dtype_mismatch():
    with raises_here(r"mul: operands have dtypes float32 and float64"):
        tr.placeholder((2,), np.float32) * tr.placeholder((2,))
    with raises_here("expected a floating dtype, got int64"):
        tr.exp(tr.tensor(np.array([1, 2])))


def test_non_scalar_grad_needs_a_seed():
    x = tr.placeholder((2, 3))
    with raises_here(r"y has shape \(2, 3\); a non-scalar y needs a seed"):
        tr.grad(x * 2, [x])
    (g,) = tr.grad(x * 2, [x], seed=np.ones((2, 3)))
    np.testing.assert_array_equal(tr.function([x], [g])(np.zeros((2, 3)))[0], 2 * np.ones((2, 3)))
    with raises_here(r"has shape \(3,\), expected \(2, 3\)"):
        tr.grad(x * 2, [x], seed=np.ones(3))


def test_gradient_of_independent_value_is_zeros_like_jax():
    x, z = tr.placeholder((2,)), tr.placeholder((4, 1))
    gz, gx = tr.grad((x * x).sum(), [z, x])
    assert gz.shape == (4, 1)
    vals = tr.function([x, z], [gz, gx])(np.array([1.0, 2.0]), np.zeros((4, 1)))
    np.testing.assert_array_equal(vals[0], np.zeros((4, 1)))
    np.testing.assert_array_equal(vals[1], [2.0, 4.0])


def test_feeding_wrong_shape_or_missing_placeholder():
    x = tr.placeholder((2, 3), name="x")
    y = tr.placeholder((3,), name="y")
    f = tr.function([x], [x.sum()])
    with pytest.raises(tr.GraphError, match=r"input 0 'x' expects shape \(2, 3\), got \(3, 2\)"):
        f(np.ones((3, 2)))
    with pytest.raises(tr.GraphError,
                       match=r"expects an array of shape \(2, 3\) float64, got ndarray .* complex128"):
        f(np.ones((2, 3), complex))
    with raises_here(r"depend on placeholder 'y' \(3,\) float64, which is not among the inputs"):
        tr.function([x], [x.sum() + y.sum()])
    with pytest.raises(TypeError, match="expects 1 inputs, got 2"):
        f(np.ones((2, 3)), np.ones(3))


def test_bad_indices_and_axes():
    x = tr.placeholder((2, 3))
    with raises_here("index 5 is out of bounds for an axis of size 3"):
        x[0, 5]
    with raises_here("only integers, slices"):
        x[np.array([0, 1])]
    with raises_here("axis 2 is out of range for 2 dimensions"):
        x.sum(axis=2)
    with raises_here(r"input 1 has shape \(3, 3\), input 0 has \(2, 3\): only axis 1 may differ"):
        tr.concat([x, tr.placeholder((3, 3))], axis=1)


def test_cross_entropy_checks_targets():
    logits = tr.placeholder((2, 3))
    with raises_here(r"targets must lie in \[0, 3\)"):
        tr.cross_entropy(logits, np.array([0, 3]))
    with raises_here(r"need targets of shape \(2,\), got \(3,\)"):
        tr.cross_entropy(logits, np.array([0, 1, 2]))
    with raises_here("expected integer class targets"):
        tr.cross_entropy(logits, np.array([0.0, 1.0]))


def test_grad_argument_types():
    x = tr.placeholder((2,))
    with raises_here("wrt must be a list of Tensors"):
        tr.grad(x.sum(), x)
    with raises_here(r"tangents\[0\] has shape \(3,\), expected \(2,\)"):
        tr.jvp([x.sum()], [x], [np.ones(3)])
