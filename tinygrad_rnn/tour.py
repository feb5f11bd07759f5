"""``tinygrad-rnn tour``: one walk from a cell to its gradient, computed two ways, and to
where the error flows, written as pictures and one HTML page.

Every sentence of the page that states a fact about a number or a picture is made from what
this run computed, through ``claim``: when the numbers do not support a sentence, the tour
raises ``ClaimNotSupported`` instead of printing it."""
from __future__ import annotations

import os
import re
import shutil
import time
from html import escape

import numpy as np

from . import learn, nn, viz
from .functions import sum as fsum
from .learn.costs import rtrl_bptt_costs
from .viz.plot import save_plot

LAG_STEPS = 40
FLOW_STEPS = 30  # the error-flow pictures: long enough for the carousel to matter
COST_SIZES = (8, 16, 32, 64)  # RTRL against BPTT: n from where calls dominate to where n^4 does


class ClaimNotSupported(AssertionError):
    """A sentence the tour would print is not supported by the numbers it computed."""


def claim(supported: bool, sentence: str, evidence: str) -> str:
    """``sentence`` when ``supported``; otherwise raise, quoting the sentence and the numbers."""
    if not supported:
        raise ClaimNotSupported(f"tour: the numbers do not support {sentence!r} ({evidence})")
    return sentence


def _save(graph, out, name) -> list[str]:
    """The DOT text always, and an SVG when Graphviz's dot is installed; the files written."""
    files = [viz.save(graph, os.path.join(out, f"{name}.dot"))]
    if shutil.which("dot"):
        files.append(viz.save(graph, os.path.join(out, f"{name}.svg")))
    return [os.path.basename(f) for f in files]


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
             "LSTM, no forget gate": nn.LSTMCell(1, hidden, forget_gate=False, seed=seed),
             "IRNN (ReLU, U = I)": nn.RNNCell(1, hidden, nonlinearity="relu", init="identity",
                                               seed=seed)}
    return {name: learn.error_flow(cell, xs, _last_loss(T))["h"][::-1]
            for name, cell in cells.items()}


def tr_ops_graph(cell, steps):
    """The loss of ``cell`` unrolled over ``steps`` steps on placeholder inputs: the squared
    last output (the graph the ops-level backward picture differentiates)."""
    from .recurrence import unroll
    from .tensor import placeholder
    ys, _ = unroll(cell, placeholder((steps, 1, cell.input_size), cell.dtype, name="xs"))
    return fsum(ys[-1] * ys[-1])


def _count_label(dot_source: str, title: str) -> int:
    return dot_source.count(f"<B>{escape(title)}</B>")


