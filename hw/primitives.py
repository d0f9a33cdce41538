"""The arithmetic primitives of the per-op energy table, as registered units for the gate-level flow.

The 71.4x of BitNet b1.58 is computed from a table of per-operation energies (INT8 add, FP16 multiply, ...;
Jouppi et al., ISCA 2021, at 7nm). :class:`RegisteredPrimitive` builds each priced operation as the flow
measures everything else: operands registered at the inputs, the operation's combinational logic, the
result registered at the output::

    a, b -> a_q, b_q (flip-flops) -> op -> y (flip-flops)

so that :mod:`energy.gates` prices the same kind of circuit the table's numbers stand for, and reports the
datapath (the combinational logic) apart from the registers.

Operations (:data:`PRIMITIVES`): ``int8_add`` (signed 8 + 8 -> 9 bits, exact), ``int8_mul`` (signed 8 x 8
-> 16 bits, exact), ``int32_add`` (32 + 32 -> 32 bits, modulo ``2**32``, as a 32-bit adder), ``fp16_add``
and ``fp16_mul`` (IEEE binary16, the units of :mod:`hw.fp16`, round to nearest even).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp16 import fp16_add, fp16_multiply
from model.fp16 import FP16_BITS


@dataclass(frozen=True)
class Primitive:
    """One priced operation: the operand and result widths, whether they are binary16 bit patterns, and the
    ops-table row ``(op, dtype)`` it stands for (:mod:`energy.tables`)."""

    operand_bits: int
    result_bits: int
    is_float: bool
    op: str
    dtype: str


#: The primitives of the per-op table, by name.
PRIMITIVES = {
    "int8_add": Primitive(8, 9, False, "add", "int8"),
    "int8_mul": Primitive(8, 16, False, "mul", "int8"),
    "int32_add": Primitive(32, 32, False, "add", "int32"),
    "fp16_add": Primitive(FP16_BITS, FP16_BITS, True, "add", "fp16"),
    "fp16_mul": Primitive(FP16_BITS, FP16_BITS, True, "mul", "fp16"),
}


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {type(name).__name__}")
    if name not in PRIMITIVES:
        raise ValueError(f"name must be one of {', '.join(PRIMITIVES)}; got {name!r}")
    return name


class RegisteredPrimitive(wiring.Component):
    """One primitive operation between input and output registers (see the module docstring).

    Parameters
    ----------
    name : str
        A key of :data:`PRIMITIVES`.

    Members
    -------
    a, b : ``In(operand_bits)``
        The operands (signed integers, or binary16 bit patterns), registered at every clock edge.
    y : ``Out(result_bits)``
        The result of the operands registered one edge earlier, itself a register: ``y`` at edge ``t + 2``
        is ``op(a, b)`` of edge ``t``.
    """

    def __new__(cls, name: str):
        _check_name(name)  # before the component exists: no unused elaboratable is left behind
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, name: str):
        self._name, spec = name, PRIMITIVES[_check_name(name)]
        self._spec = spec
        shape = unsigned(spec.operand_bits) if spec.is_float else signed(spec.operand_bits)
        result = unsigned(spec.result_bits) if spec.is_float else signed(spec.result_bits)
        super().__init__({"a": In(shape), "b": In(shape), "y": Out(result)})

    @property
    def spec(self) -> Primitive:
        return self._spec

    def elaborate(self, platform: object) -> Module:
        m = Module()
        a_q, b_q = Signal.like(self.a, name="a_q"), Signal.like(self.b, name="b_q")
        m.d.sync += [a_q.eq(self.a), b_q.eq(self.b)]
        if self._name == "fp16_add":
            result = fp16_add(m, a_q, b_q, "sum")
        elif self._name == "fp16_mul":
            result = fp16_multiply(m, a_q, b_q, "product")
        elif self._name == "int8_mul":
            result = a_q * b_q
        else:
            result = a_q + b_q
        m.d.sync += self.y.eq(result[: self._spec.result_bits])
        return m
