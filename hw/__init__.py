"""Amaranth HDL generators of the BitNet b1.58 MAC arrays.

Modules
-------
:mod:`hw.params`
    :class:`~hw.params.ArrayParams`: the parameters (the one list of them, with their command-line
    metadata), accumulator width, pipeline placement and latency.
:mod:`hw.layout`
    The port bit layouts (Amaranth layouts and signature) and the host-side pack / unpack helpers.
:mod:`hw.tree`
    Pipelined adder trees with range-derived node widths; the pairing and register placement that every
    array's trees share.
:mod:`hw.fp16`
    IEEE binary16 multiplier and adder units (and their components) and the binary16 adder tree.
:mod:`hw.arrays`
    :class:`~hw.arrays.TernaryMacArray` and the baselines :class:`~hw.arrays.Int8MacArray` and
    :class:`~hw.arrays.Fp16MacArray`.
:mod:`hw.integration`
    The integration notes of the Verilog header: weight codes, reset and power-up, handshake and
    backpressure, latency counting, the longest reduction and its padding.
:mod:`hw.generate`
    ``python -m hw.generate``, :func:`~hw.generate.generate_verilog` and the array options shared by every
    CLI (:func:`~hw.generate.add_array_arguments`).

The Verilator lint with its documented waivers lives in :mod:`sim.lint`.
"""
