"""torch BitLinear for quantization-aware training: a drop-in replacement for ``torch.nn.Linear``.

The forward pass fake-quantizes weights (absmean, ternary) and activations (absmax, int8, per token) with
the rules of :mod:`model.quant`, and runs a float ``linear`` on the dequantized values; the backward pass
is the straight-through estimator (identity gradient through both rounding steps), as transformers'
``WeightQuant`` / ``ActQuant`` and the paper's reference code do.

The quantized integers and scales are bit-identical to the golden model's for the same float32 inputs
(the weight mean is accumulated in float64 and rounded once, see :mod:`model.quant`). The outputs differ
from the golden ``acc / (s_x * s_w)`` only by float32 rounding, since here the dequantized operands are
multiplied in floating point.

This module imports torch; nothing in ``hw/``, ``sim/`` or ``energy/`` imports it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.layer import GoldenBitLinear
from model.quant import ACT_MAX, ACT_MIN, ACT_SCALE_NUMERATOR, EPS, WEIGHT_MAX, WEIGHT_MIN


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """``s_w = 1 / max(mean|w|, EPS)`` as a float32 scalar tensor (mean accumulated in float64)."""
    w = w.detach().float()
    gamma = (w.abs().sum(dtype=torch.float64) / w.numel()).float()
    return gamma.clamp(min=float(EPS)).reciprocal()


def quantize_weights(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch twin of :func:`model.quant.quantize_weights`: ``(w_q as int8, s_w float32 scalar)``."""
    s_w = weight_scale(w)
    w_q = (w.detach().float() * s_w).round().clamp(WEIGHT_MIN, WEIGHT_MAX)
    return w_q.to(torch.int8), s_w


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch twin of :func:`model.quant.quantize_activations`: ``(x_q as int8, s_x (..., 1) float32)``."""
    x = x.detach().float()
    s_x = x.abs().amax(dim=-1, keepdim=True).clamp(min=float(EPS)).reciprocal() * float(ACT_SCALE_NUMERATOR)
    x_q = (x * s_x).round().clamp(ACT_MIN, ACT_MAX)
    return x_q.to(torch.int8), s_x


class _FakeQuantWeight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: torch.Tensor) -> torch.Tensor:
        w_q, s_w = quantize_weights(w)
        return (w_q.float() / s_w).to(w.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        return grad_output


class _FakeQuantActivation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x_q, s_x = quantize_activations(x)
        return (x_q.float() / s_x).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        return grad_output


def fake_quant_weights(w: torch.Tensor) -> torch.Tensor:
    """``w_q / s_w`` in the forward pass, identity gradient in the backward pass."""
    return _FakeQuantWeight.apply(w)


def fake_quant_activations(x: torch.Tensor) -> torch.Tensor:
    """``x_q / s_x`` in the forward pass, identity gradient in the backward pass."""
    return _FakeQuantActivation.apply(x)


class BitLinear(nn.Linear):
    """``nn.Linear`` with BitNet b1.58 fake quantization (QAT), same constructor and parameters.

    Parameters
    ----------
    in_features, out_features, bias, device, dtype
        As for ``torch.nn.Linear``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x has {x.shape[-1]} features on its last axis, expected {self.in_features}")
        return F.linear(fake_quant_activations(x), fake_quant_weights(self.weight), self.bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> BitLinear:
        """A BitLinear holding a copy of ``linear``'s parameters."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, not {type(linear).__name__}")
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            device=linear.weight.device,
            dtype=linear.weight.dtype,
        )
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def export(self) -> tuple[np.ndarray, np.float32]:
        """The inference weights ``(w_q, s_w)`` as the golden model takes them (int8, float32)."""
        w_q, s_w = quantize_weights(self.weight)
        return w_q.cpu().numpy(), np.float32(s_w.item())

    def to_golden(self) -> GoldenBitLinear:
        """A :class:`model.layer.GoldenBitLinear` computing this layer's inference output."""
        w_q, s_w = self.export()
        bias = None if self.bias is None else self.bias.detach().float().cpu().numpy()
        return GoldenBitLinear(w_q, s_w, bias)
