"""A line plot on a log scale as plain SVG (no plotting library needed): the error norm
against the lag, one line per cell."""
from __future__ import annotations

import math
from html import escape

import numpy as np

COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def lag_plot(series: dict, title: str, ylabel: str = "||dL/dh(T-1-q)||", width: int = 640,
             height: int = 400) -> str:
    """SVG text: for each name, values[q] (q = 0, 1, ...: the lag) as a line on a log10 y
    axis. Zeros and non-finite values are left out of their line."""
    left, right, top, bottom = 70, 150, 40, 50
    pw, ph = width - left - right, height - top - bottom
    logs = {k: np.log10(np.where(np.asarray(v, float) > 0, np.asarray(v, float), np.nan))
            for k, v in series.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in logs.values()] or [np.zeros(1)])
    lo, hi = math.floor(finite.min()), math.ceil(finite.max())
    hi = hi if hi > lo else lo + 1
    n = max(len(v) for v in logs.values())

    def x(q):
        return left + pw * q / max(n - 1, 1)

    def y(v):
        return top + ph * (hi - v) / (hi - lo)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="14">'
           f'{escape(title)}</text>']
    step = max(1, (hi - lo) // 8)
    for e in range(lo, hi + 1, step):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(e):.1f}" y2="{y(e):.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(e) + 4:.1f}" text-anchor="end">1e{e}</text>')
    for q in range(0, n, max(1, n // 10)):
        out.append(f'<text x="{x(q):.1f}" y="{top + ph + 18}" text-anchor="middle">{q}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">'
               'lag q (steps back from the loss)</text>')
    out.append(f'<text x="16" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {top + ph / 2})">{escape(ylabel)}</text>')
    for k, (name, v) in enumerate(logs.items()):
        color = COLORS[k % len(COLORS)]
        pts = " ".join(f"{x(q):.1f},{y(val):.1f}" for q, val in enumerate(v) if np.isfinite(val))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        ly = top + 16 + 20 * k
        out.append(f'<line x1="{left + pw + 12}" x2="{left + pw + 36}" y1="{ly}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="3"/>')
        out.append(f'<text x="{left + pw + 42}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
