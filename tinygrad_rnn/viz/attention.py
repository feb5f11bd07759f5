"""Attention weights as a heat map: one row per output step, one column per source position,
each cell shaded by the weight that step gave that position (white 0, dark blue ``vmax``).
Plain SVG text (like ``viz.plot.lag_plot``: no plotting library, no Graphviz needed);
``save_attention`` writes it to a file.

>>> preds, w = model(xs, dec_in, return_attention=True)      # w: (T_out, B, T_in)
>>> svg = tr.viz.draw_attention(w.numpy()[:, 0], source_labels=list("31415"))
"""
from __future__ import annotations

from html import escape

import numpy as np

from ..graph.node import fail

LOW, HIGH = (255, 255, 255), (8, 48, 107)  # the colours of weight 0 and of vmax


def weight_colour(w: float, vmax: float = 1.0) -> str:
    """'#rrggbb' for a weight: white at 0 to dark blue at ``vmax`` (and above), each channel
    moving one way only, so darker always means a larger weight."""
    f = min(max(float(w) / vmax, 0.0), 1.0) if vmax > 0 else 0.0
    return "#" + "".join(f"{round(lo + (hi - lo) * f):02x}" for lo, hi in zip(LOW, HIGH))


def _labels(labels, n, what):
    if labels is None:
        return [str(k + 1) for k in range(n)]
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise fail(f"draw_attention: {what} has {len(labels)} labels for {n} "
                   f"{'columns' if what == 'source_labels' else 'rows'} of weights")
    return labels


def draw_attention(weights, source_labels=None, target_labels=None,
                   title: str = "attention weights", cell: int = 28, vmax: float = 1.0,
                   annotate: bool | None = None) -> str:
    """SVG text: the heat map of ``weights`` (T_out, T_in), row t = output step t's weights
    over the source (one example: pass ``w[:, b]`` of a model's (T_out, B, T_in) weights).

    source_labels (T_in,) name the columns (e.g. the input tokens), target_labels (T_out,)
    the rows (e.g. the output tokens); default 1, 2, .... cell: the side of one cell in
    pixels; vmax: the weight drawn darkest (default 1, the most a weight can be); annotate:
    print each weight in its cell (default: when the map is at most 16 x 16). Each cell is a
    ``<rect class="cell">`` with ``data-target``, ``data-source`` and ``data-weight``.

    >>> svg = tr.viz.draw_attention(np.eye(3)[::-1], source_labels="abc", target_labels="cba")
    """
    w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=float)
    if w.ndim != 2 or 0 in w.shape:
        hint = (" (a batch of maps: pass one example's, weights[:, b])" if w.ndim == 3 else "")
        raise fail(f"draw_attention: expected weights of shape (T_out, T_in), got {w.shape}{hint}")
    if not np.all(np.isfinite(w)):
        raise fail("draw_attention: the weights hold NaN or infinite values")
    if isinstance(vmax, bool) or not isinstance(vmax, (int, float, np.number)) or not vmax > 0:
        raise fail(f"draw_attention: vmax must be a number > 0, got {vmax!r}")
    T_out, T_in = w.shape
    src = _labels(source_labels, T_in, "source_labels")
    tgt = _labels(target_labels, T_out, "target_labels")
    if annotate is None:
        annotate = T_out <= 16 and T_in <= 16
    # room for the row labels (~7 px a character at 12 px), the title, the column labels
    left = 40 + 7 * max(len(s) for s in tgt)
    top = 70
    bar = 16  # the colour bar's width, right of the map
    pw, ph = cell * T_in, cell * T_out
    width = max(left + pw + 90, 40 + 8 * len(title), 260)  # ~8 px a character at 14 px
    height = top + ph + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
           f'{escape(title)}</text>',
           f'<text x="{left + pw / 2}" y="40" text-anchor="middle" fill="#555">'
           'source position (input) →</text>',
           f'<text x="14" y="{top + ph / 2}" text-anchor="middle" fill="#555" '
           f'transform="rotate(-90 14 {top + ph / 2})">output step →</text>']
    for j, s in enumerate(src):
        out.append(f'<text class="source-label" x="{left + cell * (j + 0.5):.1f}" y="{top - 8}" '
                   f'text-anchor="middle">{escape(s)}</text>')
    for t, s in enumerate(tgt):
        out.append(f'<text class="target-label" x="{left - 6}" y="{top + cell * (t + 0.5) + 4:.1f}" '
                   f'text-anchor="end">{escape(s)}</text>')
    for t in range(T_out):
        for j in range(T_in):
            x, y = left + cell * j, top + cell * t
            out.append(f'<rect class="cell" x="{x}" y="{y}" width="{cell}" height="{cell}" '
                       f'fill="{weight_colour(w[t, j], vmax)}" data-target="{t}" data-source="{j}" '
                       f'data-weight="{w[t, j]:.6g}"><title>{escape(tgt[t])} ← {escape(src[j])}: '
                       f'{w[t, j]:.3f}</title></rect>')
            if annotate:
                ink = "white" if w[t, j] / vmax > 0.5 else "#333"
                out.append(f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 3:.1f}" '
                           f'text-anchor="middle" font-size="{max(6, min(10, cell // 3))}" '
                           f'fill="{ink}">{w[t, j]:.2f}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    # the colour bar: 0 at the bottom, vmax at the top
    bx, steps = left + pw + 20, 20
    for k in range(steps):
        f = (k + 0.5) / steps
        out.append(f'<rect class="colour-bar" x="{bx}" y="{top + ph * (1 - (k + 1) / steps):.1f}" '
                   f'width="{bar}" height="{ph / steps + 0.5:.1f}" fill="{weight_colour(f * vmax, vmax)}"/>')
    out.append(f'<rect x="{bx}" y="{top}" width="{bar}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{bx + bar + 4}" y="{top + 4}">{vmax:g}</text>')
    out.append(f'<text x="{bx + bar + 4}" y="{top + ph + 4}">0</text>')
    out.append("</svg>")
    return "\n".join(out)


def save_attention(weights, path: str, source_labels=None, target_labels=None,
                   title: str = "attention weights", **options) -> str:
    """Write ``draw_attention(weights, ...)`` (weights (T_out, T_in)) to ``path`` (.svg);
    returns the path. ``options``: those of ``draw_attention`` (cell, vmax, annotate)."""
    if not str(path).endswith(".svg"):
        raise fail(f"save_attention: the heat map is SVG; the file name must end in .svg, "
                   f"got {path!r}")
    svg = draw_attention(weights, source_labels, target_labels, title, **options)
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg)
    return path
