"""The group weight code of the LUT engine: ``G`` ternary weights as one sign + index code (TL2-like).

The lookup-table engine (:class:`hw.arrays.TernaryLutArray`) reads its weights ``G`` at a time. A group
``(w_0, ..., w_{G-1})`` of ternary weights is the balanced-ternary number::

    v = w_0 + 3 w_1 + 9 w_2 + ... + 3**(G-1) w_{G-1}        in [-E, E],  E = (3**G - 1) / 2

and every integer of ``[-E, E]`` is exactly one group (balanced ternary is a bijection). The code stores
``|v|`` and the sign of ``v``::

    bits [I-1 : 0]  index = |v|, 0..E    (I = bit_length(E): the index bits)
    bit  I          sign  = 1 when v < 0

    G:            2   3   4    5
    entries E:    4  13  40  121      (the nonzero sums of a group's activations, up to sign)
    index bits:   3   4   6    7
    code bits:    4   5   7    8      (bits per weight 2.0, 1.67, 1.75, 1.6; the 2-bit code: 2)

Index 0 is the all-zero group (its sign is 0). Index ``k >= 1`` names the table entry
``T[k] = sum_j d_j(k) * a_j``, where ``d(k)`` are the balanced-ternary digits of ``k``
(:func:`entry_digits`); then the group's contribution ``sum_j w_j a_j`` is ``T[|v|]`` for ``v > 0`` and
``-T[|v|]`` for ``v < 0``: the symmetry that halves the table (a negative combination is a negated positive
one). Invalid codes: an index above ``E``, a set sign with index 0 and, in a row's last group when it has
fewer than ``G`` weights, a code with a nonzero digit past the row's end. :func:`decode_groups` refuses
them; the hardware reads them as a zero group.

Codes are packed like the 2-bit codes: group ``j`` of a row at bits ``[c*j + c - 1 : c*j]``, ``c`` the code
bits. A row of ``K`` weights takes ``ceil(K / G)`` groups; a last group with fewer than ``G`` weights is
padded with zero weights (digits above the row's end are 0).

The re-encoding is done offline, on the host (this module), not in hardware: a group code is a function of
the weights only, which are fixed for a whole inference, so the conversion would otherwise be repeated on
every beat (stream dataflow) for every one of the ``M`` rows, and the weight port would carry 2 bits per
weight instead of ``c / G``.
"""

from __future__ import annotations

import numpy as np

from model.encoding import check_ternary

#: The group sizes the LUT engine supports.
GROUP_SIZES = (2, 3, 4, 5)


def _check_group(group: object) -> int:
    if isinstance(group, bool) or not isinstance(group, (int, np.integer)):
        raise TypeError(f"group must be an integer, not {type(group).__name__}")
    if int(group) not in GROUP_SIZES:
        raise ValueError(f"group must be one of {', '.join(map(str, GROUP_SIZES))}; got {group}")
    return int(group)


def group_entries(group: int) -> int:
    """``E = (3**G - 1) / 2``: the table entries of a group of ``G`` activations (the nonzero sums, up to
    sign)."""
    return (3 ** _check_group(group) - 1) // 2


def index_bits(group: int) -> int:
    """``I = bit_length(E)``: bits of a code's index field (bits ``[I-1 : 0]``)."""
    return group_entries(group).bit_length()


def sign_bit(group: int) -> int:
    """The position of a code's sign bit: ``I``, above the index."""
    return index_bits(group)


def code_bits(group: int) -> int:
    """Bits of one group code: ``I + 1``."""
    return index_bits(group) + 1


