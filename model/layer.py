"""A golden BitLinear layer object: ternary weights quantized once, applied to float activations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.bitlinear import _check_bias, _check_weight_matrix, _check_weight_scale, bitlinear_from_quantized
from model.quant import as_float32, quantize_weights


@dataclass(frozen=True)
class GoldenBitLinear:
    """An inference BitLinear layer: ``y = bitlinear_from_quantized(x, w_q, s_w, bias)``.

    Members
    -------
    w_q : numpy.ndarray
        int8 ternary weights ``(out_features, in_features)``.
    s_w : numpy.float32
        The weight scale (``w ~ w_q / s_w``).
    bias : numpy.ndarray or None
        float32 bias ``(out_features,)``.
    """

    w_q: np.ndarray
    s_w: np.float32
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        w_q = _check_weight_matrix(self.w_q)
        object.__setattr__(self, "w_q", w_q)
        object.__setattr__(self, "s_w", _check_weight_scale(self.s_w))
        object.__setattr__(self, "bias", _check_bias(self.bias, w_q.shape[0]))

    @classmethod
    def from_float(cls, w: np.ndarray, bias: np.ndarray | None = None) -> GoldenBitLinear:
        """Quantize float weights ``(out_features, in_features)`` with ``quantize_weights``."""
        w = as_float32(w, "w", min_ndim=2)
        if w.ndim != 2:
            raise ValueError(f"w must be an (out_features, in_features) matrix, got shape {w.shape}")
        w_q, s_w = quantize_weights(w)
        return cls(w_q, s_w, bias)

    @property
    def out_features(self) -> int:
        return int(self.w_q.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.w_q.shape[1])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return bitlinear_from_quantized(x, self.w_q, self.s_w, self.bias)