def run(out: str = "tour", quiet: bool = False) -> dict:
    """Write the tour into ``out``; returns what it measured (also printed). Raises
    ``ClaimNotSupported`` if a sentence it would write is not supported by its numbers."""
    say = (lambda *a: None) if quiet else print
    start = time.perf_counter()
    if os.path.exists(out) and not os.path.isdir(out):
        from .graph.node import GraphError
        raise GraphError(f"tour: --out must be a directory, but {out!r} is a file")
    os.makedirs(out, exist_ok=True)
    sections, facts = [], {}

    def section(title, files, text):
        sections.append((title, files, text))
        say(f"{len(sections)}. {title}")

    say("tinygrad_rnn tour")
    cell = nn.LSTMCell(3, 4, seed=0)
    section("An LSTM cell, folded", _save(viz.draw_folded(cell), out, "1_lstm_folded"),
            "One step of the cell as a graph of gates. The state (h, c) leaves the step and "
            "comes back through the delay (the black square): that loop is the recurrence.")

    unrolled = viz.draw_unrolled(cell, 4, loss=True)
    drawn = {name: _count_label(unrolled.source, name) for name in cell.parameters()}
    facts["unrolled_parameter_boxes"] = drawn
    section("Unrolled through time", _save(unrolled, out, "2_lstm_unrolled"),
            "Unrolling copies the step once per time step. "
            + claim(all(v == 1 for v in drawn.values()),
                    f"Each of the {len(drawn)} parameter arrays is drawn once: every step reads "
                    "the same ones, so their gradient is a sum over steps.",
                    f"boxes per parameter: {drawn}")
            + " Backpropagation through time is plain reverse mode on this DAG.")

    # BPTT in time: the unrolled picture turned round, with the trace's numbers; checked
    # against the gradient tr.learn.bptt computes on the same inputs
    steps = 4
    x4 = np.random.default_rng(3).standard_normal((steps, 1, 3))
    bptt_picture = viz.draw_bptt(cell, steps, xs=x4)
    _, g4 = learn.bptt(cell, x4, None, _last_loss(steps))
    shown = {p: float(m) for p, m in re.findall(r"‖∂L/∂(\w+)‖ = ([-0-9.e+]+)", bptt_picture.source)}
    mismatch = max(abs(shown[p] - float(np.linalg.norm(g))) / max(float(np.linalg.norm(g)), 1e-300)
                   for p, g in g4.items())
    facts["bptt_picture_gradient_mismatch"] = mismatch
    loss_node = tr_ops_graph(cell, steps)
    ops_picture = viz.draw_backward(loss_node, [cell.weight_hh], detail="ops")
    red, faded = ops_picture.source.count('"#c53030"'), ops_picture.source.count('"#cbd5e0"')
    section("Backpropagation through time, drawn",
            _save(bptt_picture, out, "3_lstm_bptt") + _save(ops_picture, out, "3_lstm_backward_ops"),
            f"Reverse mode turns every edge A -> B of the unrolled graph into an edge δB -> δA: "
            f"the first picture is the unrolled LSTM of {steps} steps turned round. The error "
            f"enters at the loss L({steps}) on the right and flows right to left through δh(t), "
            "δc(t) and the gate deltas of each step; every step adds its contribution ΔW(t) to "
            "a running sum that ends, at the left, in ∂L/∂W. "
            + claim(mismatch <= 5e-3 and set(shown) == set(g4),
                    "The norms of those sums are the norms of the gradient tr.learn.bptt "
                    "computes on the same inputs (to the 3 digits shown).",
                    f"largest relative difference {mismatch:.2e}; sums drawn for {sorted(shown)}")
            + " The second picture is the same gradient (of the recurrent weights) at the level "
            "of primitives: "
            + claim(red > 0 and faded > 0,
                    "the nodes reverse mode builds (red) reading the forward values (faded); ",
                    f"{red} red and {faded} faded elements")
            + "it can be run, drawn, and differentiated again.")

    T = 6
    xs = np.random.default_rng(1).standard_normal((T, 2, 3))
    loss_fn = (lambda t, y: fsum(y * y))
    _, g_bptt = learn.bptt(cell, xs, None, loss_fn)
    _, g_rtrl = learn.rtrl(cell, xs, None, loss_fn)
    diff = max(float(np.abs(g_bptt[k] - g_rtrl[k]).max()) for k in g_bptt)
    scale = max(float(np.abs(g).max()) for g in g_bptt.values())
    entries = sum(v.size for v in g_bptt.values())
    facts["bptt_vs_rtrl_max_difference"] = diff
    section("BPTT and RTRL agree", [],
            "BPTT stores the forward pass and walks it backwards; RTRL carries d state / d "
            "weights forward and stores no past. "
            + claim(diff <= 1e-12 * max(scale, 1.0),
                    f"On {T} steps of this LSTM, the {entries} gradient entries of the two "
                    f"differ by at most {diff:.1e} (largest entry {scale:.2g}): float64 "
                    "rounding, the same derivative computed in two orders.",
                    f"max |BPTT - RTRL| = {diff:.3e}, largest entry {scale:.3e}")
            + " RTRL costs O(weights x state) memory per step, so it is for small networks; "
            "BPTT's memory grows with T.")
    say(f"   largest |BPTT - RTRL| over {entries} gradient entries: {diff:.2e}")

    from . import teach
    small = nn.LSTMCell(2, 2, seed=0)
    x3 = np.random.default_rng(4).standard_normal((3, 1, 2))
    b_trace = teach.bptt_trace(small, x3, None, _last_loss(3))
    r_trace = teach.rtrl_trace(small, x3, None, _last_loss(3))
    teach.write_step_page(os.path.join(out, "steps.html"), b_trace, r_trace)
    step_diff = max(float(np.abs(b_trace.grads[k] - r_trace.grads[k]).max()) for k in b_trace.grads)
    facts["step_page_max_difference"] = step_diff
    section("Step through it", ["steps.html"],
            "steps.html walks a 2-unit LSTM over 3 steps: Next and Previous go through the "
            "forward pass one step at a time (every gate's value), then BPTT backward (the "
            "error δ at each state, each step's contribution to each weight, the running sum); "
            "the RTRL button walks forward again carrying d state / d weights. "
            + claim(step_diff <= 1e-12,
                    f"Both end with the same gradient: they differ by at most {step_diff:.1e}.",
                    f"max |BPTT - RTRL| = {step_diff:.3e}"))

    costs = rtrl_bptt_costs(COST_SIZES, T=10, repeats=2)
    facts["costs"] = costs
    first, last = costs[0], costs[-1]
    grow = {k: last[k] / first[k] for k in ("rtrl_generic", "rtrl_textbook", "bptt")}
    units = last["n"] // first["n"]
    save_plot({"RTRL (generic, compiled)": [r["rtrl_generic"] * 1e3 for r in costs],
               "RTRL (textbook p^k_ij, NumPy)": [r["rtrl_textbook"] * 1e3 for r in costs],
               "BPTT (compiled scan)": [r["bptt"] * 1e3 for r in costs]},
              os.path.join(out, "6_rtrl_vs_bptt.svg"), "Time per step, fully recurrent net",
              ylabel="ms per step", xlabel="n, fully recurrent units", x=[r["n"] for r in costs])
    table = "; ".join(f"n = {r['n']}: RTRL {r['rtrl_generic'] * 1e3:.3g} ms (textbook "
                      f"{r['rtrl_textbook'] * 1e3:.3g}), BPTT {r['bptt'] * 1e3:.3g} ms, "
                      f"{r['rtrl_numbers']:,} sensitivities against {r['bptt_numbers']:,} "
                      "stored states" for r in costs)
    section("What each costs", ["6_rtrl_vs_bptt.svg"],
            "For n fully recurrent units (the Williams-Zipser network, one input line and a "
            "bias: n(n + 2) weights) RTRL carries n x |W| sensitivities, O(n^3) numbers whatever "
            "T, and updates them with the n x n recurrent weights at every step: O(n^4) time "
            "per step. BPTT stores T n states and walks back through them: O(n^2) per step. "
            f"Measured here, compiled on both sides, T = {first['T']}, one sequence: {table}. "
            + claim(grow["rtrl_generic"] >= 4 * grow["bptt"]
                    and grow["rtrl_textbook"] >= 4 * grow["bptt"],
                    f"From n = {first['n']} to n = {last['n']} ({units} times the units) "
                    f"RTRL's step took {grow['rtrl_generic']:.0f} times longer (textbook "
                    f"{grow['rtrl_textbook']:.0f} times), BPTT's {grow['bptt']:.1f} times: RTRL "
                    "is for small networks, or where its memory's independence of T matters "
                    "(online learning on an endless stream).",
                    f"growth RTRL {grow['rtrl_generic']:.2f}, textbook "
                    f"{grow['rtrl_textbook']:.2f}, BPTT {grow['bptt']:.2f}")
            + " (At small n both are dominated by the cost of a call, not by arithmetic.)")

    # the same inputs and loss for both cells: only the cell differs
    x = np.random.default_rng(2).standard_normal((FLOW_STEPS, 1, 1))
    loss = _last_loss(FLOW_STEPS)
    flows, files = {}, []
    for key, c in (("rnn", nn.RNNCell(1, 3, seed=0)),
                   ("lstm1997", nn.LSTM1997Cell(1, 3, seed=0))):
        flows[key] = learn.error_flow_data(c, x, loss)
        files += _save(viz.draw_error_flow(c, x, loss, max_steps=8, flow=flows[key]), out,
                       f"7_error_flow_{key}")
    kept = {k: f.kept() for k, f in flows.items()}
    s_norms = flows["lstm1997"].norms()["s"]
    carousel = float(s_norms[0] / s_norms[-1])
    facts["error_kept"] = dict(kept, lstm1997_carousel=carousel)
    lag = FLOW_STEPS - 1
    section(
        f"Error flow over {FLOW_STEPS} steps: a tanh RNN beside the LSTM of 1997", files,
        "Both cells have 3 units and read the same inputs; the loss is on the last output "
        "only. Each edge carries part of the error back to an earlier state; its colour and "
        "label give the size (the middle steps are collapsed). "
        + claim(kept["rnn"] < 1e-3,
                f"In the tanh RNN every step multiplies the error by f'(net) w: {lag} steps "
                f"back only {kept['rnn']:.1e} of it is left.",
                f"kept {kept['rnn']:.3e}")
        + " "
        + claim(kept["lstm1997"] >= 100 * kept["rnn"] and abs(carousel - 1) < 1e-9,
                "The LSTM as published in 1997 (Hochreiter and Schmidhuber; tr.nn.LSTM1997Cell: "
                "memory cells with input and output gates and the paper's truncated gradient) "
                "passes the error back along its cell state s unchanged, the constant error "
                f"carousel (‖δs(1)‖ / ‖δs({FLOW_STEPS})‖ = {carousel:.6f}): "
                f"{kept['lstm1997']:.1e} of the error at the last state reaches the state {lag} "
                f"steps back, {kept['lstm1997'] / kept['rnn']:.0f} times the RNN's.",
                f"kept {kept['lstm1997']:.3e} against the RNN's {kept['rnn']:.3e}; "
                f"carousel ratio {carousel:.9f}")
        + " An LSTM with a forget gate scales the carousel by f at every step; at the usual "
        "initialisation (forget bias 0, f near 1/2) its error vanishes too: see the next "
        "section.")
    say(f"   error reaching the state {lag} steps back: tanh RNN {kept['rnn']:.1e}, "
        f"LSTM1997Cell {kept['lstm1997']:.1e} of the error at the last step")

    norms = error_flow_by_lag()
    facts["error_at_lag"] = {k: float(v[-1]) for k, v in norms.items()}
    left = {k: float(v[-1] / v[0]) for k, v in norms.items()}
    facts["error_kept_at_lag"] = left
    save_plot(norms, os.path.join(out, "8_error_vs_lag.svg"),
              "How much error reaches h, q steps before the loss")
    q = LAG_STEPS - 1
    vanished = [k for k, r in left.items() if r < 1e-4]
    kept_list = [k for k, r in left.items() if r >= 1e-3]
    ranked = sorted(left, key=left.get, reverse=True)
    text = ("The norm of dL/dh q steps before the loss, on a log scale, for cells of 8 units at "
            "their default initialisation on the same inputs. A straight falling line is "
            f"exponential vanishing. The part of the error left {q} steps back: "
            + ", ".join(f"{k} ({left[k]:.1e})" for k in ranked) + ". "
            f"Less than 1e-4 is left in {len(vanished)} of the {len(left)} cells. ")
    fb0, fb1 = left["LSTM, forget bias 0"], left["LSTM, forget bias 1"]
    text += claim("LSTM, forget bias 0" in vanished,
                  "A forget gate that starts at sigmoid(0) = 1/2 halves, roughly, what the cell "
                  "state passes back at each step: at forget bias 0 the LSTM vanishes like the "
                  "tanh RNN. ", f"forget bias 0 kept {fb0:.3e}")
    text += claim("LSTM, no forget gate" in kept_list,
                  "Without a forget gate the cell state is the constant error "
                  "carousel and the error survives. ",
                  f"kept {left['LSTM, no forget gate']:.3e}")
    text += claim(fb1 >= 100 * fb0,
                  f"A forget bias of 1 moves the LSTM towards it ({fb1 / fb0:.0f} times more "
                  "error left than at forget bias 0). ", f"{fb1:.3e} against {fb0:.3e}")
    irnn = left["IRNN (ReLU, U = I)"]
    text += claim(abs(irnn - 1) < 1e-6,
                  "The IRNN's identity recurrence passes the error back unchanged while its "
                  "ReLUs are active (ratio 1 here).", f"IRNN kept {irnn:.6g}")
    section("Vanishing, measured", ["8_error_vs_lag.svg"], text)
    for k, v in norms.items():
        say(f"   {k:28s} |dL/dh| at lag 0: {v[0]:.2e}   at lag {LAG_STEPS - 1}: {v[-1]:.2e}")
    say(f"{len(sections) + 1}. where next (index.html)")
    page = _html(sections)
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write(page)
    facts["sections"] = [s[0] for s in sections]
    facts["page_text"] = [s[2] for s in sections]
    facts["seconds"] = time.perf_counter() - start
    pictures = sum(1 for s in sections for f in s[1] if f.endswith(".svg"))
    say(f"wrote {pictures} pictures, steps.html and {os.path.join(out, 'index.html')} in "
        f"{facts['seconds']:.1f} s")
    return facts


