"""``LSTM1997Cell``: long short-term memory as published by Hochreiter & Schmidhuber (1997),
Section 4 and Appendix A.1 of "Long Short-Term Memory", Neural Computation 9(8).

What makes it the 1997 cell and not ``LSTMCell(forget_gate=False)``:

- memory cell *blocks*: the S cells of block j share one input gate in_j and one output
  gate out_j;
- the squashings g(z) = 4 sigma(z) - 2 (range [-2, 2]) on the cell input and
  h(z) = 2 sigma(z) - 1 (range [-1, 1]) on the cell output (Appendix A.1);
- the truncated gradient (``truncated=True``, the paper's learning rule): Appendix A.1 sets
  d net_in_j(t) / d y^u(t-1), d net_out_j(t) / d y^u(t-1) and d net_c_j(t) / d y^u(t-1) to
  zero for every unit u, so error that reaches a gate's or a cell input's net input changes
  the incoming weights but goes no further back in time; only the carousel s carries error
  from step to step, unscaled;
- the initialisations of the paper's experiments (weights uniform in [-r, r], negative
  output-gate and input-gate biases per block);
- optionally (``recurrent_gates=True``) the connectivity of every experiment of Section 5:
  "memory cells and gate units receive connections from input units, memory cells and gate
  units", so the previous step's gate activations are recurrent inputs too (Table 10's
  weight counts include those connections).

Per step, for block j and its cell c (index j * S + v, block-major)::

    net = x W_ih^T + y(t-1) W_hh^T + b          rows: in_1..in_B, out_1..out_B, c_1..c_(B S)
    in_j = sigma(net_in_j)      out_j = sigma(net_out_j)
    s_c(t) = s_c(t-1) + in_j g(net_c)            the constant error carousel (weight 1.0)
    y_c(t) = out_j h(s_c(t))

The truncation is built with ``stop_gradient`` on y(t-1) where it enters the net inputs, so
it is part of the graph: ``tr.grad``, BPTT (``tr.learn.bptt``), RTRL (``tr.learn.rtrl``: the
y sensitivities never propagate, only ds/dw does, as in the paper's eqs. 25 and 27) and the
pictures all show the cut.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import functions as F
from ..graph.node import fail, scope
from .cells import Cell

# The scope names pictures and traces label boxes with.
TRUNCATION = "truncation: stop ∇ into y(t-1)"
NET = "pre-activations W x + U y(t-1) + b"
GATE_STATE = "gate activations [in, out]"
INPUT_GATE = "input gate in"
OUTPUT_GATE = "output gate out"
CELL_INPUT = "cell input g(net_c)"
CELL_STATE = "cell state s"
SQUASHED_STATE = "h(s)"
CELL_OUTPUT = "cell output y = out h(s)"


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise fail(f"LSTM1997Cell: {name} must be an int >= 1, got {value!r}")
    return int(value)


class LSTM1997Cell(Cell):
    """The LSTM of Hochreiter & Schmidhuber (1997): memory cell blocks with input and output
    gates, no forget gate, g = 4 sigma - 2, h = 2 sigma - 1, and the truncated gradient.

    ``cell(x_t, (y_prev, s_prev)) -> (y, (y, s))`` with x_t (B, input_size) and y, s
    (B, blocks * cells_per_block). The recurrent input of every gate and cell input is y_prev,
    the outputs of all cells. Parameters: weight_ih (R, input_size), weight_hh
    (R, blocks * cells_per_block), bias (R,), R = 2 blocks + blocks cells_per_block, rows
    ordered input gates (one per block), output gates (one per block), cell inputs
    (block-major: block 0's cells, then block 1's, ...).

    truncated: True (the paper's learning rule, Appendix A.1 "approximate derivatives for
        truncated backprop"): no error flows into y_prev, so error goes back in time only
        along the carousels s; gates and cell inputs learn from the error of the current
        step's s and y. False: the full gradient (error also flows through y_prev).
    truncate_input: also cut the error into x_t. The paper's cut is "for all units u" feeding
        the net inputs, input units included; input units depend on no weight, so for inputs
        that are data this changes nothing. Set it when x_t comes from a trained layer below
        and the paper's "error flow is truncated once it wants to leave memory cells or gate
        units" should hold there too (default False: a layer below still learns).
    init_range: weights (and any bias not set below) uniform in [-init_range, init_range].
        Default 0.1 (Experiments 3-6); the paper uses 0.2 in Experiments 1 and 2.
    output_gate_bias: "descending" (default) sets block j's output-gate bias to -(j + 1):
        -1, -2, -3, ... (Section 4, "abuse problem", solution (2); Experiment 1 uses
        -1, -2, -3 for 3 blocks and -1, -2, -3, -4 for 4); a number (every block) or a
        sequence of ``blocks`` numbers (Experiment 3: -2, -4, -6); None: uniform in
        [-init_range, init_range] like the other weights (Experiments 4-6, "r" in Table 10).
        With bias=False the default sets nothing.
    input_gate_bias: None (default, uniform like the other weights: Experiments 1 and 5), a
        number or a sequence of ``blocks`` numbers (Experiment 3: -1, -3, -5; Experiment 4:
        -3, -6; Experiment 6: -2, -4, -6; negative input-gate biases counter state drift,
        Section 4).
    bias: True: a bias for every row, ``bias`` (R,); "gates": for the gates only, ``bias``
        (2 blocks,) ordered input gates, output gates (Experiment 1: "the gate units are
        biased"); False: none (Experiment 2c).
    recurrent_gates: False (the API above): the recurrent input is y(t-1). True: the
        connectivity of all of the paper's experiments (Section 5, "F" in Table 10): the
        gates' activations of step t-1 are recurrent inputs as well; the state becomes
        (y, s, gates) with gates (B, 2 blocks) = [in_1..in_B, out_1..out_B], and weight_hh
        is (R, blocks cells_per_block + 2 blocks), its columns reading y, then the input
        gates, then the output gates. Truncated, no error flows into them either (the
        paper's cut is for every unit u). With it, bias="gates" and a bias-free output layer
        of 7 units, 3 blocks of 2 cells have the 276 weights of Experiment 1.

    >>> cell = tr.nn.LSTM1997Cell(7, 3, cells_per_block=2, init_range=0.2, seed=0)  # Exp. 1
    >>> y, (y, s) = cell(x_t, cell.initial_state(1))   # y, s: (1, 6)
    """

    state_names = ("y", "s")

    def __init__(self, input_size, blocks, cells_per_block=1, truncated=True, seed=None,
                 dtype=np.float64, *, init_range=0.1, output_gate_bias="descending",
                 input_gate_bias=None, bias=True, recurrent_gates=False, truncate_input=False,
                 suffix=""):
        blocks = _count("blocks", blocks)
        cells_per_block = _count("cells_per_block", cells_per_block)
        super().__init__(input_size, blocks * cells_per_block, dtype, seed, suffix)
        for name, flag in (("truncated", truncated), ("truncate_input", truncate_input),
                           ("recurrent_gates", recurrent_gates)):
            if not isinstance(flag, (bool, np.bool_)):
                raise fail(f"LSTM1997Cell: {name} must be True or False, got {flag!r}")
        if not (isinstance(bias, (bool, np.bool_)) or (isinstance(bias, str) and bias == "gates")):
            raise fail(f"LSTM1997Cell: bias must be True, False or 'gates', got {bias!r}")
        if truncate_input and not truncated:
            raise fail("LSTM1997Cell: truncate_input=True cuts the error into x_t as part of the "
                       "truncated gradient; it needs truncated=True")
        if (isinstance(init_range, bool) or not isinstance(init_range, numbers.Real)
                or not np.isfinite(init_range) or init_range < 0):
            raise fail(f"LSTM1997Cell: init_range must be a finite number >= 0, got "
                       f"{init_range!r}")
        self.blocks, self.cells_per_block = blocks, cells_per_block
        self.truncated, self.truncate_input = bool(truncated), bool(truncate_input)
        self.init_range = float(init_range)
        self.recurrent_gates = bool(recurrent_gates)
        self.bias_rows = "gates" if isinstance(bias, str) else bool(bias)
        if self.recurrent_gates:
            self.state_names = ("y", "s", "gates")
        out_b = self._gate_bias("output_gate_bias", output_gate_bias, bias)
        in_b = self._gate_bias("input_gate_bias", input_gate_bias, bias)
        R, r = 2 * blocks + self.hidden_size, self.init_range
        recurrent = self.hidden_size + (2 * blocks if self.recurrent_gates else 0)
        self.weight_ih = self._param("weight_ih", self._uniform((R, self.input_size), r))
        self.weight_hh = self._param("weight_hh", self._uniform((R, recurrent), r))
        self.bias = None
        if bias:
            b = self._uniform((2 * blocks if self.bias_rows == "gates" else R,), r)
            if in_b is not None:
                b[:blocks] = in_b
            if out_b is not None:
                b[blocks:2 * blocks] = out_b
            self.bias = self._param("bias", b)

    def _gate_bias(self, name, value, bias):
        """The initial biases of one gate kind, an array (blocks,), or None (random)."""
        if value is None or (isinstance(value, str) and value == "descending" and not bias):
            return None
        if not bias:
            raise fail(f"LSTM1997Cell: {name}={value!r} needs a bias (bias=False was given)")
        if isinstance(value, str):
            if value != "descending":
                raise fail(f"LSTM1997Cell: {name} must be 'descending', None, a number or "
                           f"{self.blocks} numbers, got {value!r}")
            return -np.arange(1.0, self.blocks + 1.0)
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            a = None
        if a is None or a.ndim > 1 or (a.ndim == 1 and a.shape[0] != self.blocks) \
                or not np.all(np.isfinite(a)) or isinstance(value, bool):
            raise fail(f"LSTM1997Cell: {name} must be 'descending', None, a number or "
                       f"{self.blocks} numbers (one per block), got {value!r}")
        return np.broadcast_to(a, (self.blocks,)).copy()

    @property
    def state_sizes(self) -> tuple[int, ...]:
        n = self.hidden_size
        return (n, n, 2 * self.blocks) if self.recurrent_gates else (n, n)

    @property
    def title(self) -> str:
        """e.g. "LSTM1997Cell (3 blocks × 2 cells, truncated gradient)"."""
        plural = "s" if self.blocks > 1 else ""
        cells = "cell" if self.cells_per_block == 1 else "cells"
        rule = "truncated gradient" if self.truncated else "full gradient"
        gates = ", gates recurrent" if self.recurrent_gates else ""
        return (f"LSTM1997Cell ({self.blocks} block{plural} × {self.cells_per_block} {cells}"
                f"{gates}, {rule})")

    def _spread(self, gate):
        """(B, blocks) -> (B, blocks * cells_per_block): each block's gate for each of its
        cells."""
        S = self.cells_per_block
        if S == 1:
            return gate
        B = gate.shape[0]
        return F.reshape(F.broadcast_to(F.reshape(gate, (B, self.blocks, 1)),
                                        (B, self.blocks, S)), (B, self.hidden_size))

    def step(self, x, state):
        y, s, *gates = state
        nb = self.blocks
        recurrent = y if not gates else F.concat([y, gates[0]], axis=1)
        past = "[y, gates](t-1)" if gates else "y(t-1)"
        if self.truncated:
            # Appendix A.1: d net(t) / d y^u(t-1) := 0 for the gates and the cell inputs, so
            # error leaving a block through its net inputs stops here (it has changed the
            # incoming weights on the way); only the carousel s carries it back in time
            with scope(TRUNCATION.replace("y(t-1)", past)):
                recurrent = F.stop_gradient(recurrent)
                if self.truncate_input:
                    x = F.stop_gradient(x)
        with scope(NET.replace("y(t-1)", past)):
            net = x @ self.weight_ih.T + recurrent @ self.weight_hh.T
            if self.bias_rows == "gates":
                net = net + F.concat([self.bias, F.zeros((self.hidden_size,), self.dtype)], 0)
            elif self.bias is not None:
                net = net + self.bias
        with scope(INPUT_GATE):
            in_ = F.sigmoid(net[:, :nb])
            in_cells = self._spread(in_)
        with scope(OUTPUT_GATE):
            out = F.sigmoid(net[:, nb:2 * nb])
            out_cells = self._spread(out)
        with scope(CELL_INPUT):
            g = 4.0 * F.sigmoid(net[:, 2 * nb:]) - 2.0
        with scope(CELL_STATE):
            s = s + in_cells * g  # the constant error carousel: self-connection of weight 1.0
        # h(s) in a box of its own, so that pictures draw y itself as the state (as
        # LSTMCell does with tanh(c))
        with scope(SQUASHED_STATE):
            h_s = 2.0 * F.sigmoid(s) - 1.0
        with scope(CELL_OUTPUT):
            y = out_cells * h_s
        if not gates:
            return y, (y, s)
        with scope(GATE_STATE):
            gate_state = F.concat([in_, out], axis=1)
        return y, (y, s, gate_state)
