"""Graphviz pictures (``graphviz.Digraph`` objects: ``.source`` is the DOT text, notebooks
show them inline, ``tr.viz.save(graph, "x.svg")`` writes SVG/PNG/PDF/DOT).

- ``draw(tensors)``: any graph; ``draw_backward(loss, wrt)``: the gradient graph;
- ``draw_folded(cell)`` / ``draw_unrolled(cell, steps)``: a cell and its unrolled DAG;
- ``draw_bptt(cell, steps)``: BPTT as the unrolled picture turned round: δh(t), δc(t),
  the gate deltas and each step's ΔW(t) feeding ∂L/∂W;
- ``draw_error_flow(cell, xs, loss_fn)``: the error flowing back through time;
- ``draw_attention(weights)`` / ``save_attention(weights, path)``: a heat map of attention
  weights (T_out, T_in), plain SVG.
"""
from .attention import draw_attention, save_attention  # noqa: F401
from .bptt_view import draw_bptt  # noqa: F401
from .draw import draw, draw_backward  # noqa: F401
from .flow import draw_error_flow  # noqa: F401
from .recurrent import draw_folded, draw_unrolled  # noqa: F401
from .save import save  # noqa: F401
