"""The contestants: each builds, for a model and size, a zero-argument function running one
training step: forward over T steps, loss = sum of squares of all outputs, full backward to
every parameter."""
from __future__ import annotations

import os

import numpy as np

SIZES = {"tiny": (1, 8, 16, 100), "small": (16, 32, 64, 50), "medium": (32, 64, 256, 50),
         "large": (64, 256, 512, 35), "medium-long": (32, 64, 256, 400)}  # (B, I, H, T)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def threads() -> int:
    """The threads every contestant may use (``python -m benchmarks --threads N``; default:
    the machine's cores): PyTorch's intra-op threads, XLA's (set before JAX is imported, by
    the worker's environment), and the BLAS libraries' (the worker limits them)."""
    return int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)


def inputs(B, I, H, T, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal((T, B, I)).astype(dtype)


def tinygrad(model, B, I, H, T, dtype, backend="numba"):
    import tinygrad_rnn as tr
    layer = getattr(tr.nn, model)(I, H, dtype=dtype, seed=0)
    xs = tr.placeholder((T, B, I), dtype)
    out = layer(xs)[0]
    loss = (out * out).sum()
    f = tr.function([xs], [loss] + tr.grad(loss, list(layer.parameters().values())), backend)
    x = inputs(B, I, H, T, dtype)
    return lambda: f(x)


def torch_step(model, B, I, H, T, dtype):
    import torch
    torch.set_num_threads(threads())
    ttype = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
    layer = getattr(torch.nn, model)(I, H).to(ttype)
    x = torch.tensor(inputs(B, I, H, T, dtype))

    def step():
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)
        (out * out).sum().backward()
    return step


