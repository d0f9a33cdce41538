"""The binary16 reference model ``model.fp16`` against independent references.

Two references that share no code with the model: exact rational arithmetic (``fractions.Fraction``) with
a rounding to binary16 written here from the IEEE 754 definition, and Python's ``struct`` ``'e'`` format
(CPython's own binary16 packing, round to nearest even) applied to the exact double result (a sum or product
of two binary16 values is exact in a double). Then the array semantics: the documented tree pairing, the
accumulation from ``-0``, and the reduction reference ``fp16_mac_reference``.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.fp16 import (
    CANONICAL_NAN,
    MAX_FINITE,
    MIN_NORMAL,
    MIN_SUBNORMAL,
    NEGATIVE_ZERO,
    POSITIVE_INFINITY,
    SIGN_BIT,
    check_bits,
    fp16_accumulate,
    fp16_add,
    fp16_mac_reference,
    fp16_mul,
    fp16_tree_sum,
    from_bits,
    is_nan,
    to_bits,
)

NEGATIVE_INFINITY = SIGN_BIT | POSITIVE_INFINITY
ONE = 0x3C00

# --- independent reference 1: exact rationals, rounding written from the IEEE 754 definition ---------------


def decode(bits: int) -> Fraction | str:
    """The exact value of a binary16 pattern, or "nan", "+inf", "-inf"."""
    sign, exponent, fraction = bits >> 15, (bits >> 10) & 0x1F, bits & 0x3FF
    if exponent == 0x1F:
        return "nan" if fraction else ("-inf" if sign else "+inf")
    magnitude = Fraction(fraction, 2**24) if exponent == 0 else Fraction(1024 + fraction, 2**25) * 2**exponent
    return -magnitude if sign else magnitude


def round_exact(value: Fraction, sign: int) -> int:
    """Round an exact nonzero (or zero with the given sign) rational to binary16: RNE, gradual underflow."""
    if value == 0:
        return sign << 15
    sign = int(value < 0)
    magnitude = abs(value)
    exponent = math.floor(math.log2(magnitude))  # refined below: log2 of a Fraction may be off by one
    while Fraction(2) ** exponent > magnitude:
        exponent -= 1
    while Fraction(2) ** (exponent + 1) <= magnitude:
        exponent += 1
    exponent = max(exponent, -14)  # below 2**-14 the grid is the subnormal one, 2**-24
    scaled = magnitude / Fraction(2) ** (exponent - 10)  # in [1, 2048) on the grid of 1
    integer = math.floor(scaled)
    rest = scaled - integer
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and integer % 2 == 1):
        integer += 1
    if integer == 2048:
        integer, exponent = 1024, exponent + 1
    if exponent > 15:
        return (sign << 15) | POSITIVE_INFINITY
    if integer < 1024:  # subnormal (exponent is -14 here)
        return (sign << 15) | integer
    return (sign << 15) | ((exponent + 15) << 10) | (integer - 1024)


def exact_mul(a: int, b: int) -> int:
    x, y = decode(a), decode(b)
    sign = (a ^ b) >> 15
    if "nan" in (x, y):
        return CANONICAL_NAN
    if isinstance(x, str) or isinstance(y, str):
        other = y if isinstance(x, str) else x
        if other == 0:
            return CANONICAL_NAN
        return (sign << 15) | POSITIVE_INFINITY
    return round_exact(x * y, sign)


def exact_add(a: int, b: int) -> int:
    x, y = decode(a), decode(b)
    if "nan" in (x, y) or {x, y} == {"+inf", "-inf"}:
        return CANONICAL_NAN
    if isinstance(x, str) or isinstance(y, str):
        return {"+inf": POSITIVE_INFINITY, "-inf": NEGATIVE_INFINITY}[x if isinstance(x, str) else y]
    return round_exact(x + y, (a & b) >> 15)  # an exact zero sum is -0 only for -0 + -0


# --- independent reference 2: CPython's struct 'e' packing of the exact double result ----------------------


def struct_round(value: float) -> int:
    if math.isnan(value):
        return CANONICAL_NAN
    try:
        return struct.unpack("<H", struct.pack("<e", value))[0]
    except OverflowError:  # struct refuses to round to infinity; RNE overflows to infinity
        return NEGATIVE_INFINITY if value < 0 else POSITIVE_INFINITY


def as_float(bits: int) -> float:
    return struct.unpack("<e", struct.pack("<H", bits))[0]


def struct_mul(a: int, b: int) -> int:
    return struct_round(as_float(a) * as_float(b))  # exact in a double: 22 significant bits


def struct_add(a: int, b: int) -> int:
    return struct_round(as_float(a) + as_float(b))  # exact in a double: at most 41 significant bits


# --- operands ---------------------------------------------------------------------------------------------

#: Edge values: zeros, subnormal and normal boundaries, one and its neighbours, the overflow edge, infinities,
#: NaNs of every kind (quiet, signalling, negative, payloads), and values that produce ties.
EDGES = sorted(
    {
        0x0000, 0x0001, 0x0002, 0x0003, 0x01FF, 0x0200, 0x03FF, 0x0400, 0x0401, 0x07FF, 0x0800,
        0x1000, 0x1400, 0x2000, 0x2400, 0x2C00, 0x3400, 0x3555, 0x3800, 0x3BFF, 0x3C00, 0x3C01, 0x3E00,
        0x4000, 0x4200, 0x5000, 0x57FF, 0x5800, 0x5BFF, 0x5C00, 0x6800, 0x6801, 0x7800, 0x7A00, 0x7BFE,
        0x7BFF, 0x7C00, 0x7C01, 0x7D00, 0x7E00, 0x7FFF,
    }
    | {SIGN_BIT | bits for bits in (0x0000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x3C01, 0x7BFF, 0x7C00, 0x7E00)}
    | {0xFFFF}
)  # fmt: skip


def edge_pairs() -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(np.array(EDGES, np.uint16), np.array(EDGES, np.uint16))
    return a.ravel(), b.ravel()


def random_pairs(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform bit patterns, plus pairs built to cancel (``b = -a`` +- a few ulps) and to share exponents."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 16, count).astype(np.uint16)
    b = rng.integers(0, 1 << 16, count).astype(np.uint16)
    third = count // 3
    b[:third] = (a[:third] ^ SIGN_BIT) + rng.integers(-3, 4, third).astype(np.uint16)
    b[third : 2 * third] = (a[third : 2 * third] & 0xFC00) | rng.integers(0, 1024, third).astype(np.uint16)
    return a, b


# --- the operations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "exact", "via_struct"), [(fp16_mul, exact_mul, struct_mul), (fp16_add, exact_add, struct_add)]
)
def test_operations_on_every_pair_of_edge_values(model, exact, via_struct):
    a, b = edge_pairs()
    got = model(a, b)
    assert got.dtype == np.uint16 and got.shape == a.shape
    for x, y, z in zip(a.tolist(), b.tolist(), got.tolist(), strict=True):
        assert z == exact(x, y) == via_struct(x, y), f"{x:#06x}, {y:#06x}: model {z:#06x}"


@pytest.mark.parametrize(("model", "via_struct"), [(fp16_mul, struct_mul), (fp16_add, struct_add)])
def test_operations_on_random_pairs_against_struct(model, via_struct):
    a, b = random_pairs(60_000, seed=1)
    got = model(a, b).tolist()
    wrong = [(x, y) for x, y, z in zip(a.tolist(), b.tolist(), got, strict=True) if z != via_struct(x, y)]
    assert not wrong, [f"{x:#06x}, {y:#06x}" for x, y in wrong[:5]]


@settings(max_examples=1500, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_operations_against_exact_rationals(a, b):
    assert int(fp16_mul(a, b)) == exact_mul(a, b)
    assert int(fp16_add(a, b)) == exact_add(a, b)


def test_numpy_float16_arithmetic_is_the_same_rounding():
    """NumPy's own float16 arithmetic (computed in float32, rounded once to binary16: a double rounding that
    is innocuous for + and * as 24 >= 2 * 11 + 2) gives the model's results bit for bit, NaNs apart."""
    a = np.repeat(np.arange(1 << 16, dtype=np.uint16), 48)
    b = np.random.default_rng(2).integers(0, 1 << 16, a.size).astype(np.uint16)
    x, y = a.view(np.float16), b.view(np.float16)
    with np.errstate(all="ignore"):
        for model, numpy_result in ((fp16_mul, x * y), (fp16_add, x + y)):
            bits = numpy_result.view(np.uint16)
            expected = np.where(np.isnan(numpy_result), np.uint16(CANONICAL_NAN), bits)
            np.testing.assert_array_equal(model(a, b), expected)


