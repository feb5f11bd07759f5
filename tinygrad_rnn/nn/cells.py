"""Recurrent cells as compositions of primitives: ``cell(x_t, state) -> (y_t, new_state)``.

Weights use PyTorch's *Cell layouts and names (weight_ih (G*H, I), weight_hh (G*H, H),
bias_ih, bias_hh; gate order i,f,g,o for LSTM and r,z,n for GRU), so state dicts move
between the two exactly. Variants add parameters under their own names.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..functions import as_tensor
from ..graph.node import calling, fail, from_user, scope, step_call
from ..ops import leaves
from ..tensor import Tensor
from .module import Module


class Cell(Module):
    """A recurrent step with its parameters. Subclasses define ``state_sizes`` and ``step``."""

    state_names: tuple[str, ...] = ("h",)

    def __init__(self, input_size: int, hidden_size: int, dtype=np.float64, seed=None,
                 suffix: str = ""):
        super().__init__(dtype, seed)
        for what, v, low in (("input_size", input_size, 0), ("hidden_size", hidden_size, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise fail(f"{type(self).__name__}: {what} must be an int >= {low}, got {v!r}")
        self.input_size, self.hidden_size, self.suffix = int(input_size), int(hidden_size), suffix

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,) * len(self.state_names)

    @property
    def output_size(self) -> int:
        return self.hidden_size

    @property
    def title(self) -> str:
        """A short description for pictures, e.g. "LSTMCell (no forget gate)"."""
        return type(self).__name__

    def _param(self, name, value):
        return super()._param(name, value, full_name=name + self.suffix)

    def initial_state(self, batch: int) -> tuple[Tensor, ...]:
        """A tuple of zero Tensors, one (batch, size) per state component. They are the
        library's own zeros (the default when no state is given), so products with them fold
        away when a graph is unrolled (f * c_0 at t = 0); zeros a user passes never fold."""
        return tuple(Tensor(leaves.fill(value=0, shape=(batch, n), dtype=self.dtype))
                     for n in self.state_sizes)

    def __call__(self, x_t, state):
        """x_t (B, input_size), state tuple of (B, size) -> (y_t (B, output_size), new state)."""
        with calling(type(self).__name__, user=from_user(1)), step_call():
            return self.step(*self.check(x_t, state))

    def check(self, x_t, state):
        """x_t and state as Tensors, after checking their shapes and dtypes (clear errors)."""
        name = type(self).__name__
        x_t = as_tensor(x_t)
        if x_t.ndim != 2 or x_t.shape[1] != self.input_size:
            raise fail(f"{name}: expected input of shape (batch, {self.input_size}), got {x_t.shape}")
        if x_t.dtype != self.dtype:
            raise fail(f"{name}: expected input dtype {self.dtype}, got {x_t.dtype}")
        if not isinstance(state, (tuple, list)) or len(state) != len(self.state_sizes):
            got = (f"a {type(state).__name__} of {len(state)}" if isinstance(state, (tuple, list))
                   else f"a {type(state).__name__}")
            raise fail(f"{name}: state must be a tuple of {len(self.state_sizes)} tensors "
                       f"({', '.join(self.state_names)}), got {got}")
        state = tuple(as_tensor(s) for s in state)
        for s, n, label in zip(state, self.state_sizes, self.state_names):
            if s.shape != (x_t.shape[0], n) or s.dtype != self.dtype:
                raise fail(f"{name}: state {label} must be ({x_t.shape[0]}, {n}) {self.dtype}, got "
                           f"{s.shape} {s.dtype}")
        return x_t, state

    def step(self, x, state):
        raise NotImplementedError


def _block(t, k, size):
    return t[:, k * size:(k + 1) * size]


class _Gated(Cell):
    """Cells whose pre-activations are x W_ih^T + b_ih + h W_hh^T + b_hh split in G blocks."""

    def _init_weights(self, gates, bias):
        H, bound = self.hidden_size, 1 / np.sqrt(self.hidden_size)
        self.weight_ih = self._param("weight_ih", self._uniform((gates * H, self.input_size), bound))
        self.weight_hh = self._param("weight_hh", self._uniform((gates * H, H), bound))
        self.bias_ih = self._param("bias_ih", self._uniform((gates * H,), bound)) if bias else None
        self.bias_hh = self._param("bias_hh", self._uniform((gates * H,), bound)) if bias else None

    def _affine(self, x, W, b):
        y = x @ W.T
        return y + b if b is not None else y


class RNNCell(_Gated):
    """Elman: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh); y = h'.

    ``init="identity"`` is the IRNN of Le et al. (2015): W_hh = I and zero biases (use with
    ``nonlinearity="relu"``).
    """

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", init=None, bias=True,
                 dtype=np.float64, seed=None, suffix=""):
        super().__init__(input_size, hidden_size, dtype, seed, suffix)
        if nonlinearity not in ("tanh", "relu"):
            raise fail(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if init not in (None, "identity"):
            raise fail(f"RNNCell: init must be None or 'identity', got {init!r}")
        self.nonlinearity, self.init = nonlinearity, init
        self._init_weights(1, bias)
        if init == "identity":
            self.weight_hh.assign(np.eye(hidden_size))
            for b in (self.bias_ih, self.bias_hh):
                if b is not None:
                    b.assign(np.zeros(hidden_size))

    @property
    def title(self):
        return "IRNN (ReLU, identity init)" if self.init == "identity" else f"RNNCell ({self.nonlinearity})"

    def step(self, x, state):
        (h,) = state
        with scope(f"hidden h = {self.nonlinearity}(W x + U h + b)"):
            pre = (self._affine(x, self.weight_ih, self.bias_ih)
                   + self._affine(h, self.weight_hh, self.bias_hh))
            h = F.tanh(pre) if self.nonlinearity == "tanh" else F.relu(pre)
        return h, (h,)


class LSTMCell(_Gated):
    """Long short-term memory; state (h, c).

    Default (forget gate, PyTorch's LSTMCell), gate order i, f, g, o:
        i, f, o = sigmoid(.), g = tanh(.), c' = f*c + i*g, h' = o*tanh(c').
    ``forget_gate=False``: no forget gate: gates i, g, o and the constant error carousel of
    1997, c' = c + i*g (the self-connection has weight 1.0), with today's squashings and full
    gradient. It is not the published 1997 cell (memory blocks, g and h in [-2, 2] and
    [-1, 1], the truncated gradient): that is ``tr.nn.LSTM1997Cell``.
    ``coupled=True``: gates i, g, o with f = 1 - i (forget exactly as much as is written).
    ``peephole=True``: Gers & Schmidhuber (2000): diagonal weights weight_ci, weight_cf read c
    into the input and forget gates, weight_co reads c' into the output gate.
    ``forget_bias``: added to the forget gate's bias at initialisation (Jozefowicz et al.
    2015 recommend 1.0).
    """

    state_names = ("h", "c")
    GATE_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g",
                  "o": "output gate o"}

    def __init__(self, input_size, hidden_size, forget_gate=True, peephole=False, coupled=False,
                 forget_bias=0.0, bias=True, dtype=np.float64, seed=None, suffix=""):
        super().__init__(input_size, hidden_size, dtype, seed, suffix)
        if coupled and not forget_gate:
            raise fail("LSTMCell: coupled=True ties the forget gate to the input gate; it needs "
                       "forget_gate=True")
        has_f = forget_gate and not coupled
        if forget_bias and not has_f:
            raise fail("LSTMCell: forget_bias needs a separate forget gate (forget_gate=True, "
                       "coupled=False)")
        self.forget_gate, self.peephole, self.coupled = forget_gate, peephole, coupled
        self.gates = ("i", "f", "g", "o") if has_f else ("i", "g", "o")
        self._init_weights(len(self.gates), bias)
        H = hidden_size
        if forget_bias and self.bias_ih is not None:
            b = np.array(self.bias_ih.value)
            b[H:2 * H] += forget_bias
            self.bias_ih.assign(b)
        if peephole:
            bound = 1 / np.sqrt(H)
            self.weight_ci = self._param("weight_ci", self._uniform((H,), bound))
            self.weight_cf = self._param("weight_cf", self._uniform((H,), bound)) if has_f else None
            self.weight_co = self._param("weight_co", self._uniform((H,), bound))

    @property
    def title(self):
        extras = [name for flag, name in ((not self.forget_gate, "no forget gate"),
                                          (self.coupled, "coupled gates"),
                                          (self.peephole, "peepholes")) if flag]
        return "LSTMCell" + (f" ({', '.join(extras)})" if extras else "")

    def step(self, x, state):
        h, c = state
        H = self.hidden_size
        with scope("pre-activations W x + U h + b"):
            pre = (self._affine(x, self.weight_ih, self.bias_ih)
                   + self._affine(h, self.weight_hh, self.bias_hh))
        a = {}
        for k, name in enumerate(self.gates):
            with scope(self.GATE_NAMES[name]):
                a[name] = _block(pre, k, H)
                if self.peephole and name in "if":
                    a[name] = a[name] + getattr(self, f"weight_c{name}") * c
                a[name] = F.tanh(a[name]) if name == "g" else (
                    F.sigmoid(a[name]) if name != "o" else a[name])
        i, g = a["i"], a["g"]
        with scope("cell state c"):
            if not self.forget_gate:
                c = c + i * g  # the constant error carousel
            elif self.coupled:
                c = (1.0 - i) * c + i * g
            else:
                c = a["f"] * c + i * g
        with scope(self.GATE_NAMES["o"]):
            o = F.sigmoid(a["o"] + self.weight_co * c if self.peephole else a["o"])
        # tanh(c) in a box of its own: pictures draw h(t) itself as the state, and a box
        # named "h = o * tanh(c)" would then hold only the tanh
        with scope("tanh(c)"):
            tanh_c = F.tanh(c)
        with scope("hidden h = o * tanh(c)"):
            h = o * tanh_c
        return h, (h, c)


class GRUCell(_Gated):
    """Gated recurrent unit, gate order r, z, n; h' = (1 - z) * n + z * h.

    ``reset_after=True`` (PyTorch, cuDNN): n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
    ``reset_after=False`` (Cho et al. 2014, the seeds): n = tanh(W_in x + b_in + W_hn (r * h) + b_hn).
    """

    def __init__(self, input_size, hidden_size, reset_after=True, bias=True, dtype=np.float64,
                 seed=None, suffix=""):
        super().__init__(input_size, hidden_size, dtype, seed, suffix)
        self.reset_after = reset_after
        self._init_weights(3, bias)

    def step(self, x, state):
        (h,) = state
        H, b = self.hidden_size, self.bias_hh
        # two scopes: the two products are not added before the gates, so one name would
        # label two separate boxes
        with scope("pre-activations W x + b_ih"):
            gi = self._affine(x, self.weight_ih, self.bias_ih)
        with scope("pre-activations U h + b_hh"):
            if self.reset_after:
                gh = self._affine(h, self.weight_hh, b)
            else:
                gh = self._affine(h, self.weight_hh[:2 * H], b[:2 * H] if b is not None else None)
        with scope("reset gate r"):
            r = F.sigmoid(_block(gi, 0, H) + _block(gh, 0, H))
        with scope("update gate z"):
            z = F.sigmoid(_block(gi, 1, H) + _block(gh, 1, H))
        with scope("candidate n"):
            if self.reset_after:
                n = F.tanh(_block(gi, 2, H) + r * _block(gh, 2, H))
            else:
                W_n = self.weight_hh[2 * H:]
                n = F.tanh(_block(gi, 2, H)
                           + self._affine(r * h, W_n, b[2 * H:] if b is not None else None))
        with scope("hidden h = (1 - z) n + z h"):
            h = (1.0 - z) * n + z * h
        return h, (h,)


class SCRNCell(Cell):
    """Structurally constrained RNN (Mikolov et al. 2014): slow context units s next to a
    fast hidden layer h; state (h, s), output concat(h, s) (B, H + context_size).

        s' = (1 - alpha) s_in + alpha s,     s_in = x weight_ic^T      (weight_ic (S, I))
        h' = sigmoid(s' weight_ch^T + x weight_ih^T + h weight_hh^T + bias_ih)
    alpha is fixed (0.95 in the paper), so the context units decay slowly by construction.
    """

    state_names = ("h", "s")

    def __init__(self, input_size, hidden_size, context_size=None, alpha=0.95, bias=True,
                 dtype=np.float64, seed=None, suffix=""):
        super().__init__(input_size, hidden_size, dtype, seed, suffix)
        S = hidden_size if context_size is None else context_size
        if not isinstance(S, (int, np.integer)) or S < 1:
            raise fail(f"SCRNCell: context_size must be a positive int, got {context_size!r}")
        if not 0.0 <= alpha <= 1.0:
            raise fail(f"SCRNCell: alpha must be in [0, 1], got {alpha}")
        self.context_size, self.alpha = int(S), float(alpha)
        H, I, bound = hidden_size, input_size, 1 / np.sqrt(hidden_size)
        self.weight_ih = self._param("weight_ih", self._uniform((H, I), bound))
        self.weight_hh = self._param("weight_hh", self._uniform((H, H), bound))
        self.weight_ic = self._param("weight_ic", self._uniform((self.context_size, I), bound))
        self.weight_ch = self._param("weight_ch", self._uniform((H, self.context_size), bound))
        self.bias_ih = self._param("bias_ih", self._uniform((H,), bound)) if bias else None

    @property
    def state_sizes(self):
        return (self.hidden_size, self.context_size)

    @property
    def output_size(self):
        return self.hidden_size + self.context_size

    def step(self, x, state):
        h, s = state
        with scope("context s = (1 - a) B x + a s"):
            s = (1.0 - self.alpha) * (x @ self.weight_ic.T) + self.alpha * s
        with scope("hidden h = sigmoid(P s + A x + R h)"):
            pre = s @ self.weight_ch.T + x @ self.weight_ih.T + h @ self.weight_hh.T
            h = F.sigmoid(pre + self.bias_ih if self.bias_ih is not None else pre)
        with scope("output [h, s]"):
            y = F.concat([h, s], axis=1)
        return y, (h, s)
