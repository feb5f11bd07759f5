"""How things look: colours, node shapes, labels, and the magnitude scale of error flows."""
from __future__ import annotations

import html
import math

import numpy as np

FONT = "Helvetica"
LEAF = {
    "parameter": dict(shape="box", style="rounded,filled", fillcolor="#fde2c8", color="#d9822b"),
    "placeholder": dict(shape="box", style="rounded,filled", fillcolor="#d8e8f8", color="#2b6cb0"),
    "constant": dict(shape="box", style="rounded", color="#718096"),
    "fill": dict(shape="box", style="rounded,dashed", color="#a0aec0", fontcolor="#4a5568"),
    "dropout_mask": dict(shape="box", style="rounded,dashed", color="#805ad5"),
}
OP = dict(shape="ellipse", style="filled", fillcolor="white", color="#4a5568")
GATE = dict(shape="box", style="rounded,filled", color="#4a5568")
GATE_COLORS = {"input": "#c6f6d5", "forget": "#fed7d7", "output": "#fefcbf", "candidate": "#e9d8fd",
               "reset": "#fed7d7", "update": "#c6f6d5", "cell": "#feebc8", "hidden": "#bee3f8",
               "context": "#feebc8", "pre-activations": "#edf2f7", "net": "#edf2f7",
               "backward": "#fff5f5"}
FOLDED = dict(shape="box", style="rounded,dashed,filled", fillcolor="#f7fafc", color="#718096",
              fontcolor="#4a5568")
FADED = dict(color="#cbd5e0", fontcolor="#a0aec0", fillcolor="#f7fafc")
BACKWARD = dict(color="#c53030", fillcolor="#fff5f5")

# error-flow magnitudes: (lower bound, colour, legend text), largest first
FLOW_BINS = [(1.0, "#b2182b", "≥ 1"), (1e-1, "#e0603c", "0.1 – 1"), (1e-2, "#f4a261", "0.01 – 0.1"),
             (1e-3, "#4a90c2", "1e-3 – 0.01"), (1e-4, "#8fb3d9", "1e-4 – 1e-3"),
             (1e-6, "#c3d3e6", "1e-6 – 1e-4"), (0.0, "#e2e8f0", "< 1e-6: vanished")]


def shape_text(shape) -> str:
    return "scalar" if shape == () else "×".join(map(str, shape))


def value_text(array, limit: int = 6) -> str:
    a = np.asarray(array)
    if a.size > limit:
        return ""
    return np.array2string(a, precision=3, separator=", ", suppress_small=True).replace("\n", "")


def html_label(title: str, *lines: str, bold: bool = True, color: str = "#4a5568") -> str:
    """A Graphviz HTML label: a title and smaller lines (grey unless ``color``) under it."""
    head = f"<B>{html.escape(title)}</B>" if bold else html.escape(title)
    rest = "".join(f'<BR/><FONT POINT-SIZE="8" COLOR="{color}">{html.escape(x)}</FONT>'
                   for x in lines if x)
    return f"<{head}{rest}>"


def gate_color(scope_name: str) -> str:
    word = scope_name.split()[0].lower()
    return GATE_COLORS.get(word, "#edf2f7")


def flow_color(norm: float) -> str:
    for low, color, _ in FLOW_BINS:
        if norm >= low:
            return color
    return FLOW_BINS[-1][1]


def on_flow_color(norm: float) -> str:
    """Text colour readable on ``flow_color(norm)``."""
    return "white" if norm >= 1e-1 or 1e-3 <= norm < 1e-2 else "#1a202c"


def flow_width(norm: float) -> str:
    level = (math.log10(norm) + 6) / 6 if norm > 0 else 0.0
    return f"{0.6 + 3.4 * min(max(level, 0.0), 1.0):.2f}"


def number(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"
