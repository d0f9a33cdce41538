"""The zero-weight fraction of ternary weights, measured by quantizing them with ``model.quant``.

A zero weight needs no add: a ternary MAC array gates the lane (``model.encoding``'s NONZERO bit), so the
fraction of zeros is the fraction of adds that zero-skipping removes. It is measured, never assumed: the
weights go through :func:`model.quant.quantize_weights` (absmean, per tensor), the project's single
definition of the quantizer.

Without trained weights at hand, :func:`synthetic_zero_fraction` measures it on seeded random matrices.
Gaussian weights give ``erf(1 / (2 sqrt(pi)))`` = 0.310 in theory (zero iff ``|w| < gamma / 2`` with
``gamma = sigma sqrt(2 / pi)``), Laplace weights ``1 - exp(-1/2)`` = 0.393; trained BitNet b1.58 weights
are whatever they are, so pass them to :func:`zero_fraction` when you have them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np

from energy.checks import check_choice, check_positive_int
from model.quant import quantize_weights

DISTRIBUTIONS = ("gaussian", "laplace")
#: Shape and seed of the default synthetic measurement (one 1024 x 1024 matrix: about 1M weights).
DEFAULT_SHAPE = (1024, 1024)
DEFAULT_SEED = 0


def zero_fraction(weights: np.ndarray | Iterable[np.ndarray]) -> float:
    """Fraction of zeros after absmean ternary quantization, over one weight tensor or several.

    Each tensor is quantized on its own (per-tensor scale, as BitLinear does) with
    :func:`model.quant.quantize_weights`; the result is total zeros over total weights.

    Raises
    ------
    TypeError, ValueError
        From ``model.quant`` for a tensor that is not a finite float array; ``ValueError`` for no tensors.
    """
    tensors = [weights] if isinstance(weights, np.ndarray) else list(weights)
    if not tensors:
        raise ValueError("weights: no weight tensors given")
    zeros = total = 0
    for tensor in tensors:
        w_q, _ = quantize_weights(tensor)
        zeros += int(np.count_nonzero(w_q == 0))
        total += w_q.size
    return zeros / total


def synthetic_weights(
    shape: tuple[int, int] = DEFAULT_SHAPE, distribution: str = "gaussian", seed: int = DEFAULT_SEED
) -> np.ndarray:
    """A seeded float32 random weight matrix of ``shape`` from ``distribution``."""
    rows, cols = (check_positive_int(size, "shape") for size in shape)
    distribution = check_choice(distribution, "distribution", DISTRIBUTIONS)
    rng = np.random.default_rng(seed)
    if distribution == "gaussian":
        return rng.standard_normal((rows, cols), dtype=np.float32)
    return rng.laplace(size=(rows, cols)).astype(np.float32)


@cache
def synthetic_zero_fraction(
    distribution: str = "gaussian", shape: tuple[int, int] = DEFAULT_SHAPE, seed: int = DEFAULT_SEED
) -> float:
    """:func:`zero_fraction` of :func:`synthetic_weights` (cached)."""
    return zero_fraction(synthetic_weights(shape, distribution, seed))