def jax_step(model, B, I, H, T, dtype):
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", np.dtype(dtype) == np.float64)
    rng = np.random.default_rng(0)
    G = GATES[model]
    params = [jnp.asarray(rng.uniform(-0.1, 0.1, s).astype(dtype)) for s in
              ((G * H, I), (G * H, H), (G * H,), (G * H,))]
    x = jnp.asarray(inputs(B, I, H, T, dtype))

    def cell(p, carry, x_t):
        W, U, b, c_ = p
        if model == "LSTM":
            h, c = carry
            z = x_t @ W.T + h @ U.T + b + c_
            i, f, g, o = jnp.split(z, 4, axis=1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h
        (h,) = carry
        if model == "GRU":
            gi, gh = x_t @ W.T + b, h @ U.T + c_
            r = jax.nn.sigmoid(gi[:, :H] + gh[:, :H])
            z = jax.nn.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = jnp.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:
            h = jnp.tanh(x_t @ W.T + b + h @ U.T + c_)
        return (h,), h

    def loss(p):
        init = tuple(jnp.zeros((B, H), dtype) for _ in range(2 if model == "LSTM" else 1))
        _, hs = jax.lax.scan(lambda c, x_t: cell(p, c, x_t), init, x)
        return jnp.sum(hs * hs)
    step = jax.jit(jax.value_and_grad(loss))
    return lambda: jax.block_until_ready(step(params))


def jax_export_step(model, B, I, H, T, dtype):
    """Our graph and its symbolic gradient, exported (``tr.export.to_jax``) and jitted: what
    the hand-written ``jax_step`` does, written once in tinygrad_rnn."""
    import jax

    import tinygrad_rnn as tr
    jax.config.update("jax_enable_x64", np.dtype(dtype) == np.float64)
    layer = getattr(tr.nn, model)(I, H, dtype=dtype, seed=0)
    xs = tr.placeholder((T, B, I), dtype)
    out = layer(xs)[0]
    loss = (out * out).sum()
    fn, params = tr.export.to_jax([xs], [loss] + tr.grad(loss, list(layer.parameters().values())))
    step = jax.jit(fn)
    x = jax.numpy.asarray(inputs(B, I, H, T, dtype))
    return lambda: jax.block_until_ready(step(params, x))


def numpy_step(model, B, I, H, T, dtype):
    """BPTT written by hand with NumPy (the baseline a student would write)."""
    rng = np.random.default_rng(0)
    G = GATES[model]
    W, U = rng.uniform(-0.1, 0.1, (G * H, I)).astype(dtype), rng.uniform(-0.1, 0.1, (G * H, H)).astype(dtype)
    b = np.zeros(G * H, dtype)
    x = inputs(B, I, H, T, dtype)

    def sig(z):
        return 1 / (1 + np.exp(-z))

    def lstm():
        h, c = np.zeros((B, H), dtype), np.zeros((B, H), dtype)
        xW = (x.reshape(T * B, I) @ W.T).reshape(T, B, G * H) + b
        cache = []
        for t in range(T):
            z = xW[t] + h @ U.T
            i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
            c_prev, h_prev = c, h
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            cache.append((h_prev, c_prev, i, f, g, o, tc, h))
        dz_all = np.empty((T, B, G * H), dtype)
        dh_next, dc_next = np.zeros((B, H), dtype), np.zeros((B, H), dtype)
        for t in reversed(range(T)):
            h_prev, c_prev, i, f, g, o, tc, h = cache[t]
            dh = 2 * h + dh_next
            do = dh * tc
            dc = dh * o * (1 - tc * tc) + dc_next
            dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                                 do * o * (1 - o)], axis=1)
            dz_all[t] = dz
            dh_next, dc_next = dz @ U, dc * f
        hs = np.stack([cc[0] for cc in cache])
        dz2 = dz_all.reshape(T * B, G * H)
        return dz2.T @ x.reshape(T * B, I), dz2.T @ hs.reshape(T * B, H), dz2.sum(0)

    def rnn():
        h = np.zeros((B, H), dtype)
        xW = (x.reshape(T * B, I) @ W.T).reshape(T, B, H) + b
        hs = [h]
        for t in range(T):
            h = np.tanh(xW[t] + h @ U.T)
            hs.append(h)
        dz_all = np.empty((T, B, H), dtype)
        dh_next = np.zeros((B, H), dtype)
        for t in reversed(range(T)):
            dz = (2 * hs[t + 1] + dh_next) * (1 - hs[t + 1] ** 2)
            dz_all[t] = dz
            dh_next = dz @ U
        dz2 = dz_all.reshape(T * B, H)
        return dz2.T @ x.reshape(T * B, I), dz2.T @ np.stack(hs[:-1]).reshape(T * B, H), dz2.sum(0)

    def gru():
        h = np.zeros((B, H), dtype)
        xW = (x.reshape(T * B, I) @ W.T).reshape(T, B, 3 * H) + b
        cache = []
        for t in range(T):
            gh = h @ U.T
            r = sig(xW[t][:, :H] + gh[:, :H])
            z = sig(xW[t][:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(xW[t][:, 2 * H:] + r * gh[:, 2 * H:])
            cache.append((h, r, z, n, gh))
            h = (1 - z) * n + z * h
        dgi, dgh_all = np.empty((T, B, 3 * H), dtype), np.empty((T, B, 3 * H), dtype)
        dh_next = np.zeros((B, H), dtype)
        hs = []
        for t in reversed(range(T)):
            h_prev, r, z, n, gh = cache[t]
            h_t = (1 - z) * n + z * h_prev
            dh = 2 * h_t + dh_next
            dn = dh * (1 - z) * (1 - n * n)
            dz = dh * (h_prev - n) * z * (1 - z)
            dr = dn * gh[:, 2 * H:] * r * (1 - r)
            dgi[t] = np.concatenate([dr, dz, dn], 1)
            dgh = np.concatenate([dr, dz, dn * r], 1)
            dgh_all[t] = dgh
            dh_next = dh * z + dgh @ U
            hs.append(h_prev)
        hs = np.stack(hs[::-1])
        return (dgi.reshape(T * B, -1).T @ x.reshape(T * B, I),
                dgh_all.reshape(T * B, -1).T @ hs.reshape(T * B, H), dgi.sum((0, 1)))
    return {"LSTM": lstm, "RNN": rnn, "GRU": gru}[model]


def available():
    """name -> builder(model, B, I, H, T, dtype) for every contestant installed here."""
    out = {"tinygrad_rnn": tinygrad,
           "tinygrad_rnn (numpy backend)": lambda *a: tinygrad(*a, backend="numpy"),
           "numpy by hand": numpy_step}
    try:
        import torch  # noqa: F401
        out["pytorch"] = torch_step
    except ImportError:
        pass
    try:
        import jax  # noqa: F401
        out["jax"] = jax_step
        out["jax-export"] = jax_export_step
    except ImportError:
        pass
    return out
