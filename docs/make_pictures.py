"""Redraw the pictures of the tutorial and of README: run every code block of
docs/tutorial.md, in order, from the docs folder (the blocks write into img/); draw README's
pictures into img/ and rewrite README's "Pictures" text, whose sentences are made from the
numbers those pictures show (and fail when the numbers do not support them).

    python docs/make_pictures.py
"""
import os
import pathlib
import re
import runpy
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
README = HERE.parent / "README.md"
BEGIN = "<!-- pictures: written by `python docs/make_pictures.py` -->"
END = "<!-- end of pictures -->"
FLOW_STEPS = 30


def blocks(path=HERE / "tutorial.md"):
    """The ```python blocks of the tutorial, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def run(folder):
    """Run the blocks in ``folder`` (which gets an img/ subfolder); returns the namespace."""
    os.makedirs(os.path.join(folder, "img"), exist_ok=True)
    cwd, namespace = os.getcwd(), {}
    os.chdir(folder)
    try:
        for code in blocks():
            exec(compile(code, str(HERE / "tutorial.md"), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def readme_pictures(folder) -> str:
    """Draw README's pictures into ``folder``/img; return README's "Pictures" text."""
    import numpy as np

    import tinygrad_rnn as tr
    from tinygrad_rnn.cli import last_step_loss
    from tinygrad_rnn.tour import claim
    img = os.path.join(folder, "img")
    os.makedirs(img, exist_ok=True)
    quick = os.path.join(folder, "quickstart_out")
    argv = sys.argv
    try:  # the quickstart's own picture, drawn by the quickstart
        sys.argv = ["quickstart.py", "--out", quick]
        runpy.run_path(str(HERE.parent / "examples" / "quickstart.py"), run_name="__main__")
    finally:
        sys.argv = argv
    shutil.copy(os.path.join(quick, "forward.svg"), os.path.join(img, "quickstart_forward.svg"))
    shutil.rmtree(quick)
    T = FLOW_STEPS
    xs = np.random.default_rng(2).standard_normal((T, 1, 1))
    loss = last_step_loss(T)
    rnn, lstm97 = tr.nn.RNNCell(1, 3, seed=0), tr.nn.LSTM1997Cell(1, 3, seed=0)
    flows = {}
    for name, cell in (("rnn", rnn), ("lstm1997", lstm97)):
        flows[name] = tr.learn.error_flow_data(cell, xs, loss)
        tr.viz.save(tr.viz.draw_error_flow(cell, xs, loss, max_steps=8, flow=flows[name]),
                    os.path.join(img, f"{name}_error_flow.svg"))
    kept = {k: f.kept() for k, f in flows.items()}
    c97 = float(flows["lstm1997"].norms()["s"][0] / flows["lstm1997"].total_norms()[-1])
    tr.viz.save(tr.viz.draw_unrolled(tr.nn.LSTMCell(2, 3, seed=0), 3, loss=True),
                os.path.join(img, "lstm_unrolled.svg"))
    tr.viz.save(tr.viz.draw_bptt(tr.nn.LSTMCell(2, 3, seed=0), 4),
                os.path.join(img, "lstm_bptt.svg"))
    back = f"{T - 1} steps back"
    return "\n".join([
        "`tr.viz` draws any graph, a cell folded with its delay edge, the unrolled DAG (one "
        "cluster per step, shared parameters drawn once), BPTT in time, and the error flowing "
        "back through time, each edge labelled with the norm of the error it carries "
        "(`tr.learn.error_flow` gives the numbers). Over the same 30 inputs, with the loss on the "
        "last step only, "
        + claim(kept["rnn"] < 1e-3,
                f"a tanh RNN of 3 units keeps only {kept['rnn']:.1e} of the error {back}:",
                f"kept {kept['rnn']:.3e}"),
        "",
        "![error flow in a simple RNN](docs/img/rnn_error_flow.svg)",
        "",
        claim(c97 >= 100 * kept["rnn"],
              "while the cell state s of the LSTM as published in 1997 (`tr.nn.LSTM1997Cell`: "
              "input and output gates, no forget gate, the paper's truncated gradient) carries "
              f"it back unchanged, the constant error carousel: {c97:.1e} of it {back}, "
              f"{c97 / kept['rnn']:.0f} times as much:",
              f"c kept {c97:.3e} against {kept['rnn']:.3e}"),
        "",
        "![error flow in the 1997 LSTM](docs/img/lstm1997_error_flow.svg)",
        "",
        "The unrolled LSTM, one box per gate, and BPTT through it: the same graph with its "
        "edges turned round, the error entering at the loss and flowing right to left through "
        "δh(t), δc(t) and the gate deltas, each step adding its ΔW(t) to the gradient:",
        "",
        "![an LSTM unrolled over three steps](docs/img/lstm_unrolled.svg)",
        "",
        "![BPTT through an LSTM of four steps](docs/img/lstm_bptt.svg)",
    ])


def readme_section(text: str) -> str:
    """README's text between the pictures markers."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


if __name__ == "__main__":
    text = readme_pictures(HERE)
    readme = README.read_text()
    README.write_text(readme.split(BEGIN, 1)[0] + BEGIN + "\n" + text + "\n" + END
                      + readme.split(END, 1)[1])
    run(HERE)
    os.remove(HERE / "img" / "echo.npz")  # the parameter file of section 7 is not a picture
    print("redrew the pictures in", HERE / "img")
