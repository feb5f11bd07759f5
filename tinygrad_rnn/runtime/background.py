"""Compiling a loop in a helper process, so that no call waits for Numba.

A loop's first compile costs seconds (Numba types and optimizes the generated module). When
a loop is due to be compiled (``scan_runner.COMPILE_AFTER``), its module is already on disk
(``ops.kernels.codegen.load_module``); a helper process (``main`` below; up to
``TINYGRAD_RNN_HELPERS``, by default two, side by side) compiles it for the arguments'
types into Numba's disk cache, while the program goes on running the loop uncompiled. The
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
    """The argument types of a compiled loop call, as JSON-able data: [dtype, ndim, layout]
    for an array (writeable, C- or else F-contiguous: "C" or "F"), "int" for an integer,
    "generator" for a NumPy Generator (the stream a random primitive draws from)."""
    return ["int" if isinstance(a, (int, np.integer)) else
            "generator" if isinstance(a, np.random.Generator) else
            [a.dtype.str, a.ndim, "C" if a.flags.c_contiguous else "F"] for a in arrays]


def _marker(path: str, sig: list) -> str:
    digest = hashlib.sha1(json.dumps(sig).encode()).hexdigest()[:12]
    return f"{path}.{digest}.compiled"


def mark_cached(path: str, sig: list) -> None:
    """Note that the module at ``path`` is in the disk cache for ``sig`` (compiled by the
    helper or by a process that compiled it itself)."""
    open(_marker(path, sig), "w").close()


# helper processes, each compiling the requests sent to it in order; a loop's forward and
# reverse-time modules are asked for together, so two helpers compile them side by side
HELPERS = max(1, int(os.environ.get("TINYGRAD_RNN_HELPERS", min(2, os.cpu_count() or 1))))
_helpers: list[subprocess.Popen] = []
_requested: dict[str, subprocess.Popen] = {}  # marker -> the helper asked to make it


def _done(marker: str) -> bool:
    return os.path.exists(marker) or os.path.exists(marker + ".failed")


def _start_helper(log_dir: str) -> subprocess.Popen:
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    # what it says goes to a log in the cache (a pipe nobody reads could fill up)
    with open(os.path.join(log_dir, "helper.log"), "a") as log:
        return subprocess.Popen([sys.executable, "-c", _HELPER], stdin=subprocess.PIPE,
                                stdout=log, stderr=log, env=env, text=True)


def _idle_helper(log_dir: str) -> subprocess.Popen:
    """The live helper with the least work outstanding; a new one while there are fewer than
    HELPERS and every live one is busy."""
    live = [h for h in _helpers if h.poll() is None]
    _helpers[:] = live
    pending = {id(h): 0 for h in live}
    for marker, h in _requested.items():
        if id(h) in pending and not _done(marker):
            pending[id(h)] += 1
    idle = min(live, key=lambda h: pending[id(h)], default=None)
    if idle is None or (pending[id(idle)] and len(live) < HELPERS):
        idle = _start_helper(log_dir)
        _helpers.append(idle)
    return idle


def ready(path: str, sig: list) -> bool:
    """Whether a call of the loop in ``path`` with argument types ``sig`` should go ahead now:
    its machine code is in the disk cache, or the helper could not make it (the call then
    compiles here and raises any error). The first time, it asks a helper to compile it
    and answers False; later calls answer False while the helper works on it."""
    marker = _marker(path, sig)
    if _done(marker):
        return True
    if marker in _requested:
        return _requested[marker].poll() is not None  # the helper died: go ahead
    helper = _idle_helper(os.path.dirname(path))
    helper.stdin.write(json.dumps([path, sig]) + "\n")
    helper.stdin.flush()
    _requested[marker] = helper
    return False


def wait(timeout: float | None = None) -> bool:
    """Block until the helpers have compiled everything asked of them (True), or ``timeout``
    seconds pass (False). For benchmarks and tests; a program never needs to wait."""
    import time
    deadline = None if timeout is None else time.monotonic() + timeout
    while any(not _done(m) and h.poll() is None for m, h in _requested.items()):
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _numba_type(entry):
    from numba import from_dtype, types
    if entry == "int":
        return types.int64
    if entry == "generator":
        from numba import typeof
        return typeof(np.random.default_rng(0))
    dtype, ndim, layout = entry
    return types.Array(from_dtype(np.dtype(dtype)), ndim, layout)


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
