"""Elementwise primitives: inputs of equal shape (``tr`` broadcasts explicitly beforehand).

Each declares a scalar expression over ``x``, ``y``, ``z`` that the Numba kernel generator
inlines, a NumPy reference, and one partial derivative per input written with primitives,
``rule(v, out, *inputs)`` = d out / d input * v: the Jacobian of an elementwise map is
diagonal, so that one rule is both the VJP (v a cotangent) and the JVP (v a tangent).
"""
from __future__ import annotations

import numpy as np

from ..graph.node import GraphError
from .kernels.codegen import elementwise_kernel
from .leaves import fill_value, full_like, is_fill
from .registry import REGISTRY, check, primitive


def lift(x, batched, size):
    """x with a leading batch axis of ``size`` (broadcast when x is not batched)."""
    from .shape import broadcast_to
    return x if batched else broadcast_to(x, shape=(size,) + x.shape)


def batch_elementwise(name):
    """The vmap rule every elementwise primitive shares: lift the inputs, apply."""
    def rule(xs, batched, size, **attrs):
        return REGISTRY[name](*[lift(x, b, size) for x, b in zip(xs, batched)], **attrs)
    return rule


def _rule(kind):
    """Shape/dtype rule: equal shapes; ``kind`` says which dtypes are accepted and given."""
    def rule(*xs, **attrs):
        values = xs[1:] if kind == "where" else xs
        for i, x in enumerate(xs[1:], 1):
            check(x.shape == xs[0].shape,
                  f"input {i} has shape {x.shape} but input 0 has shape {xs[0].shape} "
                  "(elementwise inputs must have equal shapes; broadcast explicitly)")
        for x in values[1:]:
            check(x.dtype == values[0].dtype,
                  f"dtypes differ: {values[0].dtype} and {x.dtype}")
        dtype = values[0].dtype
        if kind == "where":
            check(xs[0].dtype == np.bool_, f"condition must be bool, got {xs[0].dtype}")
        if kind == "float":
            check(dtype.kind == "f", f"expected a floating dtype, got {dtype}")
        if kind == "number":
            check(dtype.kind in "fiu", f"expected a numeric dtype, got {dtype}")
        if kind == "compare":
            return xs[0].shape, np.dtype(np.bool_)
        return xs[0].shape, dtype
    return rule


def elementwise(name, arity, scalar, numpy, kind="float", partial=None, fold=None,
                loop_scalar=None, moves=False, same_as_input=False, symbol=None):
    """Declare an elementwise primitive. ``partial``: one rule per input (None where no
    derivative flows), ``rule(v, out, *inputs) -> d out / d input * v``: the Jacobian is
    diagonal, so the same rule is the VJP (v a cotangent) and the JVP (v a tangent)."""
    # the numba kernel computes what the compiled loops compute (``loop_scalar``), so that a
    # loop's first, uncompiled runs and its compiled ones give the same bits
    return primitive(name=name, arity=arity, scalar=scalar, numpy=numpy,
                     numba=elementwise_kernel(name, arity, loop_scalar or scalar, kind),
                     shape_rule=_rule(kind),
                     vjp=partial, jvp=partial, fold=fold, batch=batch_elementwise(name),
                     loop_scalar=loop_scalar, moves=moves, same_as_input=same_as_input,
                     symbol=symbol)


def _as(node, like):
    """A bool mask as a float node of ``like``'s dtype."""
    return cast(node, dtype=like.dtype)


def _fold_add(x, y):
    from .shape import merge_unslices, unslice
    if x.shape != y.shape:
        return None
    if is_fill(y, 0):
        return x
    if is_fill(x, 0):
        return y
    merged = merge_unslices(x, y)
    if merged is not None:
        return merged
    # (a + u1) + u2 -> a + (u1 + u2): the blocks are disjoint, so the sums are exact
    for s, u in ((x, y), (y, x)):
        if s.op is add and s.engine and u.op is unslice:
            for k in (0, 1):
                m = merge_unslices(s.inputs[k], u)
                if m is not None:
                    return add(s.inputs[1 - k], m)
    return None


