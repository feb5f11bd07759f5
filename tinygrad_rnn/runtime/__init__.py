"""Execution of plans: ``Function`` (compiled once, called many times) on the numba backend
(default) or the numpy reference backend."""
from .executor import BACKENDS, Function  # noqa: F401