def group_count(k: int, group: int) -> int:
    """Groups of a row of ``k`` weights: ``ceil(k / G)``."""
    return -(-k // _check_group(group))


def entry_digits(group: int) -> np.ndarray:
    """``(E + 1, G)`` int8: row ``k`` holds the balanced-ternary digits ``d_0 .. d_{G-1}`` of ``k`` (row 0:
    zeros), so table entry ``k`` is ``entry_digits(G)[k] @ a``."""
    g = _check_group(group)
    values = np.arange(group_entries(g) + 1)
    digits = np.zeros((len(values), g), np.int8)
    for j in range(g):
        digit = (values + 1) % 3 - 1  # in {-1, 0, 1}
        digits[:, j] = digit
        values = (values - digit) // 3
    return digits


def encode_groups(w_q: np.ndarray, group: int) -> np.ndarray:
    """The group codes of ternary weights ``(..., K)``: int64 ``(..., ceil(K / G))`` (see the module
    docstring); a last group shorter than ``G`` is padded with zero weights."""
    g = _check_group(group)
    w_q = check_ternary(w_q, "w_q")
    if w_q.ndim < 1 or w_q.shape[-1] < 1:
        raise ValueError(f"w_q must have at least one weight on its last axis, got shape {w_q.shape}")
    k = w_q.shape[-1]
    padded = np.zeros((*w_q.shape[:-1], group_count(k, g) * g), np.int64)
    padded[..., :k] = w_q
    grouped = padded.reshape(*w_q.shape[:-1], -1, g)
    value = grouped @ (3 ** np.arange(g, dtype=np.int64))
    return np.abs(value) | ((value < 0).astype(np.int64) << sign_bit(g))


def decode_groups(codes: np.ndarray, group: int, k: int) -> np.ndarray:
    """Inverse of :func:`encode_groups`: the ``k`` ternary weights (int8 ``(..., k)``) of codes
    ``(..., ceil(k / G))``. Raises ``ValueError`` on an invalid code or nonzero padding weights."""
    g = _check_group(group)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not isinstance(codes, np.ndarray) or not np.issubdtype(codes.dtype, np.integer):
        raise TypeError("codes must be a numpy integer array")
    if codes.ndim < 1 or codes.shape[-1] != group_count(k, g):
        raise ValueError(
            f"codes must have {group_count(k, g)} groups on the last axis for k={k}, got {codes.shape}"
        )
    codes = codes.astype(np.int64)
    if ((codes < 0) | (codes >> code_bits(g))).any():
        raise ValueError(f"codes must hold {code_bits(g)}-bit group codes")
    index, negative = codes & ((1 << index_bits(g)) - 1), codes >> sign_bit(g)
    if (index > group_entries(g)).any():
        raise ValueError(f"codes holds an index above {group_entries(g)}, the last entry for group={g}")
    if (negative.astype(bool) & (index == 0)).any():
        raise ValueError("codes holds a negative zero group (sign set, index 0)")
    digits = entry_digits(g)[index] * np.where(negative, -1, 1)[..., None].astype(np.int8)
    weights = digits.reshape(*codes.shape[:-1], -1)
    if weights[..., k:].any():
        raise ValueError(f"codes has nonzero padding weights beyond k={k}")
    return weights[..., :k].astype(np.int8)


def group_sums(act: np.ndarray, codes: np.ndarray, group: int) -> np.ndarray:
    """The reference of one beat of the LUT engine: ``sum_j w_j a_j`` per group, computed through the table
    (``T[index]``, negated when the sign is set). ``act`` ``(..., K)`` integers, ``codes``
    ``(..., ceil(K / G))``; invalid codes count as zero groups, as in the hardware. Returns int64."""
    g = _check_group(group)
    act = np.asarray(act, np.int64)
    k = act.shape[-1]
    padded = np.zeros((*act.shape[:-1], group_count(k, g) * g), np.int64)
    padded[..., :k] = act
    table = padded.reshape(*act.shape[:-1], -1, g) @ entry_digits(g).T.astype(np.int64)  # (..., groups, E+1)
    codes = np.asarray(codes, np.int64)
    index, negative = codes & ((1 << index_bits(g)) - 1), codes >> sign_bit(g)
    valid = (index <= group_entries(g)) & ((codes >> code_bits(g)) == 0)
    entry = np.take_along_axis(table, np.where(valid, index, 0)[..., None], axis=-1)[..., 0]
    return np.where(negative & 1, -entry, entry)
