"""Scheduled sampling (Bengio et al. 2015, "Scheduled Sampling for Sequence Prediction with
Recurrent Neural Networks"): at each decoding step of training, each example reads the model's
own previous output with probability ``p`` (the *sample probability*) and the ground truth
otherwise. Starting at p = 0 (teacher forcing) and raising it while training narrows the gap
between what the network reads in training (true outputs) and at test time (its own).

- ``bernoulli(p, shape, rng)``: the coins, drawn afresh at every run of a compiled function
  (the ``bernoulli`` primitive, ops/random.py); ``p`` may be a placeholder, fed at each call,
  so one compiled train step serves the whole schedule;
- ``mix(coins, own, truth)``: each example's next input (``own`` where its coin is True);
- the paper's decay schedules for its ε_i, the probability of reading the *truth* at training
  step i; each returns ``i -> 1 - ε_i``, the sample probability the models take
  (``Seq2Seq(..., sample_prob=)``, ``JordanRNN.scheduled``):

  ``linear(k, c, epsilon)``: ε_i = max(epsilon, k - c i)
  ``exponential(k)``:        ε_i = k ** i                     (k < 1)
  ``inverse_sigmoid(k)``:    ε_i = k / (k + exp(i / k))       (k >= 1)

>>> p = tr.placeholder((), name="sample_prob")
>>> preds = model(xs, decoder_inputs, sample_prob=p)       # coins drawn at run time
>>> schedule = tr.nn.schedules.inverse_sigmoid(k=200)
>>> for i in range(steps): step(*batch(i), schedule(i))    # p fed at each call
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import functions as F
from ..functions import as_tensor
from ..graph.node import fail
from ..ops.random import bernoulli as _bernoulli
from ..tensor import Tensor, api, as_shape

__all__ = ["bernoulli", "mix", "sample_prob_tensor", "as_generator", "linear", "exponential",
           "inverse_sigmoid"]


def as_generator(rng, caller: str) -> np.random.Generator:
    """``rng`` (a NumPy Generator, an int seed, or None for a fresh seed) as a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise fail(f"{caller}: rng must be a numpy.random.Generator, an int seed or None, got "
               f"{type(rng).__name__} {rng!r}")


def sample_prob_tensor(p, caller: str):
    """``p`` checked: a Python number in [0, 1] (returned as a float) or a floating scalar
    Tensor (a placeholder fed at run time; returned as it is)."""
    if isinstance(p, Tensor):
        if p.dtype.kind != "f" or p.shape not in ((), (1,)):
            raise fail(f"{caller}: sample_prob must be a float in [0, 1] or a floating scalar "
                       f"Tensor of shape (), got a {p.dtype} Tensor of shape {p.shape}")
        return p
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(p) <= 1.0:
        raise fail(f"{caller}: sample_prob must be a float in [0, 1] or a floating scalar "
                   f"Tensor (a placeholder), got {p!r}")
    return float(p)


@api
def bernoulli(p, shape, rng=None, dtype=np.bool_) -> Tensor:
    """Coins of ``shape``, each True with probability ``p``, drawn afresh at every run of the
    graph (never when it is built): two calls of one compiled function flip new coins.

    p: a float in [0, 1] or a floating Tensor broadcastable to ``shape`` (a placeholder ()
    fed at each call); rng: the NumPy Generator the draws come from (an int seeds one; None:
    a fresh seed); dtype: bool (default) or a float dtype (0.0 / 1.0). No derivative flows
    to p. Returns a Tensor of ``shape``.

    >>> p = tr.placeholder(()); coins = tr.nn.schedules.bernoulli(p, (T, B, 1), rng=0)
    """
    shape = as_shape(shape, "bernoulli")
    if isinstance(p, Tensor):
        if p.dtype.kind != "f":
            raise fail(f"bernoulli: p must be a floating Tensor, got dtype {p.dtype}")
    else:
        p = sample_prob_tensor(p, "bernoulli")
        p = F.full((), p, np.float64)
    return Tensor(_bernoulli(p.node, shape=shape, dtype=np.dtype(dtype),
                             rng=as_generator(rng, "bernoulli")))


@api
def mix(coins, own, truth) -> Tensor:
    """Each example's next input under scheduled sampling: ``own`` (the model's previous
    output, fed back) where its coin is True, else ``truth`` (teacher forcing).

    coins: bool (B, 1) (or anything broadcasting against the inputs); own, truth: (B, D).
    Returns (B, D). The gradient reaches ``own`` only through the examples that read it."""
    return F.where(coins, as_tensor(own), as_tensor(truth))


# ---- decay schedules -----------------------------------------------------------------

def _number(v, what, caller, low=None, high=None, open_low=False):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)):
        raise ValueError(f"{caller}: {what} must be a finite number, got {v!r}")
    v = float(v)
    if low is not None and (v <= low if open_low else v < low):
        raise ValueError(f"{caller}: {what} must be {'>' if open_low else '>='} {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{caller}: {what} must be <= {high}, got {v}")
    return v


def _schedule(caller, epsilon_of, description):
    def sample_prob(i) -> float:
        i = _number(i, "the training step i", caller, low=0)
        return float(min(1.0, max(0.0, 1.0 - epsilon_of(i))))
    sample_prob.__name__ = caller
    sample_prob.__qualname__ = caller
    sample_prob.__doc__ = (f"Training step i (>= 0) -> the sample probability 1 - ε_i, "
                           f"with {description}.")
    return sample_prob


def linear(k: float = 1.0, c: float = 1e-3, epsilon: float = 0.0) -> Callable[[float], float]:
    """Linear decay: ε_i = max(epsilon, k - c i); returns ``i -> 1 - ε_i`` (a float in [0, 1]).

    k (<= 1): ε at step 0; c (> 0): the decrease per training step; epsilon: the floor of ε
    (the least teacher forcing kept). ``linear(1.0, 1e-3)(500)`` is 0.5.
    """
    k = _number(k, "k", "linear", low=0, high=1)
    c = _number(c, "c", "linear", low=0, open_low=True)
    epsilon = _number(epsilon, "epsilon", "linear", low=0, high=1)
    return _schedule("linear", lambda i: max(epsilon, k - c * i),
                     f"ε_i = max({epsilon:g}, {k:g} - {c:g} i)")


def exponential(k: float = 0.999) -> Callable[[float], float]:
    """Exponential decay: ε_i = k ** i (0 < k < 1); returns ``i -> 1 - ε_i``.
    ``exponential(0.99)(69)`` is about 0.5."""
    k = _number(k, "k", "exponential", low=0, high=1, open_low=True)
    if k == 1.0:
        raise ValueError("exponential: k must be < 1 (k = 1 never decays), got 1.0")
    return _schedule("exponential", lambda i: k ** i, f"ε_i = {k:g} ** i")


def inverse_sigmoid(k: float = 100.0) -> Callable[[float], float]:
    """Inverse sigmoid decay: ε_i = k / (k + exp(i / k)) (k >= 1); returns ``i -> 1 - ε_i``.
    ε stays near 1 for about k ln k steps, then falls; ``inverse_sigmoid(10)(0)`` is 1/11."""
    k = _number(k, "k", "inverse_sigmoid", low=1)

    def epsilon(i):
        z = i / k
        return 0.0 if z > 700 else k / (k + math.exp(z))  # exp overflows beyond ~709
    return _schedule("inverse_sigmoid", epsilon, f"ε_i = {k:g} / ({k:g} + exp(i / {k:g}))")
