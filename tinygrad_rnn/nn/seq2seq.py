"""Encoder-decoder (sequence to sequence, seed 001): an encoder cell reads the input sequence
into its final state (the context), a decoder cell starts from it and emits the output
sequence through a readout layer.

Training uses teacher forcing (the decoder reads the ground-truth previous output);
``generate`` runs free: each prediction is fed back as the next input. ``sample_prob``
mixes the two (scheduled sampling, Bengio et al. 2015): one coin per step and example,
flipped at every run of the graph (``tr.nn.schedules``), with a probability that may be a
placeholder fed at each call, so a compiled train step follows a decay schedule.

Attention (where seed 001 points after the encoder-decoder: the fixed-length context is
its limitation) lets each output step read a weighted mix of *all* the encoder's outputs
h_1..h_T (the annotations), weights α_tj = softmax_j(e_tj) over the source, composed of
primitives (no rule of its own):

- ``attention="additive"`` (Bahdanau, Cho & Bengio 2015): e_tj = v·tanh(W_q s_{t-1} + W_k h_j)
  scored with the decoder's previous state s_{t-1} (its first component, h); the context
  c_t = Σ_j α_tj h_j is read by the decoder beside the previous output:
  s_t = decoder([y_{t-1}; c_t], s_{t-1}); prediction = readout(decoder output).
- ``attention="dot"`` (Luong, Pham & Manning 2015, global attention, dot score): the decoder
  steps first, s_t = decoder(y_{t-1}, s_{t-1}); e_tj = s_t·h_j; the attentional state
  h̃_t = tanh(W_c [c_t; s_t]) goes to the readout: prediction = readout(h̃_t).

Both papers' encoders are bidirectional; here the encoder is whatever cell is given (one
direction), and the decoder starts from its final state, as without attention.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..functions import as_tensor
from ..graph.node import fail, scope
from ..recurrence import scan, unroll
from .module import Module
from .schedules import as_generator, bernoulli, mix, sample_prob_tensor

ATTENTION = (None, "additive", "dot")


def argmax_one_hot(logits):
    """(B, C) -> (B, C): 1.0 at each row's maximum (no gradient flows through the choice)."""
    best = F.stop_gradient(logits) >= F.stop_gradient(F.max(logits, axis=-1, keepdims=True))
    return F.astype(best, logits.dtype)


