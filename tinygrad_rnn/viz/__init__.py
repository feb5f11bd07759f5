"""Graphviz pictures of graphs (``graphviz.Digraph`` objects: ``.source`` is the DOT text,
``.render()`` writes SVG/PNG/PDF when Graphviz's ``dot`` is installed)."""
from .draw import draw  # noqa: F401
