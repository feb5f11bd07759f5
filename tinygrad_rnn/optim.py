"""First-order optimizers on parameter Tensors, with PyTorch's update rules.

``SGD`` (momentum, Nesterov, L2 weight decay) and ``Adam`` (bias-corrected, L2 weight decay)
follow ``torch.optim.SGD`` / ``torch.optim.Adam`` step for step; ``clip_grad_norm`` follows
``torch.nn.utils.clip_grad_norm_``. Gradients are NumPy arrays (what a compiled
``tr.function`` returns), and each step writes the new values with ``p.assign``:

>>> w = tr.parameter(np.zeros(3), name="w")
>>> (gw,) = tr.grad(((w - 1.0) ** 2).sum(), [w]); f = tr.function([], [gw])
>>> opt = tr.optim.Adam({"w": w}, lr=0.1)
>>> for _ in range(100): opt.step({"w": f()[0]})
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .graph.node import rectangular
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "clip_grad_norm"]


def _number(value, what: str, caller: str) -> float:
    # plain Python floats keep float32 arithmetic in float32 (a NumPy float64 scalar would
    # promote it under NumPy 2's rules)
    if isinstance(value, bool):
        raise ValueError(f"{caller}: {what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}: {what} must be a number, got {value!r}") from None
    if math.isnan(number):
        raise ValueError(f"{caller}: {what} must be a number, got nan")
    return number


def _describe(key, p: Tensor | None = None) -> str:
    if isinstance(key, str):
        return f"parameter '{key}'"
    named = f" ('{p.name}')" if p is not None and p.name else ""
    return f"parameter {key}{named}"


def _collect_params(params, caller: str):
    """``params`` (dict name -> parameter, or list of parameters) as (keys, tensors, is_dict);
    keys are the names for a dict and the positions 0..n-1 for a list."""
    if isinstance(params, Tensor):
        raise ValueError(f"{caller}: params must be a dict or list of parameter Tensors, got a "
                         f"single Tensor; wrap it in a list: [{params.name or 'w'}]")
    if isinstance(params, Mapping):
        keys, tensors, is_dict = list(params.keys()), list(params.values()), True
        for k in keys:
            if not isinstance(k, str):
                raise ValueError(f"{caller}: parameter names must be strings, got {k!r}")
    elif isinstance(params, (str, bytes, np.ndarray)) or not hasattr(params, "__iter__"):
        raise ValueError(f"{caller}: params must be a dict or list of parameter Tensors, got "
                         f"{type(params).__name__}")
    else:
        tensors = list(params)
        keys, is_dict = list(range(len(tensors))), False
    if not tensors:
        raise ValueError(f"{caller}: params is empty; expected at least one parameter Tensor")
    seen = {}
    for k, p in zip(keys, tensors):
        if not isinstance(p, Tensor):
            raise ValueError(f"{caller}: {_describe(k)} must be a parameter Tensor "
                             f"(tr.parameter), got {type(p).__name__}")
        if p.op != "parameter":
            raise ValueError(f"{caller}: {_describe(k, p)} must be a parameter Tensor "
                             f"(tr.parameter), got a Tensor made by '{p.op}'")
        if id(p.node) in seen:
            # the same storage would be updated twice per step
            raise ValueError(f"{caller}: {_describe(k, p)} is the same parameter as "
                             f"{_describe(seen[id(p.node)])}; list each parameter once")
        seen[id(p.node)] = k
    return keys, tensors, is_dict


def _aligned(values, keys, is_dict: bool, caller: str, what: str) -> list:
    """The entries of ``values`` (a dict with exactly ``keys``, or a list of len(keys)) in
    the order of ``keys``."""
    if is_dict:
        if not isinstance(values, Mapping):
            raise ValueError(f"{caller}: params is a dict, so {what} must be a dict with the same "
                             f"keys {keys}, got {type(values).__name__}")
        known = set(keys)
        missing = [k for k in keys if k not in values]
        extra = [k for k in values if k not in known]
        if missing or extra:
            raise ValueError(f"{caller}: {what} must have the keys of params {keys}; "
                             f"missing {missing}, unexpected {extra}")
        return [values[k] for k in keys]
    if isinstance(values, Mapping) or not isinstance(values, (list, tuple)):
        raise ValueError(f"{caller}: params is a list, so {what} must be a list of {len(keys)} "
                         f"arrays in the same order, got {type(values).__name__}")
    if len(values) != len(keys):
        raise ValueError(f"{caller}: {what} has {len(values)} entries, expected {len(keys)} "
                         f"(one per parameter)")
    return list(values)


def _as_array(value, p: Tensor, key, caller: str, what: str) -> np.ndarray:
    """``value`` as a fresh array of p's shape and dtype."""
    if isinstance(value, Tensor):
        raise ValueError(f"{caller}: {what} for {_describe(key, p)} is a symbolic Tensor; "
                         "pass its value (run it with tr.function)")
    array = rectangular(value, lambda got: ValueError(
        f"{caller}: {what} for {_describe(key, p)} must be an array, got {got}"))
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{caller}: {what} for {_describe(key, p)} must be a real numeric "
                         f"array, got dtype {array.dtype}")
    if array.shape != p.shape:
        raise ValueError(f"{caller}: {what} for {_describe(key, p)} has shape {array.shape}, "
                         f"expected {p.shape} (the parameter's shape)")
    # a copy, so later changes to the caller's array cannot reach the optimizer's state
    return np.array(array, dtype=p.dtype)