def _figure(file, title):
    if file.endswith(".dot"):
        return ""
    if file.endswith(".html"):
        return f"<p><a href='{escape(file)}'><b>Open {escape(file)}</b></a> (works offline).</p>"
    return (f"<figure><div class='pic'><a href='{escape(file)}' title='open full size'><img "
            f"src='{escape(file)}' alt='{escape(title)}'></a></div><figcaption><a href='{escape(file)}'>{escape(file)}</a>"
            " (full size)</figcaption></figure>")


def _html(sections) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>tinygrad_rnn tour</title>",
             "<style>body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;"
             "line-height:1.45}.pic{overflow-x:auto;border:1px solid #ddd}img{max-width:none}"
             "figure{margin:1em 0}"
             "figcaption{font-size:0.85em;color:#4a5568}h2{margin-top:2em}</style></head><body>",
             "<h1>tinygrad_rnn: from a cell to its gradient through time</h1>",
             "<p>Each picture below was drawn by the library from the graphs it builds and "
             "differentiates, and every number in the text was computed in the same run; read "
             "them in order. Click a picture to open it at full size.</p>"]
    for k, (title, files, text) in enumerate(sections, 1):
        parts.append(f"<h2>{k}. {escape(title)}</h2><p>{escape(text)}</p>")
        parts.extend(_figure(f, title) for f in files)
        dots = [f for f in files if f.endswith(".dot")]
        if dots and not any(f.endswith(".svg") for f in files):
            parts.append("<p>Graphviz's <code>dot</code> is not installed: the graph is in "
                         + ", ".join(f"<a href='{escape(f)}'>{escape(f)}</a>" for f in dots)
                         + " (DOT text).</p>")
        elif dots:
            parts.append("<p>DOT source: " + ", ".join(
                f"<a href='{escape(f)}'>{escape(f)}</a>" for f in dots) + "</p>")
    parts.append(
        f"<h2>{len(sections) + 1}. Where next</h2><p><code>tinygrad-rnn teach bptt --cell lstm "
        "--units 2 --steps 3</code> prints every number of a BPTT pass (also <code>teach rtrl"
        "</code> and <code>teach error-flow</code>). The repository's <code>docs/tutorial.md"
        "</code> goes from the unrolled graph to writing and checking your own cell; "
        "<code>examples/</code> repeats the LSTM paper's experiments (embedded Reber grammar, "
        "the adding problem), trains online by RTRL and truncated BPTT side by side, and "
        "trains a character language model and a sequence-to-sequence model.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
