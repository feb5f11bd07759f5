"""``tinygrad-rnn tour``: one walk from a cell to its gradient, computed two ways, and to
where the error flows, written as pictures and one HTML page."""
from __future__ import annotations

import os
import shutil
import time
from html import escape

import numpy as np

from . import learn, nn, viz
from .functions import sum as fsum
from .viz.plot import save_plot

LAG_STEPS = 40


def _save(graph, out, name):
    """An SVG when Graphviz's dot is installed, else the DOT text (the page says so)."""
    ext = "svg" if shutil.which("dot") else "dot"
    return os.path.basename(viz.save(graph, os.path.join(out, f"{name}.{ext}")))


def _last_loss(T):
    return lambda t, y: fsum(y * y) if t == T - 1 else None


def error_flow_by_lag(T: int = LAG_STEPS, hidden: int = 8, seed: int = 0) -> dict:
    """name -> (T,) norms of dL/dh at lag q = 0..T-1 (loss on the last output only) for
    cells of the same size at their default initialisation, on the same inputs |N(0, 1)|
    (positive, so that the IRNN's ReLUs stay active)."""
    xs = np.abs(np.random.default_rng(seed).standard_normal((T, 1, 1)))
    cells = {"tanh RNN": nn.RNNCell(1, hidden, seed=seed),
             "GRU": nn.GRUCell(1, hidden, seed=seed),
             "LSTM, forget bias 0": nn.LSTMCell(1, hidden, seed=seed),
             "LSTM, forget bias 1": nn.LSTMCell(1, hidden, forget_bias=1.0, seed=seed),
             "LSTM 1997 (no forget gate)": nn.LSTMCell(1, hidden, forget_gate=False, seed=seed),
             "IRNN (ReLU, U = I)": nn.RNNCell(1, hidden, nonlinearity="relu", init="identity",
                                               seed=seed)}
    return {name: learn.error_flow(cell, xs, _last_loss(T))["h"][::-1]
            for name, cell in cells.items()}


