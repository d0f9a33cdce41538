"""cocotb test that drives realistic data through an array (RTL or gate-level netlist) for activity studies.

The operands are those of :mod:`energy.gates.realistic` (Gaussian data through the model's quantizers; a zero
fraction for sweeps, ``BITNET_ACTIVITY_ZERO``). The array runs at full throughput (no idle cycles, no
backpressure) and every output is still checked against the golden model, so a netlist under study is
also proven bit-exact. The simulation times that bound the measured window go to ``activity.json`` in the
run folder (:func:`sim.settings.write_report`).

Settings: :class:`sim.settings.RunSettings` (array, seed) and :class:`sim.settings.ActivitySettings` (beats
in the window; weight zeros: ``gaussian``, about 31% zeros once ternary, or a fraction in [0, 1)).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time

from energy.gates.realistic import realistic_operands, weight_zero_fraction
from sim.bench import run_prepared, start_array
from sim.scheduler import prepare_layer
from sim.settings import ActivitySettings, RunSettings, write_report

#: Clock period of the simulation (ns); the energy model takes its own period for leakage.
CLOCK_NS = 10


@cocotb.test()
async def test_activity(dut):
    """Realistic data at full throughput, checked against the model; reports the measured window."""
    settings = RunSettings.from_environment()
    window = ActivitySettings.from_environment()
    params, seed = settings.params, settings.seed
    await start_array(dut, CLOCK_NS)
    operands = realistic_operands(params, np.random.default_rng(seed), window.beats, window.zero)
    prepared = prepare_layer(params, *operands)
    start_ps = get_sim_time("ps")
    result = await run_prepared(dut, prepared, seed=seed, config=params.default_name())
    end_ps = get_sim_time("ps")
    report = {
        "start_ps": start_ps,
        "end_ps": end_ps,
        "clock_ps": CLOCK_NS * 1000,
        "beats": result.beats,
        "macs": result.beats * params.macs_per_beat,
        "outputs": result.outputs,
        "zero_fraction": weight_zero_fraction(params, prepared.stimulus),
    }
    write_report(settings, "activity", report)
    dut._log.info("activity: %s", report)
