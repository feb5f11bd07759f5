"""The primitives, one record each (see ``registry``), grouped by family."""
from . import elementwise, leaves, linalg, random, reduce, scan, shape  # noqa: F401  (fills REGISTRY)
from .registry import REGISTRY, Primitive, primitive  # noqa: F401
