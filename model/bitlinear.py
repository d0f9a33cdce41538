"""The golden BitLinear: exact integer matmul of int8 activations with ternary weights.

``acc = x_q @ w_q.T`` is computed exactly and returned as int32. The largest reduction length for which
int32 cannot overflow is :data:`MAX_IN_FEATURES_INT32` = 16,777,215: the extreme sum is
``K * 128`` (every activation -128 against a -1 weight), and ``128 * K <= 2**31 - 1`` holds up to
``K = 2**24 - 1``.

Speed: an int8 x ternary dot product of length K is an integer of magnitude at most ``128 * K``, and every
partial sum on the way is too, so a float32 BLAS matmul computes it exactly while ``128 * K < 2**24``
(``K <= 131,071``, :data:`MAX_IN_FEATURES_FLOAT32_EXACT`); longer reductions use float64, exact up to
int32's own limit. This is what makes the golden model about as fast as a float32 matmul.

The output ``y = acc / (s_x * s_w)`` is formed in float32 (the product of the two scales first, as in
transformers' ``BitLinear.post_quant_process``), then the optional bias is added.
"""

from __future__ import annotations

import numpy as np

from model.encoding import check_ternary
from model.quant import ACT_MAX, ACT_MIN, as_float32, quantize_activations, quantize_weights

#: Largest reduction length K whose int32 accumulator cannot overflow (128 * K <= 2**31 - 1).
MAX_IN_FEATURES_INT32 = (2**31 - 1) // -ACT_MIN
#: Largest K for which every partial sum is an integer below 2**24, hence exact in float32.
MAX_IN_FEATURES_FLOAT32_EXACT = (2**24 - 1) // -ACT_MIN


def _check_int8_activations(x_q: object) -> np.ndarray:
    if not isinstance(x_q, np.ndarray):
        raise TypeError(f"x_q must be a numpy integer array, not {type(x_q).__name__}")
    if not np.issubdtype(x_q.dtype, np.integer):
        raise TypeError(f"x_q must have an integer dtype (int8 activations), not {x_q.dtype}")
    if x_q.ndim < 1 or x_q.size == 0:
        raise ValueError(f"x_q must be a non-empty array of shape (..., in_features), got {x_q.shape}")
    if x_q.dtype != np.int8 and ((x_q < ACT_MIN) | (x_q > ACT_MAX)).any():
        raise ValueError(f"x_q must hold int8 values in [{ACT_MIN}, {ACT_MAX}]")
    return x_q


def _check_weight_matrix(w_q: object, *, check_values: bool = True) -> np.ndarray:
    if not isinstance(w_q, np.ndarray):
        raise TypeError(f"w_q must be a numpy integer array, not {type(w_q).__name__}")
    if not np.issubdtype(w_q.dtype, np.integer):
        raise TypeError(f"w_q must have an integer dtype with values in {{-1, 0, 1}}, not {w_q.dtype}")
    if w_q.ndim != 2 or w_q.size == 0:
        raise ValueError(f"w_q must be a non-empty (out_features, in_features) matrix, got shape {w_q.shape}")
    return check_ternary(w_q, "w_q") if check_values else w_q


#: Target size of the float copy of one block of weight rows: small enough to stay in cache.
_BLOCK_BYTES = 4 << 20


