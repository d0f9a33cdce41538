"""IEEE 754 binary16 arithmetic units in Amaranth: the multiplier, the adder and their shared rounder.

These are the per-lane multiplier and the adders of :class:`hw.arrays.Fp16MacArray`. Each unit is one
IEEE binary16 operation exactly as :mod:`model.fp16` defines it (the reference the tests hold it to, bit
for bit): round to nearest, ties to even; gradual underflow (subnormal operands and results, no
flush-to-zero); overflow to a signed infinity; IEEE infinities and signed zeros; every NaN result the
canonical quiet NaN ``0x7E00``. The units are combinational; the array puts its pipeline registers between
them, never inside one.

Datapath
--------
:func:`round_and_pack` (shared)
    Takes an exact result as a sign, an unsigned significand of ``W`` bits and its ``headroom``: the
    biased exponent of bit ``W - 1``, minus 1. A leading-zero count (:func:`leading_zeros`, log depth)
    gives ``lz``; a logarithmic shifter moves the significand left by ``min(lz, headroom)``, which
    normalizes it while the exponent stays at or above 1, and otherwise leaves it on the subnormal grid with
    exponent field 0. (The multiplier places its product below 13 zero bits, so that a product below the
    normal range, which needs a right shift, is a shorter left shift of the same shifter.) The top 11 bits
    are kept, the next one is the guard bit, every lower bit ORs into the sticky bit, and
    :func:`round_increment` adds one ulp for RNE. The result is packed as
    ``((headroom - shift + hidden) << 10 | fraction) + ulp``: a rounding carry, the step from the largest
    subnormal to the smallest normal and the step to infinity need no extra logic, and a packed magnitude
    at or above ``0x7C00`` is the infinity. A zero significand gives a signed zero.
:func:`fp16_multiply`
    11 x 11-bit significand product (hidden bit ``exponent != 0``; a subnormal's exponent counts as 1),
    headroom ``(Ea - 1) + (Eb - 1)``, then :func:`round_and_pack` with ``W = 22 + 13``. Special operands
    (NaN, infinity, ``inf * 0``) select the result by a final multiplexer.
:func:`fp16_add`
    Magnitude compare and swap (the 15 magnitude bits compare like the values), alignment of the smaller
    significand by the exponent difference into 3 extra bits (guard, round, and a sticky bit ORed from
    everything shifted out), one 14-bit adder (for unlike signs the smaller operand inverted, with the
    carry-in in the constant-zero LSB of the larger one), then :func:`round_and_pack` with ``W = 15``.
    Cancellation of more than one bit only happens for exponent differences of 0 or 1, where alignment loses
    nothing, so guard, round and sticky round correctly. An exact zero sum is ``-0`` only when both addends
    are ``-0``.

Netlist discipline. The generated Verilog must be ``verilator -Wall`` clean under the waivers of
:mod:`sim.lint` and free of duplicated logic, so: every value used more than once is a named wire driven by
one operator of exactly its width (Amaranth re-emits an unnamed expression at each use, and a named slice
or concatenation is only an alias the logic does not read); arithmetic and comparisons take operands of
equal widths (Yosys writes zero-extended operands at their own width); and no gate gets a constant input
(known-zero bits are folded in Python). Wires are named ``<unit>_<what>``.

:class:`Fp16Multiplier` and :class:`Fp16Adder` wrap one unit each as a component (for unit tests and
stand-alone synthesis); :func:`adder_tree` builds the pipelined binary16 adder trees of the array with
the pairing and register placement of :class:`hw.tree.PipelinedTreeBuilder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.tree import PipelinedTreeBuilder
from model.fp16 import CANONICAL_NAN, EXPONENT_BITS, FP16_BITS, FRACTION_BITS, POSITIVE_INFINITY

#: Bits of a magnitude (exponent and fraction).
MAGNITUDE_BITS = FP16_BITS - 1
#: Bits of a significand with its hidden bit.
SIGNIFICAND_BITS = FRACTION_BITS + 1
#: Extra bits below the significand in the adder's alignment: guard, round, sticky.
ALIGN_EXTRA_BITS = 3
#: Zero bits above the multiplier's 22-bit product: the largest right shift a product below the normal
#: range needs to reach the subnormal grid (headroom 0 for an exponent sum of 2, i.e. 2**-28 at bit 21,
#: against 2**-15 at the top of the rounding window: 13 bits).
MULTIPLY_RIGHT_SHIFT_BITS = 13


def _wire(m: Module, name: str, value: Value) -> Signal:
    """A named signal ``name`` driven by ``value`` (unsigned, ``len(value)`` bits): one copy of the logic,
    shared by every use (and a name in the Verilog)."""
    signal = Signal(unsigned(len(value)), name=name)
    m.d.comb += signal.eq(value)
    return signal


@dataclass(frozen=True)
class _Operand:
    """The fields of a binary16 operand and its named ``normal`` flag (hidden bit, ``exponent != 0``)."""

    sign: Value
    exponent: Value
    fraction: Value
    normal: Signal

    @property
    def significand(self) -> Value:
        """The 11-bit significand with its hidden bit."""
        return Cat(self.fraction, self.normal)

    @property
    def exponent_m1(self) -> Value:
        """``max(exponent, 1) - 1`` (5 bits): a subnormal's exponent counts as 1."""
        return (self.exponent - self.normal)[:EXPONENT_BITS]

    @property
    def effective_exponent(self) -> Value:
        """``max(exponent, 1)`` (5 bits)."""
        return Mux(self.normal, self.exponent, 1)


