"""Execution of plans: ``Function`` (compiled once, called many times) on the numba backend
(default) or the numpy reference backend."""
from . import scan_runner  # noqa: F401  (enters the scan's lowering in the executor's table)
from .executor import BACKENDS, Function  # noqa: F401
