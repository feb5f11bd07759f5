"""A gallery of tinygrad_rnn's pictures: SVG files plus one HTML page that shows them one
under another at full size, each with a line saying what to look at.

    python examples/gallery.py [--quick] [--out gallery]
"""
import argparse
import html
import os
import shutil

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn.cli import last_step_loss
from tinygrad_rnn.tour import claim


def pictures(quick: bool):
    """(file stem, title, explanation, Digraph) for each picture."""
    T = 12 if quick else 30
    xs = np.random.default_rng(0).standard_normal((T, 1, 2))
    loss = last_step_loss(T)
    rnn, lstm = tr.nn.RNNCell(2, 8, seed=0), tr.nn.LSTMCell(2, 8, seed=0)
    lstm97, gru = tr.nn.LSTM1997Cell(2, 8, seed=0), tr.nn.GRUCell(2, 8, seed=0)
    small = tr.nn.RNNCell(2, 3, seed=0)
    x = tr.placeholder((3, 1, 2), name="xs")
    ys, _ = tr.unroll(small, x)
    yield ("lstm_folded", "LSTM, folded",
           "One step of the cell: the gates read x(t) and h(t−1); h(t) and c(t) loop back "
           "through the delay ■ to become the next step's state.", tr.viz.draw_folded(lstm))
    yield ("lstm_unrolled", "LSTM, unrolled over 3 steps",
           "The same step three times. The four parameter arrays are drawn once: every step "
           "reads the same weights, which is why their gradients add up over time.",
           tr.viz.draw_unrolled(tr.nn.LSTMCell(2, 3, seed=0), 3, loss=True))
    yield ("rnn_unrolled_ops", "Elman RNN, unrolled, every primitive",
           "detail=\"ops\": each node is one primitive of the engine (@ is matmul, ᵀ a "
           "transpose), the graph that BPTT walks backwards.",
           tr.viz.draw_unrolled(small, 3, detail="ops"))
    yield ("rnn_backward", "The gradient is a graph",
           "tr.grad(loss, [weight_hh]) builds new nodes (red) that read the forward graph "
           "(faded): BPTT is this graph, run from the loss back to the first step.",
           tr.viz.draw_backward((ys[-1] * ys[-1]).sum(), [small.weight_hh], detail="ops"))
    yield ("gru_folded", "GRU, folded",
           "Reset gate r decides how much of h(t−1) the candidate n sees; update gate z "
           "interpolates between the old state and n.", tr.viz.draw_folded(gru))
    # the captions below state what these numbers say, and fail if they do not say it
    flows = {k: tr.learn.error_flow_data(c, xs, loss) for k, c in
             (("rnn", rnn), ("lstm1997", lstm97), ("lstm", lstm))}
    kept = {k: f.kept() for k, f in flows.items()}
    c97 = float(flows["lstm1997"].norms()["s"][0] / flows["lstm1997"].total_norms()[-1])
    back = f"{T - 1} steps back"
    yield ("rnn_error_flow", "Error flow in a simple RNN",
           claim(kept["rnn"] < 1e-3,
                 f"The loss at step {T} sends its error back through h. Each step multiplies it "
                 f"by f'(net)·W: {back} only {kept['rnn']:.1e} of it is left (vanished: grey).",
                 f"kept {kept['rnn']:.3e}"),
           tr.viz.draw_error_flow(rnn, xs, loss, max_steps=8, flow=flows["rnn"]))
    yield ("lstm1997_error_flow", "Error flow in the LSTM of 1997: the constant error carousel",
           claim(c97 >= 100 * kept["rnn"],
                 "tr.nn.LSTM1997Cell, the cell as published (input and output gates, no forget "
                 "gate, the truncated gradient): its cell state s carries the error back "
                 f"unchanged (f = identity, w = 1.0): {back}, s still holds {c97:.1e} of it, "
                 f"{c97 / kept['rnn']:.0f} times what reaches the RNN's h.",
                 f"c kept {c97:.3e}, RNN {kept['rnn']:.3e}"),
           tr.viz.draw_error_flow(lstm97, xs, loss, max_steps=8, flow=flows["lstm1997"]))
    ratio = kept["lstm"] / kept["rnn"]
    yield ("lstm_error_flow", "Error flow in an LSTM with a forget gate",
           "The forget gate scales the carousel by f at every step; at forget bias 0 it starts "
           f"near 1/2, so the error along c decays too: {back}, {kept['lstm']:.1e} of it is "
           + (f"left, {ratio:.0f} times the RNN's {kept['rnn']:.1e} and "
              f"{kept['lstm1997'] / kept['lstm']:.0f} times less than the 1997 cell's."
              if ratio >= 1 else f"left, no more than the RNN's {kept['rnn']:.1e}."),
           tr.viz.draw_error_flow(lstm, xs, loss, max_steps=8, flow=flows["lstm"]))
    yield ("lstm_unrolled_50", "50 steps, the middle collapsed",
           "Long unrolls stay readable: the first and last steps are drawn, the middle is "
           "one dashed box that says how many steps it stands for.",
           tr.viz.draw_unrolled(tr.nn.LSTMCell(2, 3, seed=0), 50, max_steps=4))


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tinygrad_rnn gallery</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#1a202c}}
figure{{margin:0 0 1.5em;border:1px solid #e2e8f0;border-radius:8px;padding:1em}}
.pic{{overflow-x:auto}} img{{max-width:none}} figcaption{{font-size:0.95em;color:#4a5568}}</style></head>
<body><h1>tinygrad_rnn: the pictures</h1>
<p>Every picture is a <code>graphviz.Digraph</code> returned by <code>tr.viz</code>.</p>
<p>Pictures are at full size: scroll a wide one sideways, or click it to open it alone.</p>
{figures}</body></html>"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter sequences (what CI runs)")
    parser.add_argument("--out", default="gallery")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    can_render = shutil.which("dot") is not None
    figures = []
    for stem, title, text, graph in pictures(args.quick):
        tr.viz.save(graph, os.path.join(args.out, stem + ".dot"))
        if can_render:
            tr.viz.save(graph, os.path.join(args.out, stem + ".svg"))
            body = (f'<div class="pic"><a href="{stem}.svg"><img src="{stem}.svg" '
                    f'alt="{html.escape(title)}"></a></div>')
        else:
            body = f'<p><a href="{stem}.dot">{stem}.dot</a> (install Graphviz to see it)</p>'
        figures.append(f"<figure><h3>{html.escape(title)}</h3>{body}"
                       f"<figcaption>{html.escape(text)}</figcaption></figure>")
        print("wrote", os.path.join(args.out, stem + (".svg" if can_render else ".dot")))
    index = os.path.join(args.out, "index.html")
    with open(index, "w") as f:
        f.write(PAGE.format(figures="\n".join(figures)))
    print(f"gallery OK: {len(figures)} pictures, open {index}")


if __name__ == "__main__":
    main()