def _operand(m: Module, name: str, x: Value) -> _Operand:
    exponent = x[FRACTION_BITS:MAGNITUDE_BITS]
    return _Operand(
        x[MAGNITUDE_BITS], exponent, x[:FRACTION_BITS], _wire(m, f"{name}_normal", exponent.any())
    )


def _specials(m: Module, name: str, x: Value) -> tuple[Value, Signal]:
    """``(is_nan, is_inf)`` of a binary16 operand (``is_inf`` a named wire)."""
    special = _wire(m, f"{name}_special", x[FRACTION_BITS:MAGNITUDE_BITS].all())
    fraction = _wire(m, f"{name}_fraction_nz", x[:FRACTION_BITS].any())
    return special & fraction, _wire(m, f"{name}_inf", special & ~fraction)


def _less_equal(a: Value, b: Value) -> Value:
    """``a <= b`` for unsigned values, comparing equal widths only (the wider one's high bits apart)."""
    if len(a) < len(b):
        return b[len(a) :].any() | (a <= b[: len(a)])
    if len(a) > len(b):
        return ~a[len(b) :].any() & (a[: len(b)] <= b)
    return a <= b


def shift_left(m: Module, name: str, x: Value, amount: Value) -> Signal:
    """``(x << amount)`` truncated to ``len(x)`` bits: a logarithmic shifter, one multiplexer stage per bit
    of ``amount`` (wires ``<name>_<k>``; the last one is returned)."""
    width = len(x)
    for k in range(len(amount)):
        step = 1 << k
        moved = Cat(Const(0, step), x[: width - step]) if step < width else Const(0, width)
        x = _wire(m, f"{name}_{k}", Mux(amount[k], moved, x))
    return x


def shift_right(m: Module, name: str, x: Value, amount: Value) -> Signal:
    """``x >> amount`` (logical): a logarithmic shifter like :func:`shift_left`."""
    width = len(x)
    for k in range(len(amount)):
        step = 1 << k
        moved = Cat(x[step:], Const(0, step)) if step < width else Const(0, width)
        x = _wire(m, f"{name}_{k}", Mux(amount[k], moved, x))
    return x


def leading_zeros(m: Module, name: str, x: Value, *, zeros_above: int = 0) -> Value:
    """The number of leading zeros of ``Cat(x, Const(0, zeros_above))`` (meaningful when ``x != 0``).

    A log-depth recursive encoder over the bits, padded with zeros below the LSB to a power-of-two width
    ``2**k``; the result has ``k`` bits. Known-zero bits (the padding and ``zeros_above``) are folded here,
    so that no gate of the encoder has a constant input; its nodes are wires ``<name>_<k>_<i>_zero`` (the
    block is all zero) and ``<name>_<k>_<i>_sel``.
    """
    bits: list[Value | None] = [x[i] for i in range(len(x))] + [None] * zeros_above  # None: a known 0
    if len(bits) < 2:
        raise ValueError(f"x must be at least 2 bits wide with zeros_above, got {len(bits)}")
    k = (len(bits) - 1).bit_length()
    _, count = _encode(m, name, [None] * ((1 << k) - len(bits)) + bits, 0, False)
    return count