def test_documented_special_cases():
    pos_zero, neg_zero, inf, neg_inf = 0x0000, NEGATIVE_ZERO, POSITIVE_INFINITY, NEGATIVE_INFINITY
    two, half = 0x4000, 0x3800
    cases_add = [
        (neg_zero, neg_zero, neg_zero),  # -0 + -0 = -0
        (pos_zero, neg_zero, pos_zero),  # +0 + -0 = +0
        (ONE, SIGN_BIT | ONE, pos_zero),  # x + -x = +0
        (MAX_FINITE, SIGN_BIT | MAX_FINITE, pos_zero),
        (MAX_FINITE, 0x4800, MAX_FINITE),  # 65504 + 8 = 65512: rounds down to 65504
        (MAX_FINITE, 0x4C00, inf),  # 65504 + 16 = 65520: the tie rounds to even, 2**16: infinity
        (SIGN_BIT | MAX_FINITE, SIGN_BIT | MAX_FINITE, neg_inf),
        (inf, neg_inf, CANONICAL_NAN),
        (inf, inf, inf),
        (neg_inf, MAX_FINITE, neg_inf),
        (0x6800, ONE, 0x6800),  # 2048 + 1: the tie 2049 rounds to even, 2048
        (0x6801, ONE, 0x6802),  # 2050 + 1: the tie 2051 rounds to even, 2052
        (MIN_SUBNORMAL, MIN_SUBNORMAL, 0x0002),  # subnormal sums are exact
        (0x03FF, MIN_SUBNORMAL, MIN_NORMAL),  # largest subnormal + ulp = smallest normal
        (0xFC01, ONE, CANONICAL_NAN),  # any NaN (signalling, negative, payload) -> the canonical NaN
        (ONE, 0x7FFF, CANONICAL_NAN),
    ]
    cases_mul = [
        (neg_zero, ONE, neg_zero),  # sign = XOR, zeros included
        (neg_zero, SIGN_BIT | ONE, pos_zero),
        (MIN_SUBNORMAL, half, pos_zero),  # 2**-25 exactly: the tie rounds to even, 0
        (SIGN_BIT | MIN_SUBNORMAL, half, neg_zero),  # underflow to zero keeps the sign
        (0x0003, half, 0x0002),  # 1.5 * 2**-24: the tie rounds to even, 2 * 2**-24
        (0x2000, 0x1800, 0x0100),  # 2**-7 * 2**-9 = 2**-16 = 256 * 2**-24: subnormal product of normals
        (MIN_NORMAL, half, 0x0200),  # 2**-15: normal * normal -> subnormal
        (0x0200, 0x4400, 0x0800),  # subnormal * normal -> normal: 2**-15 * 4 = 2**-13
        (MAX_FINITE, two, inf),  # overflow to infinity
        (MAX_FINITE, SIGN_BIT | two, neg_inf),
        (inf, pos_zero, CANONICAL_NAN),  # inf * 0
        (neg_zero, neg_inf, CANONICAL_NAN),
        (neg_inf, half, neg_inf),
        (0x7C01, pos_zero, CANONICAL_NAN),
    ]
    for a, b, want in cases_add:
        assert int(fp16_add(a, b)) == int(fp16_add(b, a)) == want, (hex(a), hex(b))
    for a, b, want in cases_mul:
        assert int(fp16_mul(a, b)) == int(fp16_mul(b, a)) == want, (hex(a), hex(b))


