"""Affine (de)quantization of tensors, from the scale and zero point a model declares.

TFLite's integer tensors hold ``q = round(x / scale) + zero_point``; these functions apply that
rule and its inverse, clipped to the integer dtype, so no model's parameters are hard-coded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QuantParams:
    """A tensor's dtype with its affine quantization; ``scale == 0`` means not quantized."""

    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def is_quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    @classmethod
    def from_details(cls, details: dict) -> QuantParams:
        """Read them from an entry of ``get_input_details()`` or ``get_output_details()``."""
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(np.dtype(details["dtype"]), float(scale), int(zero_point))


def quantize(x: np.ndarray, params: QuantParams) -> np.ndarray:
    """Map real values to the tensor's dtype: ``round(x / scale + zero_point)``, clipped."""
    if not params.is_quantized:
        return np.asarray(x, dtype=params.dtype)
    info = np.iinfo(params.dtype)
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(params.scale)) + params.zero_point
    return np.clip(q, info.min, info.max).astype(params.dtype)


def dequantize(q: np.ndarray, params: QuantParams) -> np.ndarray:
    """Map a tensor back to real values: ``(q - zero_point) * scale`` as float32."""
    if not params.is_quantized:
        return np.asarray(q, dtype=np.float32)
    return (q.astype(np.float32) - np.float32(params.zero_point)) * np.float32(params.scale)
