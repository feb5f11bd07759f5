"""The network with output-to-hidden recurrence of seed 001 (Goodfellow et al. 2016, §10.2.1,
Fig. 10.4; Jordan 1986): the only recurrent input is the previous *output*, not the hidden
state. In the seed's letters (U input-to-hidden, W recurrent, V hidden-to-output, b and c
biases; here W connects the output to the hidden units):

    h(t) = tanh(b + W o(t-1) + U x(t))
    o(t) = c + V h(t)

Trained with teacher forcing (seed 001, Goodfellow Fig. 10.6), step t reads the *true*
previous output y(t-1) instead of o(t-1): no step reads another step's values, so the steps
decouple and the gradient needs no back-propagation through time (each step's loss reaches
the parameters through that step alone). At test time the network runs free: each output
(through ``feedback``) is the next step's recurrent input. Scheduled sampling (Bengio et al.
2015) mixes the two, one coin per step and example, flipped at run time (``scheduled``).
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..functions import as_tensor
from ..graph.node import fail, scope
from .cells import Cell
from .schedules import as_generator, bernoulli, mix, sample_prob_tensor


class JordanRNN(Cell):
    """Output-recurrent cell: ``o_t, (r_next,) = cell(x_t, (r,))`` with

        h = tanh(b + r W^T + x_t U^T),   o_t = c + h V^T,   r_next = feedback(o_t)

    x_t (B, input_size); r (B, output_size): the recurrent input, o(t-1) when running free
    or the true previous output y(t-1) under teacher forcing; o_t (B, output_size).
    Parameters (seed 001's letters): U (H, I), W (H, O), b (H,), V (O, H), c (O,), drawn
    uniformly from ±1/sqrt(H). ``feedback`` maps an output to the next recurrent input when
    the network runs free: None feeds o(t) itself (regression); pass ``tr.nn.argmax_one_hot``
    (or ``tr.softmax``) for classes, whose targets are then one-hot.

    >>> cell = tr.nn.JordanRNN(3, 8, 2, seed=0)
    >>> outs = cell.teacher_forced(xs, ys)      # (T, B, 2): training, steps decoupled
    >>> outs = cell.run_free(xs)                # (T, B, 2): test time, own outputs fed back
    """

    state_names = ("o",)

    def __init__(self, input_size: int, hidden_size: int, output_size: int, feedback=None,
                 dtype=np.float64, seed=None, suffix: str = ""):
        super().__init__(input_size, hidden_size, dtype, seed, suffix)
        if isinstance(output_size, bool) or not isinstance(output_size, (int, np.integer)) \
                or output_size < 1:
            raise fail(f"JordanRNN: output_size must be an int >= 1, got {output_size!r}")
        if feedback is not None and not callable(feedback):
            raise fail(f"JordanRNN: feedback must be None or a callable (B, O) -> (B, O), got "
                       f"{feedback!r}")
        self._output_size, self.feedback = int(output_size), feedback
        H, I, O = self.hidden_size, self.input_size, self._output_size
        bound = 1 / np.sqrt(H)
        self.U = self._param("U", self._uniform((H, I), bound))
        self.W = self._param("W", self._uniform((H, O), bound))
        self.b = self._param("b", self._uniform((H,), bound))
        self.V = self._param("V", self._uniform((O, H), bound))
        self.c = self._param("c", self._uniform((O,), bound))

    @property
    def output_size(self) -> int:
        return self._output_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self._output_size,)

    @property
    def title(self) -> str:
        return "JordanRNN (output-to-hidden recurrence)"

    def step(self, x, state):
        (r,) = state
        with scope("hidden h = tanh(b + W o(t-1) + U x)"):
            h = F.tanh(x @ self.U.T + r @ self.W.T + self.b)
        with scope("output o = c + V h"):
            o = h @ self.V.T + self.c
        if self.feedback is None:
            nxt = o
        else:
            with scope("feedback"):
                nxt = as_tensor(self.feedback(o))
        if nxt.shape != o.shape or nxt.dtype != o.dtype:
            raise fail(f"JordanRNN: feedback must map the output {o.shape} {o.dtype} to the "
                       f"next recurrent input of the same shape and dtype, got {nxt.shape} "
                       f"{nxt.dtype}")
        return o, (nxt,)

    # ---- over a sequence --------------------------------------------------------------
    def _sequences(self, what, xs, targets=None, o0=None):
        """xs, targets and the first recurrent input, checked."""
        xs = as_tensor(xs)
        if xs.ndim != 3 or xs.shape[0] < 1 or xs.shape[2] != self.input_size:
            raise fail(f"JordanRNN.{what}: expected xs of shape (T, B, {self.input_size}) with "
                       f"T >= 1, got {xs.shape}")
        T, B = xs.shape[:2]
        if targets is not None:
            targets = as_tensor(targets, xs)
            if targets.shape != (T, B, self.output_size):
                raise fail(f"JordanRNN.{what}: expected targets of shape ({T}, {B}, "
                           f"{self.output_size}) (the true outputs, one per step), got "
                           f"{targets.shape}")
        r = self.initial_state(B)[0] if o0 is None else as_tensor(o0, xs)
        if r.shape != (B, self.output_size):
            raise fail(f"JordanRNN.{what}: expected o0 of shape ({B}, {self.output_size}), "
                       f"got {r.shape}")
        return xs, targets, r

    def teacher_forced(self, xs, targets, o0=None, stack: bool = True):
        """Teacher forcing: step t reads the true previous output ``targets[t-1]`` (``o0``,
        default zeros, at t = 0) instead of its own. xs (T, B, I), targets (T, B, O), o0
        (B, O) -> outputs (T, B, O) (``stack=False``: the list of T outputs (B, O), as
        ``tr.unroll`` gives). No step reads another step: the gradient of a sum of per-step
        losses has no edge between steps (no BPTT)."""
        xs, targets, r = self._sequences("teacher_forced", xs, targets, o0)
        outs = []
        for t in range(xs.shape[0]):
            o, _ = self(xs[t], (r,))
            outs.append(o)
            r = targets[t]
        return F.stack(outs) if stack else outs

    def run_free(self, xs, o0=None, stack: bool = True):
        """Free running (test time): step t reads ``feedback(o(t-1))``, its own previous
        output (``o0``, default zeros, at t = 0). xs (T, B, I), o0 (B, O) -> (T, B, O)
        (``stack=False``: a list of T (B, O)). The same graph as ``tr.unroll(cell, xs,
        (o0,))``'s outputs."""
        xs, _, r = self._sequences("run_free", xs, None, o0)
        outs = []
        for t in range(xs.shape[0]):
            o, (r,) = self(xs[t], (r,))
            outs.append(o)
        return F.stack(outs) if stack else outs

    def scheduled(self, xs, targets, sample_prob, o0=None, rng=None, stack: bool = True):
        """Scheduled sampling: at each step t >= 1, each example reads its own previous output
        (``feedback(o(t-1))``) with probability ``sample_prob``, else the truth
        ``targets[t-1]``. The coins (T-1, B, 1) are drawn at every run of the graph, so a
        compiled train step flips new ones at each call.

        xs (T, B, I), targets (T, B, O), o0 (B, O) -> outputs (T, B, O) (``stack=False``: a
        list of T (B, O)). sample_prob: a float in [0, 1] (0 builds exactly
        ``teacher_forced``'s graph, 1 exactly ``run_free``'s) or a floating scalar Tensor,
        e.g. a placeholder fed the schedule's value at each call (``tr.nn.schedules``; fed
        0.0 or 1.0 it gives those two exactly). rng: the Generator (or int seed) of the
        coins; None: the cell's own.

        >>> p = tr.placeholder(())
        >>> step = tr.train_step([xs, ys, p], ((cell.scheduled(xs, ys, p) - ys) ** 2).mean(), cell)
        >>> step(x, y, tr.nn.schedules.inverse_sigmoid(100)(i))     # at training step i"""
        p = sample_prob_tensor(sample_prob, "JordanRNN.scheduled")
        if isinstance(p, float) and p == 0.0:
            return self.teacher_forced(xs, targets, o0, stack)
        xs, targets, r = self._sequences("scheduled", xs, targets, o0)
        if isinstance(p, float) and p == 1.0:
            return self.run_free(xs, o0, stack)
        T, B = xs.shape[:2]
        coins = bernoulli(p, (T - 1, B, 1), rng=as_generator(
            self._rng if rng is None else rng, "JordanRNN.scheduled")) if T > 1 else None
        outs = []
        for t in range(T):
            o, (own,) = self(xs[t], (r,))
            outs.append(o)
            if t + 1 < T:
                r = mix(coins[t], own, targets[t])
        return F.stack(outs) if stack else outs
