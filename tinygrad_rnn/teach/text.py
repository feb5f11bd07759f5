"""Numbers as text for the traces: small arrays in full, large ones summarised; rows split
into named blocks (the gates of a pre-activation vector, the columns of W&Z's x(t)); tables
with row and column labels (a weight matrix, p^k_ij)."""
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
    return _hang(label, matrix(a), indent)


def _hang(label: str, text: str, indent: str) -> str:
    if "\n" in text:
        pad = indent + " " * (len(label) + 3)
        text = text.replace("\n", "\n" + pad)
    return f"{indent}{label} = {text}"


def grouped(a, groups, digits: int = 4) -> str:
    """A row (n,) or a batch of one (1, n) with its entries split into named blocks:
    ``i: [0.1 0.2] | f: [0.3 0.4]``; groups is a sequence of (name, size) adding up to n.
    A batch of several rows gives one such line per row."""
    a = np.asarray(a)
    rows = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a[None]
    lines = []
    for row in rows:
        parts, off = [], 0
        for name, size in groups:
            parts.append(f"{name}: {matrix(row[off:off + size], digits)}")
            off += size
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def grouped_block(label: str, a, groups, indent: str = "  ") -> str:
    """``label = i: [..] | f: [..]`` (``grouped``), or a plain ``block`` without groups."""
    if not groups or sum(s for _, s in groups) != np.shape(a)[-1]:
        return block(label, a, indent)
    return _hang(label, grouped(a, groups), indent)


def number(v, digits: int = 4) -> str:
    """One entry as ``matrix`` writes it (4 decimals, trailing zeros dropped: 0.0311, 1., 0.)."""
    text = f"{float(v):.{digits}f}".rstrip("0")
    return "0." if text in ("-0.", "0.") else text


def table(a, row_labels=None, col_labels=None, digits: int = 4, limit: int = 64) -> str:
    """A 2-D array (a 1-D one is one row) as a table with its rows and columns labelled;
    summarised as ``matrix`` does when it has more than ``limit`` entries."""
    a = np.asarray(a)
    if a.size > limit:
        return matrix(a, digits, limit)
    a = a.reshape(1, -1) if a.ndim < 2 else a.reshape(a.shape[0], -1)
    cells = [[number(v, digits) for v in row] for row in a]
    rl = list(row_labels) if row_labels is not None else [""] * a.shape[0]
    cl = list(col_labels) if col_labels is not None else None
    width = max([len(c) for r in cells for c in r] + [len(c) for c in cl or []])
    left = max(len(r) for r in rl)
    out = []
    if cl is not None:
        out.append(" " * left + "".join(f"  {c:>{width}}" for c in cl))
    for label, row in zip(rl, cells):
        out.append(f"{label:<{left}}" + "".join(f"  {c:>{width}}" for c in row))
    return "\n".join(line.rstrip() for line in out)


def table_block(label: str, a, row_labels=None, col_labels=None, indent: str = "  ",
                limit: int = 64) -> str:
    """``label:`` and the ``table`` of a under it, indented (a summary stays on the line)."""
    text = table(a, row_labels, col_labels, limit=limit)
    if text.startswith("<"):
        return f"{indent}{label} = {text}"
    pad = indent + "    "
    return f"{indent}{label}:\n" + "\n".join(pad + line for line in text.split("\n"))


def group_labels(groups) -> list:
    """Entry labels of blocks (name, size): i0, i1, f0, ... (a block of one: just its name)."""
    return [name if size == 1 else f"{name}{k}" for name, size in groups for k in range(size)]