class Optimizer:
    """Base class: holds the parameters (dict or list, as given), the step count and one set
    of per-parameter buffers for each name in ``_buffer_names``.

    Subclasses define ``_update(value, grad, buffers, t) -> (new_value, new_buffers)`` on
    arrays of one parameter's shape and dtype, t being the number of the step (1, 2, ...).
    """

    _buffer_names: tuple[str, ...] = ()
    _buffers_start_empty = False  # True: buffers are None until the first step

    def __init__(self, params, lr):
        self._keys, self._params, self._is_dict = _collect_params(params, type(self).__name__)
        self.lr = lr
        self._step = 0
        self._buffers = {name: [None] * len(self._params) for name in self._buffer_names}

    @property
    def lr(self) -> float:
        """The learning rate; assignable (for schedules), must stay > 0."""
        return self._lr

    @lr.setter
    def lr(self, value):
        lr = _number(value, "lr", type(self).__name__)
        if not (0 < lr < math.inf):
            raise ValueError(f"{type(self).__name__}: lr must be a finite number > 0, got {value!r}")
        self._lr = lr

    @property
    def steps(self) -> int:
        """How many steps have been taken (restored by ``load_state_dict``)."""
        return self._step

    @property
    def params(self):
        """The parameters, in the container they were given in (a new dict or list)."""
        return dict(zip(self._keys, self._params)) if self._is_dict else list(self._params)

    def step(self, grads) -> None:
        """One update of every parameter.

        grads: a dict with the keys of params (if params is a dict) or a list in the order of
        params; each entry an array of that parameter's shape. Nothing is changed if any
        entry is wrong.
        """
        caller = f"{type(self).__name__}.step"
        entries = _aligned(grads, self._keys, self._is_dict, caller, "grads")
        gs = [_as_array(g, p, k, caller, "gradient")
              for k, p, g in zip(self._keys, self._params, entries)]
        results = []
        for i, (p, g) in enumerate(zip(self._params, gs)):
            buffers = {name: self._buffers[name][i] for name in self._buffer_names}
            results.append(self._update(np.asarray(p.value), g, buffers, self._step + 1))
        # commit only once every update is computed, so a failure leaves all state unchanged
        self._step += 1
        for i, (p, (value, buffers)) in enumerate(zip(self._params, results)):
            p.assign(value)
            for name in self._buffer_names:
                self._buffers[name][i] = buffers[name]

    def _update(self, value, grad, buffers, t):
        raise NotImplementedError

    def _pack(self, arrays):
        if any(a is None for a in arrays):
            return None
        copies = [np.array(a, copy=True) for a in arrays]
        return dict(zip(self._keys, copies)) if self._is_dict else copies

    def state_dict(self) -> dict:
        """``{"optimizer": class name, "step": int, <buffer name>: buffers}``, where buffers
        is a dict or list shaped like params holding NumPy copies (or None before they exist).
        Hyperparameters are not included: they come from the constructor."""
        d = {"optimizer": type(self).__name__, "step": self._step}
        for name in self._buffer_names:
            d[name] = self._pack(self._buffers[name])
        return d

    def load_state_dict(self, d) -> None:
        """Restore the step count and buffers saved by ``state_dict`` (arrays are copied)."""
        caller = f"{type(self).__name__}.load_state_dict"
        if not isinstance(d, Mapping):
            raise ValueError(f"{caller}: expected a dict from state_dict(), got {type(d).__name__}")
        if d.get("optimizer") != type(self).__name__:
            raise ValueError(f"{caller}: this state is from {d.get('optimizer')!r}, expected "
                             f"{type(self).__name__!r}")
        expected = ["optimizer", "step", *self._buffer_names]
        missing, extra = [k for k in expected if k not in d], [k for k in d if k not in expected]
        if missing or extra:
            raise ValueError(f"{caller}: expected keys {expected}; missing {missing}, unexpected {extra}")
        step = d["step"]
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"{caller}: step must be an int >= 0, got {step!r}")
        buffers = {}
        for name in self._buffer_names:
            if d[name] is None:
                if not self._buffers_start_empty:
                    raise ValueError(f"{caller}: '{name}' must hold arrays, got None")
                buffers[name] = [None] * len(self._params)
                continue
            entries = _aligned(d[name], self._keys, self._is_dict, caller, f"'{name}'")
            buffers[name] = [_as_array(b, p, k, caller, f"'{name}'")
                             for k, p, b in zip(self._keys, self._params, entries)]
        self._step = int(step)
        self._buffers = buffers


