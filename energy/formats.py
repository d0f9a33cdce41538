"""Weight storage formats and their bits per weight, derived from the project's own definitions.

==========  ============  ===========================================================================
format      bits/weight   from
==========  ============  ===========================================================================
``fp16``    16            ``numpy.finfo(numpy.float16).bits`` (the FP16 baseline)
``int8``    8             ``numpy.iinfo(numpy.int8).bits`` (the unpacked int8 array of ``model.quant``)
``ternary`` 2             ``model.encoding.CODE_BITS`` (the 2-bit code the RTL consumes)
``base3``   1.6           8 / ``model.packing.TRITS_PER_BYTE`` (five trits per byte)
``log2(3)`` 1.585         ``log2(3)``, the entropy of a uniform ternary weight (a lower bound)
==========  ============  ===========================================================================
"""

from __future__ import annotations

import math

import numpy as np

from energy.checks import check_choice
from model.encoding import CODE_BITS
from model.packing import TRITS_PER_BYTE

_BYTE_BITS = np.iinfo(np.uint8).bits

#: Bits per stored weight of each format.
WEIGHT_FORMATS: dict[str, float] = {
    "fp16": float(np.finfo(np.float16).bits),
    "int8": float(np.iinfo(np.int8).bits),
    "ternary": float(CODE_BITS),
    "base3": _BYTE_BITS / TRITS_PER_BYTE,
    "log2(3)": math.log2(3),
}
#: Bits of an FP16 activation or KV-cache element.
FP16_BITS = int(np.finfo(np.float16).bits)


def weight_bits(weight_format: str) -> float:
    """Bits per weight of ``weight_format`` (one of :data:`WEIGHT_FORMATS`)."""
    return WEIGHT_FORMATS[check_choice(weight_format, "weight_format", tuple(WEIGHT_FORMATS))]
