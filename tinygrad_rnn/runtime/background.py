"""Compiling a loop in a helper process, so that no call waits for Numba.

A loop's first compile costs seconds (Numba types and optimizes the generated module). When
a loop is due to be compiled (``scan_runner.COMPILE_AFTER``), its module is already on disk
(``ops.kernels.codegen.load_module``); one helper process per program (``main`` below)
compiles it for the arguments' types into Numba's disk cache, while the program goes on
running the loop uncompiled. The
first call after the helper has finished loads the machine code from the cache (tens of
milliseconds) and runs compiled from then on. Both tiers give the same values, so which one
answers a call never changes a result.

``TINYGRAD_RNN_BACKGROUND=0`` compiles in the calling process instead (the call that compiles
waits; the test suite does this so that the tier of every call is known).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np

_HELPER = "import sys; from tinygrad_rnn.runtime.background import main; sys.exit(main())"
ENABLED = os.environ.get("TINYGRAD_RNN_BACKGROUND", "1") != "0"


def signature(arrays) -> list:
    """The argument types of a compiled loop call, as JSON-able data: [dtype, ndim] for an
    array (all C-contiguous and writeable), "int" for an integer."""
    return ["int" if isinstance(a, (int, np.integer)) else [a.dtype.str, a.ndim] for a in arrays]


def _marker(path: str, sig: list) -> str:
    digest = hashlib.sha1(json.dumps(sig).encode()).hexdigest()[:12]
    return f"{path}.{digest}.compiled"


def mark_cached(path: str, sig: list) -> None:
    """Note that the module at ``path`` is in the disk cache for ``sig`` (compiled by the
    helper or by a process that compiled it itself)."""
    open(_marker(path, sig), "w").close()


_helper: subprocess.Popen | None = None  # one per process, compiling requests in order
_requested: set[str] = set()


def ready(path: str, sig: list) -> bool:
    """Whether a call of the loop in ``path`` with argument types ``sig`` should go ahead now:
    its machine code is in the disk cache, or the helper could not make it (the call then
    compiles here and raises any error). The first time, it asks the helper to compile it
    and answers False; later calls answer False while the helper works on it."""
    global _helper
    marker = _marker(path, sig)
    if os.path.exists(marker) or os.path.exists(marker + ".failed"):
        return True
    if marker in _requested:
        return _helper is None or _helper.poll() is not None  # the helper died: go ahead
    if _helper is None or _helper.poll() is not None:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        # what it says goes to a log in the cache (a pipe nobody reads could fill up)
        with open(os.path.join(os.path.dirname(path), "helper.log"), "a") as log:
            _helper = subprocess.Popen([sys.executable, "-c", _HELPER], stdin=subprocess.PIPE,
                                       stdout=log, stderr=log, env=env, text=True)
    _helper.stdin.write(json.dumps([path, sig]) + "\n")
    _helper.stdin.flush()
    _requested.add(marker)
    return False


def wait(timeout: float | None = None) -> bool:
    """Block until the helper has compiled everything asked of it (True), or ``timeout``
    seconds pass (False). For benchmarks and tests; a program never needs to wait."""
    import time
    deadline = None if timeout is None else time.monotonic() + timeout
    while any(not os.path.exists(m) and not os.path.exists(m + ".failed") for m in _requested):
        if _helper is None or _helper.poll() is not None:
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _numba_type(entry):
    from numba import from_dtype, types
    if entry == "int":
        return types.int64
    dtype, ndim = entry
    return types.Array(from_dtype(np.dtype(dtype)), ndim, "C")


def main() -> int:
    """The helper: for each request line [module path, signature] on stdin, compile the
    module's loop into the disk cache, in order; when stdin closes (the process that asked
    has ended), finish what was asked, so that its next run finds it compiled."""
    import traceback

    from ..ops.kernels.codegen import load_module_file
    for line in sys.stdin:
        path, sig = json.loads(line)
        try:
            load_module_file(path).loop.compile(tuple(_numba_type(e) for e in sig))
            mark_cached(path, sig)
        except Exception:  # the asking process compiles it itself and raises the error
            traceback.print_exc()
            open(_marker(path, sig) + ".failed", "w").close()
    return 0
