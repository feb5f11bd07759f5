"""``Linear``: y = x W^T + b (PyTorch's layout: weight (out, in), bias (out,))."""
from __future__ import annotations

import numpy as np

from ..functions import as_tensor
from ..graph.node import fail
from .module import Module


class Linear(Module):
    """(..., in_features) -> (..., out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float64, seed=None):
        super().__init__(dtype, seed)
        for what, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise fail(f"Linear: {what} must be an int >= 1, got {v!r}")
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / np.sqrt(in_features)
        self.weight = self._param("weight", self._uniform((out_features, in_features), bound))
        self.bias = self._param("bias", self._uniform((out_features,), bound)) if bias else None

    def __call__(self, x):
        x = as_tensor(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise fail(f"Linear: expected input (..., {self.in_features}), got {x.shape}")
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y
