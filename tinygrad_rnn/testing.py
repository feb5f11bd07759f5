"""Gradient checking: the derivatives the engine builds against central finite differences.

``check_grads(build, args)`` checks reverse mode (<g, J u> from a VJP) and forward mode
(J u from a JVP) along random directions, then does the same for the derivative graphs
themselves up to ``order``, as HIPS autograd's ``check_grads`` does. ``check_cell(cell)``
checks a recurrent cell's gradient by BPTT against RTRL, the numpy backend and finite
differences; ``torch_parity(cell, torch_step)`` against the same cell written in PyTorch.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .functions import dot, tensor
from .tensor import Tensor, placeholder
from .transforms import function, jvp, vjp


class GradientCheckError(AssertionError):
    """A derivative disagreed with finite differences."""


def numerical_jvp(f, args, directions, eps=1e-6):
    """Central difference (f(x + eps u) - f(x - eps u)) / 2 eps for a function of arrays."""
    plus = f(*[a + eps * u for a, u in zip(args, directions)])
    minus = f(*[a - eps * u for a, u in zip(args, directions)])
    return (plus - minus) / (2 * eps)


def _close(a, b, rtol, atol, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    bad = np.abs(a - b) > atol + rtol * scale
    if np.any(bad):
        raise GradientCheckError(f"{what}: autodiff {a.ravel()[:6]} vs finite differences "
                                 f"{b.ravel()[:6]} (max abs error {np.max(np.abs(a - b)):.3g})")


def check_grads(build: Callable[..., Tensor], args: Sequence[np.ndarray], order: int = 2,
                modes: Sequence[str] = ("rev", "fwd"), eps: float = 1e-6, rtol: float = 1e-6,
                atol: float = 1e-9, backend: str = "numpy", seed: int = 0) -> None:
    """Check the derivatives of ``build(*tensors) -> Tensor`` at float64 ``args``.

    Raises GradientCheckError on the first disagreement. ``order=2`` also checks the
    derivatives of the derivative graphs (so Hessian-vector products are right).

    >>> check_grads(lambda x, w: tr.tanh(x @ w), [np.ones((2, 3)), np.ones((3, 4))])
    """
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, np.float64) for a in args]
    xs = [placeholder(a.shape, np.float64) for a in args]
    out = build(*xs)
    f_graph = function(xs, [out], backend)

    def f(*vals):
        return f_graph(*vals)[0]

    u = [rng.standard_normal(a.shape) for a in args]
    fd = numerical_jvp(f, args, u, eps)
    next_builds = []
    if "rev" in modes:
        g = rng.standard_normal(out.shape)
        cots = vjp([out], xs, [g])
        values = function(xs, cots, backend)(*args)
        _close(sum(np.sum(v * d) for v, d in zip(values, u)), np.sum(g * fd), rtol, atol,
               f"reverse mode (order {order})")

        w = [rng.standard_normal(a.shape) for a in args]

        def rev(*ys):
            cs = vjp([build(*ys)], list(ys), [tensor(g)])
            return sum(dot(c, wi) for c, wi in zip(cs, w))  # a scalar: <w, g^T J>
        next_builds.append(rev)
    if "fwd" in modes:
        (tangent,) = jvp([out], xs, u)
        value = function(xs, [tangent], backend)(*args)[0]
        _close(value, fd, rtol, atol, f"forward mode (order {order})")

        def fwd(*ys):
            return jvp([build(*ys)], list(ys), u)[0]
        next_builds.append(fwd)
    if order > 1:
        for b in next_builds:
            check_grads(b, args, order - 1, modes, eps, rtol, atol, backend, seed + 1)


def _cell_problem(cell, steps, batch, seed):
    if cell.dtype != np.float64:
        raise ValueError(f"check_cell: gradient checks need a float64 cell, got {cell.dtype}")
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch, cell.input_size))
    w = rng.standard_normal((steps, batch, cell.output_size))
    return xs, w, lambda t, y: (y * tensor(w[t])).sum()  # L = sum_t <w_t, y_t>


def check_cell(cell, steps: int = 4, batch: int = 2, seed: int = 0, eps: float = 1e-6,
               rtol: float = 1e-6, atol: float = 1e-9) -> dict:
    """Check a recurrent cell's gradient four ways on random inputs (steps, batch, I) and the
    loss L = sum_t <w_t, y_t>: BPTT (reverse mode on the unrolled graph) on the numba and the
    numpy backend, RTRL (forward in time), and central differences of L along a random
    direction in parameter space. Raises GradientCheckError on a disagreement; returns
    {"bptt_vs_rtrl", "numba_vs_numpy", "bptt_vs_finite_differences"}: the largest
    differences seen.

    >>> tr.testing.check_cell(MyCell(3, 4, seed=0))
    """
    from .learn import bptt, rtrl

    xs, _, loss_fn = _cell_problem(cell, steps, batch, seed)
    total, g = bptt(cell, xs, None, loss_fn)
    _, g_numpy = bptt(cell, xs, None, loss_fn, backend="numpy")
    _, g_rtrl = rtrl(cell, xs, None, loss_fn)
    report = {"bptt_vs_rtrl": 0.0, "numba_vs_numpy": 0.0}
    for name in g:
        for key, other, what in (("bptt_vs_rtrl", g_rtrl, "RTRL"),
                                 ("numba_vs_numpy", g_numpy, "the numpy backend")):
            a, b = g[name], other[name]
            report[key] = max(report[key], float(np.max(np.abs(a - b), initial=0.0)))
            if not np.allclose(a, b, rtol=1e-9, atol=1e-12):
                raise GradientCheckError(f"check_cell: dL/d{name} by BPTT differs from {what} by "
                                         f"{np.max(np.abs(a - b)):.3g}")
    params = cell.parameters()
    rng = np.random.default_rng(seed + 1)
    direction = {k: rng.standard_normal(p.shape) for k, p in params.items()}
    saved = {k: np.array(p.value) for k, p in params.items()}

    def loss_at(sign):
        for k, p in params.items():
            p.assign(saved[k] + sign * eps * direction[k])
        return bptt(cell, xs, None, loss_fn, backend="numpy")[0]
    try:
        fd = (loss_at(1) - loss_at(-1)) / (2 * eps)
    finally:
        for k, p in params.items():
            p.assign(saved[k])
    exact = sum(float(np.sum(g[k] * direction[k])) for k in params)
    report["bptt_vs_finite_differences"] = abs(exact - fd)
    _close(exact, fd, rtol, atol, "check_cell: <dL/dtheta, u>")
    return report


def torch_parity(cell, torch_step, steps: int = 4, batch: int = 2, seed: int = 0,
                 rtol: float = 1e-10, atol: float = 1e-12) -> dict:
    """Compare a cell with the same cell written in PyTorch (an optional dependency).

    torch_step(x_t, state, params) -> (y_t, new_state): x_t (B, I) and the state tuple as
    float64 torch tensors, params a dict name -> torch tensor holding the cell's values.
    Both run on the same random inputs from zero states; the outputs y_t and the gradients
    of L = sum_t <w_t, y_t> must agree. Raises AssertionError if not; returns
    {"outputs": max difference, "gradients": max difference}.
    """
    import torch

    from .recurrence import unroll
    from .transforms import grad

    xs, w, loss_fn = _cell_problem(cell, steps, batch, seed)
    ys, _ = unroll(cell, xs)
    params = cell.parameters()
    total = sum((loss_fn(t, y) for t, y in enumerate(ys[1:], 1)), loss_fn(0, ys[0]))
    values = function([], list(ys) + grad(total, list(params.values())))()
    ours_y, ours_g = values[:steps], dict(zip(params, values[steps:]))
    tp = {k: torch.tensor(np.array(p.value), dtype=torch.float64, requires_grad=True)
          for k, p in params.items()}
    state = tuple(torch.zeros(batch, n, dtype=torch.float64) for n in cell.state_sizes)
    loss, theirs_y = 0, []
    for t in range(steps):
        y, state = torch_step(torch.tensor(xs[t]), state, tp)
        theirs_y.append(y.detach().numpy())
        loss = loss + (y * torch.tensor(w[t])).sum()
    loss.backward()
    report = {"outputs": max(float(np.max(np.abs(a - b))) for a, b in zip(ours_y, theirs_y)),
              "gradients": max(float(np.max(np.abs(ours_g[k] - tp[k].grad.numpy())))
                               for k in params)}
    for t, (a, b) in enumerate(zip(ours_y, theirs_y)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"torch_parity: y_{t}")
    for k in params:
        np.testing.assert_allclose(ours_g[k], tp[k].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"torch_parity: dL/d{k}")
    return report
