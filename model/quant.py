"""BitNet b1.58 quantization rules: the single source of truth for the whole project.

The rules follow the reference that users run, Hugging Face transformers'
``transformers/integrations/bitnet.py`` (``WeightQuant``, ``ActQuant``, ``BitLinear``), which follows
the paper (arXiv 2402.17764):

weights, per tensor (absmean)
    ``gamma = mean(|W|)``, ``s_w = 1 / max(gamma, EPS)``, ``W_q = clip(round(W * s_w), -1, 1)`` as int8.
activations, per token (absmax over the last axis)
    ``s_x = 127 / max(max(|x|), EPS)``, ``x_q = clip(round(x * s_x), -128, 127)`` as int8.

``round`` is round-half-to-even (``numpy.rint`` and ``torch.round`` agree). Every float step is done in
float32 in the same order as the reference: inputs of another floating dtype are first cast to float32
(the reference's ``.float()``); a scale ``c / t`` is a float32 reciprocal then a float32 multiply, because
that is what torch's ``scalar / tensor`` does; the product ``x * s`` is one float32 multiply. The
integer tensors are therefore bit-identical to the reference's for the same float32 scale.

The one reduction that is not exact is the weights' mean. torch's float32 CPU ``mean`` is itself not
reproducible: it changes with the thread count and the SIMD width of the machine (measured on 300 random
matrices of up to 300 x 300: ``torch.set_num_threads(1)`` and ``(2)`` disagreed on 23 of them, by up to 4
ulps). The golden model therefore defines ``gamma`` as the float32 rounding of the mean accumulated in
float64 (:func:`absmean`), which is deterministic and is the correctly rounded mean for any realistic size;
the project's torch BitLinear uses the same definition, so the two agree bit for bit. Against
transformers' ``WeightQuant`` the scale agrees to within a few ulps (same measurement: equal in 178 of 300,
1 ulp in 84, 2 ulps in 38), and the integers agree exactly whenever the scales do.
"""

from __future__ import annotations

import numpy as np

#: Lower clamp of the weight mean and of the activation absmax (the reference's ``clamp(min=1e-5)``).
EPS = np.float32(1e-5)
#: Ternary weight range.
WEIGHT_MIN, WEIGHT_MAX = -1, 1
#: Activation bit width and its signed range.
ACT_BITS = 8
ACT_MIN, ACT_MAX = -(2 ** (ACT_BITS - 1)), 2 ** (ACT_BITS - 1) - 1
#: The numerator of the activation scale (``Qp`` in the reference).
ACT_SCALE_NUMERATOR = np.float32(ACT_MAX)


def as_float32(array: object, name: str, *, min_ndim: int = 1) -> np.ndarray:
    """Check that ``array`` is a finite floating-point array and return it as float32.

    Raises ``TypeError`` for a non-array or a non-floating dtype and ``ValueError`` for too few
    dimensions, an empty array, NaN or Inf; each message names the argument ``name``.
    """
    if not isinstance(array, np.ndarray):
        if hasattr(array, "__array__") and not isinstance(array, (list, tuple)):
            array = np.asarray(array)
        else:
            raise TypeError(f"{name} must be a numpy array, not {type(array).__name__}")
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype, not {array.dtype}")
    if array.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    array = np.asarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return array


def absmean(w: np.ndarray) -> np.float32:
    """``gamma = mean(|w|)`` of a float32 array: float64 accumulation, rounded once to float32."""
    return np.float32(np.abs(w).sum(dtype=np.float64) / w.size)


def weight_scale(w: np.ndarray) -> np.float32:
    """``s_w = 1 / max(gamma, EPS)`` in float32 for a finite float32 weight tensor ``w``."""
    return np.float32(1.0) / np.maximum(absmean(w), EPS)


def activation_scale(x: np.ndarray) -> np.ndarray:
    """``s_x = 127 / max(max(|x|), EPS)`` per token (last axis), float32, shape ``(..., 1)``.

    Computed as torch computes the reference's ``127 / tensor``: ``Tensor.__rtruediv__`` is
    ``reciprocal() * 127``, two float32 roundings, which differs from one division in the last bit for
    some values (e.g. absmax 33).
    """
    absmax = np.maximum(np.abs(x).max(axis=-1, keepdims=True), EPS)
    return (np.float32(1.0) / absmax) * ACT_SCALE_NUMERATOR


def ternarize(w: np.ndarray, s_w: np.float32) -> np.ndarray:
    """``clip(round(w * s_w), -1, 1)`` as int8, for float32 ``w`` and a float32 scale."""
    return np.clip(np.rint(w * s_w), WEIGHT_MIN, WEIGHT_MAX).astype(np.int8)


def round_activations(x: np.ndarray, s_x: np.ndarray) -> np.ndarray:
    """``clip(round(x * s_x), -128, 127)`` as int8, for float32 ``x`` and float32 scales."""
    return np.clip(np.rint(x * s_x), ACT_MIN, ACT_MAX).astype(np.int8)


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Absmean ternary quantization of a weight tensor, per tensor.

    Parameters
    ----------
    w : numpy.ndarray
        Float weights, usually ``(out_features, in_features)``; any floating dtype (cast to float32).

    Returns
    -------
    w_q : numpy.ndarray
        int8 array of the same shape with values in {-1, 0, +1}.
    s_w : numpy.float32
        The weight scale; ``w`` is approximated by ``w_q / s_w``.
    """
    w = as_float32(w, "w")
    s_w = weight_scale(w)
    return ternarize(w, s_w), s_w


def quantize_weights_int8(w: np.ndarray, *, per_channel: bool) -> np.ndarray:
    """Absmax int8 quantization of a weight matrix ``(out_features, in_features)`` for an int8 baseline:
    ``round(w * 127 / max|w|)`` clipped to [-128, 127], the maximum per output channel (row) when
    ``per_channel``, else over the whole tensor. Returns int8."""
    w = as_float32(w, "w", min_ndim=2)
    absmax = np.abs(w).max(axis=-1, keepdims=True) if per_channel else np.abs(w).max()
    scale = np.float32(ACT_MAX) / np.maximum(absmax, EPS)
    return np.clip(np.rint(w * scale), ACT_MIN, ACT_MAX).astype(np.int8)


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absmax int8 quantization of activations, per token (last axis).

    Parameters
    ----------
    x : numpy.ndarray
        Float activations ``(..., in_features)``; any floating dtype (cast to float32).

    Returns
    -------
    x_q : numpy.ndarray
        int8 array of the same shape, values in [-128, 127].
    s_x : numpy.ndarray
        float32 scales of shape ``(..., 1)``; ``x`` is approximated by ``x_q / s_x``.
    """
    x = as_float32(x, "x")
    s_x = activation_scale(x)
    return round_activations(x, s_x), s_x