class Seq2Seq(Module):
    """encoder: Cell (I -> H); decoder: Cell (O_in -> H, same state layout); readout: maps the
    decoder output (B, H) to predictions (B, O). ``feedback(prediction) -> next input``
    (default: one-hot of the argmax, for classification; pass ``lambda p: p`` for regression).
    seed: of the Generator the scheduled-sampling coins are drawn from (at run time), and of
    the attention's weights.

    attention: None (the plain encoder-decoder), ``"additive"`` (Bahdanau) or ``"dot"``
    (Luong); see the module docstring for the equations. With ``"additive"`` the decoder
    reads [previous output (O_in); context (H_enc)], so its input_size is O_in + H_enc
    (H_enc: the encoder's output size). With ``"dot"`` the decoder's output size must equal
    the encoder's. attention_size: A, the width of the additive score's hidden layer
    (default: the decoder's first state size). Parameters of their own, under
    ``attention.``: additive ``weight_query`` (A, H_dec), ``weight_key`` (A, H_enc),
    ``v`` (A,); dot ``weight_combine`` (H_dec, H_enc + H_dec).

    >>> enc, dec = tr.nn.LSTMCell(8, 32), tr.nn.LSTMCell(9 + 32, 32)
    >>> model = tr.nn.Seq2Seq(enc, dec, tr.nn.Linear(32, 9), attention="additive")
    >>> preds, weights = model(xs, dec_in, return_attention=True)  # (T_out, B, 9), (T_out, B, T_in)
    """

    def __init__(self, encoder, decoder, readout, feedback=argmax_one_hot, seed=None,
                 attention: str | None = None, attention_size: int | None = None):
        super().__init__(encoder.dtype, seed)
        if encoder.state_sizes != decoder.state_sizes:
            raise fail(f"Seq2Seq: the decoder's state {decoder.state_sizes} must match the "
                       f"encoder's {encoder.state_sizes}: it starts from the encoder's final state")
        if not (attention is None or isinstance(attention, str) and attention in ATTENTION):
            raise fail(f"Seq2Seq: attention must be None (the plain encoder-decoder), 'additive' "
                       f"(Bahdanau) or 'dot' (Luong), got {attention!r}")
        self.encoder, self.decoder, self.readout, self.feedback = encoder, decoder, readout, feedback
        self.attention = attention
        if attention is None:
            if attention_size is not None:
                raise fail("Seq2Seq: attention_size is the width of the additive attention's "
                           "score layer; it needs attention='additive', got attention=None")
            return
        # the attention's weights come from a stream of their own: the coins' (self._rng) is
        # the same with or without attention
        init = np.random.default_rng([int(seed), 1] if isinstance(seed, (int, np.integer))
                                     else seed)
        H_enc, H_dec = encoder.output_size, decoder.state_sizes[0]
        if attention == "additive":
            if attention_size is None:
                attention_size = H_dec
            if isinstance(attention_size, bool) or not isinstance(attention_size, (int, np.integer)) \
                    or attention_size < 1:
                raise fail(f"Seq2Seq: attention_size must be an int >= 1, got {attention_size!r}")
            if decoder.input_size <= H_enc:
                raise fail(f"Seq2Seq(attention='additive'): the decoder reads [previous output; "
                           f"context], the context being (B, {H_enc}) (the encoder's output), so "
                           f"its input_size must be O_in + {H_enc}; got input_size "
                           f"{decoder.input_size}")
            A = int(attention_size)
            self.weight_query = self._param("attention.weight_query",
                                            init.uniform(-1, 1, (A, H_dec)) / np.sqrt(H_dec))
            self.weight_key = self._param("attention.weight_key",
                                          init.uniform(-1, 1, (A, H_enc)) / np.sqrt(H_enc))
            self.v = self._param("attention.v", init.uniform(-1, 1, (A,)) / np.sqrt(A))
        else:
            if attention_size is not None:
                raise fail("Seq2Seq: attention_size is the width of the additive attention's "
                           f"score layer; attention='dot' has none, got {attention_size!r}")
            if decoder.output_size != H_enc:
                raise fail(f"Seq2Seq(attention='dot'): the score s_t·h_j needs the decoder's "
                           f"output size ({decoder.output_size}) to equal the encoder's ({H_enc})")
            fan_in = H_enc + decoder.output_size
            self.weight_combine = self._param(
                "attention.weight_combine",
                init.uniform(-1, 1, (decoder.output_size, fan_in)) / np.sqrt(fan_in))

    @property
    def input_size(self) -> int:
        """O_in: the width of one step of decoder_inputs (the decoder's input, less the
        context with additive attention)."""
        if self.attention == "additive":
            return self.decoder.input_size - self.encoder.output_size
        return self.decoder.input_size

    def parameters(self):
        out = {}
        for prefix, part in (("encoder.", self.encoder), ("decoder.", self.decoder),
                             ("readout.", self.readout)):
            out.update({prefix + k: p for k, p in part.parameters().items()})
        out.update(self._params)  # the attention's, named "attention.*"
        return out

    def encode(self, xs):
        """xs (T_in, B, I) -> the encoder's final state (the context)."""
        _, state = unroll(self.encoder, xs)
        return state

    def annotate(self, xs):
        """xs (T_in, B, I) -> (memory (B, T_in, H_enc): the encoder's output at every step,
        what attention reads; the encoder's final state). The encoder runs as one ``scan``
        node (a compiled loop), not T_in unrolled copies.

        >>> memory, state = model.annotate(xs)          # (B, T_in, H_enc), state tuple
        """
        xs = as_tensor(xs)
        if xs.ndim != 3 or xs.shape[0] < 1 or xs.shape[2] != self.encoder.input_size:
            raise fail(f"Seq2Seq: expected xs (T_in, B, {self.encoder.input_size}) with "
                       f"T_in >= 1, got {xs.shape}")
        encoder = self.encoder
        state, ys = scan(lambda st, x: encoder(x, st)[::-1],
                         encoder.initial_state(xs.shape[1]), xs)
        return F.transpose(ys, (1, 0, 2)), state

    def attend(self, query, memory, keys=None):
        """The attention weights and context of one output step: query (B, Hq) (additive:
        the decoder's previous state h; dot: its new output), memory (B, T_in, H_enc);
        keys (B, T_in, A): memory W_k^T, computed once per sequence (additive only; None
        computes it here). Returns (weights (B, T_in), summing to 1 over the source;
        context (B, H_enc)).

        >>> weights, context = model.attend(state[0], memory)   # additive: s_{t-1}'s h
        """
        if self.attention is None:
            raise fail("Seq2Seq.attend: this model has no attention (attention=None)")
        B, T_in, H = memory.shape
        with scope(f"{self.attention} attention"):
            if self.attention == "additive":
                if keys is None:
                    keys = memory @ self.weight_key.T
                q = F.reshape(query @ self.weight_query.T, (B, 1, keys.shape[2]))
                scores = F.tanh(keys + q) @ self.v                       # (B, T_in)
            else:
                scores = F.sum(memory * F.reshape(query, (B, 1, H)), axis=-1)  # (B, T_in)
            weights = F.softmax(scores, axis=-1)
            context = F.sum(F.reshape(weights, (B, T_in, 1)) * memory, axis=1)  # (B, H_enc)
        return weights, context

    def _start(self, xs):
        """(initial decoder state, memory, keys) for the decoding loop."""
        if self.attention is None:
            return self.encode(xs), None, None
        memory, state = self.annotate(xs)
        keys = memory @ self.weight_key.T if self.attention == "additive" else None
        return state, memory, keys

    def _step(self, x_t, state, memory, keys):
        """One decoder step: x_t (B, O_in) -> (prediction (B, O), new state, weights
        (B, T_in) or None)."""
        if self.attention is None:
            y, state = self.decoder(x_t, state)
            return self.readout(y), state, None
        if self.attention == "additive":
            weights, context = self.attend(state[0], memory, keys)
            y, state = self.decoder(F.concat([x_t, context], axis=-1), state)
            return self.readout(y), state, weights
        y, state = self.decoder(x_t, state)
        weights, context = self.attend(y, memory)
        with scope("attentional state h~ = tanh(W_c [c; s])"):
            combined = F.tanh(F.concat([context, y], axis=-1) @ self.weight_combine.T)
        return self.readout(combined), state, weights

    def _check_return_attention(self, return_attention):
        if return_attention and self.attention is None:
            raise fail("Seq2Seq: return_attention=True needs a model built with attention="
                       "'additive' or 'dot'; this one has attention=None")

    def __call__(self, xs, decoder_inputs, sample_prob=0.0, rng=None, return_attention=False):
        """Teacher forcing: xs (T_in, B, I); decoder_inputs (T_out, B, O_in) are the
        ground-truth previous outputs (start symbol first). Returns predictions (T_out, B, O),
        and with ``return_attention=True`` (models with attention) the pair (predictions,
        weights (T_out, B, T_in)): each output step's attention over the source.

        Scheduled sampling: with ``sample_prob`` p, each step t >= 1 of each example reads
        ``feedback`` of the model's own previous prediction with probability p instead of
        decoder_inputs[t]. The coins (one per step and example) are flipped at every run of
        the graph, not when it is built: a compiled train step draws new ones at each call.
        p: a float in [0, 1] (0: teacher forcing, 1: free running, each exactly, with no
        coins in the graph) or a floating scalar Tensor, e.g. a placeholder fed the value of
        a decay schedule (``tr.nn.schedules``) at each call; fed 0.0 or 1.0 it gives those
        two exactly. rng: the Generator (or int seed) of the coins; None: the model's own
        (``seed=``)."""
        self._check_return_attention(return_attention)
        d_in = as_tensor(decoder_inputs)
        if d_in.ndim != 3 or d_in.shape[2] != self.input_size:
            why = (f" (the decoder's input_size {self.decoder.input_size} less the context's "
                   f"{self.encoder.output_size})" if self.attention == "additive" else "")
            raise fail(f"Seq2Seq: expected decoder_inputs (T_out, B, {self.input_size}){why}, "
                       f"got {d_in.shape}")
        p = sample_prob_tensor(sample_prob, "Seq2Seq")
        fixed = p if isinstance(p, float) else None  # a number known now, or None (run time)
        T, B = d_in.shape[:2]
        coins = None
        if (fixed is None or 0.0 < fixed < 1.0) and T > 1:
            coins = bernoulli(p, (T - 1, B, 1),
                              rng=as_generator(self._rng if rng is None else rng, "Seq2Seq"))
        state, memory, keys = self._start(xs)
        preds, weights, prev = [], [], None
        for t in range(T):
            if t == 0 or fixed == 0.0:
                x_t = d_in[t]
            elif fixed == 1.0:
                x_t = self.feedback(prev)
            else:
                x_t = mix(coins[t - 1], self.feedback(prev), d_in[t])
            prev, state, w = self._step(x_t, state, memory, keys)
            preds.append(prev)
            weights.append(w)
        return (F.stack(preds), F.stack(weights)) if return_attention else F.stack(preds)

    def generate(self, xs, start, steps: int, return_attention=False):
        """Free-running decoding: start (B, O_in) is the first input; each prediction is fed
        back through ``feedback``. Returns predictions (steps, B, O), and with
        ``return_attention=True`` the pair (predictions, weights (steps, B, T_in))."""
        self._check_return_attention(return_attention)
        state, memory, keys = self._start(xs)
        x_t, preds, weights = as_tensor(start), [], []
        for _ in range(steps):
            pred, state, w = self._step(x_t, state, memory, keys)
            preds.append(pred)
            weights.append(w)
            x_t = self.feedback(pred)
        return (F.stack(preds), F.stack(weights)) if return_attention else F.stack(preds)