def _fold_sub(x, y):
    if x.shape == y.shape and is_fill(y, 0):
        return x
    if x.shape == y.shape and is_fill(x, 0):
        return neg(y)
    return None


def _fold_mul(x, y):
    if x.shape != y.shape or x.dtype != y.dtype:
        return None
    for a, b in ((x, y), (y, x)):
        if is_fill(a, 1):
            return b
        if is_fill(a, 0):
            return a
    if fill_value(x) is not None and fill_value(y) is not None:
        return full_like(x, fill_value(x) * fill_value(y))
    return None


def _fold_neg(x):
    if x.op is neg and x.engine:  # (a user's -x stays a point of its own)
        return x.inputs[0]
    if fill_value(x) is not None:
        return full_like(x, -fill_value(x))
    return None


def _fold_div(x, y):
    return x if x.shape == y.shape and is_fill(y, 1) else None


add = elementwise(
    "add", 2, "x + y", np.add, kind="number",
    partial=(lambda v, out, x, y: v, lambda v, out, x, y: v), fold=_fold_add, symbol="+")

sub = elementwise(
    "sub", 2, "x - y", np.subtract, kind="number",
    partial=(lambda v, out, x, y: v, lambda v, out, x, y: neg(v)), fold=_fold_sub, symbol="−")

mul = elementwise(
    "mul", 2, "x * y", np.multiply, kind="number",
    partial=(lambda v, out, x, y: mul(v, y), lambda v, out, x, y: mul(v, x)), fold=_fold_mul, symbol="×")

div = elementwise(
    "div", 2, "x / y", np.divide,
    partial=(lambda v, out, x, y: div(v, y), lambda v, out, x, y: neg(div(mul(v, out), y))),
    fold=_fold_div, symbol="÷")

neg = elementwise(
    "neg", 1, "-x", np.negative, kind="number",
    partial=(lambda v, out, x: neg(v),), fold=_fold_neg, symbol="−x")


def _dpow_dx(x, y):
    return mul(y, pow(x, sub(y, full_like(y, 1))))


def _dpow_dy(out, x):
    # NOTE: where(x > 0, log x, 0): the derivative in the exponent is 0 where out == 0
    # (x == 0), matching PyTorch and JAX instead of giving 0 * -inf = nan.
    safe = where(greater(x, full_like(x, 0)), log(where(greater(x, full_like(x, 0)), x,
                                                          full_like(x, 1))), full_like(x, 0))
    return mul(out, safe)


def _pow_np(x, y):
    # x ** 0.5 is sqrt(x) at the IEEE extremes too (-inf -> nan, -0.0 -> -0.0), as NumPy
    # gives for a scalar exponent and PyTorch always; np.power with an array exponent does not
    out = np.power(x, y)
    half = y == 0.5
    if np.any(half):
        out = np.where(half, np.sqrt(x), out).astype(out.dtype, copy=False)
    return out


pow = elementwise(
    "pow", 2, "math.sqrt(x) if y == 0.5 else x ** y", _pow_np,
    partial=(lambda v, out, x, y: mul(v, _dpow_dx(x, y)),
             lambda v, out, x, y: mul(v, _dpow_dy(out, x))), symbol="xʸ")

exp = elementwise(
    "exp", 1, "math.exp(x)", np.exp, loop_scalar="fast_exp(x)",
    partial=(lambda v, out, x: mul(v, out),))

log = elementwise(
    "log", 1, "math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)", np.log,
    partial=(lambda v, out, x: div(v, x),))

sqrt = elementwise(
    "sqrt", 1, "math.sqrt(x) if x >= 0 else math.nan", np.sqrt,
    partial=(lambda v, out, x: div(v, add(out, out)),))


def _one_minus_sq(out):
    return sub(full_like(out, 1), mul(out, out))


tanh = elementwise(
    "tanh", 1, "math.tanh(x)", np.tanh,
    # through a vectorizable exp: ~10x cheaper than libm's tanh; saturates at exactly +-1
    loop_scalar="fast_tanh(x)",
    partial=(lambda v, out, x: mul(v, _one_minus_sq(out)),))


def _sigmoid_np(x):
    # never exp of a large positive number: no overflow warnings for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _dsigmoid(out):
    return mul(out, sub(full_like(out, 1), out))


