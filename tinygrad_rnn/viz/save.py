"""Writing pictures: DOT text always; images through Graphviz's ``dot`` program, with a clear
error saying how to install it when it is missing, and a time limit (``dot`` can take minutes
on a graph of a thousand nodes: rather a clear error than a frozen notebook)."""
from __future__ import annotations

import os
import shutil
import subprocess

import graphviz

from ..graph.node import GraphError

FORMATS = ("svg", "png", "pdf", "dot")


class GraphvizNotInstalled(GraphError):
    """Rendering an image needs Graphviz's ``dot`` program."""


class GraphvizTimeout(GraphError):
    """Graphviz's ``dot`` did not lay the picture out within the time limit."""


def dot_seconds() -> float:
    """The time limit for one run of ``dot``: ``TINYGRAD_RNN_DOT_TIMEOUT`` seconds (default 60)."""
    return float(os.environ.get("TINYGRAD_RNN_DOT_TIMEOUT", "60"))


def _need_dot(what: str):
    if shutil.which("dot") is None:
        raise GraphvizNotInstalled(
            f"{what} needs Graphviz's `dot` program, which is not installed. "
            "Install it (Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: `brew install "
            "graphviz`; conda: `conda install graphviz`), or save as .dot (always works).")


def render(graph: graphviz.Digraph, fmt: str, what: str = "rendering", timeout: float | None = None
           ) -> bytes:
    """The picture in format ``fmt`` (svg, png, pdf) from Graphviz's ``dot``, within
    ``timeout`` seconds (default ``dot_seconds()``); ``GraphvizTimeout`` says what to do."""
    _need_dot(what)
    limit = dot_seconds() if timeout is None else timeout
    try:
        done = subprocess.run(["dot", f"-T{fmt}"], input=graph.source.encode("utf-8"),
                              capture_output=True, timeout=limit)
    except subprocess.TimeoutExpired:
        nodes = graph.source.count("[label=")
        raise GraphvizTimeout(
            f"{what}: Graphviz's dot did not finish within {limit:g} s on a graph of about "
            f"{nodes} nodes. Draw fewer: a smaller max_nodes= (tr.viz folds the middle steps of "
            "an unrolled graph into one box), detail=\"gates\", or fewer steps; or save it as "
            ".dot and run dot yourself; TINYGRAD_RNN_DOT_TIMEOUT=<seconds> raises the limit."
        ) from None
    if done.returncode != 0:
        raise GraphError(f"{what}: Graphviz's dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


class Picture(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose rendering (notebooks' inline display, ``.pipe``) runs
    ``dot`` under the time limit of ``render``."""

    def pipe(self, format=None, renderer=None, formatter=None, neato_no_op=None, quiet=False, *,
             engine=None, encoding=None):
        if renderer or formatter or neato_no_op or (engine or self.engine) != "dot":
            return super().pipe(format, renderer, formatter, neato_no_op, quiet, engine=engine,
                                encoding=encoding)
        data = render(self, format or self.format, "drawing")
        return data.decode(encoding) if encoding else data


def save(graph: graphviz.Digraph, path: str) -> str:
    """Write ``graph`` to ``path``; the extension picks the format (.svg .png .pdf .dot).
    DOT needs nothing; images need Graphviz's ``dot``. Returns the path written."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise GraphError(f"save: the file name must end in one of {', '.join('.' + f for f in FORMATS)}, "
                         f"got {path!r}")
    # drawn first: a failed or timed-out render leaves no directory or file behind
    data = graph.source.encode("utf-8") if ext == "dot" else render(graph, ext,
                                                                    f"save: writing {path!r}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path