def test_identities_over_every_value():
    every = np.arange(1 << 16, dtype=np.uint16)
    nan = is_nan(every)
    expect_self = np.where(nan, np.uint16(CANONICAL_NAN), every)
    np.testing.assert_array_equal(fp16_add(NEGATIVE_ZERO, every), expect_self)  # -0 is the identity
    np.testing.assert_array_equal(fp16_mul(ONE, every), expect_self)
    finite = ~nan & ((every & 0x7FFF) != POSITIVE_INFINITY)
    np.testing.assert_array_equal(fp16_add(every, every ^ SIGN_BIT)[finite], 0)  # x + -x = +0
    plus_zero = fp16_add(0, every)  # +0 is not an identity: +0 + -0 = +0
    assert plus_zero[NEGATIVE_ZERO] == 0 and np.array_equal(
        plus_zero[1:NEGATIVE_ZERO], expect_self[1:NEGATIVE_ZERO]
    )


def test_bit_helpers():
    values = np.array([1.0, -0.0, 65504.0, 65520.0, 2.0**-25, np.inf])
    np.testing.assert_array_equal(
        to_bits(values), [ONE, NEGATIVE_ZERO, MAX_FINITE, POSITIVE_INFINITY, 0, 0x7C00]
    )
    assert from_bits(np.array([ONE]))[0] == np.float16(1.0)
    np.testing.assert_array_equal(check_bits(np.float16([1.0, -2.0]), "x"), [ONE, 0xC000])
    with pytest.raises(TypeError, match="act_bits"):
        fp16_mac_reference(np.ones((1, 2)), np.zeros((1, 1, 2), np.uint16))
    with pytest.raises(ValueError, match="weight_bits"):
        fp16_mac_reference(np.zeros((1, 2), np.uint16), np.full((1, 1, 2), 1 << 16))
    with pytest.raises(ValueError, match="weight_bits"):
        fp16_mac_reference(np.zeros((2, 3), np.uint16), np.zeros((2, 1, 2), np.uint16))
    with pytest.raises(ValueError, match="act_bits"):
        fp16_mac_reference(np.zeros(3, np.uint16), np.zeros((1, 1, 3), np.uint16))
    with pytest.raises(ValueError, match="a"):
        fp16_add(-1, 0)


