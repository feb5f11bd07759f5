"""Line plots on a log scale: the error norm against the lag, one line per cell, or a loss
curve. ``lag_plot`` draws plain SVG (no plotting library needed); ``save_plot`` uses
matplotlib when it is installed and falls back to ``lag_plot``."""
from __future__ import annotations

import math
from html import escape

import numpy as np

COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


LAG = "lag q (steps back from the loss)"


def lag_plot(series: dict, title: str, ylabel: str = "||dL/dh(T-1-q)||", width: int = 640,
             height: int = 400, xlabel: str = LAG, x=None) -> str:
    """SVG text: for each name, values[q] (q = 0, 1, ...: the lag) as a line on a log10 y
    axis. Zeros and non-finite values are left out of their line. ``x``: the x value of each
    index (default the index itself), for the tick labels."""
    # the legend sits right of the plot: room for the longest name (~7 px a character at 12 px)
    right = 60 + 7 * max((len(str(k)) for k in series), default=0)
    left, top, bottom = 70, 40, 50
    width += max(0, right - 150)
    pw, ph = width - left - right, height - top - bottom
    logs = {k: np.log10(np.where(np.asarray(v, float) > 0, np.asarray(v, float), np.nan))
            for k, v in series.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in logs.values()] or [np.zeros(1)])
    lo, hi = math.floor(finite.min()), math.ceil(finite.max())
    hi = hi if hi > lo else lo + 1
    n = max(len(v) for v in logs.values())
    x_values = None if x is None else np.asarray(x, float)

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
        label = q if x_values is None else f"{x_values[q]:g}"
        out.append(f'<text x="{x(q):.1f}" y="{top + ph + 18}" text-anchor="middle">{label}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
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


def save_plot(series: dict, path: str, title: str, ylabel: str = "||dL/dh(T-1-q)||",
              xlabel: str = LAG, x=None) -> str:
    """Write the log-scale line plot of ``series`` (name -> values) to ``path``: drawn by
    matplotlib when it is installed (any format it knows from the extension), else by
    ``lag_plot`` (SVG only). Returns the path."""
    try:
        import matplotlib
    except ImportError:
        matplotlib = None
    if matplotlib is None:
        if not path.endswith(".svg"):
            raise ValueError(f"save_plot: without matplotlib only .svg can be written, got {path!r}")
        with open(path, "w") as f:
            f.write(lag_plot(series, title, ylabel, xlabel=xlabel, x=x))
        return path
    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for k, (name, values) in enumerate(series.items()):
        v = np.asarray(values, float)
        xs = np.arange(len(v)) if x is None else np.asarray(x, float)[:len(v)]
        keep = np.isfinite(v) & (v > 0)
        ax.semilogy(xs[keep], v[keep], color=COLORS[k % len(COLORS)], lw=2, label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, which="major", color="#ddd")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
