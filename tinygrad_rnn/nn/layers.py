"""Sequence layers ``RNN``, ``LSTM``, ``GRU``: stacked, optionally bidirectional, with
dropout between layers (never on the recurrent connections, Zaremba et al. 2014).

Called as ``layer(xs, state0=None)`` on sequence-first input (T, B, I), they return what
PyTorch returns: ``output (T, B, D*H), h_n (D*L, B, H)`` and ``output, (h_n, c_n)`` for the
LSTM. Parameters and state dicts use PyTorch's names (``weight_ih_l0``,
``bias_hh_l1_reverse``, ...) and layouts, so weights move between the two exactly. Each
layer and direction is one ``scan`` node: the graph does not grow with T.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..functions import as_tensor
from ..graph.node import calling, fail, from_user
from ..ops.random import dropout_mask
from ..recurrence import scan
from ..tensor import Tensor
from .cells import GRUCell, LSTMCell, RNNCell
from .module import Module


class _Recurrent(Module):
    cell_type = None

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float64, seed=None, **cell_options):
        with calling(type(self).__name__, user=from_user(1)):
            self._build(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                        bidirectional, dtype, seed, cell_options)

    def _build(self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
               bidirectional, dtype, seed, cell_options):
        super().__init__(dtype, seed)
        name = type(self).__name__
        for what, v, low in (("input_size", input_size, 0), ("hidden_size", hidden_size, 1),
                             ("num_layers", num_layers, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise fail(f"{name}: {what} must be an int >= {low}, got {v!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0.0 <= dropout < 1.0:
            raise fail(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.batch_first, self.dropout = bidirectional, batch_first, dropout
        self.num_directions = 2 if bidirectional else 1
        bound = 1 / np.sqrt(hidden_size)
        self.cells = []
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.num_directions
            row = []
            for d in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                cell = self.cell_type(width, hidden_size, bias=bias, dtype=dtype, suffix=suffix,
                                      **cell_options)
                # PyTorch initialises every weight of a layer from U(-1/sqrt(H), 1/sqrt(H))
                cell.load_state_dict({k: self._uniform(p.shape, bound)
                                      for k, p in cell.parameters().items()})
                row.append(cell)
            self.cells.append(row)

    def parameters(self) -> dict[str, Tensor]:
        return {k + cell.suffix: p for row in self.cells for cell in row
                for k, p in cell.parameters().items()}

    @property
    def _n_state(self):
        return len(self.cells[0][0].state_names)

    def _check_inputs(self, xs, state0):
        name = type(self).__name__
        xs = as_tensor(xs, like=self.cells[0][0].weight_ih)
        if self.batch_first and xs.ndim == 3:
            xs = F.transpose(xs, (1, 0, 2))
        if xs.ndim != 3 or xs.shape[2] != self.input_size or xs.shape[0] < 1:
            raise fail(f"{name}: expected input of shape (T, B, {self.input_size}) with T >= 1"
                       f"{' (batch_first: (B, T, I))' if self.batch_first else ''}, got {xs.shape}")
        if xs.dtype != self.dtype:
            raise fail(f"{name}: expected input dtype {self.dtype}, got {xs.dtype}")
        B, LD = xs.shape[1], self.num_layers * self.num_directions
        want = (LD, B, self.hidden_size)
        if state0 is None:
            states = [F.zeros(want, self.dtype)] * self._n_state
        else:
            if self._n_state == 1 and isinstance(state0, (tuple, list)):
                raise fail(f"{name}: state0 is one tensor h_0 of shape {want} (num_layers * "
                           f"num_directions, batch, hidden_size), got a {type(state0).__name__} "
                           f"of {len(state0)}")
            if self._n_state > 1 and not isinstance(state0, (tuple, list)):
                raise fail(f"{name}: state0 must be a tuple of {self._n_state} tensors (h_0, "
                           f"c_0), got {type(state0).__name__}")
            states = list(state0) if self._n_state > 1 else [state0]
            if len(states) != self._n_state:
                raise fail(f"{name}: state0 must be a tuple of {self._n_state} tensors, got "
                           f"{len(states)}")
            states = [as_tensor(s, like=xs) for s in states]
            for s in states:
                if s.shape != want:
                    raise fail(f"{name}: initial state must have shape {want} "
                               "(num_layers * num_directions, batch, hidden_size), got "
                               f"{s.shape}")
        return xs, states

    def __call__(self, xs, state0=None, checkpoint=None, truncate=None):
        """xs (T, B, I) -> (output (T, B, D*H), h_n (D*L, B, H)) [LSTM: (output, (h_n, c_n))].

        checkpoint=k: O(T/k + k) activation memory for the gradient (recomputes segments);
        truncate=k: truncated BPTT, cutting the carried state every k steps (see tr.scan)."""
        with calling(type(self).__name__, user=from_user(1)):
            return self._run(xs, state0, checkpoint, truncate)

    def _run(self, xs, state0, checkpoint, truncate):
        xs, states = self._check_inputs(xs, state0)
        finals = [[] for _ in range(self._n_state)]
        layer_in = xs
        for layer, row in enumerate(self.cells):
            if layer and self.dropout and self.training:
                layer_in = layer_in * Tensor(dropout_mask(
                    shape=layer_in.shape, p=float(self.dropout), dtype=self.dtype, rng=self._rng))
            outs = []
            for d, cell in enumerate(row):
                k = layer * self.num_directions + d
                init = tuple(s[k] for s in states)

                def step(carry, x_t, cell=cell):
                    y, new = cell(x_t, carry)
                    return new, y

                final, ys = scan(step, init, layer_in, reverse=bool(d), checkpoint=checkpoint,
                                 truncate=truncate)
                outs.append(ys)
                for j, s in enumerate(final):
                    finals[j].append(s)
            layer_in = F.concat(outs, axis=2) if len(outs) > 1 else outs[0]
        output = F.transpose(layer_in, (1, 0, 2)) if self.batch_first else layer_in
        h_n = tuple(F.stack(f, axis=0) for f in finals)
        return output, (h_n if self._n_state > 1 else h_n[0])


class RNN(_Recurrent):
    """Elman RNN layer; ``nonlinearity="tanh" | "relu"`` (PyTorch's nn.RNN)."""
    cell_type = RNNCell

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", **kwargs):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity=nonlinearity, **kwargs)


class LSTM(_Recurrent):
    """LSTM layer (PyTorch's nn.LSTM); returns ``output, (h_n, c_n)``."""
    cell_type = LSTMCell


class GRU(_Recurrent):
    """GRU layer (PyTorch's nn.GRU, reset gate applied after the recurrent product)."""
    cell_type = GRUCell
