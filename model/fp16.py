"""The arithmetic of the FP16 baseline MAC array, bit for bit: IEEE 754 binary16 on uint16 bit patterns.

This is the reference model of :class:`hw.arrays.Fp16MacArray` (the FP16 FMAC baseline of the BitNet
b1.58 paper: an FP16 multiply and an FP16 add per MAC). Every value is an IEEE 754-2008 binary16 bit
pattern (1 sign, 5 exponent, 10 fraction bits, bias 15) held in an unsigned 16-bit integer; the functions
take and return such patterns, so that NaNs and signed zeros compare exactly.

Arithmetic (one definition, implemented by the RTL and by this module)
----------------------------------------------------------------------
operations
    Every product and every sum is one IEEE binary16 operation, rounded to nearest, ties to even (RNE):
    the exact result of the two binary16 operands, rounded once to binary16. There is no fused
    multiply-add and no wider intermediate format anywhere: the tree and the accumulator add binary16 values
    and round each sum to binary16 (**binary16 accumulation**, the paper's FP16 FMAC).
subnormals
    Implemented as IEEE specifies (gradual underflow), on input and output: subnormal operands take part
    with their exact value, and results below the normal range are rounded to the subnormal grid
    (multiples of 2**-24); a product below 2**-25 rounds to a signed zero. No flush-to-zero anywhere.
overflow and infinities
    A result whose magnitude rounds to 2**16 or more (at or above 65520) becomes an infinity of the
    result's sign. Infinities follow IEEE: ``inf * x = inf`` (sign = XOR of the signs, ``x`` nonzero),
    ``inf + x = inf``, ``inf + inf = inf`` for equal signs.
signed zeros
    A product's sign is the XOR of the operand signs, zero products included (``-0 * 5 = -0``, a tiny
    product that rounds to zero keeps its sign). An exact zero sum is ``+0`` unless both addends are
    ``-0``: ``-0 + -0 = -0``, ``+0 + -0 = +0``, ``x + -x = +0`` (RNE).
NaN
    Every NaN result is the canonical quiet NaN :data:`CANONICAL_NAN` ``0x7E00`` (sign 0, fraction MSB
    set, payload 0), whatever the NaN operands (quiet or signalling, any sign and payload). NaN results
    come from a NaN operand, from ``inf * 0`` and from ``inf + -inf``. No exception flags are kept.
tree order
    Row ``r``'s products ``p_i = act[i] * w[r][i]`` (lanes ``i = 0..N-1``) are summed pairwise in
    ``ceil(log2 N)`` levels: node ``j`` of level ``k`` is ``node[k-1][2j] + node[k-1][2j+1]``; when a
    level has an odd number of nodes the last one passes through unchanged to the next level. For ``N = 5``
    that is ``((p0 + p1) + (p2 + p3)) + p4``. (binary16 addition is commutative, including signed zeros
    and the canonical NaN, so only the pairing matters, not the operand order inside a pair.)
accumulation
    Each row's accumulator starts at ``-0`` (``0x8000``), the exact identity of IEEE addition
    (``-0 + x = x`` for every ``x``, ``+0`` included), so the first beat's tree sum passes unchanged.
    Every beat ``b`` of a K-reduction then does ``acc = acc + tree_sum[b]`` (one binary16 RNE addition);
    the output is ``acc`` after the beat that carries ``last``.

Implementation. The sum or product of two binary16 values is exact in float64 (a product has at most 22
significant bits; a sum of two multiples of 2**-24 below 2**16 has at most 41), so each operation is
computed exactly in float64 and rounded once to binary16 by NumPy's cast (round to nearest even, gradual
underflow, overflow to infinity); NaN results are then replaced by the canonical NaN. The tests check this
against Python's :mod:`struct` (``'e'`` format) and exact rational arithmetic.
"""

from __future__ import annotations

import numpy as np

#: Bits of a binary16 value, of its exponent and of its fraction; the exponent bias.
FP16_BITS, EXPONENT_BITS, FRACTION_BITS, EXPONENT_BIAS = 16, 5, 10, 15
#: The canonical quiet NaN every NaN result is replaced by.
CANONICAL_NAN = 0x7E00
#: +0 and -0 (the accumulator's initial value: the exact identity of IEEE addition).
POSITIVE_ZERO, NEGATIVE_ZERO = 0x0000, 0x8000
#: +infinity; -infinity is ``SIGN_BIT | POSITIVE_INFINITY``.
POSITIVE_INFINITY = 0x7C00
#: The sign bit.
SIGN_BIT = 0x8000
#: The largest finite binary16 value, 65504.
MAX_FINITE = 0x7BFF
#: The smallest positive normal (2**-14) and subnormal (2**-24) values.
MIN_NORMAL, MIN_SUBNORMAL = 0x0400, 0x0001


