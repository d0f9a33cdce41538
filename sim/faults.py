"""Deliberately broken arrays, to prove that the testbench catches real design errors.

:func:`sign_error_verilog` wraps a correct array in a component with the same ports that negates the
activation of one lane before it reaches the array: the kind of sign error a hand-written tree might have.
Tests simulate it and require a mismatch report. :func:`silent_verilog` never presents an output: the
drivers must time out and say so.
"""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring

from hw.arrays import build_array
from hw.layout import array_signature
from hw.params import ArrayParams


class SignErrorInOneLane(wiring.Component):
    """The array ``params`` describes, except that lane ``lane``'s activation is negated on the way in."""

    def __init__(self, params: ArrayParams, lane: int):
        if not 0 <= lane < params.lanes:
            raise ValueError(f"lane must be in [0, {params.lanes - 1}], got {lane}")
        self._params, self._lane = params, lane
        super().__init__(array_signature(params))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.array = array = build_array(self._params)
        m.d.comb += [
            array.i_stream.valid.eq(self.i_stream.valid),
            self.i_stream.ready.eq(array.i_stream.ready),
            array.i_stream.payload.eq(self.i_stream.payload),
            array.i_stream.payload.act[self._lane].eq(-self.i_stream.payload.act[self._lane]),
        ]
        if self._params.dataflow == "stationary":
            wiring.connect(m, wiring.flipped(self.w_stream), array.w_stream)
        wiring.connect(m, array.o_stream, wiring.flipped(self.o_stream))
        return m


def sign_error_verilog(params: ArrayParams, lane: int = 0) -> str:
    """Verilog of :class:`SignErrorInOneLane`, with the module name the correct array would have."""
    return verilog.convert(SignErrorInOneLane(params, lane), name=params.default_name(), emit_src=False)


class SilentArray(wiring.Component):
    """The array ``params`` describes, except that its output is never valid: a design that takes every
    beat and never answers, for the time-out paths of the drivers."""

    def __init__(self, params: ArrayParams):
        self._params = params
        super().__init__(array_signature(params))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.array = array = build_array(self._params)
        wiring.connect(m, wiring.flipped(self.i_stream), array.i_stream)
        if self._params.dataflow == "stationary":
            wiring.connect(m, wiring.flipped(self.w_stream), array.w_stream)
        m.d.comb += [
            self.o_stream.payload.eq(array.o_stream.payload),
            self.o_stream.valid.eq(0),
            array.o_stream.ready.eq(self.o_stream.ready),
        ]
        return m


def silent_verilog(params: ArrayParams) -> str:
    """Verilog of :class:`SilentArray`, with the module name the correct array would have."""
    return verilog.convert(SilentArray(params), name=params.default_name(), emit_src=False)