def _exact_matmul(x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """``x_q @ w_q.T`` exactly, as a float array (float32 when that is exact, else float64).

    The weights are checked (a ternary block has max <= 1 and min >= -1) and converted to float one
    block of rows at a time into a reused buffer that stays in cache, so no full-size float copy of the
    weights is made and each weight is read from memory once.
    """
    out_features, in_features = w_q.shape
    if x_q.shape[-1] != in_features:
        raise ValueError(
            f"x_q has {x_q.shape[-1]} features on its last axis but w_q has in_features={in_features}"
        )
    if in_features > MAX_IN_FEATURES_INT32:
        raise ValueError(
            f"in_features={in_features} exceeds {MAX_IN_FEATURES_INT32}, beyond which int32 can overflow"
        )
    dtype = np.dtype(np.float32 if in_features <= MAX_IN_FEATURES_FLOAT32_EXACT else np.float64)
    x = x_q.reshape(-1, in_features).astype(dtype)
    out = np.empty((x.shape[0], out_features), dtype)
    rows = max(1, min(out_features, _BLOCK_BYTES // (in_features * dtype.itemsize)))
    buffer = np.empty((rows, in_features), dtype)
    for start in range(0, out_features, rows):
        block = w_q[start : start + rows]
        if block.max() > 1 or block.min() < -1:
            check_ternary(block, "w_q")  # raises, naming the offending value
        weights = buffer[: block.shape[0]]
        np.copyto(weights, block, casting="unsafe")
        np.matmul(x, weights.T, out=out[:, start : start + block.shape[0]])
    return out.reshape(*x_q.shape[:-1], out_features)


def bitlinear_int(x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """Exact integer BitLinear: ``acc = x_q @ w_q.T`` as int32.

    Parameters
    ----------
    x_q : numpy.ndarray
        int8 activations ``(..., in_features)`` (any integer dtype holding values in [-128, 127]).
    w_q : numpy.ndarray
        Ternary weights ``(out_features, in_features)``, integer dtype, values in {-1, 0, +1}.

    Returns
    -------
    numpy.ndarray
        int32 accumulators of shape ``(..., out_features)``.
    """
    x_q = _check_int8_activations(x_q)
    w_q = _check_weight_matrix(w_q, check_values=False)  # values are checked block by block
    return _exact_matmul(x_q, w_q).astype(np.int32)


def dequantize(
    acc: np.ndarray, s_x: np.ndarray, s_w: np.float32, bias: np.ndarray | None = None
) -> np.ndarray:
    """The float32 BitLinear output of int32 accumulators: ``acc / (s_x * s_w) + bias``."""
    y = acc.astype(np.float32) / (s_x * s_w)
    if bias is not None:
        y = y + bias
    return y


def _check_bias(bias: object, out_features: int) -> np.ndarray | None:
    if bias is None:
        return None
    bias = as_float32(bias, "bias")
    if bias.shape != (out_features,):
        raise ValueError(f"bias must have shape ({out_features},), got {bias.shape}")
    return bias


def _check_weight_scale(s_w: object) -> np.float32:
    if isinstance(s_w, bool) or not isinstance(s_w, (float, int, np.floating, np.ndarray)):
        raise TypeError(f"s_w must be a float scale, not {type(s_w).__name__}")
    array = np.asarray(s_w)
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"s_w must be a single float scale, got shape {array.shape}, dtype {array.dtype}")
    value = np.float32(array.reshape(()))
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"s_w must be finite and positive, got {value}")
    return value


def bitlinear_from_quantized(
    x: np.ndarray, w_q: np.ndarray, s_w: float, bias: np.ndarray | None = None
) -> np.ndarray:
    """Inference BitLinear with weights quantized once: quantize ``x`` per token, integer matmul, rescale.

    Parameters
    ----------
    x : numpy.ndarray
        Float activations ``(..., in_features)``.
    w_q : numpy.ndarray
        Ternary weights ``(out_features, in_features)``, from :func:`model.quant.quantize_weights`.
    s_w : float
        The weight scale returned with ``w_q``.
    bias : numpy.ndarray, optional
        Float bias ``(out_features,)``, added after the rescale.

    Returns
    -------
    numpy.ndarray
        float32 outputs ``(..., out_features)``: ``acc / (s_x * s_w) + bias``.
    """
    w_q = _check_weight_matrix(w_q, check_values=False)  # values are checked block by block
    s_w = _check_weight_scale(s_w)
    bias = _check_bias(bias, w_q.shape[0])
    x_q, s_x = quantize_activations(x)
    return dequantize(_exact_matmul(x_q, w_q), s_x, s_w, bias)


def bitlinear(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """BitLinear on float weights: quantize ``w`` (absmean) and ``x`` (absmax), then as
    :func:`bitlinear_from_quantized`."""
    w = as_float32(w, "w", min_ndim=2)
    if w.ndim != 2:
        raise ValueError(f"w must be an (out_features, in_features) matrix, got shape {w.shape}")
    w_q, s_w = quantize_weights(w)
    return bitlinear_from_quantized(x, w_q, s_w, bias)
