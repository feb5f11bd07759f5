"""``Module``: what cells and layers share: named parameters, PyTorch-style state dicts,
train/eval mode, and initialisation helpers."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..graph.node import fail, rectangular
from ..tensor import Tensor, parameter


class Module:
    """Holds parameters in ``self._params`` (name -> parameter Tensor)."""

    training = True

    def __init__(self, dtype=np.float64, seed=None):
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise fail(f"{type(self).__name__}: dtype must be float32 or float64, got {self.dtype}")
        self._rng = np.random.default_rng(seed)
        self._params: dict[str, Tensor] = {}

    def _param(self, name: str, value, full_name: str | None = None) -> Tensor:
        p = parameter(np.asarray(value, self.dtype), name=full_name or name)
        self._params[name] = p
        return p

    def _uniform(self, shape, bound):
        return self._rng.uniform(-bound, bound, size=shape)

    def parameters(self) -> dict[str, Tensor]:
        """name -> parameter Tensor (PyTorch's names where PyTorch has the module)."""
        return dict(self._params)

    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> a copy of the parameter's value."""
        return {k: np.array(p.value) for k, p in self.parameters().items()}

    def load_state_dict(self, d: dict) -> None:
        """Set every parameter from ``d`` (same names and shapes; cast to this dtype)."""
        params = self.parameters()
        if not isinstance(d, Mapping):
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected a dict name -> "
                             f"array, got {type(d).__name__}")
        missing, extra = sorted(set(params) - set(d)), sorted(set(d) - set(params))
        if missing or extra:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                             f"unexpected keys {extra}")
        # every value checked before any is written: a failed call changes nothing
        values = {}
        for k, p in params.items():
            value = rectangular(d[k], lambda got: ValueError(
                f"{type(self).__name__}.load_state_dict: {k} must be an array, got {got}"))
            if value.dtype.kind not in "biuf":
                raise ValueError(f"{type(self).__name__}.load_state_dict: {k} must be an array "
                                 f"of real numbers, got {type(d[k]).__name__} of dtype "
                                 f"{value.dtype}" + (" (None)" if d[k] is None else ""))
            if value.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.load_state_dict: {k} has shape "
                                 f"{value.shape}, expected {p.shape}")
            values[k] = value.astype(self.dtype)
        for k, p in params.items():
            p.assign(values[k])

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)
