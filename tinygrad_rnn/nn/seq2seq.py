"""Encoder-decoder (sequence to sequence, seed 001): an encoder cell reads the input sequence
into its final state (the context), a decoder cell starts from it and emits the output
sequence through a readout layer.

Training uses teacher forcing (the decoder reads the ground-truth previous output);
``generate`` runs free: each prediction is fed back as the next input. ``sample_prob``
mixes the two (scheduled sampling, Bengio et al. 2015).
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..functions import as_tensor
from ..graph.node import fail
from ..recurrence import unroll
from .module import Module


def argmax_one_hot(logits):
    """(B, C) -> (B, C): 1.0 at each row's maximum (no gradient flows through the choice)."""
    best = F.stop_gradient(logits) >= F.stop_gradient(F.max(logits, axis=-1, keepdims=True))
    return F.astype(best, logits.dtype)


class Seq2Seq(Module):
    """encoder: Cell (I -> H); decoder: Cell (O_in -> H, same state layout); readout: maps the
    decoder output (B, H) to predictions (B, O). ``feedback(prediction) -> next input``
    (default: one-hot of the argmax, for classification; pass ``lambda p: p`` for regression).
    """

    def __init__(self, encoder, decoder, readout, feedback=argmax_one_hot):
        super().__init__(encoder.dtype)
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

    def __call__(self, xs, decoder_inputs, sample_prob: float = 0.0, rng=None):
        """Teacher forcing: decoder_inputs (T_out, B, O_in) are the ground-truth previous outputs
        (start symbol first). With ``sample_prob`` p > 0, each step reads the model's own
        previous prediction with probability p instead (decided when the graph is built).
        Returns predictions (T_out, B, O)."""
        d_in = as_tensor(decoder_inputs)
        if d_in.ndim != 3 or d_in.shape[2] != self.decoder.input_size:
            raise fail(f"Seq2Seq: expected decoder_inputs (T_out, B, {self.decoder.input_size}), "
                       f"got {d_in.shape}")
        rng = rng or np.random.default_rng()
        state = self.encode(xs)
        preds, prev = [], None
        for t in range(d_in.shape[0]):
            own = prev is not None and sample_prob > 0 and rng.random() < sample_prob
            x_t = self.feedback(prev) if own else d_in[t]
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
