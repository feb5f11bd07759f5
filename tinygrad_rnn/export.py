"""Exporters: a graph handed to another engine as a plain function of that engine.

``to_jax(inputs, outputs)`` gives ``fn(params, *inputs) -> list of jax arrays``, a pure JAX
function of the graph (scans as ``jax.lax.scan``) that composes with ``jax.jit``,
``jax.vmap``, ``jax.grad`` and sharding, and the parameters' current values. JAX is imported
only when an exporter is called (``pip install 'tinygrad_rnn[jax]'``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .graph.node import GraphError
from .runtime import Function
from .tensor import Tensor, api
from .transforms import _tensor_list


def _names(params) -> list[str]:
    """One dict key per parameter node: its name, made unique (``w``, ``w_1``, ...) where two
    parameters share one; ``param<i>`` for an unnamed one."""
    names, taken = [], set()
    for i, p in enumerate(params):
        base = str(p.name) if p.name else f"param{i}"
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        names.append(name)
    return names


@api(name="export.to_jax")
def to_jax(inputs: Sequence[Tensor], outputs: Sequence[Tensor]):
    """The graph from placeholders ``inputs`` to ``outputs`` as a pure JAX function.

    Returns ``(fn, params)``: ``fn(params, *inputs, key=None) -> list of jax arrays``, one
    per output, and ``params``, a dict name -> jax array of every parameter the outputs read
    (its current value; the names are the parameters' own, made unique). ``fn`` reads nothing
    but its arguments, so it works under ``jax.jit``, ``jax.vmap`` (over a new leading axis
    of the inputs), ``jax.grad`` (with respect to ``params`` and the inputs) and sharding.
    A graph that draws random numbers (dropout) needs ``key``, a JAX PRNG key.
    ``fn.parameters`` maps each name to the parameter Tensor, to write trained values back.
    Our own gradient graphs export as they are: ``jax.grad`` of an exported loss equals the
    exported ``tr.grad`` of it. A float64 graph needs ``jax_enable_x64``.

    >>> fn, params = tr.export.to_jax([xs], [loss] + tr.grad(loss, [w]))
    >>> loss_value, gw = fn(params, xs_array)
    >>> jax.grad(lambda p: fn(p, xs_array)[0])(params)["w"]  # equals gw
    """
    inputs, outputs = _tensor_list(inputs, "inputs"), _tensor_list(outputs, "outputs")
    f = Function([x.node for x in inputs], [y.node for y in outputs], "jax",
                 caller="export.to_jax")
    import jax.numpy as jnp

    from .runtime.jax_backend import check_jax_dtypes
    program = f.program
    nodes = [s.node for s in f.plan.steps] + list(f.inputs)
    check_jax_dtypes(nodes, "export.to_jax")
    names = _names(program.params)
    params = {n: jnp.array(p.attrs["box"].value) for n, p in zip(names, program.params)}
    random = list(program.keyed)
    consts = [jnp.asarray(c.attrs["value"]) for c in program.consts]
    placeholders = f.inputs

    def fn(params: Mapping, *xs, key=None) -> list:
        if not isinstance(params, Mapping):
            raise TypeError(f"to_jax function: params must be a dict name -> array, got "
                            f"{type(params).__name__}")
        missing, extra = sorted(set(names) - set(params)), sorted(set(params) - set(names))
        if missing or extra:
            raise KeyError(f"to_jax function: params is missing {missing}, has unexpected "
                           f"{extra}")
        if len(xs) != len(placeholders):
            raise TypeError(f"to_jax function: expects {len(placeholders)} inputs after params, "
                            f"got {len(xs)}")
        check_jax_dtypes(nodes, "to_jax function")
        arrays = []
        for i, (x, p) in enumerate(zip(xs, placeholders)):
            a = jnp.asarray(x)
            if a.shape != p.shape:
                raise GraphError(f"to_jax function: input {i} expects shape {p.shape}, got "
                                 f"{a.shape} (under jax.vmap: the shape of one example)")
            arrays.append(a if a.dtype == p.dtype else a.astype(p.dtype))
        if random and key is None:
            first = random[0]
            raise GraphError(f"to_jax function: the graph draws random numbers ({first.op.name}"
                             f" built at {first.site}); pass key=jax.random.key(seed)")
        keys = program.keys(key) if random else []
        values = [params[n] for n in names]
        return program.run(arrays, keys, values, consts)

    fn.parameters = {n: Tensor(p) for n, p in zip(names, program.params)}
    fn.__doc__ = (f"fn(params, {', '.join(f'x{i}' for i in range(len(inputs)))}"
                  f"{', key=key' if random else ''}) -> {len(outputs)} jax arrays (exported by "
                  "tinygrad_rnn.export.to_jax)")
    return fn, params