def check_bits(values: object, name: str) -> np.ndarray:
    """``values`` as binary16 bit patterns (uint16); accepts integer arrays of 0..65535 or float16 arrays.

    Raises ``TypeError`` (another dtype) or ``ValueError`` (an integer outside 0..65535) naming ``name``.
    """
    array = np.asarray(values)
    if array.dtype == np.float16:
        return array.view(np.uint16)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"{name} must hold binary16 bit patterns (integers 0..65535) or float16 values, not {array.dtype}"
        )
    if array.size and (array.min() < 0 or array.max() > 0xFFFF):
        raise ValueError(f"{name} must hold binary16 bit patterns, integers in [0, 65535]")
    return array.astype(np.uint16)


def to_bits(values: object) -> np.ndarray:
    """The binary16 bit patterns of ``values`` (any real numbers), rounded to binary16 by NumPy (RNE; values
    of magnitude 65520 and above become infinities)."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float16).view(np.uint16)


def from_bits(bits: object) -> np.ndarray:
    """The float16 values of bit patterns ``bits`` (integers 0..65535)."""
    return check_bits(bits, "bits").view(np.float16)


def is_nan(bits: object) -> np.ndarray:
    """True where the bit pattern is a NaN (exponent all ones, fraction nonzero), any sign or payload."""
    return (check_bits(bits, "bits") & 0x7FFF) > POSITIVE_INFINITY


def _round(exact: np.ndarray) -> np.ndarray:
    """Round exact float64 results once to binary16 (RNE); NaNs become :data:`CANONICAL_NAN`."""
    bits = exact.astype(np.float16).view(np.uint16)
    return np.where(np.isnan(exact), np.uint16(CANONICAL_NAN), bits)


def _exact(bits: object, name: str) -> np.ndarray:
    return check_bits(bits, name).view(np.float16).astype(np.float64)


def fp16_mul(a: object, b: object) -> np.ndarray:
    """Elementwise binary16 product ``a * b`` of bit patterns (broadcasting), as uint16 bit patterns."""
    with np.errstate(all="ignore"):  # inf * 0 is a NaN result, as specified
        return _round(_exact(a, "a") * _exact(b, "b"))


def fp16_add(a: object, b: object) -> np.ndarray:
    """Elementwise binary16 sum ``a + b`` of bit patterns (broadcasting), as uint16 bit patterns."""
    with np.errstate(all="ignore"):  # inf + -inf is a NaN result, as specified
        return _round(_exact(a, "a") + _exact(b, "b"))


def fp16_tree_sum(terms: object) -> np.ndarray:
    """The pairwise binary16 sum over the last axis, in the tree order of the module docstring.

    ``terms`` ``(..., N)`` bit patterns, ``N >= 1``; returns ``(...)``. ``N = 1`` returns the term itself.
    """
    level = check_bits(terms, "terms")
    if level.ndim == 0 or level.shape[-1] == 0:
        raise ValueError("terms must have at least one element on its last axis")
    while level.shape[-1] > 1:
        count = level.shape[-1]
        pairs = fp16_add(level[..., 0 : count - 1 : 2], level[..., 1:count:2])
        level = np.concatenate([pairs, level[..., count - 1 :]], axis=-1) if count % 2 else pairs
    return level[..., 0]


def fp16_accumulate(tree_sums: object) -> np.ndarray:
    """``acc = -0; acc = acc + tree_sums[b]`` for every beat ``b`` in order: ``(B, ...)`` -> ``(...)``."""
    sums = check_bits(tree_sums, "tree_sums")
    if sums.ndim == 0 or sums.shape[0] == 0:
        raise ValueError("tree_sums must hold at least one beat on its first axis")
    acc = np.full(sums.shape[1:], NEGATIVE_ZERO, np.uint16)
    for beat in sums:
        acc = fp16_add(acc, beat)
    return acc


def fp16_mac_reference(act_bits: object, weight_bits: object) -> np.ndarray:
    """The ``M`` sums of one K-reduction on the FP16 array, as binary16 bit patterns (uint16).

    Parameters
    ----------
    act_bits : array ``(B, N)``
        The activation vector of each of the ``B`` beats, binary16 bit patterns (or float16 values).
    weight_bits : array ``(B, M, N)``
        The ``M x N`` weight tile each beat is multiplied by (bit patterns or float16 values).

    Returns
    -------
    numpy.ndarray
        ``(M,)`` uint16: for each row, ``acc`` after the last beat, where every beat adds its pairwise tree
        sum of the ``N`` binary16 products to ``acc`` (starting at ``-0``), see the module docstring.
    """
    act = check_bits(act_bits, "act_bits")
    weights = check_bits(weight_bits, "weight_bits")
    if act.ndim != 2 or act.shape[0] == 0 or act.shape[1] == 0:
        raise ValueError(f"act_bits must have shape (beats, lanes) with beats, lanes >= 1, got {act.shape}")
    beats, lanes = act.shape
    if weights.ndim != 3 or weights.shape[0] != beats or weights.shape[2] != lanes or weights.shape[1] == 0:
        raise ValueError(f"weight_bits must have shape ({beats}, rows, {lanes}), got {weights.shape}")
    products = fp16_mul(act[:, None, :], weights)  # (B, M, N)
    return fp16_accumulate(fp16_tree_sum(products))
