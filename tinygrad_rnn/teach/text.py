"""Numbers as text for the traces: small arrays in full, large ones summarised."""
from __future__ import annotations

import numpy as np


def matrix(a, digits: int = 4, limit: int = 64) -> str:
    """An array as aligned text: every entry when it has at most ``limit`` entries, else its
    shape, norm and extreme entries."""
    a = np.asarray(a)
    if a.size > limit:
        return (f"<{a.shape} array: norm {np.linalg.norm(a):.{digits}g}, "
                f"min {a.min():.{digits}g}, max {a.max():.{digits}g}>")
    with np.printoptions(precision=digits, suppress=True, linewidth=100):
        return np.array2string(a if a.ndim != 2 or a.shape[0] != 1 else a[0])


def block(label: str, a, indent: str = "  ") -> str:
    """``label = value``, a multi-line value indented under its label."""
    text = matrix(a)
    if "\n" in text:
        pad = indent + " " * (len(label) + 3)
        text = text.replace("\n", "\n" + pad)
    return f"{indent}{label} = {text}"
