"""Packed storage of ternary weights.

Three layouts, each with its exact inverse:

``pack_2bit`` / ``unpack_2bit`` — the project's own layout, the one the RTL consumes
    Each weight becomes its 2-bit code from :mod:`model.encoding` (``+1 -> 0b01``, ``0 -> 0b00``,
    ``-1 -> 0b11``). Codes are packed along the last axis (the reduction axis, ``in_features``), four per
    byte, little-endian: element ``k`` of a row lands in byte ``k // 4`` at bits
    ``[2*(k % 4) + 1 : 2*(k % 4)]``. A row of K weights takes ``ceil(K / 4)`` bytes; the unused codes of the
    last byte are ``0b00`` (zero weights). Read as one little-endian integer, a row's bytes are exactly the
    lane vector an RTL weight port carries (lane ``k`` at bits ``[2k+1 : 2k]``).

``pack_base3`` / ``unpack_base3`` — 5 trits per byte, 1.6 bits per weight
    Along the last axis, group ``g`` holds elements ``5g .. 5g+4``; the byte is
    ``sum_j (w[5g + j] + 1) * 3**j`` (0..242). Missing elements of the last group count as weight 0
    (trit 1).

``to_hf_packed`` / ``from_hf_packed`` — the Hugging Face transformers BitNet checkpoint layout
    (``transformers.integrations.bitnet.pack_weights`` / ``unpack_weights``): values are stored ``w + 1``
    (0, 1, 2) in 2-bit fields, four per uint8 *along the output dimension* (axis 0). For
    ``out_features`` rows, ``row_dim = ceil(out_features / 4)``; row ``r`` goes to packed row
    ``r % row_dim`` at bits ``[2*(r // row_dim) + 1 : 2*(r // row_dim)]``. Unused fields are 0.
"""

from __future__ import annotations

import numpy as np

from model.encoding import CODE_BITS, CODE_MASK, check_ternary, decode_ternary, encode_ternary

#: Codes per byte in the 2-bit layouts.
CODES_PER_BYTE = 8 // CODE_BITS
#: Trits per byte in the base-3 layout (3**5 = 243 <= 256).
TRITS_PER_BYTE = 5
_TRIT_WEIGHTS = 3 ** np.arange(TRITS_PER_BYTE, dtype=np.uint16)
_BASE3_MAX = 3**TRITS_PER_BYTE - 1


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_ternary_array(w_q: object) -> np.ndarray:
    w_q = check_ternary(w_q, "w_q")
    if w_q.ndim < 1 or w_q.size == 0:
        raise ValueError(f"w_q must be a non-empty array, got shape {w_q.shape}")
    return w_q


def _check_packed(packed: object, expected_last: int, count_name: str, count: int) -> np.ndarray:
    if not isinstance(packed, np.ndarray):
        raise TypeError(f"packed must be a numpy uint8 array, not {type(packed).__name__}")
    if packed.dtype != np.uint8:
        raise TypeError(f"packed must have dtype uint8, not {packed.dtype}")
    if packed.ndim < 1 or packed.shape[-1] != expected_last:
        raise ValueError(
            f"packed has shape {packed.shape}: {count_name}={count} needs {expected_last} bytes "
            "on its last axis"
        )
    return packed


def _check_count(count: object, name: str) -> int:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(count).__name__}")
    if count < 1:
        raise ValueError(f"{name} must be >= 1, got {count}")
    return int(count)


def pack_2bit(w_q: np.ndarray) -> np.ndarray:
    """Pack ternary weights ``(..., K)`` into uint8 ``(..., ceil(K/4))``, 2-bit codes little-endian."""
    w_q = _check_ternary_array(w_q)
    k = w_q.shape[-1]
    padded = np.zeros((*w_q.shape[:-1], _ceil_div(k, CODES_PER_BYTE) * CODES_PER_BYTE), dtype=np.uint8)
    padded[..., :k] = encode_ternary(w_q)
    fields = padded.reshape(*w_q.shape[:-1], -1, CODES_PER_BYTE)
    packed = np.zeros(fields.shape[:-1], dtype=np.uint8)
    for j in range(CODES_PER_BYTE):
        packed |= fields[..., j] << np.uint8(CODE_BITS * j)
    return packed


