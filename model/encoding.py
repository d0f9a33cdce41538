"""The 2-bit ternary weight code: the encoding the RTL consumes, defined once for the whole project.

A ternary weight ``w`` in {-1, 0, +1} is stored as a 2-bit sign-magnitude code::

    bit 0 (NONZERO_BIT): 1 when w != 0   -> the hardware's lane enable (zero weights are gated)
    bit 1 (NEGATIVE_BIT): 1 when w == -1 -> the hardware's negate / subtract select

    w = +1 -> 0b01      w = 0 -> 0b00      w = -1 -> 0b11      0b10 is invalid

Software refuses the invalid code 0b10 (:func:`decode_ternary` raises ``ValueError``); the hardware
treats any code with bit 0 clear as zero, so 0b10 behaves as 0 there.

Several codes are packed into one integer (a byte in :func:`model.packing.pack_2bit`, a lane vector of
``2 * N`` bits on an RTL port) little-endian: element ``i`` occupies bits ``[2*i + 1 : 2*i]``.
"""

from __future__ import annotations

import numpy as np

#: Bits per ternary weight code.
CODE_BITS = 2
#: Mask of one code.
CODE_MASK = (1 << CODE_BITS) - 1
#: Bit positions inside a code.
NONZERO_BIT = 0
NEGATIVE_BIT = 1
#: The code of each ternary value.
CODE_ZERO = 0b00
CODE_PLUS_ONE = 1 << NONZERO_BIT
CODE_MINUS_ONE = (1 << NONZERO_BIT) | (1 << NEGATIVE_BIT)
#: The one invalid code.
CODE_INVALID = 1 << NEGATIVE_BIT

# decode table indexed by the code; the invalid entry is flagged separately
_DECODE = np.array([0, 1, 0, -1], dtype=np.int8)


def check_ternary(w_q: object, name: str = "w_q") -> np.ndarray:
    """Return ``w_q`` as an int8 array after checking it holds only -1, 0 and +1.

    Raises ``TypeError`` for a non-integer array and ``ValueError`` for any other value; the message
    names ``name``.
    """
    if not isinstance(w_q, np.ndarray):
        raise TypeError(f"{name} must be a numpy integer array, not {type(w_q).__name__}")
    if not np.issubdtype(w_q.dtype, np.integer):
        raise TypeError(f"{name} must have an integer dtype with values in {{-1, 0, 1}}, not {w_q.dtype}")
    if w_q.dtype == np.int8:
        # one pass over the bytes: -1, 0, 1 are 0xff, 0x00, 0x01, i.e. (byte + 1) mod 256 <= 2
        bad = (w_q.view(np.uint8) + np.uint8(1)) > 2
    else:
        bad = (w_q < -1) | (w_q > 1)
    if bad.any():
        bad_value = w_q[bad].flat[0]
        raise ValueError(f"{name} must hold only -1, 0 and +1, found {bad_value}")
    return w_q.astype(np.int8, copy=False)


def encode_ternary(w_q: np.ndarray) -> np.ndarray:
    """Map ternary weights to their 2-bit codes (uint8 array of the same shape)."""
    w_q = check_ternary(w_q)
    nonzero = (w_q != 0).astype(np.uint8) << NONZERO_BIT
    negative = (w_q < 0).astype(np.uint8) << NEGATIVE_BIT
    return nonzero | negative


def decode_ternary(codes: np.ndarray, name: str = "codes") -> np.ndarray:
    """Map 2-bit codes back to ternary int8 weights; the invalid code 0b10 raises ``ValueError``."""
    if not isinstance(codes, np.ndarray) or not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(f"{name} must be a numpy integer array")
    if ((codes < 0) | (codes > CODE_MASK)).any():
        raise ValueError(f"{name} must hold 2-bit codes (0..3)")
    if (codes == CODE_INVALID).any():
        raise ValueError(f"{name} holds the invalid ternary code 0b10")
    return _DECODE[codes]


def codes_to_int(codes: np.ndarray) -> int:
    """Pack a 1-D vector of codes into one integer, element ``i`` at bits ``[2*i + 1 : 2*i]``."""
    value = 0
    for i, code in enumerate(np.asarray(codes, dtype=np.int64).tolist()):
        value |= (code & CODE_MASK) << (CODE_BITS * i)
    return value


def int_to_codes(value: int, count: int) -> np.ndarray:
    """Inverse of :func:`codes_to_int`: ``count`` codes (uint8) from a packed integer."""
    if value < 0 or value >> (CODE_BITS * count):
        raise ValueError(f"value does not fit in {count} codes of {CODE_BITS} bits")
    return np.array([(value >> (CODE_BITS * i)) & CODE_MASK for i in range(count)], dtype=np.uint8)