def run(out: str = "tour", quiet: bool = False) -> dict:
    """Write the tour into ``out``; returns what it measured (also printed)."""
    say = (lambda *a: None) if quiet else print
    start = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    sections, facts = [], {}
    say("tinygrad_rnn tour")

    cell = nn.LSTMCell(3, 4, seed=0)
    say("1. an LSTM cell (3 inputs, 4 units) drawn folded: its state feeds back through a delay")
    folded = _save(viz.draw_folded(cell), out, "1_lstm_folded")
    sections.append(("An LSTM cell, folded", folded,
                     "One step of the cell as a graph of gates. The state (h, c) leaves the step "
                     "and comes back through the delay (the square): that loop is the "
                     "recurrence."))
    say("2. unrolled over 4 steps: a DAG with the parameters shared by every step")
    unrolled = _save(viz.draw_unrolled(cell, 4, loss=True), out, "2_lstm_unrolled")
    sections.append(("Unrolled through time", unrolled,
                     "Unrolling copies the step once per time step. The weights are drawn once: "
                     "every step reads the same ones, so their gradient is a sum over steps. "
                     "Backpropagation through time is plain reverse mode on this DAG."))
    from .cli import picture
    backward = _save(picture(cell, "backward", 3), out, "3_lstm_backward")
    sections.append(("The gradient is a graph too", backward,
                     "Reverse mode builds new nodes (red) that read the forward values (faded): "
                     "the derivative of the loss at the last step with respect to the recurrent "
                     "weights. It can be run, drawn, and differentiated again."))

    say("3. the gradient two ways: BPTT (backward in time) and RTRL (forward in time)")
    T = 6
    xs = np.random.default_rng(1).standard_normal((T, 2, 3))
    loss_fn = (lambda t, y: fsum(y * y))
    _, g_bptt = learn.bptt(cell, xs, None, loss_fn)
    _, g_rtrl = learn.rtrl(cell, xs, None, loss_fn)
    diff = max(float(np.abs(g_bptt[k] - g_rtrl[k]).max()) for k in g_bptt)
    facts["bptt_vs_rtrl_max_difference"] = diff
    say(f"   largest |BPTT - RTRL| over {sum(v.size for v in g_bptt.values())} gradient "
        f"entries: {diff:.2e}")
    sections.append(("BPTT and RTRL agree", None,
                     f"BPTT stores the forward pass and walks it backwards; RTRL carries "
                     f"d state / d weights forward and stores no past. On {T} steps of this "
                     f"LSTM, the two gradients differ by at most {diff:.1e} (rounding): the "
                     "same derivative, computed in two orders. RTRL costs O(weights x state) "
                     "memory per step, so it is for small networks; BPTT's memory grows "
                     "with T."))

    say("4. where the error flows: a tanh RNN against an LSTM")
    for name, label in (("rnn", "a tanh RNN"), ("lstm", "an LSTM")):
        c = nn.RNNCell(1, 3, seed=0) if name == "rnn" else nn.LSTMCell(1, 3, seed=0)
        steps = 8
        x = np.random.default_rng(2).standard_normal((steps, 1, 1))
        file = _save(viz.draw_error_flow(c, x, _last_loss(steps)), out, f"4_error_flow_{name}")
        sections.append((f"Error flow in {label}", file,
                         "Each edge carries part of the error from the loss at the last step "
                         "back to an earlier state; its colour and label give the size. "
                         + ("In the tanh RNN every step multiplies the error by f'(net) w, "
                            "so it fades within a few steps." if name == "rnn" else
                            "In the LSTM the cell state c passes the error back through the "
                            "forget gate only (the constant error carousel): it survives "
                            "much longer.")))
    say(f"5. the error against the lag, {LAG_STEPS} steps back")
    norms = error_flow_by_lag()
    facts["error_at_lag"] = {k: float(v[-1]) for k, v in norms.items()}
    save_plot(norms, os.path.join(out, "5_error_vs_lag.svg"),
              "How much error reaches h, q steps before the loss")
    for k, v in norms.items():
        say(f"   {k:22s} |dL/dh| at lag 0: {v[0]:.2e}   at lag {LAG_STEPS - 1}: {v[-1]:.2e}")
    sections.append(("Vanishing, measured", "5_error_vs_lag.svg",
                     "The norm of dL/dh q steps before the loss, on a log scale, for cells of "
                     "8 units at their default initialisation. A straight falling line is "
                     "exponential vanishing: the tanh RNN, and also the GRU and the LSTM "
                     "whose forget gate starts at sigmoid(0) = 1/2 (each step halves what the "
                     "cell state passes back). The 1997 LSTM has no forget gate: its cell "
                     "state is the constant error carousel and the error survives; a forget "
                     "bias of 1 moves the LSTM towards it. The IRNN's identity recurrence "
                     "passes the error unchanged while its ReLUs are active."))
    page = _html(sections)
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write(page)
    facts["seconds"] = time.perf_counter() - start
    say(f"wrote {len([s for s in sections if s[1]])} pictures and "
        f"{os.path.join(out, 'index.html')} in {facts['seconds']:.1f} s")
    return facts


def _html(sections) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>tinygrad_rnn tour</title>",
             "<style>body{font-family:Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;"
             "line-height:1.45}img{max-width:100%;border:1px solid #ddd}"
             "h2{margin-top:2em}</style></head><body>",
             "<h1>tinygrad_rnn: from a cell to its gradient through time</h1>",
             "<p>Each picture below was drawn by the library from the graphs it builds and "
             "differentiates; read them in order.</p>"]
    for k, (title, file, text) in enumerate(sections, 1):
        parts.append(f"<h2>{k}. {escape(title)}</h2><p>{escape(text)}</p>")
        if file and file.endswith(".svg"):
            parts.append(f"<p><img src='{escape(file)}' alt='{escape(title)}'></p>")
        elif file:
            parts.append(f"<p>Graphviz's <code>dot</code> is not installed: the graph is in "
                         f"<a href='{escape(file)}'>{escape(file)}</a> (DOT text).</p>")
    parts.append(
        "<h2>Where next</h2><p><code>tinygrad-rnn teach bptt --cell lstm --units 2 --steps 3"
        "</code> prints every number of a BPTT pass (also <code>teach rtrl</code> and "
        "<code>teach error-flow</code>). The repository's <code>docs/tutorial.md</code> goes "
        "from the unrolled graph to writing and checking your own cell; "
        "<code>examples/</code> repeats the LSTM paper's experiments (embedded Reber grammar, "
        "the adding problem), trains online by RTRL and truncated BPTT side by side, and "
        "trains a character language model and a sequence-to-sequence model.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
