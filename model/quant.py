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
(the reference's ``.float()``), the scale is one float32 division, the product ``x * s`` one float32
multiply. The integer tensors are therefore bit-identical to the reference's for the same float32 scale.

The one reduction that is not exact is the weights' mean. torch's float32 CPU ``mean`` is itself not
reproducible: it changes with the thread count and the SIMD width of the machine (measured: in 67 of 200
random tensors, ``torch.set_num_threads(1)`` and ``(2)`` gave different float32 means). The golden model
therefore defines ``gamma`` as the float32 rounding of the mean accumulated in float64
(:func:`absmean`), which is deterministic and is the correctly rounded mean for any realistic size; the
project's torch BitLinear uses the same definition, so the two agree bit for bit. Against
transformers' ``WeightQuant`` the scale agrees to within one float32 ulp, and the integers agree exactly
whenever the scales do.
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
    """``s_x = 127 / max(max(|x|), EPS)`` per token (last axis), float32, shape ``(..., 1)``."""
    return ACT_SCALE_NUMERATOR / np.maximum(np.abs(x).max(axis=-1, keepdims=True), EPS)


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
    w_q = np.clip(np.rint(w * s_w), WEIGHT_MIN, WEIGHT_MAX).astype(np.int8)
    return w_q, s_w


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
    x_q = np.clip(np.rint(x * s_x), ACT_MIN, ACT_MAX).astype(np.int8)
    return x_q, s_x
