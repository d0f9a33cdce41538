"""Realistic operands for activity and energy studies: Gaussian data through the model's quantizers.

Weights and activations come from Gaussian data: for the ternary array through the model's quantizers
(``model.quant``: absmean weights, absmax int8 activations), for the int8 array with per-tensor absmax int8
weights and the same int8 activations, for the FP16 array as binary16 values (activations ``N(0, 1)``, the
scale after a LayerNorm; weights ``N(0, 0.02)``, the usual initialisation scale of LLaMA-alike linear
layers). For a zero-fraction sweep (``zero`` a fraction), ternary weights are drawn with an exact share of
zeros and the int8 / FP16 weights have that share of randomly chosen entries set to zero. Used by the
cocotb activity bench (:mod:`energy.gates.tb_activity`) and by the NumPy gate-level simulator
(:mod:`energy.gates.gatesim`).
"""

from __future__ import annotations

import numpy as np

from hw.params import ArrayParams
from model.fp16 import to_bits
from model.quant import quantize_activations, quantize_weights, quantize_weights_int8
from sim.scheduler import schedule_layer
from sim.stimulus import Op, Stimulus

#: Standard deviation of the FP16 array's Gaussian weights (its activations are N(0, 1)).
FP16_WEIGHT_STD = 2 / 100  # 0.02 (as a ratio: the energy tests flag literals equal to table energies)


def _exact_share(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> np.ndarray:
    """A boolean mask with ``round(fraction * size)`` True entries at random places."""
    mask = np.zeros(int(np.prod(shape)), bool)
    mask[: round(fraction * mask.size)] = True
    return rng.permutation(mask).reshape(shape)


def _ternary_with_zeros(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> np.ndarray:
    """Ternary weights with exactly ``round(fraction * size)`` zeros, the rest +1 or -1 at random."""
    signs = rng.choice([-1, 1], size=shape)
    return np.where(_exact_share(rng, shape, fraction), 0, signs)


def realistic_operands(
    params: ArrayParams, rng: np.random.Generator, beats_total: int, zero: str
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of activations ``(T, K)`` and a weight matrix ``(M, K)`` of realistic data.

    Every token's K-reduction spans ``K / N = min(max_beats, 64)`` beats, and there are enough tokens for
    ``beats_total`` beats in the stream dataflow.
    """
    n, m = params.lanes, params.rows
    reduction = max(1, min(params.max_beats, 64))
    k = reduction * n
    tokens = -(-beats_total // reduction)
    x = rng.standard_normal((tokens, k)).astype(np.float32)
    w = rng.standard_normal((m, k)).astype(np.float32)
    if params.is_float:
        x_q = to_bits(x)
        w_q = to_bits(w * FP16_WEIGHT_STD)
    else:
        x_q, _ = quantize_activations(x)
        if params.is_ternary and zero == "gaussian":
            w_q, _ = quantize_weights(w)
        elif params.is_ternary:
            w_q = _ternary_with_zeros(rng, (m, k), float(zero))
        else:  # int8 weights: per-tensor absmax quantization of the same Gaussian matrix
            w_q = quantize_weights_int8(w, per_channel=False)
    if zero != "gaussian" and not params.is_ternary:
        w_q = np.where(_exact_share(rng, (m, k), float(zero)), 0, w_q)
    return x_q.astype(np.int64), w_q.astype(np.int64)


def activity_stimulus(params: ArrayParams, rng: np.random.Generator, beats_total: int, zero: str) -> Stimulus:
    """The tokens of :func:`realistic_operands` scheduled on the array (:func:`sim.scheduler.schedule_layer`):
    the stream dataflow carries the matching weight chunk in every beat, the stationary one loads each
    chunk's tile once and streams every token against it (one-beat reductions)."""
    x_q, w_q = realistic_operands(params, rng, beats_total, zero)
    return schedule_layer(params, x_q, w_q).stimulus


def weight_zero_fraction(params: ArrayParams, stimulus: Stimulus) -> float:
    """The share of zero weights the array saw: in the beats (stream) or in the loaded tiles (stationary)."""
    kind = Op.BEAT if params.dataflow == "stream" else Op.LOAD
    return float(np.mean(stimulus.weights[stimulus.kind == kind] == 0))


def check_zero(zero: str) -> str:
    """``zero`` if it is ``"gaussian"`` or a fraction in [0, 1); else ``ValueError`` naming it."""
    if zero == "gaussian":
        return zero
    try:
        value = float(zero)
    except ValueError:
        raise ValueError(f"zero must be 'gaussian' or a fraction in [0, 1), got {zero!r}") from None
    if not 0 <= value < 1:
        raise ValueError(f"zero must be 'gaussian' or a fraction in [0, 1), got {zero!r}")
    return zero