def unpack_2bit(packed: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_2bit`: ``k`` ternary int8 weights per row.

    Raises ``ValueError`` when the last axis is not ``ceil(k/4)`` bytes long, when a code is the invalid
    ``0b10``, or when a padding code past ``k`` is not zero.
    """
    k = _check_count(k, "k")
    packed = _check_packed(packed, _ceil_div(k, CODES_PER_BYTE), "k", k)
    shifts = np.arange(CODES_PER_BYTE, dtype=np.uint8) * CODE_BITS
    codes = (packed[..., None] >> shifts) & np.uint8(CODE_MASK)
    codes = codes.reshape(*packed.shape[:-1], -1)
    if codes[..., k:].any():
        raise ValueError("packed holds non-zero codes in the padding past k")
    return decode_ternary(codes[..., :k], "packed")


def pack_base3(w_q: np.ndarray) -> np.ndarray:
    """Pack ternary weights ``(..., K)`` into uint8 ``(..., ceil(K/5))``, five trits per byte."""
    w_q = _check_ternary_array(w_q)
    k = w_q.shape[-1]
    trits = np.ones((*w_q.shape[:-1], _ceil_div(k, TRITS_PER_BYTE) * TRITS_PER_BYTE), dtype=np.uint16)
    trits[..., :k] = w_q + 1
    groups = trits.reshape(*w_q.shape[:-1], -1, TRITS_PER_BYTE)
    return (groups @ _TRIT_WEIGHTS).astype(np.uint8)


def unpack_base3(packed: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_base3`: ``k`` ternary int8 weights per row.

    Raises ``ValueError`` for a wrong length, a byte above 242, or padding trits that are not zero weights.
    """
    k = _check_count(k, "k")
    packed = _check_packed(packed, _ceil_div(k, TRITS_PER_BYTE), "k", k)
    if (packed > _BASE3_MAX).any():
        raise ValueError(f"packed holds a byte above {_BASE3_MAX}, not a base-3 group")
    trits = (packed[..., None].astype(np.uint16) // _TRIT_WEIGHTS) % 3
    trits = trits.reshape(*packed.shape[:-1], -1)
    if (trits[..., k:] != 1).any():
        raise ValueError("packed holds non-zero weights in the padding past k")
    return trits[..., :k].astype(np.int8) - np.int8(1)


def to_hf_packed(w_q: np.ndarray) -> np.ndarray:
    """Pack ``(out_features, ...)`` ternary weights in the transformers BitNet checkpoint layout.

    Bit-identical to ``transformers.integrations.bitnet.pack_weights`` (without its in-place ``+= 1`` on
    the argument).
    """
    w_q = _check_ternary_array(w_q)
    out_features = w_q.shape[0]
    row_dim = _ceil_div(out_features, CODES_PER_BYTE)
    stored = (w_q + 1).astype(np.uint8)
    packed = np.zeros((row_dim, *w_q.shape[1:]), dtype=np.uint8)
    for i in range(CODES_PER_BYTE):
        block = stored[i * row_dim : (i + 1) * row_dim]
        packed[: block.shape[0]] |= block << np.uint8(CODE_BITS * i)
    return packed


def from_hf_packed(packed: np.ndarray, out_features: int) -> np.ndarray:
    """Inverse of :func:`to_hf_packed`: ternary int8 weights ``(out_features, ...)``.

    Raises ``ValueError`` when ``packed`` does not have ``ceil(out_features / 4)`` rows, holds the
    unused field value 3, or holds non-zero fields past ``out_features``.
    """
    out_features = _check_count(out_features, "out_features")
    if not isinstance(packed, np.ndarray):
        raise TypeError(f"packed must be a numpy uint8 array, not {type(packed).__name__}")
    if packed.dtype != np.uint8:
        raise TypeError(f"packed must have dtype uint8, not {packed.dtype}")
    row_dim = _ceil_div(out_features, CODES_PER_BYTE)
    if packed.ndim < 1 or packed.shape[0] != row_dim:
        raise ValueError(
            f"packed has shape {packed.shape}: out_features={out_features} needs {row_dim} rows on axis 0"
        )
    fields = np.stack([(packed >> np.uint8(CODE_BITS * i)) & np.uint8(CODE_MASK) for i in range(4)])
    fields = fields.reshape(CODES_PER_BYTE * row_dim, *packed.shape[1:])
    if (fields == CODE_MASK).any():
        raise ValueError("packed holds the field value 3, which is no ternary weight in this layout")
    if fields[out_features:].any():
        raise ValueError("packed holds non-zero fields past out_features")
    return fields[:out_features].astype(np.int8) - np.int8(1)
