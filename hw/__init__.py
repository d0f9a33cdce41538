"""Amaranth HDL generators of the BitNet b1.58 MAC arrays.

Modules
-------
:mod:`hw.params`
    :class:`~hw.params.ArrayParams`: the parameters, accumulator width, pipeline placement and latency.
:mod:`hw.layout`
    The port bit layouts (Amaranth layouts and signature) and the host-side pack / unpack helpers.
:mod:`hw.tree`
    Pipelined adder trees with range-derived node widths.
:mod:`hw.arrays`
    :class:`~hw.arrays.TernaryMacArray` and the int8 baseline :class:`~hw.arrays.Int8MacArray`.
:mod:`hw.generate`
    ``python -m hw.generate`` and :func:`~hw.generate.generate_verilog`.
:mod:`hw.lint`
    ``verilator --lint-only -Wall`` with the documented waivers.
"""
