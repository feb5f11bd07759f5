"""Hochreiter & Schmidhuber's error-flow analysis (seed 003), numerically, for a tiny RNN.

In a simple RNN, net(t) = W x(t) + U f(net(t-1)) + b. The error signal at unit v, q steps
back, scales with the one at unit u as

    d theta_v(t-q) / d theta_u(t) = d net_u(t) / d net_v(t-q)
        = sum over l_1 .. l_{q-1} of  prod_{m=1..q}  f'(net_{l_m}(t-m)) w_{l_{m-1} l_m}

with l_0 = u, l_q = v and w_{ab} the weight from unit b to unit a (U[a, b]): a sum of n^(q-1)
path products. When the factors |f' w| are below 1 the products vanish exponentially in q;
above 1 they blow up. ``error_flow_paths`` lists every path with its factors and product
and checks the total against the Jacobian the engine computes by reverse mode.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..graph.node import fail
from ..graph.traverse import toposort
from ..learn.common import check_sequence, check_state
from ..nn.cells import RNNCell
from ..tensor import Tensor, tensor
from ..transforms import function, grad


@dataclass
class ErrorFlowPaths:
    """paths: list of (units (l_0 .. l_q), factors (q,), product); total: their sum;
    autodiff: d net_u(t) / d net_v(t-q) by reverse mode (equal to total to rounding)."""
    q: int
    t: int
    u: int
    v: int
    paths: list
    total: float
    autodiff: float

    def __str__(self) -> str:
        n_paths = len(self.paths)
        out = [f"error flow from unit u={self.u} at t={self.t} back to unit v={self.v} at "
               f"t-q={self.t - self.q} (q={self.q}): {n_paths} paths",
               "each factor is f'(net_l(t-m)) * w[l_(m-1) <- l_m]"]
        shown = sorted(self.paths, key=lambda p: -abs(p[2]))
        for units, factors, product in shown[:20]:
            chain = " <- ".join(str(u) for u in units)
            fs = " * ".join(f"{f:+.3f}" for f in factors)
            out.append(f"  path {chain}: {fs} = {product:+.4e}")
        if n_paths > 20:
            rest = sum(p[2] for p in shown[20:])
            out.append(f"  ... {n_paths - 20} smaller paths, together {rest:+.4e}")
        out += [f"sum over paths      = {self.total:+.10e}",
                f"reverse-mode autodiff = {self.autodiff:+.10e}"]
        return "\n".join(out)


def error_flow_paths(cell, xs, q: int, u: int = 0, v: int = 0, t: int | None = None,
                     state0=None, max_paths: int = 100_000) -> ErrorFlowPaths:
    """Every path's product of f'(net) w from unit u at step t (default T-1) back to unit v
    at step t-q, for a ``tr.nn.RNNCell`` run on xs (T, 1, I) (batch element 0 is used)."""
    if not isinstance(cell, RNNCell):
        raise fail(f"error_flow_paths: the path formula is for a simple RNN (tr.nn.RNNCell), "
                   f"got {type(cell).__name__}")
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    n = cell.hidden_size
    t = T - 1 if t is None else t
    if not (isinstance(q, int) and 1 <= q <= t):
        raise fail(f"error_flow_paths: need 1 <= q <= t = {t}, got q={q!r}")
    if not (0 <= u < n and 0 <= v < n):
        raise fail(f"error_flow_paths: units u, v must be in 0..{n - 1}, got u={u}, v={v}")
    if n ** (q - 1) > max_paths:
        raise fail(f"error_flow_paths: {n}^{q - 1} paths is more than max_paths={max_paths}; "
                   "use fewer units or a shorter lag")
    state = check_state(cell, state0, B)
    nets = []
    for k in range(t + 1):
        _, state = cell(tensor(xs[k]), state)
        act = state[0].node  # f(net): its input is net
        nets.append(Tensor(act.inputs[0]) if act.inputs else Tensor(act))
    order = toposort([nets[t].node])
    if not any(n_ is nets[t - q].node for n_ in order):
        raise fail("error_flow_paths: could not find the net inputs in the unrolled graph")
    (jac,) = grad(nets[t][0, u], [nets[t - q]])
    values = function([], [jac] + nets[t - q:t + 1])()
    autodiff = float(values[0][0, v])
    net = {t - q + k: values[1 + k][0] for k in range(q + 1)}
    if cell.nonlinearity == "tanh":
        fprime = {k: 1 - np.tanh(a) ** 2 for k, a in net.items()}
    else:
        fprime = {k: (a > 0).astype(a.dtype) for k, a in net.items()}
    U = cell.weight_hh.numpy()
    paths = []
    for middle in itertools.product(range(n), repeat=q - 1):
        units = (u,) + middle + (v,)
        factors = [fprime[t - m][units[m]] * U[units[m - 1], units[m]] for m in range(1, q + 1)]
        paths.append((units, tuple(float(f) for f in factors), float(np.prod(factors))))
    return ErrorFlowPaths(q, t, u, v, paths, float(sum(p[2] for p in paths)), autodiff)
