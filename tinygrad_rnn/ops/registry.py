"""The Primitive record and the table of all primitives.

A primitive is declared once, in its family's module, with every rule it has:

- ``shape_rule(*inputs, **attrs) -> (shape, dtype)``: runs while the graph is built and
  raises ``GraphError`` (naming the primitive, the shapes and the user's line) on bad input;
- ``numpy(*arrays, **attrs) -> array``: the reference implementation (the oracle);
- ``numba(*arrays, **attrs) -> array``: the default backend. Elementwise primitives give
  ``scalar`` instead, a scalar expression the kernel generator inlines;
- ``vjp``: one rule per input, ``rule(g, out, *inputs, **attrs) -> Node`` (the cotangent of
  that input), or ``None`` for an input that carries no derivative. Variadic primitives give
  one callable ``rule(i, g, out, *inputs, **attrs)``;
- ``jvp``: the same shape of table for tangents, ``rule(t, out, *inputs, **attrs)``; the
  tangent of the output is the sum of the per-input contributions. Elementwise primitives
  state one partial per input (``ops.elementwise.elementwise(partial=...)``), which serves as
  both tables;
- ``fold(*inputs, **attrs) -> Node | None``: an algebraic shortcut tried before a node is
  built (``x * 1 -> x``, ``x + 0 -> x``), which keeps gradient graphs small enough to read;
- ``batch(xs, batched, size, **attrs) -> Node``: the same operation with a new leading axis of
  ``size`` on the inputs flagged in ``batched`` and on the output (JAX's vmap rule), used to
  push many tangents through one graph at once (RTRL's sensitivities).

A primitive with several outputs (``multi=True``, e.g. ``scan``) gives ``avals(node)`` (the
shape and dtype of each output, read through ``get`` nodes) and joint rules ``vjp_all(gs,
out, *inputs, needed, **attrs) -> cotangents per input`` and ``jvp_all(ts, out, *inputs,
**attrs) -> tangents per output``, because one backward or forward pass serves all of them.

All rules build nodes with primitives, so a gradient is a graph that can itself be
differentiated, compiled and drawn.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..graph.node import GraphError, Node, fail, user_site

REGISTRY: dict[str, Primitive] = {}


@dataclass(frozen=True, eq=False)
class Primitive:
    name: str
    shape_rule: Callable[..., tuple]
    numpy: Callable[..., Any]
    numba: Callable[..., Any] | None = None
    vjp: Any = None
    jvp: Any = None
    fold: Callable[..., Node | None] | None = None
    scalar: str | None = None  # elementwise: expression over x, y, z (inputs 0, 1, 2)
    # a cheaper form for compiled loops, where IEEE overflow is silent (no NumPy warnings)
    loop_scalar: str | None = None
    arity: int | None = None  # None: variadic
    leaf: bool = False
    batch: Callable[..., Node] | None = None
    multi: bool = False
    avals: Callable[[Node], list] | None = None
    vjp_all: Callable[..., list] | None = None
    jvp_all: Callable[..., list] | None = None
    pure: bool = True  # False: may give a new value at each run (never merged by CSE)
    # facts the compiler reads: only moves or relabels memory (cheap to recompute rather
    # than store); a reduction and how it combines ("sum" or "max") in a fused loop
    moves: bool = False
    reduction: str | None = None
    # facts the graph passes read: a value the caller feeds (never merged, must be a
    # function's input); the value of its one input (no step of its own); picks output
    # ``attrs["k"]`` of a multi-output node (derivatives route to that output)
    fed: bool = False
    same_as_input: bool = False
    selects: bool = False
    symbol: str | None = None  # its mark in pictures (the name where None)

    def __call__(self, *inputs: Node, name: str | None = None, **attrs) -> Node:
        """Build a node of this primitive (after trying its fold rule)."""
        site = user_site()
        if self.arity is not None and len(inputs) != self.arity:
            raise fail(f"{self.name}: expected {self.arity} inputs, got {len(inputs)}", site)
        for i, x in enumerate(inputs):
            if not isinstance(x, Node):
                raise fail(f"{self.name}: input {i} must be a graph Node, got {type(x).__name__}",
                           site)
            if x.op.multi and not self.selects:
                raise fail(f"{self.name}: input {i} is the tuple output of {x.op.name}; "
                           "select one of its outputs with get", site)
        if self.fold is not None:
            folded = self.fold(*inputs, **attrs)
            if folded is not None:
                return folded
        try:
            shape, dtype = self.shape_rule(*inputs, **attrs)
        except GraphError as e:
            raise fail(f"{self.name}: {e}", site) from None
        return Node(self, inputs, attrs, shape, dtype, name=name, site=site)

    def vjp_rule(self, i: int):
        """The cotangent rule for input ``i`` (None: no derivative flows into it)."""
        if self.vjp is None:
            return None
        if isinstance(self.vjp, tuple):
            return self.vjp[i]
        return lambda *a, **k: self.vjp(i, *a, **k)

    def jvp_rule(self, i: int):
        """The tangent contribution rule for input ``i`` (None: contributes nothing)."""
        if self.jvp is None:
            return None
        if isinstance(self.jvp, tuple):
            return self.jvp[i]
        return lambda *a, **k: self.jvp(i, *a, **k)


def primitive(**fields) -> Primitive:
    """Declare a primitive and enter it in the registry."""
    prim = Primitive(**fields)
    if prim.name in REGISTRY:
        raise ValueError(f"primitive {prim.name!r} declared twice")
    REGISTRY[prim.name] = prim
    return prim


def shapes(*nodes: Node) -> str:
    return ", ".join(str(n.shape) for n in nodes)


def check(cond: bool, message: str) -> None:
    """Shape rules use this to reject input; the caller adds the primitive and the site."""
    if not cond:
        raise GraphError(message)
