"""Writing pictures: DOT text always; images through Graphviz's ``dot`` program, with a clear
error saying how to install it when it is missing."""
from __future__ import annotations

import os
import shutil

import graphviz

from ..graph.node import GraphError

FORMATS = ("svg", "png", "pdf", "dot")


class GraphvizNotInstalled(GraphError):
    """Rendering an image needs Graphviz's ``dot`` program."""


def save(graph: graphviz.Digraph, path: str) -> str:
    """Write ``graph`` to ``path``; the extension picks the format (.svg .png .pdf .dot).
    DOT needs nothing; images need Graphviz's ``dot``. Returns the path written."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise GraphError(f"save: the file name must end in one of {', '.join('.' + f for f in FORMATS)}, "
                         f"got {path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if ext == "dot":
        with open(path, "w") as f:
            f.write(graph.source)
        return path
    if shutil.which("dot") is None:
        raise GraphvizNotInstalled(
            f"save: writing {path!r} needs Graphviz's `dot` program, which is not installed. "
            "Install it (Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: `brew install "
            "graphviz`; conda: `conda install graphviz`), or save as .dot (always works).")
    data = graph.pipe(format=ext)
    with open(path, "wb") as f:
        f.write(data)
    return path
