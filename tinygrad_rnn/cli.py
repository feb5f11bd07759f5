"""The ``tinygrad-rnn`` command (also ``python -m tinygrad_rnn``): ``render`` draws a cell,
``tour`` writes the tour's pictures and page, ``teach`` prints BPTT, RTRL or error flow step
by step (``teach bptt`` and ``teach rtrl`` with ``--html FILE`` also write the step-through page).
Every argument is checked before any work starts; a bad one is reported with the usage of the
subcommand it belongs to."""
from __future__ import annotations

import argparse
import os
import sys
import textwrap

import numpy as np

from . import nn, viz
from .functions import mean
from .functions import sum as fsum
from .recurrence import unroll
from .tensor import placeholder

CELLS = {
    "rnn": ("Elman RNN (tanh)", lambda I, H, s: nn.RNNCell(I, H, seed=s)),
    "irnn": ("IRNN: ReLU, identity recurrence (Le et al. 2015)",
             lambda I, H, s: nn.RNNCell(I, H, nonlinearity="relu", init="identity", seed=s)),
    "lstm": ("LSTM with forget gate", lambda I, H, s: nn.LSTMCell(I, H, seed=s)),
    "lstm1997": ("LSTM as published in 1997 (Hochreiter & Schmidhuber): memory cells with "
                 "input and output gates, the constant error carousel, the truncated gradient",
                 lambda I, H, s: nn.LSTM1997Cell(I, H, seed=s)),
    "lstm-no-forget": ("LSTM without forget gate: the 1997 carousel with today's gates and "
                       "full gradient", lambda I, H, s: nn.LSTMCell(I, H, forget_gate=False, seed=s)),
    "peephole": ("LSTM with peephole connections (Gers & Schmidhuber 2000)",
                 lambda I, H, s: nn.LSTMCell(I, H, peephole=True, seed=s)),
    "coupled": ("LSTM with coupled input and forget gates",
                lambda I, H, s: nn.LSTMCell(I, H, coupled=True, seed=s)),
    "gru": ("GRU (PyTorch form, reset after)", lambda I, H, s: nn.GRUCell(I, H, seed=s)),
    "gru-cho": ("GRU (Cho et al. 2014 form)",
                lambda I, H, s: nn.GRUCell(I, H, reset_after=False, seed=s)),
    "scrn": ("SCRN: slow context units (Mikolov et al. 2014)",
             lambda I, H, s: nn.SCRNCell(I, H, context_size=max(1, H // 2), seed=s)),
    "wz": ("Williams & Zipser fully recurrent network", lambda I, H, s: nn.WilliamsZipserNet(H, I, seed=s)),
}
VIEWS = ("folded", "unrolled", "backward", "error-flow")
DEFAULT_LAG = 3  # teach error-flow without --lag: q = min(3, steps - 1)

DESCRIPTION = ("Draw recurrent cells, run the tour, or print BPTT, RTRL and error flow step by "
               "step. 'tinygrad-rnn COMMAND --help' lists a command's options.")
EXAMPLES = {
    "main": """examples:
  tinygrad-rnn tour --out tour                      pictures and index.html, step by step
  tinygrad-rnn teach bptt --cell lstm --units 2 --steps 3
  tinygrad-rnn teach bptt --html steps.html         the same, step by step in a browser
  tinygrad-rnn render lstm --view unrolled --steps 4 -o lstm.svg""",
    "render": """examples:
  tinygrad-rnn render lstm --view unrolled --steps 4 -o lstm.svg
  tinygrad-rnn render gru --view folded -o gru.dot          DOT text, needs no Graphviz
  tinygrad-rnn render lstm1997 --view error-flow --steps 20 -o flow.svg

The directory of --output must exist. Images (.svg .png .pdf) need Graphviz's dot program.""",
    "tour": """examples:
  tinygrad-rnn tour                    writes ./tour/index.html and its pictures
  tinygrad-rnn tour --out /tmp/tour""",
    "teach": """examples:
  tinygrad-rnn teach bptt --cell lstm --units 2 --steps 3
  tinygrad-rnn teach rtrl --cell wz --units 2 --steps 3
  tinygrad-rnn teach bptt --cell gru --steps 3 --html steps.html
  tinygrad-rnn teach error-flow --units 3 --steps 6 --lag 3

--html FILE (bptt and rtrl) also writes the step-through page of the same computation:
Next / Previous walk the forward pass and BPTT backward, or RTRL forward with the
sensitivities, in a browser; one self-contained file. Its directory must exist.

The loss is stated in the seeds' terms: a target d_k(t) at the last step, e_k(t) =
d_k(t) - y_k(t), J(t) = -1/2 sum_k e_k(t)^2 and the loss L = -J (Williams & Zipser), or
with --output softmax Goodfellow's o = c + V h, softmax and cross-entropy at every step:
  tinygrad-rnn teach bptt --cell rnn --steps 3 --output softmax

error-flow lists the path products of Hochreiter & Schmidhuber's analysis, which is for
simple RNNs: --cell rnn or irnn. For any other cell draw the error flow instead:
  tinygrad-rnn render lstm --view error-flow --steps 6 -o flow.svg""",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option's help (not for required ones or unset defaults);
    descriptions and epilogs printed as written, so the examples keep their lines."""

    def _get_help_string(self, action):
        if action.required or action.default is None:
            return action.help
        return super()._get_help_string(action)


def _at_least(lowest: int):
    """An argparse ``type``: an int >= lowest; argparse reports a bad one with the usage of
    the subcommand it belongs to and the value given."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {value}")
        return value
    parse.__name__ = f"int >= {lowest}"
    return parse


def make_cell(name: str, input_size: int = 3, hidden_size: int = 4, seed: int = 0):
    """A cell of the kind the command line names (see ``CELLS``)."""
    return CELLS[name][1](input_size, hidden_size, seed)


def error_flow_cells() -> tuple:
    """The names in ``CELLS`` that ``teach.error_flow_paths`` handles: the simple RNNs."""
    return tuple(k for k in CELLS if isinstance(make_cell(k, 1, 1), nn.RNNCell))


def last_step_loss(steps: int):
    """The teaching loss: the squared output at the last step only, so that all the error
    the earlier steps receive has flowed back through time."""
    return lambda t, y: fsum(y * y) if t == steps - 1 else None


def teach_problem(cell_name: str, units: int = 2, steps: int = 3, seed: int = 0,
                  input_size: int = 1, output: str = "squared", classes: int = 3) -> dict:
    """What ``teach bptt`` and ``teach rtrl`` trace: the cell, inputs xs (steps, 1, I) drawn
    from N(0, 1) with ``seed``, and the loss, in the seeds' terms.

    output "squared": targets d(t) for the last step only, drawn from U(0, 1) after xs (the
    target set T(t) is empty before it, so all the error the earlier steps receive has
    flowed back through time); L_t = 1/2 sum_k (d_k - y_k)^2 (Williams & Zipser's -J(t)), a
    ``tr.teach.target_loss``, so the traces show d, e and J. "softmax": Goodfellow's output
    layer on the cell's output, o(t) = c + V y(t), V (classes, out) from N(0, 1) and c from
    N(0, 0.1^2), a target class at every step, L_t = -log softmax(o(t))_class(t).
    Returns a dict: cell, xs, loss_fn, and for softmax V, c, classes (the target classes).
    """
    from . import teach
    from .functions import cross_entropy
    from .tensor import tensor
    rng = np.random.default_rng(seed)
    cell = make_cell(cell_name, input_size, units, seed)
    xs = rng.standard_normal((steps, 1, cell.input_size))
    out = cell.output_size
    if output == "squared":
        d = np.zeros((steps, 1, out))
        d[-1] = rng.uniform(0.0, 1.0, (1, out))
        mask = np.zeros(d.shape, bool)
        mask[-1] = True
        return {"cell": cell, "xs": xs, "loss_fn": teach.target_loss(d, mask)}
    if output != "softmax":
        raise ValueError(f"teach_problem: output must be 'squared' or 'softmax', got {output!r}")
    V = rng.standard_normal((classes, out))
    c = 0.1 * rng.standard_normal(classes)
    targets = rng.integers(classes, size=steps)
    V_t, c_t = tensor(V), tensor(c)

    def loss_fn(t, y):
        return cross_entropy(y @ V_t.T + c_t, targets[t:t + 1])   # batch of one: its -log

    return {"cell": cell, "xs": xs, "loss_fn": loss_fn, "V": V, "c": c, "classes": targets}


def picture(cell, view: str, steps: int, detail: str = "gates", seed: int = 0):
    """The Digraph of ``view`` for ``cell`` (inputs drawn from N(0, 1) with ``seed``)."""
    if view == "folded":
        return viz.draw_folded(cell, detail)
    if view == "unrolled":
        return viz.draw_unrolled(cell, steps, detail, loss=True)
    xs_values = np.random.default_rng(seed).standard_normal((steps, 1, cell.input_size))
    if view == "backward" and detail == "gates":  # BPTT in time: δh(t), δc(t), ΔW(t)
        return viz.draw_bptt(cell, steps, xs=xs_values, loss="last")
    if view == "error-flow":
        return viz.draw_error_flow(cell, xs_values.astype(cell.dtype), last_step_loss(steps))
    xs = placeholder(xs_values.shape, cell.dtype, name="xs")
    ys, _ = unroll(cell, xs)
    loss = mean(ys[-1] * ys[-1])
    params = cell.parameters()
    wrt = next((p for k, p in params.items() if "hh" in k), next(iter(params.values())))
    return viz.draw_backward(loss, [wrt], detail)


class _Refused(Exception):
    """A file-system problem found before any work: reported in one line, exit status 2."""


def _check_output_file(path: str, option: str = "--output", example: str = "picture.svg") -> None:
    # NOTE: viz.save creates missing directories (right for a library call); on the command
    # line a mistyped directory should be an error, not a new directory tree.
    directory = os.path.dirname(path) or "."
    if not os.path.exists(directory):
        raise _Refused(f"the directory {directory!r} of {option} {path!r} does not exist; "
                       "create it first or pick another path")
    if not os.path.isdir(directory):
        raise _Refused(f"{directory!r} in {option} {path!r} is a file, not a directory")
    if os.path.isdir(path):
        raise _Refused(f"{option} {path!r} is a directory; give a file name such as "
                       f"{os.path.join(path, example)!r}")


def _html_file(text: str) -> str:
    """An argparse ``type``: a file name ending in .html (the step-through page)."""
    if os.path.splitext(text)[1].lower() != ".html":
        raise argparse.ArgumentTypeError(f"the step-through page is HTML, so the file name must "
                                         f"end in .html, got {text!r}")
    return text


def _check_output_directory(path: str) -> None:
    # the tour creates --out (and missing parents); it cannot when a file is in the way
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        where = "is a file" if probe == os.path.abspath(path) else f"is inside {probe!r}, a file"
        raise _Refused(f"--out {path!r} {where}; the tour needs a directory to write its "
                       "pictures and index.html into")


def _render(args):
    _check_output_file(args.output)
    cell = make_cell(args.cell, args.input_size, args.hidden_size, args.seed)
    graph = picture(cell, args.view, args.steps, args.detail, args.seed)
    print(viz.save(graph, args.output))


def _tour(args):
    _check_output_directory(args.out)
    from .tour import run
    run(args.out)


def _teach(args):
    from . import teach
    if args.html is not None:
        _check_output_file(args.html, "--html", "steps.html")
    if args.what == "error-flow":
        cell = make_cell(args.cell, args.input_size, args.units, args.seed)
        xs = np.random.default_rng(args.seed).standard_normal((args.steps, 1, cell.input_size))
        print(teach.error_flow_paths(cell, xs, q=args.lag))
        return
    problem = teach_problem(args.cell, args.units, args.steps, args.seed, args.input_size,
                            args.output, args.classes or 3)
    cell, xs, loss_fn = problem["cell"], problem["xs"], problem["loss_fn"]
    trace = (teach.bptt_trace if args.what == "bptt" else teach.rtrl_trace)(cell, xs, None, loss_fn)
    print(trace)
    if args.output == "softmax":
        print()
        print(teach_output_layer(trace, problem))
    if args.html is not None:
        # the page shows both modes, so it needs both traces of this same computation
        other = (teach.rtrl_trace if args.what == "bptt" else teach.bptt_trace)(cell, xs, None, loss_fn)
        bptt, rtrl = (trace, other) if args.what == "bptt" else (other, trace)
        path = teach.write_step_page(args.html, bptt, rtrl)
        print(f"\nstep-through page (BPTT and RTRL, open it in a browser): {path}")


def teach_output_layer(trace, problem):
    """The output-layer trace of ``teach ... --output softmax``: the cell's outputs y(t) of
    ``trace`` (BPTT or RTRL) through o = c + V y(t), softmax and cross-entropy."""
    from . import teach
    if hasattr(trace, "forward"):
        ys = np.stack([f["y"] for f in trace.forward])
    else:
        ys = np.stack([s["y"] for s in trace.steps])
    return teach.output_layer_trace(ys, problem["V"], problem["c"], problem["classes"])


def _check_teach(args, error) -> None:
    """What the types cannot check alone: --classes only with --output softmax; error-flow's
    cell, its lag against --steps, and that it has no --html page or output layer. bptt and
    rtrl take every cell."""
    if args.classes is not None and args.output != "softmax":
        error(f"argument --classes: the number of classes of the softmax output layer, so it "
              f"needs --output softmax (got --classes {args.classes} with --output {args.output})")
    if args.what != "error-flow":
        return
    if args.output != "squared":
        error(f"argument --output: error-flow follows the error of the simple RNN's own units, "
              f"it has no output layer (got --output {args.output}); try: tinygrad-rnn teach "
              f"bptt --output {args.output}")
    if args.html is not None:
        error(f"argument --html: only bptt and rtrl write a step-through page, not error-flow "
              f"(got --html {args.html!r}); try: tinygrad-rnn teach bptt --html {args.html}")
    supported = error_flow_cells()
    if args.cell not in supported:
        error(f"argument --cell: error-flow lists the path products of a simple RNN, so it "
              f"works with --cell {' or '.join(supported)}, got {args.cell!r}; for any cell "
              f"draw the error flow: tinygrad-rnn render {args.cell} --view error-flow -o flow.svg")
    if args.steps < 2:
        error(f"argument --steps: error-flow needs at least 2 steps (the error flows back from "
              f"the last step to an earlier one), got {args.steps}")
    if args.lag is None:
        args.lag = min(DEFAULT_LAG, args.steps - 1)
    if args.lag >= args.steps:
        error(f"argument --lag: must be less than --steps, got --lag {args.lag} with --steps "
              f"{args.steps} (the error flows back from the last step, t = steps - 1 = "
              f"{args.steps - 1}); use --lag {args.steps - 1} or --steps {args.lag + 1}")


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The top-level parser and its subparsers by command name."""
    positive = _at_least(1)
    flow_cells = " or ".join(error_flow_cells())
    parser = argparse.ArgumentParser(prog="tinygrad-rnn", description=textwrap.fill(DESCRIPTION, 79),
                                     epilog=EXAMPLES["main"], formatter_class=_HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text):
        description = textwrap.fill(help_text[0].upper() + help_text[1:] + ".", 79)
        return sub.add_parser(name, help=help_text, description=description,
                              epilog=EXAMPLES[name], formatter_class=_HelpFormatter)

    r = add("render", "draw a cell folded, unrolled, backward or as its error flow, to a file")
    r.add_argument("cell", choices=sorted(CELLS), metavar="CELL",
                   help="the cell to draw: " + "; ".join(f"{k}: {v[0]}" for k, v in CELLS.items()))
    r.add_argument("--view", choices=VIEWS, default="unrolled",
                   help="folded: one step with its state loop; unrolled: a DAG over --steps steps; "
                        "backward: BPTT in time (δh(t), δc(t), gate deltas, each step's ΔW(t); with "
                        "--detail ops the gradient graph of every primitive); error-flow: how much "
                        "error reaches each step")
    r.add_argument("--steps", type=positive, default=4, help="time steps (every view but folded)")
    r.add_argument("--detail", choices=("gates", "ops"), default="gates",
                   help="gates: one box per gate; ops: every primitive operation")
    r.add_argument("--input-size", type=positive, default=3, help="inputs per step")
    r.add_argument("--hidden-size", type=positive, default=4, help="hidden units")
    r.add_argument("--seed", type=_at_least(0), default=0, help="seed of the weights and the inputs")
    r.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="where to write the picture: FILE.svg, .png, .pdf (need Graphviz's dot) or "
                        ".dot (DOT text); its directory must exist")
    r.set_defaults(run=_render)

    t = add("tour", "build, unroll, differentiate (BPTT and RTRL) and draw an LSTM; "
                    "writes pictures and index.html")
    t.add_argument("--out", default="tour", metavar="DIR",
                   help="directory for the pictures and index.html (created if missing)")
    t.set_defaults(run=_tour)

    e = add("teach", "print a step-by-step walk-through of BPTT, RTRL or error flow")
    e.add_argument("what", choices=("bptt", "rtrl", "error-flow"),
                   help="bptt: forward then backward through time; rtrl: sensitivities carried "
                        "forward; error-flow: the path products of the error flowing back --lag steps")
    e.add_argument("--cell", choices=sorted(CELLS), default="rnn", metavar="CELL",
                   help=f"the cell ({', '.join(sorted(CELLS))}); bptt and rtrl take every cell "
                        f"(rtrl on wz: Williams & Zipser's p^k_ij); error-flow takes {flow_cells}")
    e.add_argument("--units", type=positive, default=2, help="hidden units")
    e.add_argument("--steps", type=positive, default=3, help="time steps")
    e.add_argument("--input-size", type=positive, default=1, help="inputs per step")
    e.add_argument("--lag", type=positive, default=None,
                   help=f"error-flow: q, how many steps back from the last one; less than --steps "
                        f"(default: min({DEFAULT_LAG}, steps - 1))")
    e.add_argument("--seed", type=_at_least(0), default=0,
                   help="seed of the weights, the inputs and the targets")
    e.add_argument("--output", choices=("squared", "softmax"), default="squared",
                   help="bptt and rtrl: the loss. squared: a target d at the last step, "
                        "L = 1/2 sum (d - y)^2 = -J (Williams & Zipser); softmax: Goodfellow's output "
                        "layer o = c + V y, softmax, cross-entropy at every step, traced too")
    e.add_argument("--classes", type=_at_least(2), default=None,
                   help="--output softmax: the number of classes (default: 3)")
    e.add_argument("--html", type=_html_file, default=None, metavar="FILE",
                   help="bptt and rtrl: also write the step-through page of the same computation "
                        "(both modes) to FILE.html; its directory must exist")
    e.set_defaults(run=_teach, check=_check_teach)
    return parser, {"render": r, "tour": t, "teach": e}


def main(argv=None) -> int:
    """Run the command line on argv (default sys.argv[1:]); returns the exit status.
    Bad arguments exit with status 2 and the subcommand's usage (argparse's SystemExit)."""
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "check"):
        args.check(args, commands[args.command].error)
    try:
        args.run(args)
    except Exception as e:  # a clear one-line message for the terminal, not a traceback
        from .graph.node import GraphError
        if isinstance(e, (GraphError, _Refused)):
            print(f"tinygrad-rnn {args.command}: error: {e}", file=sys.stderr)
            return 2
        if isinstance(e, OSError):
            print(f"tinygrad-rnn {args.command}: error: {e.strerror or e}"
                  + (f": {e.filename!r}" if e.filename else ""), file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
