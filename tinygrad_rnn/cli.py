"""The ``tinygrad-rnn`` command (also ``python -m tinygrad_rnn``).

    tinygrad-rnn tour --out tour                     # pictures + index.html, step by step
    tinygrad-rnn teach bptt --cell lstm --units 2 --steps 3
    tinygrad-rnn render lstm --view unrolled --steps 4 -o lstm.svg
"""
from __future__ import annotations

import argparse
import sys

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
    "lstm1997": ("original LSTM (1997): no forget gate, constant error carousel",
                 lambda I, H, s: nn.LSTMCell(I, H, forget_gate=False, seed=s)),
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


def make_cell(name: str, input_size: int = 3, hidden_size: int = 4, seed: int = 0):
    """A cell of the kind the command line names (see ``CELLS``)."""
    return CELLS[name][1](input_size, hidden_size, seed)


def last_step_loss(steps: int):
    """The teaching loss: the squared output at the last step only, so that all the error
    the earlier steps receive has flowed back through time."""
    return lambda t, y: fsum(y * y) if t == steps - 1 else None


def picture(cell, view: str, steps: int, detail: str = "gates", seed: int = 0):
    """The Digraph of ``view`` for ``cell`` (inputs drawn from N(0, 1) with ``seed``)."""
    if view == "folded":
        return viz.draw_folded(cell, detail)
    if view == "unrolled":
        return viz.draw_unrolled(cell, steps, detail, loss=True)
    xs_values = np.random.default_rng(seed).standard_normal((steps, 1, cell.input_size))
    if view == "error-flow":
        return viz.draw_error_flow(cell, xs_values.astype(cell.dtype), last_step_loss(steps))
    xs = placeholder(xs_values.shape, cell.dtype, name="xs")
    ys, _ = unroll(cell, xs)
    loss = mean(ys[-1] * ys[-1])
    params = cell.parameters()
    wrt = next((p for k, p in params.items() if "hh" in k), next(iter(params.values())))
    return viz.draw_backward(loss, [wrt], detail)


def _render(args):
    cell = make_cell(args.cell, args.input_size, args.hidden_size, args.seed)
    graph = picture(cell, args.view, args.steps, args.detail, args.seed)
    print(viz.save(graph, args.output))


def _tour(args):
    from .tour import run
    run(args.out)


def _teach(args):
    from . import teach
    rng = np.random.default_rng(args.seed)
    if args.what == "error-flow":
        cell = nn.RNNCell(1, args.units, seed=args.seed)
        xs = rng.standard_normal((args.steps, 1, 1))
        print(teach.error_flow_paths(cell, xs, q=min(args.lag, args.steps - 1)))
        return
    if args.what == "rtrl" and args.cell != "wz":
        print("(RTRL on the Williams-Zipser network shows p^k_ij(t); try --cell wz)\n")
    cell = make_cell(args.cell, args.input_size, args.units, args.seed)
    xs = rng.standard_normal((args.steps, 1, cell.input_size))
    loss_fn = last_step_loss(args.steps)
    trace = (teach.bptt_trace if args.what == "bptt" else teach.rtrl_trace)(cell, xs, None, loss_fn)
    print(trace)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tinygrad-rnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="draw a cell: folded, unrolled, backward or error-flow")
    r.add_argument("cell", choices=sorted(CELLS), help="; ".join(f"{k}: {v[0]}" for k, v in CELLS.items()))
    r.add_argument("--view", choices=VIEWS, default="unrolled")
    r.add_argument("--steps", type=int, default=4, help="time steps (views other than folded)")
    r.add_argument("--detail", choices=("gates", "ops"), default="gates")
    r.add_argument("--input-size", type=int, default=3)
    r.add_argument("--hidden-size", type=int, default=4)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("-o", "--output", required=True, help="FILE.svg, .png, .pdf or .dot")
    r.set_defaults(run=_render)
    t = sub.add_parser("tour", help="build, unroll, differentiate (BPTT and RTRL) and draw an LSTM; "
                       "writes pictures and index.html")
    t.add_argument("--out", default="tour", help="directory (default ./tour)")
    t.set_defaults(run=_tour)
    e = sub.add_parser("teach", help="print a step-by-step walk-through of BPTT, RTRL or error flow")
    e.add_argument("what", choices=("bptt", "rtrl", "error-flow"))
    e.add_argument("--cell", choices=sorted(CELLS), default="rnn")
    e.add_argument("--units", type=int, default=2)
    e.add_argument("--steps", type=int, default=3)
    e.add_argument("--input-size", type=int, default=1)
    e.add_argument("--lag", type=int, default=3, help="error-flow: q, the lag")
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(run=_teach)
    args = parser.parse_args(argv)
    if getattr(args, "steps", 1) < 1:
        parser.error("--steps must be at least 1")
    if getattr(args, "units", 1) < 1 or getattr(args, "lag", 1) < 1:
        parser.error("--units and --lag must be at least 1")
    try:
        args.run(args)
    except Exception as e:  # a clear one-line message for the terminal, not a traceback
        from .graph.node import GraphError
        if isinstance(e, GraphError):
            print(f"tinygrad-rnn: {e}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