def _encode(
    m: Module, name: str, bits: list[Value | None], index: int, need_zero: bool
) -> tuple[Value | bool | None, Value]:
    """``(all zero, leading zeros)`` of a power-of-two number of bits (LSB first, ``None`` a known 0). The
    all-zero flag is ``True`` when known, and ``None`` when not ``need_zero`` (then it is not built)."""
    level = (len(bits) - 1).bit_length()
    if len(bits) == 2:
        low, high = bits
        count = Const(1, 1) if high is None else ~high
        if high is None and low is None:
            return True, count
        if not need_zero:
            return None, count
        either = (low if high is None else high) if high is None or low is None else low | high
        return _wire(m, f"{name}_{level}_{index}_zero", ~either), count
    half = len(bits) // 2
    high_zero, high_count = _encode(m, name, bits[half:], 2 * index + 1, True)
    low_zero, low_count = _encode(m, name, bits[:half], 2 * index, need_zero)
    if high_zero is True:
        return low_zero, Cat(low_count, Const(1, 1))
    select = _wire(m, f"{name}_{level}_{index}_sel", Mux(high_zero, low_count, high_count))
    if not need_zero:
        return None, Cat(select, high_zero)
    if low_zero is True:
        return high_zero, Cat(select, high_zero)
    return _wire(m, f"{name}_{level}_{index}_zero", high_zero & low_zero), Cat(select, high_zero)


def round_increment(lsb: Value, guard: Value, sticky: Value) -> Value:
    """Round to nearest, ties to even: one ulp up when the discarded part is above half an ulp
    (``guard & sticky``) or exactly half with an odd kept part (``guard & lsb``)."""
    return guard & (sticky | lsb)


def round_and_pack(
    m: Module, name: str, sign: Value, significand: Value, headroom: Value, *, zeros_above: int = 0
) -> Value:
    """The binary16 bit pattern of an exact result, rounded to nearest even.

    Parameters
    ----------
    m, name : Module, str
        Where the logic goes, and the prefix of its wires (``<name>_lz_*``, ``_amount``, ``_shl_<k>``,
        ``_packed``).
    sign : 1-bit Value
        The sign of the result, zero results included.
    significand : unsigned Value
        The exact significand (bits far below the rounding point may be a sticky summary: they only need to
        be nonzero when the exact value has nonzero bits there), ``W >= 12`` bits with ``zeros_above``.
    headroom : unsigned Value
        The biased exponent of bit ``W - 1``, minus 1: the value is
        ``(-1)**sign * significand * 2**(headroom + 1 - 15 - (W - 1))``, and ``headroom`` is how far the
        significand may move left before the exponent reaches its minimum, 1.
    zeros_above : int
        Zero bits placed above ``significand`` (which then counts as ``Cat(significand, 0...)``).

    Finite results and overflow to infinity only; the callers select NaN and infinite operands' results.
    See the module docstring for the datapath.
    """
    width = len(significand) + zeros_above
    if width < SIGNIFICAND_BITS + 1:
        raise ValueError(f"significand must be at least {SIGNIFICAND_BITS + 1} bits wide, got {width}")
    placed = Cat(significand, Const(0, zeros_above)) if zeros_above else significand
    count = leading_zeros(m, f"{name}_lz", significand, zeros_above=zeros_above)
    amount = _wire(m, f"{name}_amount", Mux(_less_equal(count, headroom), count, headroom))
    shifted = shift_left(m, f"{name}_shl", placed, amount)  # bit W - 1: the hidden bit, or 0
    kept = shifted[width - SIGNIFICAND_BITS :]
    guard = shifted[width - SIGNIFICAND_BITS - 1]
    sticky = shifted[: width - SIGNIFICAND_BITS - 1].any()
    exponent_m1 = (headroom - amount)[: len(headroom)]  # >= 0: the result's biased exponent minus 1
    # ((exponent - 1 + hidden) << 10 | fraction) + ulp: a carry of the rounding moves into the exponent
    unrounded = Cat(kept[:FRACTION_BITS], exponent_m1 + kept[FRACTION_BITS])
    packed = _wire(m, f"{name}_packed", unrounded + round_increment(kept[0], guard, sticky))
    overflow = packed[MAGNITUDE_BITS:].any() | packed[FRACTION_BITS:MAGNITUDE_BITS].all()  # >= 0x7C00
    magnitude = Mux(significand.any(), Mux(overflow, POSITIVE_INFINITY, packed[:MAGNITUDE_BITS]), 0)
    return Cat(magnitude, sign)