# --- the array's order of operations ----------------------------------------------------------------------


def tree_by_hand(terms: list[int]) -> int:
    """The documented pairing: node j of level k adds nodes 2j and 2j + 1 of level k - 1; an odd last node
    passes through; with the independent exact reference for every addition."""
    while len(terms) > 1:
        paired = [exact_add(terms[j], terms[j + 1]) for j in range(0, len(terms) - 1, 2)]
        terms = paired + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


@pytest.mark.parametrize("lanes", range(1, 10))
def test_tree_sum_pairs_as_documented(lanes):
    rng = np.random.default_rng(lanes)
    terms = np.where(
        rng.random((40, lanes)) < 0.1,
        rng.choice(EDGES, size=(40, lanes)),
        to_bits(rng.standard_normal((40, lanes)) * 100),
    ).astype(np.uint16)
    got = fp16_tree_sum(terms)
    assert got.shape == (40,)
    for row, value in zip(terms.tolist(), got.tolist(), strict=True):
        assert value == tree_by_hand(row)


def test_tree_order_is_observable():
    """Rounding makes the pairing visible: 2048 + 1 + 1 is 2048 or 2050 depending on which terms pair."""
    assert int(fp16_tree_sum(np.array([0x6800, ONE, ONE, 0], np.uint16))) == 0x6800  # (2048+1)+(1+0)
    assert int(fp16_tree_sum(np.array([ONE, ONE, 0x6800, 0], np.uint16))) == 0x6801  # (1+1)+(2048+0)
    # (65504 + 65504) + (-65504 + -65504) = inf + -inf = NaN, where a running sum would stay at +inf
    big = [MAX_FINITE, MAX_FINITE, SIGN_BIT | MAX_FINITE, SIGN_BIT | MAX_FINITE]
    assert int(fp16_tree_sum(np.array(big, np.uint16))) == CANONICAL_NAN
    # N = 5: ((p0 + p1) + (p2 + p3)) + p4 = (2 + 2048) + 1 = 2051, a tie, rounds to even: 2052
    assert int(fp16_tree_sum(np.array([ONE, ONE, ONE, 0x6800, ONE], np.uint16))) == 0x6802


def test_accumulation_starts_at_negative_zero():
    assert int(fp16_accumulate(np.array([NEGATIVE_ZERO], np.uint16))) == NEGATIVE_ZERO
    assert int(fp16_accumulate(np.array([0, NEGATIVE_ZERO], np.uint16))) == 0
    # 2048 + 1 + 1 + ... stays at 2048 in binary16 accumulation
    assert int(fp16_accumulate(np.array([0x6800] + [ONE] * 50, np.uint16))) == 0x6800
    with pytest.raises(ValueError, match="tree_sums"):
        fp16_accumulate(np.zeros(0, np.uint16))


def test_mac_reference_is_products_then_tree_then_accumulation():
    rng = np.random.default_rng(3)
    for beats, rows, lanes in ((1, 1, 1), (3, 2, 5), (7, 3, 4)):
        act = to_bits(rng.standard_normal((beats, lanes)) * 4)
        weights = to_bits(rng.standard_normal((beats, rows, lanes)) * 0.1)
        act[0, 0] = rng.choice(EDGES)
        got = fp16_mac_reference(act, weights)
        assert got.shape == (rows,) and got.dtype == np.uint16
        for r in range(rows):
            acc = NEGATIVE_ZERO
            for b in range(beats):
                products = [exact_mul(int(act[b, i]), int(weights[b, r, i])) for i in range(lanes)]
                acc = exact_add(acc, tree_by_hand(products))
            assert int(got[r]) == acc
    # float16 inputs are taken by their bits
    values = np.float16([[1.5, -2.0]])
    assert fp16_mac_reference(values, np.float16([[[2.0, 0.25]]])).tolist() == [to_bits(2.5)]
