"""What RTRL and BPTT cost on the fully recurrent (Williams & Zipser) network, measured.

For n fully recurrent units with m input lines and a bias, the network has
|W| = n (n + m + 1) weights. RTRL carries the sensitivities p^k_ij(t) = d y_k / d w_ij:
n |W| numbers (O(n^3) memory, independent of T), updated at every step by a product with
the n x n recurrent weights: O(n^4) time per step. BPTT stores the T states of the forward
pass (T n numbers) and walks back through them: O(n^2) time per step.

``rtrl_bptt_costs`` times one step of each, compiled on both sides: the generic RTRL step
(the library's JVP-batched sensitivities, ``tr.learn.rtrl``'s step), the textbook p^k_ij
recursion (``tr.learn.williams_zipser_rtrl``, NumPy), and a BPTT step (the loss and its
gradient over T steps as one compiled scan and its reverse scan, divided by T).
"""
from __future__ import annotations

import time

import numpy as np

from ..functions import sum as fsum
from ..functions import zeros
from ..recurrence import scan
from ..runtime import background
from ..tensor import placeholder
from ..transforms import function, grad


def _best_of(run, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def rtrl_bptt_costs(sizes=(4, 8, 16, 32), T: int = 50, batch: int = 1, repeats: int = 3,
                    seed: int = 0) -> list[dict]:
    """One dict per n in ``sizes``: n, weights (|W|), the numbers each method keeps
    (rtrl_numbers = n |W| sensitivities, bptt_numbers = T n stored states, per sequence) and
    the seconds per step (best of ``repeats``, after a warm-up call that compiles):
    rtrl_generic, rtrl_textbook, bptt."""
    from ..nn import WilliamsZipserNet
    from .rtrl import _step_function
    from .textbook_rtrl import williams_zipser_rtrl
    rows = []
    rng = np.random.default_rng(seed)
    for n in sizes:
        net = WilliamsZipserNet(n, 1, seed=seed)
        xs = rng.standard_normal((T, batch, 1))
        targets = rng.uniform(0.1, 0.9, (T, batch, n))
        mask = np.ones((T, batch, n), bool)
        P = sum(p.size for p in net.parameters().values())
        step, _, _ = _step_function(net, batch, "numba")
        y0 = np.zeros((batch, n))
        sens0 = np.zeros((P, batch, n))

        def generic():
            y, sens = y0, sens0
            for t in range(T):
                _, y, _, sens = step(xs[t], y, sens)
        x_in = placeholder((T, batch, 1), net.dtype, name="xs")
        d_in = placeholder((T, batch, n), net.dtype, name="targets")

        def body(y, inputs):
            x, d = inputs
            out, (y_new,) = net(x, (y,))
            e = d - out
            return y_new, 0.5 * fsum(e * e)
        _, losses = scan(body, zeros((batch, n), net.dtype), (x_in, d_in))
        loss = fsum(losses)
        bptt_fn = function([x_in, d_in], [loss] + grad(loss, list(net.parameters().values())))

        def bptt_run():
            bptt_fn(xs, targets)
        for run in (generic, bptt_run, bptt_run):  # warm-up: compile (both tiers)
            run()
        background.wait()  # the loops compiled in helper processes: time machine code
        bptt_run()
        rows.append(dict(
            n=n, weights=P, T=T, batch=batch, rtrl_numbers=n * P, bptt_numbers=T * n,
            rtrl_generic=_best_of(generic, repeats) / T,
            rtrl_textbook=_best_of(lambda: williams_zipser_rtrl(net, xs, targets, mask),
                                   repeats) / T,
            bptt=_best_of(bptt_run, repeats) / T))
    return rows


def growth(rows: list[dict], key: str) -> float:
    """The fitted exponent a of time ~ n^a (least squares on log-log) for column ``key``."""
    n = np.log([r["n"] for r in rows])
    t = np.log([r[key] for r in rows])
    return float(np.polyfit(n, t, 1)[0])