def fp16_multiply(m: Module, a: Value, b: Value, name: str) -> Signal:
    """Add a binary16 multiplier ``name = a * b`` to ``m``; returns the 16-bit result signal ``name``."""
    op_a, op_b = _operand(m, f"{name}_a", a), _operand(m, f"{name}_b", b)
    nan_a, inf_a = _specials(m, f"{name}_a", a)
    nan_b, inf_b = _specials(m, f"{name}_b", b)
    zero_a, zero_b = ~a[:MAGNITUDE_BITS].any(), ~b[:MAGNITUDE_BITS].any()
    sign = _wire(m, f"{name}_sign", op_a.sign ^ op_b.sign)
    product = _wire(m, f"{name}_product", op_a.significand * op_b.significand)  # 22 bits, exact
    # bit 21 of the product has the biased exponent (Ea - 1) + (Eb - 1) - 12; placed below 13 zero bits,
    # the top bit (34) has (Ea - 1) + (Eb - 1) + 1
    headroom = _wire(m, f"{name}_headroom", op_a.exponent_m1 + op_b.exponent_m1)
    finite = round_and_pack(m, name, sign, product, headroom, zeros_above=MULTIPLY_RIGHT_SHIFT_BITS)
    nan = nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)
    infinite = Cat(Const(POSITIVE_INFINITY, MAGNITUDE_BITS), sign)
    return _wire(m, name, Mux(nan, CANONICAL_NAN, Mux(inf_a | inf_b, infinite, finite)))


def fp16_add(m: Module, a: Value, b: Value, name: str) -> Signal:
    """Add a binary16 adder ``name = a + b`` to ``m``; returns the 16-bit result signal ``name``."""
    nan_a, inf_a = _specials(m, f"{name}_a", a)
    nan_b, inf_b = _specials(m, f"{name}_b", b)
    swap = _wire(m, f"{name}_swap", b[:MAGNITUDE_BITS] > a[:MAGNITUDE_BITS])
    large = _operand(m, f"{name}_large", _wire(m, f"{name}_large", Mux(swap, b, a)))
    small = _operand(m, f"{name}_small", _wire(m, f"{name}_small", Mux(swap, a, b)))
    exponent = _wire(m, f"{name}_exponent", large.effective_exponent)
    extended = SIGNIFICAND_BITS + ALIGN_EXTRA_BITS  # 14: significand, guard, round, sticky
    # align the smaller significand: shift right by the exponent difference (from 15 on, every bit is in the
    # sticky part: clamped there); the bits shifted out OR into the sticky (lowest) bit
    difference = _wire(m, f"{name}_difference", exponent - small.effective_exponent)  # in [0, 30]
    distance = _wire(m, f"{name}_distance", Mux(difference[4:].any(), extended + 1, difference[:4]))
    aligned = shift_right(
        m, f"{name}_align", Cat(Const(0, extended + ALIGN_EXTRA_BITS), small.significand), distance
    )
    small_grs = Cat(aligned[extended] | aligned[:extended].any(), aligned[extended + 1 :])
    # one adder: |large| + |small|, or for unlike signs |large| + ~|small| + 1 = |large| - |small| + 2**14,
    # the carry-in taking the constant-zero LSB of the larger operand, and bit 14 (then always set, as
    # |large| >= |small|) cleared afterwards
    subtract = _wire(m, f"{name}_subtract", large.sign ^ small.sign)
    large_grs = Cat(subtract, Const(0, ALIGN_EXTRA_BITS - 1), large.significand)
    raw = _wire(m, f"{name}_raw", large_grs + (small_grs ^ subtract.replicate(extended)))  # 15 bits
    total = Cat(raw[:extended], _wire(m, f"{name}_carry", raw[extended] & ~subtract))
    sign = Mux(total.any(), large.sign, _zero_sum_sign(a, b))
    finite = round_and_pack(m, name, sign, total, exponent)  # bit 14 has the biased exponent of large + 1
    nan = nan_a | nan_b | (inf_a & inf_b & (a[MAGNITUDE_BITS] ^ b[MAGNITUDE_BITS]))
    infinite = Cat(Const(POSITIVE_INFINITY, MAGNITUDE_BITS), Mux(inf_a, a[MAGNITUDE_BITS], b[MAGNITUDE_BITS]))
    return _wire(m, name, Mux(nan, CANONICAL_NAN, Mux(inf_a | inf_b, infinite, finite)))