class SGD(Optimizer):
    """Stochastic gradient descent as ``torch.optim.SGD`` (dampening 0, not maximize).

    With g the gradient (+ weight_decay * p): the momentum buffer b is g on the first step
    and momentum * b + g after; the step is p -= lr * (g + momentum * b if nesterov else b),
    or p -= lr * g without momentum.

    params: dict name -> parameter Tensor, or list of them. State: "momentum_buffer".
    """

    _buffer_names = ("momentum_buffer",)
    _buffers_start_empty = True

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        name = type(self).__name__
        self.momentum = _number(momentum, "momentum", name)
        self.weight_decay = _number(weight_decay, "weight_decay", name)
        if self.momentum < 0:
            raise ValueError(f"{name}: momentum must be >= 0, got {momentum!r}")
        if self.weight_decay < 0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {weight_decay!r}")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"{name}: nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError(f"{name}: nesterov=True needs momentum > 0, got momentum={momentum!r}")
        self.nesterov = bool(nesterov)
        super().__init__(params, lr)

    def _update(self, value, grad, buffers, t):
        g = grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * value
        buf = buffers["momentum_buffer"]
        if self.momentum != 0:
            # PyTorch starts the buffer at the first gradient, not at zero
            buf = g.copy() if buf is None else self.momentum * buf + g
            g = g + self.momentum * buf if self.nesterov else buf
        return value - self.lr * g, {"momentum_buffer": buf}


class Adam(Optimizer):
    """Adam as ``torch.optim.Adam`` (bias-corrected, L2 weight decay, not amsgrad).

    With g the gradient (+ weight_decay * p) and t the step: m = b1 m + (1 - b1) g,
    v = b2 v + (1 - b2) g^2, p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    params: dict name -> parameter Tensor, or list of them. State: "exp_avg" (m) and
    "exp_avg_sq" (v), zeros at the start.
    """

    _buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_number(beta1, "betas[0]", name), _number(beta2, "betas[1]", name))
        for i, b in enumerate(self.betas):
            if not 0 <= b < 1:
                raise ValueError(f"{name}: betas[{i}] must be in [0, 1), got {betas[i]!r}")
        self.eps = _number(eps, "eps", name)
        if not (0 < self.eps < math.inf):
            raise ValueError(f"{name}: eps must be a finite number > 0, got {eps!r}")
        self.weight_decay = _number(weight_decay, "weight_decay", name)
        if self.weight_decay < 0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {weight_decay!r}")
        super().__init__(params, lr)
        for buffers in self._buffers.values():
            buffers[:] = [np.zeros(p.shape, p.dtype) for p in self._params]

    def _update(self, value, grad, buffers, t):
        beta1, beta2 = self.betas
        g = grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * value
        m = beta1 * buffers["exp_avg"] + (1 - beta1) * g
        v = beta2 * buffers["exp_avg_sq"] + (1 - beta2) * (g * g)
        # lr * m_hat / (sqrt(v_hat) + eps) with the bias corrections folded into the step
        # size and the denominator, as torch computes it, so that rounding follows torch's
        step_size = self.lr / (1 - beta1 ** t)
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps
        return value - step_size * (m / denom), {"exp_avg": m, "exp_avg_sq": v}


def clip_grad_norm(grads, max_norm):
    """Scale gradients so that their total L2 norm is at most ``max_norm``, as
    ``torch.nn.utils.clip_grad_norm_`` does.

    grads: a dict name -> array or a list/tuple of arrays (any shapes). The total norm is the
    L2 norm of all entries together; every array is multiplied by
    min(1, max_norm / (total_norm + 1e-6)) (so, as in torch, a total norm within 1e-6 below
    max_norm is scaled very slightly too, and a nan norm makes every gradient nan).
    Returns (new arrays in the same container type, total_norm as a float); the inputs are
    never modified.
    """
    max_norm = _number(max_norm, "max_norm", "clip_grad_norm")
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm!r}")
    if isinstance(grads, Mapping):
        keys, arrays = list(grads.keys()), list(grads.values())
    elif isinstance(grads, (list, tuple)):
        keys, arrays = None, list(grads)
    else:
        raise ValueError(f"clip_grad_norm: grads must be a dict or list of arrays, got "
                         f"{type(grads).__name__}")
    out = []
    for i, g in enumerate(arrays):
        where = f"'{keys[i]}'" if keys is not None else str(i)
        if isinstance(g, Tensor):
            raise ValueError(f"clip_grad_norm: grads[{where}] is a symbolic Tensor; pass its "
                             "value (run it with tr.function)")
        a = np.asarray(g)
        if a.dtype.kind not in "iuf":
            raise ValueError(f"clip_grad_norm: grads[{where}] must be a real numeric array, got "
                             f"dtype {a.dtype}")
        out.append(a if a.dtype.kind == "f" else a.astype(np.float64))
    # per-array norms, then the norm of those: the order torch sums in
    norms = [np.linalg.norm(a.ravel().astype(np.float64)) for a in out]
    total = float(np.linalg.norm(np.array(norms, dtype=np.float64))) if norms else 0.0
    coef = float(np.minimum(max_norm / (total + 1e-6), 1.0))
    clipped = [a * coef for a in out]  # new arrays; a Python float keeps float32 in float32
    if keys is not None:
        return dict(zip(keys, clipped)), total
    return (tuple(clipped) if isinstance(grads, tuple) else clipped), total
