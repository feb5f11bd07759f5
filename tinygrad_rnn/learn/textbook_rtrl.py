"""Textbook gradients of the Williams & Zipser network, in plain NumPy (float64): oracles.

Both functions take a ``WilliamsZipserNet`` (read: ``net.W.value``, ``net.I``, ``net.U``),
the external inputs ``xs`` (T, B, m), ``targets`` (T, B, n), ``mask`` (T, B, n) bool and an
optional ``y0`` (B, n) or (n,) (default zeros), and return ``(total_loss, {"W": grad})``.

Time indexing (the same as ``wz_loss_fn`` and the cell): step t = 0..T-1 reads x_net(t) =
``xs[t]`` and y(t), and produces y(t+1) = f(s(t)), s(t) = W x(t); ``targets[t]`` and
``mask[t]`` are d(t+1) and T(t+1), so ``e(t+1) = mask[t] * (targets[t] - y(t+1))``.

Sign: ``total_loss = sum_{t=1..T} 1/2 sum_b sum_k e_k(t)^2 = -J_total`` (summed over the
batch), and ``grad = d total_loss / dW = -dJ_total/dW``: what BPTT of the summed loss gives.
The textbook's weight change is ``dW = eta dJ/dW = -eta * grad``.
"""
from __future__ import annotations

import numpy as np


def _prepare(net, xs, targets, mask, y0):
    n, m = net.n, net.m
    W = np.array(net.W.value, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    if xs.ndim != 3 or xs.shape[2] != m:
        raise ValueError(f"xs (x_net(t)) expected shape (T, B, {m}), given {xs.shape}")
    T, B, _ = xs.shape
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != (T, B, n):
        raise ValueError(f"targets expected shape ({T}, {B}, {n}), given {targets.shape}")
    mask = np.ones((T, B, n), bool) if mask is None else np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != (T, B, n):
        raise ValueError(f"mask expected a bool array of shape ({T}, {B}, {n}), given "
                         f"{mask.dtype} {mask.shape}")
    y = np.zeros((B, n)) if y0 is None else np.broadcast_to(
        np.asarray(y0, dtype=np.float64), (B, n)).copy()
    d = np.where(mask, targets, 0.0)      # NaN targets outside T(t) are allowed
    return W, xs, d, mask.astype(np.float64), y


def _x_vector(net, x_net, y):
    """x(t) = concat(x_net(t), [1], y(t)): (B, m), (B, n) -> (B, |I| + n)."""
    B = y.shape[0]
    parts = [x_net] + ([np.ones((B, 1))] if net.bias else []) + [y]
    return np.concatenate(parts, axis=1)


def _sigmoid(s):
    return 1.0 / (1.0 + np.exp(-s))


def williams_zipser_rtrl(net, xs, targets, mask, y0=None):
    """Real-Time Recurrent Learning (Williams & Zipser): forward sensitivities.

    p^k_ij(t) = d y_k(t) / d w_ij, kept as ``p[b, k, i, j]`` of shape (B, n, n, |I| + n):

        p^k_ij(0)   = 0
        p^k_ij(t+1) = f'_k(s_k(t)) [ sum_{l in U} w_kl p^l_ij(t) + delta_ik x_j(t) ]
        f'_k(s_k(t)) = y_k(t+1) (1 - y_k(t+1))          (logistic f)
        dJ(t)/dw_ij = sum_{k in U} e_k(t) p^k_ij(t)

    (the ``l in U`` weights are the columns ``net.U`` of W). The per-step gradient is
    accumulated after each step t for the seed's time t+1 (see the module docstring).

    Returns ``(total_loss, {"W": d total_loss / dW})`` with total_loss = -J_total and
    ``grads["W"] = -sum_t sum_b sum_k e_k(t) p^k_ij(t)``.
    """
    W, xs, d, mk, y = _prepare(net, xs, targets, mask, y0)
    T, B, _ = xs.shape
    n = net.n
    U = np.asarray(net.U)
    W_U = W[:, U]                                           # (n, n): w_kl, l in U
    p = np.zeros((B, n, n, W.shape[1]))                     # p^k_ij(0) = 0
    eye = np.eye(n)
    grad = np.zeros_like(W)
    total = 0.0
    for t in range(T):
        x = _x_vector(net, xs[t], y)                        # x(t)      (B, |I|+n)
        s = x @ W.T                                         # s(t)      (B, n)
        y = _sigmoid(s)                                     # y(t+1)
        fprime = y * (1.0 - y)                              # f'_k(s_k(t))
        # sum_{l in U} w_kl p^l_ij(t) + delta_ik x_j(t)
        inner = np.einsum("kl,blij->bkij", W_U, p) + eye[None, :, :, None] * x[:, None, None, :]
        p = fprime[:, :, None, None] * inner                # p^k_ij(t+1)
        e = mk[t] * (d[t] - y)                              # e_k(t+1)
        total += 0.5 * float(np.sum(e * e))
        grad -= np.einsum("bk,bkij->ij", e, p)              # -dJ(t+1)/dw_ij
    return total, {"W": grad}


def williams_zipser_bptt_numpy(net, xs, targets, mask, y0=None):
    """Epoch-wise Back-Propagation Through Time, by hand: a forward pass storing x(t) and
    y(t+1), then deltas backwards.

        eps_k(t+1)   = e_k(t+1) + sum_{l in U} w_lk delta_l(t+1)      (delta(T) = 0)
        delta_k(t)   = f'_k(s_k(t)) eps_k(t+1)                       (= -d loss / d s_k(t))
        dJ/dw_ij     = sum_{t=0}^{T-1} delta_i(t) x_j(t)

    (``w_lk`` for the unit k is the column ``net.U[k]`` of W.) Returns ``(total_loss,
    {"W": d total_loss / dW})`` with the sign of ``williams_zipser_rtrl``:
    ``grads["W"] = -sum_t sum_b delta(t)^T x(t)``.
    """
    W, xs, d, mk, y = _prepare(net, xs, targets, mask, y0)
    T, B, _ = xs.shape
    W_U = W[:, np.asarray(net.U)]
    x_hist, y_hist = [], []
    for t in range(T):
        x = _x_vector(net, xs[t], y)
        y = _sigmoid(x @ W.T)
        x_hist.append(x)
        y_hist.append(y)
    e = mk * (d - np.stack(y_hist))                         # e[t] = e(t+1)   (T, B, n)
    total = 0.5 * float(np.sum(e * e))
    grad = np.zeros_like(W)
    delta_next = np.zeros((B, net.n))                       # delta(T): nothing after the end
    for t in range(T - 1, -1, -1):
        eps = e[t] + delta_next @ W_U                       # eps(t+1)
        delta = y_hist[t] * (1.0 - y_hist[t]) * eps         # delta(t)
        grad -= delta.T @ x_hist[t]
        delta_next = delta
    return total, {"W": grad}
