"""Deliberately broken arrays, to prove that the testbenches and the proofs catch real design errors.

:func:`sign_error_verilog` wraps a correct array in a component with the same ports that negates the
activation of one lane before it reaches the array: the kind of sign error a hand-written tree might have.
Tests simulate it and require a mismatch report. :func:`silent_verilog` never presents an output: the
drivers must time out and say so. The proofs (:mod:`sim.prove`) must fail on three mutants:
:func:`sign_error_in_one_lane`, :func:`narrow_accumulator` (one accumulator bit fewer than the formula) and
:func:`ready_ignores_backpressure`.
"""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.hdl import Module, ResetSignal, Signal, Value, signed
from amaranth.lib import wiring

from hw.arrays import ARRAY_CLASSES, MacArray, build_array
from hw.layout import array_signature
from hw.params import ArrayParams


class BrokenArray(wiring.Component):
    """A correct array inside a component with the same ports, connected straight through except where a
    subclass breaks it: :meth:`connect_input` (``i_stream``) and :meth:`connect_output` (``o_stream``).

    Members
    -------
    array : the correct array inside (its ``nodes`` are the design's state).
    """

    def __init__(self, params: ArrayParams):
        self.params = params
        self.array = build_array(params)
        super().__init__(array_signature(params))

    def connect_input(self, m: Module, array: MacArray) -> None:
        wiring.connect(m, wiring.flipped(self.i_stream), array.i_stream)

    def connect_output(self, m: Module, array: MacArray) -> None:
        wiring.connect(m, array.o_stream, wiring.flipped(self.o_stream))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.array = array = self.array
        self.connect_input(m, array)
        if self.params.dataflow == "stationary":
            wiring.connect(m, wiring.flipped(self.w_stream), array.w_stream)
        self.connect_output(m, array)
        return m


class SignErrorInOneLane(BrokenArray):
    """The array ``params`` describes, except that lane ``lane``'s activation is negated on the way in."""

    def __init__(self, params: ArrayParams, lane: int):
        if not 0 <= lane < params.lanes:
            raise ValueError(f"lane must be in [0, {params.lanes - 1}], got {lane}")
        self.lane = lane
        super().__init__(params)

    def connect_input(self, m: Module, array: MacArray) -> None:
        m.d.comb += [
            array.i_stream.valid.eq(self.i_stream.valid),
            self.i_stream.ready.eq(array.i_stream.ready),
            array.i_stream.payload.eq(self.i_stream.payload),
            array.i_stream.payload.act[self.lane].eq(-self.i_stream.payload.act[self.lane]),
        ]


class ReadyIgnoresBackpressure(BrokenArray):
    """The array ``params`` describes, except that ``i_stream.ready`` is high whenever reset is low: beats
    offered while the array stalls (its output backpressured) are taken and lost."""

    def connect_input(self, m: Module, array: MacArray) -> None:
        m.d.comb += [
            array.i_stream.valid.eq(self.i_stream.valid),
            array.i_stream.payload.eq(self.i_stream.payload),
            self.i_stream.ready.eq(~ResetSignal()),
        ]


class SilentArray(BrokenArray):
    """The array ``params`` describes, except that its output is never valid: a design that takes every
    beat and never answers, for the time-out paths of the drivers."""

    def connect_output(self, m: Module, array: MacArray) -> None:
        m.d.comb += [
            self.o_stream.payload.eq(array.o_stream.payload),
            self.o_stream.valid.eq(0),
            array.o_stream.ready.eq(self.o_stream.ready),
        ]


def narrow_accumulator(params: ArrayParams) -> MacArray:
    """The array ``params`` describes with accumulators one bit narrower than
    :attr:`~hw.params.ArrayParams.acc_width` (the formula's width): a long enough reduction wraps. Built
    through the arrays' accumulator hooks (:meth:`~hw.arrays.MacArray._accumulator`,
    :meth:`~hw.arrays.MacArray._accumulate`); integer arrays only."""
    if params.is_float:
        raise ValueError(f"narrow_accumulator: the {params.array} array has no integer accumulator")
    base = ARRAY_CLASSES[params.array]

    class NarrowAccumulator(base):
        def _accumulator(self, row: int) -> Signal:
            return Signal(signed(self.params.acc_width - 1), name=f"r{row}_acc")

        def _accumulate(self, m: Module, row: int, acc: Signal, root: Value) -> Value:
            return (acc + root)[: self.params.acc_width - 1].as_signed()

    return NarrowAccumulator.from_params(params)


def sign_error_in_one_lane(params: ArrayParams) -> SignErrorInOneLane:
    """:class:`SignErrorInOneLane` at lane 0."""
    return SignErrorInOneLane(params, 0)


def ready_ignores_backpressure(params: ArrayParams) -> ReadyIgnoresBackpressure:
    """:class:`ReadyIgnoresBackpressure`."""
    return ReadyIgnoresBackpressure(params)


def sign_error_verilog(params: ArrayParams, lane: int = 0) -> str:
    """Verilog of :class:`SignErrorInOneLane`, with the module name the correct array would have."""
    return verilog.convert(SignErrorInOneLane(params, lane), name=params.default_name(), emit_src=False)


def silent_verilog(params: ArrayParams) -> str:
    """Verilog of :class:`SilentArray`, with the module name the correct array would have."""
    return verilog.convert(SilentArray(params), name=params.default_name(), emit_src=False)