sigmoid = elementwise(
    "sigmoid", 1,
    "1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))", _sigmoid_np,
    loop_scalar="fast_sigmoid(x)",
    partial=(lambda v, out, x: mul(v, _dsigmoid(out)),), symbol="σ")


def _positive(x):
    return _as(greater(x, full_like(x, 0)), x)


relu = elementwise(
    "relu", 1, "x if x > 0 or x != x else 0.0", lambda x: np.maximum(x, 0).astype(x.dtype),
    kind="number",
    partial=(lambda v, out, x: mul(v, _positive(x)),))

sign = elementwise(
    "sign", 1, "1 if x > 0 else (-1 if x < 0 else (x if x != x else 0))", np.sign, kind="number")

abs = elementwise(
    "abs", 1, "abs(x)", np.abs, kind="number",
    partial=(lambda v, out, x: mul(v, sign(x)),))


def _share(a, b, out):
    """The part of maximum's / minimum's derivative that goes to ``a``: 1 where ``a`` alone
    is the result, 0.5 on a tie (PyTorch and JAX split a tie equally), else 0."""
    half, one, zero = full_like(out, 0.5), full_like(out, 1), full_like(out, 0)
    return where(equal(a, out), where(equal(b, out), half, one), zero)


def _extremum(name, scalar, numpy):
    return elementwise(
        name, 2, scalar, numpy, kind="number",
        partial=(lambda v, out, x, y: mul(v, _share(x, y, out)),
                 lambda v, out, x, y: mul(v, _share(y, x, out))))


maximum = _extremum("maximum", "x if x >= y or x != x else y", np.maximum)
minimum = _extremum("minimum", "x if x <= y or x != x else y", np.minimum)


where = elementwise(
    "where", 3, "y if x else z", np.where, kind="where",
    partial=(None, lambda v, out, c, a, b: where(c, v, full_like(v, 0)),
             lambda v, out, c, a, b: where(c, full_like(v, 0), v)))

less = elementwise("less", 2, "x < y", np.less, kind="compare", symbol="<")
less_equal = elementwise("less_equal", 2, "x <= y", np.less_equal, kind="compare", symbol="≤")
greater = elementwise("greater", 2, "x > y", np.greater, kind="compare", symbol=">")
greater_equal = elementwise("greater_equal", 2, "x >= y", np.greater_equal, kind="compare", symbol="≥")
equal = elementwise("equal", 2, "x == y", np.equal, kind="compare", symbol="==")
not_equal = elementwise("not_equal", 2, "x != y", np.not_equal, kind="compare")


def _cast_back(g, out, x, dtype):
    return cast(g, dtype=x.dtype) if x.dtype.kind == "f" else None


def _fold_cast(x, dtype):
    return x if np.dtype(dtype) == x.dtype else None


def _cast_rule(x, dtype):
    if np.dtype(dtype).kind not in "fiub":
        raise GraphError(f"cannot cast to {dtype}")
    return x.shape, np.dtype(dtype)


cast = primitive(
    name="cast", arity=1, scalar="x", shape_rule=_cast_rule,
    numpy=lambda x, dtype: x.astype(dtype),
    numba=elementwise_kernel("cast", 1, "x", "cast"),
    vjp=(_cast_back,),
    jvp=(lambda t, out, x, dtype: cast(t, dtype=dtype) if np.dtype(dtype).kind == "f" else None,),
    fold=_fold_cast, batch=batch_elementwise("cast"), moves=True)

stop_gradient = elementwise(
    "stop_gradient", 1, "x", lambda x: x, kind="number", moves=True, symbol="stop ∇")

# A Tensor the user holds is its own point in the graph, even where a fold made the result
# of an operation its input (``x.reshape(x.shape)``, ``x * 1``): ``tr`` then wraps that input
# in ``identity``, so a gradient with respect to the result is the gradient with respect to
# it alone (PyTorch's retain_grad semantics). Execution plans treat it as the same value as
# its input (``graph.simplify.cse``), so it costs nothing.
identity = elementwise(
    "identity", 1, "x", lambda x: x, kind="any", moves=True, same_as_input=True,
    partial=(lambda v, out, x: v,))
