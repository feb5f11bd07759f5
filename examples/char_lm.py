"""A character-level LSTM language model trained on Shakespeare, then sampled.

The text is the opening of *Coriolanus* (Act I up to the middle of Scene 9): a contiguous
excerpt, the first 31,742 characters, of the ``tinyshakespeare`` corpus in Andrej Karpathy's
char-rnn repository (github.com/karpathy/char-rnn, data/tinyshakespeare/input.txt).
Shakespeare's plays are in the public domain. It lives in examples/data/coriolanus.txt.

The model reads one character at a time (one-hot), an LSTM layer (one ``scan`` node for the
whole window) carries the context, and a linear readout gives the logits of the next
character; the loss is the cross-entropy in nats per character. Minibatches are random
windows of T characters from the first 90% of the text; the last 10% is held out. One train
step is compiled (fixed shapes) and ``tr.fit`` runs it with Adam and gradient-norm clipping,
scoring the held-out text every tenth of the run: the best parameters so far go to
char_lm.npz (``tr.save_params``), and training stops early once the held-out loss has risen
0.1 above its best (28k characters are soon memorised). Then the script

- measures the held-out loss (nats and bits per character) and compares it with the unigram
  entropy of the text (the loss of the best model that ignores the context) and with a
  bigram model's held-out loss (one character of context): the LSTM must beat both, the
  first by at least 20%;
- samples text at a few temperatures from a compiled one-step function of the trained cell;
- zeroes the weights and restores the best ones with ``tr.load_params``: the held-out loss
  must come back bit for bit;
- writes the loss curve (loss_curve.csv: step, loss, running mean; loss_curve.svg) and pictures of the loss
  graph and of one LSTM step (DOT, and SVG when Graphviz's ``dot`` is installed).

    python examples/char_lm.py [--quick] [--out DIR] [--seed N]
"""
import argparse
import os
import shutil

# the matrices here are small: OpenBLAS's threads cost more than they save (10x slower steps
# on a busy 2-core machine); set before NumPy loads OpenBLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn.viz.plot import save_plot  # noqa: E402

TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "coriolanus.txt")
PRIME = "MENENIUS:\n"