def _zero_sum_sign(a: Value, b: Value) -> Value:
    """The sign of an exact zero sum ``a + b`` under round to nearest: ``-0`` only for ``-0 + -0``."""
    return a[MAGNITUDE_BITS] & b[MAGNITUDE_BITS]


class _BinaryUnit(wiring.Component):
    _OPERATION: staticmethod  # set by the subclasses

    def __init__(self) -> None:
        super().__init__({"a": In(FP16_BITS), "b": In(FP16_BITS), "y": Out(FP16_BITS)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.y.eq(self._OPERATION(m, self.a, self.b, "result"))
        return m


class Fp16Multiplier(_BinaryUnit):
    """One combinational binary16 multiplier, ``y = a * b`` (see the module docstring).

    Members
    -------
    a, b : ``In(16)``
        The operands, binary16 bit patterns.
    y : ``Out(16)``
        The product, rounded to nearest even; NaN results are ``0x7E00``.
    """

    _OPERATION = staticmethod(fp16_multiply)


class Fp16Adder(_BinaryUnit):
    """One combinational binary16 adder, ``y = a + b`` (see the module docstring).

    Members
    -------
    a, b : ``In(16)``
        The operands, binary16 bit patterns.
    y : ``Out(16)``
        The sum, rounded to nearest even; NaN results are ``0x7E00``.
    """

    _OPERATION = staticmethod(fp16_add)


def unit_instance(m: Module, unit: type[_BinaryUnit], a: Value, b: Value, name: str) -> Signal:
    """Add ``unit`` (:class:`Fp16Multiplier` or :class:`Fp16Adder`) as submodule ``u_<name>`` of ``m`` on
    operands ``a`` and ``b``; returns its result as the 16-bit signal ``name``."""
    instance = unit()
    m.submodules[f"u_{name}"] = instance
    m.d.comb += [instance.a.eq(a), instance.b.eq(b)]
    return _wire(m, name, instance.y)


def multiplier(m: Module, a: Value, b: Value, name: str, *, unit_modules: bool) -> Signal:
    """A binary16 multiplier ``name = a * b``: inline (:func:`fp16_multiply`) or, with ``unit_modules``, a
    :class:`Fp16Multiplier` submodule (the same logic, one Verilog module per unit: synthesis then maps unit
    by unit, which ABC does far faster than one flat array)."""
    if unit_modules:
        return unit_instance(m, Fp16Multiplier, a, b, name)
    return fp16_multiply(m, a, b, name)


def adder(m: Module, a: Value, b: Value, name: str, *, unit_modules: bool) -> Signal:
    """A binary16 adder ``name = a + b``: inline (:func:`fp16_add`) or an :class:`Fp16Adder` submodule."""
    if unit_modules:
        return unit_instance(m, Fp16Adder, a, b, name)
    return fp16_add(m, a, b, name)


def adder_tree(
    builder: PipelinedTreeBuilder, leaves: Sequence[Value], prefix: str, *, unit_modules: bool = False
) -> Value:
    """The pipelined binary16 adder tree over the level-0 ``leaves``; returns its root.

    The pairing and the register placement are those of the integer trees
    (:meth:`hw.tree.PipelinedTreeBuilder.reduce`, here with binary16 :func:`adder` nodes): node ``j`` of
    level ``k`` is ``<prefix>_l<k>_<j> = node[k-1][2j] + node[k-1][2j+1]``, an odd last node passes
    through, and a registered level registers every live node (``<name>_q``, 16 bits).

    Parameters
    ----------
    builder : PipelinedTreeBuilder
        The array's tree builder (its module, register levels and stage enables).
    leaves : sequence of Value
        The 16-bit products, already through :meth:`~hw.tree.PipelinedTreeBuilder.stage` for level 0.
    prefix : str
        The prefix of the node names.
    unit_modules : bool
        Build every adder as a submodule (see :func:`adder`).
    """

    def combine(name: str, a: Value, b: Value) -> Value:
        return builder.add_node(name, adder(builder.module, a, b, name, unit_modules=unit_modules))

    root, _ = builder.reduce(leaves, prefix, combine=combine)
    return root
