"""Encoder-decoder (sequence to sequence, seed 001): an encoder cell reads the input sequence
into its final state (the context), a decoder cell starts from it and emits the output
sequence through a readout layer.

Training uses teacher forcing (the decoder reads the ground-truth previous output);
``generate`` runs free: each prediction is fed back as the next input. ``sample_prob``
mixes the two (scheduled sampling, Bengio et al. 2015): one coin per step and example,
flipped at every run of the graph (``tr.nn.schedules``), with a probability that may be a
placeholder fed at each call, so a compiled train step follows a decay schedule.
"""
from __future__ import annotations

from .. import functions as F
from ..functions import as_tensor
from ..graph.node import fail
from ..recurrence import unroll
from .module import Module
from .schedules import as_generator, bernoulli, mix, sample_prob_tensor


def argmax_one_hot(logits):
    """(B, C) -> (B, C): 1.0 at each row's maximum (no gradient flows through the choice)."""
    best = F.stop_gradient(logits) >= F.stop_gradient(F.max(logits, axis=-1, keepdims=True))
    return F.astype(best, logits.dtype)


class Seq2Seq(Module):
    """encoder: Cell (I -> H); decoder: Cell (O_in -> H, same state layout); readout: maps the
    decoder output (B, H) to predictions (B, O). ``feedback(prediction) -> next input``
    (default: one-hot of the argmax, for classification; pass ``lambda p: p`` for regression).
    seed: of the Generator the scheduled-sampling coins are drawn from (at run time).
    """

    def __init__(self, encoder, decoder, readout, feedback=argmax_one_hot, seed=None):
        super().__init__(encoder.dtype, seed)
        if encoder.state_sizes != decoder.state_sizes:
            raise fail(f"Seq2Seq: the decoder's state {decoder.state_sizes} must match the "
                       f"encoder's {encoder.state_sizes}: it starts from the encoder's final state")
        self.encoder, self.decoder, self.readout, self.feedback = encoder, decoder, readout, feedback

    def parameters(self):
        out = {}
        for prefix, part in (("encoder.", self.encoder), ("decoder.", self.decoder),
                             ("readout.", self.readout)):
            out.update({prefix + k: p for k, p in part.parameters().items()})
        return out

    def encode(self, xs):
        """xs (T_in, B, I) -> the encoder's final state (the context)."""
        _, state = unroll(self.encoder, xs)
        return state

    def __call__(self, xs, decoder_inputs, sample_prob=0.0, rng=None):
        """Teacher forcing: xs (T_in, B, I); decoder_inputs (T_out, B, O_in) are the
        ground-truth previous outputs (start symbol first). Returns predictions (T_out, B, O).

        Scheduled sampling: with ``sample_prob`` p, each step t >= 1 of each example reads
        ``feedback`` of the model's own previous prediction with probability p instead of
        decoder_inputs[t]. The coins (one per step and example) are flipped at every run of
        the graph, not when it is built: a compiled train step draws new ones at each call.
        p: a float in [0, 1] (0: teacher forcing, 1: free running, each exactly, with no
        coins in the graph) or a floating scalar Tensor, e.g. a placeholder fed the value of
        a decay schedule (``tr.nn.schedules``) at each call; fed 0.0 or 1.0 it gives those
        two exactly. rng: the Generator (or int seed) of the coins; None: the model's own
        (``seed=``)."""
        d_in = as_tensor(decoder_inputs)
        if d_in.ndim != 3 or d_in.shape[2] != self.decoder.input_size:
            raise fail(f"Seq2Seq: expected decoder_inputs (T_out, B, {self.decoder.input_size}), "
                       f"got {d_in.shape}")
        p = sample_prob_tensor(sample_prob, "Seq2Seq")
        fixed = p if isinstance(p, float) else None  # a number known now, or None (run time)
        T, B = d_in.shape[:2]
        coins = None
        if (fixed is None or 0.0 < fixed < 1.0) and T > 1:
            coins = bernoulli(p, (T - 1, B, 1),
                              rng=as_generator(self._rng if rng is None else rng, "Seq2Seq"))
        state = self.encode(xs)
        preds, prev = [], None
        for t in range(T):
            if t == 0 or fixed == 0.0:
                x_t = d_in[t]
            elif fixed == 1.0:
                x_t = self.feedback(prev)
            else:
                x_t = mix(coins[t - 1], self.feedback(prev), d_in[t])
            y, state = self.decoder(x_t, state)
            prev = self.readout(y)
            preds.append(prev)
        return F.stack(preds)

    def generate(self, xs, start, steps: int):
        """Free-running decoding: start (B, O_in) is the first input; each prediction is fed
        back through ``feedback``. Returns predictions (steps, B, O)."""
        state = self.encode(xs)
        x_t, preds = as_tensor(start), []
        for _ in range(steps):
            y, state = self.decoder(x_t, state)
            pred = self.readout(y)
            preds.append(pred)
            x_t = self.feedback(pred)
        return F.stack(preds)