def load_text(path):
    """The text, its vocabulary (sorted characters) and the text as an int64 index array."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return text, vocab, np.array([index[ch] for ch in text], dtype=np.int64)


def unigram_entropy(ids, V):
    """Entropy (nats) of the character frequencies: the loss of the best context-free model."""
    p = np.bincount(ids, minlength=V) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def bigram_loss(train_ids, test_ids, V, k=0.1):
    """Held-out loss (nats/char) of a bigram model, P(next | previous character) from counts
    in the training text (add-k smoothed): what one character of context buys."""
    counts = np.full((V, V), k)
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    p = counts / counts.sum(1, keepdims=True)
    return float(-np.log(p[test_ids[:-1], test_ids[1:]]).mean())


def windows(ids, starts, T, V):
    """One-hot inputs (T, B, V) and next-character targets (T*B,) of the windows at
    ``starts`` (B,), time-major as the LSTM layer wants them."""
    idx = starts[None, :] + np.arange(T)[:, None]  # (T, B)
    xs = np.zeros((T, len(starts), V))
    np.put_along_axis(xs, ids[idx][..., None], 1.0, axis=2)
    return xs, ids[idx + 1].reshape(-1)


def build_model(V, H, T, B, seed):
    """The LSTM and its readout, the placeholders, the mean cross-entropy over a batch of
    windows, and the parameters as one dict (what the optimizer and the .npz file hold)."""
    lstm = tr.nn.LSTM(V, H, seed=seed)
    readout = tr.nn.Linear(H, V, seed=seed + 1)
    xs = tr.placeholder((T, B, V), name="xs")
    targets = tr.placeholder((T * B,), dtype=np.int64, name="targets")
    out, _ = lstm(xs)
    logits = readout(tr.reshape(out, (T * B, H)))
    loss = tr.cross_entropy(logits, targets)
    params = {**{f"lstm.{k}": p for k, p in lstm.parameters().items()},
              **{f"readout.{k}": p for k, p in readout.parameters().items()}}
    return lstm, readout, xs, targets, loss, params


def one_step(cell, readout):
    """A compiled function (x (1, V), h (1, H), c (1, H)) -> (logits, h', c'): the trained
    cell run one character at a time, for sampling."""
    H, V = cell.hidden_size, cell.input_size
    x = tr.placeholder((1, V), name="x")
    h, c = tr.placeholder((1, H), name="h"), tr.placeholder((1, H), name="c")
    y, (h2, c2) = cell(x, (h, c))
    return tr.function([x, h, c], [readout(y), h2, c2])


def sample(step, vocab, H, prime, n, temperature, rng):
    """Feed ``prime`` through the cell, then draw ``n`` characters from
    softmax(logits / temperature), each fed back as the next input."""
    V, index = len(vocab), {ch: i for i, ch in enumerate(vocab)}
    h, c, x = np.zeros((1, H)), np.zeros((1, H)), np.zeros((1, V))
    chars = []
    for ch in prime:
        x[:] = 0.0
        x[0, index[ch]] = 1.0
        logits, h, c = step(x, h, c)
    for _ in range(n):
        z = logits[0] / temperature
        p = np.exp(z - z.max())
        k = int(rng.choice(V, p=p / p.sum()))
        chars.append(vocab[k])
        x[:] = 0.0
        x[0, k] = 1.0
        logits, h, c = step(x, h, c)
    return prime + "".join(chars)


def write_picture(graph, out, name):
    """Write ``graph`` as DOT (and SVG when Graphviz is installed); return the paths."""
    path = os.path.join(out, f"{name}.dot")
    with open(path, "w") as fh:
        fh.write(graph.source)
    written = [path]
    if shutil.which("dot"):
        written.append(graph.render(os.path.join(out, name), format="svg", cleanup=True))
    return written


def main():
    # no abbreviations: "--quick" is also looked for in sys.argv above, before the imports
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="a short run (what CI runs)")
    parser.add_argument("--out", default="char_lm_out", help="where to write the files")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batches")
    args = parser.parse_args()
    # window T, batch B, hidden H; quick: ~15 s on 2 busy cores, cold cache included. 28k
    # training characters are few: a bigger model only overfits sooner (hence the early stop)
    T, B, H, steps, lr = (16, 64, 64, 250, 1e-2) if args.quick else (64, 32, 96, 2000, 4e-3)
    os.makedirs(args.out, exist_ok=True)

    text, vocab, ids = load_text(TEXT)
    V, split = len(vocab), int(0.9 * len(ids))
    train_ids, test_ids = ids[:split], ids[split:]
    h_uni, h_bi = unigram_entropy(ids, V), bigram_loss(train_ids, test_ids, V)
    print(f"{len(text)} characters, {V} distinct; unigram entropy {h_uni:.3f} nats/char "
          f"({h_uni / np.log(2):.3f} bits/char); a bigram model scores {h_bi:.3f} on the "
          "held-out text")

    lstm, readout, xs, targets, loss, params = build_model(V, H, T, B, args.seed)
    step = tr.train_step([xs, targets], loss, params)  # compiled once: shapes never change
    rng = np.random.default_rng(args.seed)

    def batch(i):
        return windows(train_ids, rng.integers(0, len(train_ids) - T - 1, B), T, V)

    # fixed held-out windows, scored by the same compiled step (its gradients unused), so
    # evaluation compiles nothing new
    n_test = 2 if args.quick else 8
    test_starts = np.linspace(0, len(test_ids) - T - 2, n_test * B).astype(np.int64)
    test_batches = [windows(test_ids, s, T, V) for s in np.split(test_starts, n_test)]

    def held_out_loss():
        return float(np.mean([step(*b)[0] for b in test_batches]))

    checkpoint = os.path.join(args.out, "char_lm.npz")
    best = {"held-out": np.inf, "step": 0}

    def evaluate():
        """Score the held-out text; keep the best parameters so far in the checkpoint (opt
        is the optimizer below: it counts the steps)."""
        loss_now = held_out_loss()
        if loss_now < best["held-out"]:
            best.update({"held-out": loss_now, "step": opt.steps})
            tr.save_params(checkpoint, params)
        return {"held-out": loss_now, "best": best["held-out"]}

    def overfitting(metrics):
        return metrics["held-out"] > metrics["best"] + 0.1

    print(f"LSTM {V} -> {H} -> {V}, windows of T={T}, batch {B}, up to {steps} Adam steps "
          f"(lr {lr})")
    opt = tr.optim.Adam(params, lr=lr)
    history = tr.fit(step, opt, batch, steps=steps, clip=1.0, log_every=steps // 10,
                     evaluate=evaluate, stop=overfitting)
    if history.stopped_at:
        print(f"stopped at step {history.stopped_at}: the held-out loss rose 0.1 above its best")
    print(f"trained {history.steps} steps in {history.seconds:.1f} s; best held-out loss "
          f"{best['held-out']:.3f} nats/char ({best['held-out'] / np.log(2):.3f} bits/char) at "
          f"step {best['step']}")

    window = max(steps // 20, 1)
    curve = os.path.join(args.out, "loss_curve.csv")
    np.savetxt(curve, np.c_[np.arange(1, history.steps + 1), history.losses,
                            history.smoothed(window)],
               delimiter=",", fmt=["%d", "%.6f", "%.6f"],
               header=f"step,loss,smoothed_loss_{window}", comments="")
    print("wrote", curve)
    held = [m["held-out"] for _, m in history.evals]
    print("wrote", save_plot({"training (running mean)": history.smoothed(window)[window - 1:]},
                             os.path.join(args.out, "loss_curve.svg"), "Character LSTM: loss",
                             ylabel="nats per character", xlabel="step",
                             x=np.arange(window, history.steps + 1)))
    print(f"held-out loss at each evaluation: {', '.join(f'{v:.3f}' for v in held)}")

    # back to the best parameters, through the file: zero every weight, then load_params;
    # the held-out loss must come back bit for bit
    for p in params.values():
        p.assign(np.zeros(p.shape))
    zeroed = held_out_loss()
    tr.load_params(checkpoint, params)
    held_out = held_out_loss()
    print(f"{checkpoint}: held-out loss with zeroed weights {zeroed:.3f} (= ln {V}), after "
          f"load_params {held_out:.6f}")
    if held_out != best["held-out"]:
        raise SystemExit(f"char_lm FAILED: the reloaded parameters score {held_out!r}, the saved "
                         f"ones scored {best['held-out']!r}")

    cell = lstm.cells[0][0]
    generate = one_step(cell, readout)
    sample_rng = np.random.default_rng(args.seed)
    for temperature in (0.5, 1.0) if args.quick else (0.3, 0.6, 1.0):
        n = 200 if args.quick else 600
        print(f"--- sample, temperature {temperature} ---")
        print(sample(generate, vocab, H, PRIME, n, temperature, sample_rng))
    print("---")

    pictures = [("loss_graph", tr.viz.draw(loss, title="char LM loss: the LSTM layer is one "
                                                        "scan node")),
                ("lstm_step", tr.viz.draw_folded(cell))]
    for name, graph in pictures:
        print("wrote", ", ".join(write_picture(graph, args.out, name)))

    # a model that learned only the character frequencies scores h_uni, one that looks back
    # one character h_bi: the LSTM must beat both
    limit = min(0.8 * h_uni, h_bi)
    verdict = (f"held-out {held_out:.3f} nats/char = {held_out / np.log(2):.3f} bits/char; "
               f"unigram entropy {h_uni:.3f}, bigram {h_bi:.3f}, limit {limit:.3f} nats/char")
    if not held_out < limit:
        raise SystemExit(f"char_lm FAILED: {verdict}")
    print(f"char_lm OK: {verdict}")


if __name__ == "__main__":
    main()
