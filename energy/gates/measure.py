"""One gate-level measurement of a generated array: synthesize, simulate bit-exact, price, time.

:func:`measure_array` synthesizes the array (:mod:`energy.gates.synth`), simulates the mapped netlist on
realistic data (:mod:`energy.gates.realistic`) while checking every output against the golden model,
counts the toggles of every net, prices them with the library's own tables (:mod:`energy.gates.power`)
and estimates the critical path (:mod:`energy.gates.timing`). Two gate-level simulators give the same
toggles (a test compares them): :mod:`energy.gates.gatesim`, a levelized NumPy cycle simulator (the
default: no compilation, seconds for 100,000 cells), and cocotb + Verilator on cell models made from the
liberty (:mod:`energy.gates.tb_activity`, :mod:`energy.gates.activity` reading its VCD; minutes of C++
compilation per 10,000 cells). The netlist is read, and its loads and levels computed, once
(:class:`energy.gates.circuit.Circuit`); the liberty is parsed once per process
(:func:`energy.gates.liberty.read_library`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from energy.gates.activity import Activity, read_toggles
from energy.gates.blocks import cell_blocks, flop_registers
from energy.gates.cells import cell_models
from energy.gates.circuit import Circuit
from energy.gates.equivalence import NOT_REQUESTED, EquivalenceSettings, Verdict, check_equivalence
from energy.gates.gatesim import GateSimulator, simulate_prepared
from energy.gates.liberty import read_library
from energy.gates.model_operands import ModelSource, model_operands
from energy.gates.netlist import read_netlist
from energy.gates.parasitics import CLOCK_BUFFERS, ClockTree, WireLoad, add_clock_tree, clock_tree, wire_loads
from energy.gates.physics import PhysicsSettings
from energy.gates.power import EnergyReport, EnergySettings, gate_energy, nominal_voltage, toggle_rate
from energy.gates.realistic import check_zero, realistic_operands, weight_zero_fraction
from energy.gates.synth import FlowSettings, SynthResult, synthesize
from energy.gates.timed import TimedSimulator
from energy.gates.timing import DEFAULT_MAX_FANOUT, critical_path_ps
from hw.generate import verilog_for
from hw.params import ArrayParams
from sim.runner import run_array
from sim.scheduler import prepare_layer
from sim.settings import ActivitySettings
from sim.stimulus import Op

#: How the mapped netlist is simulated for activity: :mod:`energy.gates.gatesim` (NumPy, no compilation;
#: the default) or cocotb + Verilator on the cell models of :mod:`energy.gates.cells` with a VCD (minutes
#: of C++ compilation per 10,000 cells; both check every output against the golden model).
ENGINES = ("numpy", "cocotb")
#: Beats in the measured window unless told otherwise.
DEFAULT_BEATS = ActivitySettings().beats


@dataclass
class GateMeasurement:
    """Everything one measurement produced; ``seconds`` times each step: ``generation`` (the Verilog),
    ``synthesis`` (as first run: the cache keeps it), ``synthesis_call`` (this call's, with the netlist read),
    ``simulation``, ``pricing``."""

    params: dict
    synth: SynthResult
    energy: EnergyReport
    activity: dict
    critical_path_ps: float
    seconds: dict = field(default_factory=dict)
    #: The critical path with the nets of more than :data:`energy.gates.timing.DEFAULT_MAX_FANOUT` pins
    #: driven through modelled buffer trees (:func:`energy.gates.timing.critical_path_ps`).
    buffered_path_ps: float | None = None
    #: Whether the priced netlist is proven equivalent to its RTL (:mod:`energy.gates.equivalence`).
    equivalence: Verdict = field(default_factory=lambda: Verdict("not checked", NOT_REQUESTED))
    #: The activity mode and parasitics measured (:mod:`energy.gates.physics`).
    physics: PhysicsSettings = field(default_factory=PhysicsSettings)
    #: In the timing mode: the same run priced on its settled values only (the zero-delay count), with
    #: the same parasitics; ``None`` in the zero-delay mode (``energy`` is that figure).
    settled_energy: EnergyReport | None = None
    #: The modelled clock tree, when priced.
    clock_tree: ClockTree | None = None


def _check_request(engine: str, beats: int, zero: str, operands: str | ModelSource) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(beats, int) or beats < 1:
        raise ValueError(f"beats must be a positive integer, got {beats!r}")
    check_zero(zero)
    if isinstance(operands, ModelSource):
        if zero != "gaussian":
            raise ValueError(f"zero={zero!r} applies to Gaussian operands, not to a model's")
        if engine != "numpy":
            raise ValueError("operands: a model's operands are simulated by the numpy engine only")
    elif operands != "gaussian":
        raise ValueError(
            f"operands must be 'gaussian' or an energy.gates.model_operands.ModelSource, got {operands!r}"
        )


def measure_array(
    params: ArrayParams,
    *,
    pdk: str | Path | None = None,
    beats: int = DEFAULT_BEATS,
    zero: str = "gaussian",
    seed: int = 1,
    settings: EnergySettings | None = None,
    flow: FlowSettings | None = None,
    engine: str = "numpy",
    operands: str | ModelSource = "gaussian",
    equivalence: EquivalenceSettings | None = None,
    physics: PhysicsSettings | None = None,
) -> GateMeasurement:
    """Synthesize, simulate (bit-exact checked) and price one array; see the module docstring.

    ``engine`` chooses the gate-level simulator (:data:`ENGINES`); ``zero`` is ``"gaussian"`` or a weight
    zero fraction in [0, 1) (:mod:`energy.gates.realistic`); ``operands`` a
    :class:`energy.gates.model_operands.ModelSource` takes the operands from a trained model instead.
    ``equivalence`` settings prove the netlist equivalent to its RTL first (cached with the synthesis; not
    checked when ``None``). ``physics`` chooses the activity mode (zero-delay or timing-aware) and the
    modelled wires and clock tree (:mod:`energy.gates.physics`; default: zero-delay, neither).
    """
    physics = physics or PhysicsSettings()
    _check_request(engine, beats, zero, operands)
    if engine != "numpy" and physics.activity != "zero-delay":
        raise ValueError(f"activity={physics.activity!r} is simulated by the numpy engine only")
    settings = settings or EnergySettings()
    flow = flow or FlowSettings()
    top = params.default_name()
    started = time.perf_counter()
    # the FP16 array's units as submodules: ABC maps them one by one (see energy.gates.synth)
    verilog = verilog_for(params, name=top, unit_modules=True)
    seconds = {"generation": time.perf_counter() - started}
    started = time.perf_counter()
    result = synthesize(verilog, top, pdk=pdk, settings=flow)
    circuit, tree = _circuit(result, top, flow, pdk, physics, settings)
    seconds |= {"synthesis": result.seconds, "synthesis_call": time.perf_counter() - started}
    verdict = Verdict("not checked", NOT_REQUESTED)
    if equivalence is not None:
        verdict = check_equivalence(result, equivalence)
        seconds["equivalence"] = verdict.seconds
    started = time.perf_counter()
    settled = None
    if engine == "numpy":
        data = _operands(params, beats, zero, seed, operands)
        simulator = _simulator(circuit, physics, settings, tree)
        window, activity, settled, cycles = _simulate_numpy(params, simulator, data, settings)
    else:
        window, activity, cycles = _simulate_cocotb(params, result, circuit, beats, zero, seed)
    seconds["simulation"] = time.perf_counter() - started
    window["engine"] = engine
    window["activity"] = physics.label
    window["operands"] = (
        operands.describe() if isinstance(operands, ModelSource) else f"gaussian, zero {zero}"
    )
    window["toggle_rate"] = toggle_rate(circuit, activity, cycles)
    started = time.perf_counter()
    blocks = cell_blocks(circuit, params, flop_registers(result.netlist, top))
    price = partial(_price, circuit, window["macs"], cycles, settings, blocks, tree)
    energy = price(activity)
    settled_energy = price(settled) if physics.activity == "timing" else None
    if settled_energy is not None:
        window["glitch_share"] = glitch_share(circuit, activity, settled)
    critical = critical_path_ps(circuit, settings.slew_ps)
    buffered = critical_path_ps(circuit, settings.slew_ps, DEFAULT_MAX_FANOUT)
    seconds["pricing"] = time.perf_counter() - started
    return GateMeasurement(
        params.as_dict(),
        result,
        energy,
        window,
        critical,
        seconds,
        buffered,
        verdict,
        physics=physics,
        settled_energy=settled_energy,
        clock_tree=tree,
    )


def _circuit(
    result: SynthResult,
    top: str,
    flow: FlowSettings,
    pdk: str | Path | None,
    physics: PhysicsSettings,
    settings: EnergySettings,
) -> tuple[Circuit, ClockTree | None]:
    """The netlist with its cells (and the clock buffers when the tree is priced), its modelled wires
    added to the loads when asked, and the modelled clock tree."""
    cells = (*flow.cells, *CLOCK_BUFFERS) if physics.clock_tree else flow.cells
    library = read_library(cells, pdk)
    circuit = Circuit(read_netlist(result.netlist, top), library)
    wires = WireLoad() if physics.wire_load else None
    if wires is not None:
        circuit = Circuit(circuit.netlist, library, wire_loads(circuit, wires))
    tree = clock_tree(circuit, library, slew_ps=settings.slew_ps, wires=wires) if physics.clock_tree else None
    return circuit, tree


def _simulator(
    circuit: Circuit, physics: PhysicsSettings, settings: EnergySettings, tree: ClockTree | None
) -> GateSimulator:
    if physics.activity == "zero-delay":
        return GateSimulator(circuit)
    clock_slew = tree.leaf_slew_ps if tree is not None else settings.slew_ps
    flops = circuit.flops
    return TimedSimulator(
        circuit,
        input_slew_ps=settings.slew_ps,
        clock_slew_ps=clock_slew,
        port_driver=flops[0][1] if flops else None,  # the inputs come from registers like the array's
    )


def _price(
    circuit: Circuit,
    macs: int,
    cycles: int,
    settings: EnergySettings,
    blocks: dict[str, str],
    tree: ClockTree | None,
    activity: Activity,
) -> EnergyReport:
    """The toggles of ``activity`` priced, the clock tree's energy added when modelled."""
    report = gate_energy(circuit, activity, macs, cycles, settings, blocks)
    if tree is not None:
        add_clock_tree(report, tree, cycles, nominal_voltage(circuit.library), settings.clock_ps)
        tree_fj = report.details["clock_tree"] + report.details["clock_tree_leakage"]
        report.by_block["clock"] = report.by_block.get("clock", 0.0) + tree_fj
    return report


def glitch_share(circuit: Circuit, activity: Activity, settled: Activity) -> float:
    """Of the cell-driven nets' transitions, the share that are glitches (beyond the settled changes)."""
    driven = circuit.driver
    total = sum(count for net, count in activity.toggles.items() if circuit.netlist.canonical(net) in driven)
    kept = sum(count for net, count in settled.toggles.items() if circuit.netlist.canonical(net) in driven)
    return (total - kept) / total if total else 0.0


def _operands(
    params: ArrayParams, beats: int, zero: str, seed: int, operands: str | ModelSource
) -> tuple[np.ndarray, np.ndarray]:
    """Activations ``(T, K)`` and weights ``(M, K)`` for a window of ``beats`` beats."""
    rng = np.random.default_rng(seed)
    if isinstance(operands, ModelSource):
        return model_operands(params, operands, rng, beats)
    return realistic_operands(params, rng, beats, zero)


def _simulate_numpy(
    params: ArrayParams,
    simulator: GateSimulator,
    data: tuple[np.ndarray, np.ndarray],
    settings: EnergySettings,
) -> tuple[dict, Activity, Activity, int]:
    prepared = prepare_layer(params, *data)
    run = simulate_prepared(simulator, prepared, clock_ps=settings.clock_ps)
    beat = prepared.stimulus.kind == Op.BEAT
    window = {
        "beats": run.beats,
        "macs": run.beats * params.macs_per_beat,
        "outputs": run.outputs,
        "cycles": run.cycles,
        "zero_fraction": weight_zero_fraction(params, prepared.stimulus),
        "activation_zero_fraction": float(np.mean(prepared.stimulus.act[beat] == 0)),
    }
    return window, run.activity, run.settled_activity, run.cycles


def _simulate_cocotb(
    params: ArrayParams, result: SynthResult, circuit: Circuit, beats: int, zero: str, seed: int
) -> tuple[dict, Activity, int]:
    top = params.default_name()
    netlist_text = result.netlist.read_text()
    used = {instance.split()[0] for instance in re.findall(r"^\s*(\w+_ASAP7_75t_R)\s", netlist_text, re.M)}
    report = run_array(
        params,
        tests=["test_activity"],
        seed=seed,
        verilog=netlist_text + "\n" + cell_models(circuit.library, used),
        run_name=f"gates-{zero}-{beats}",
        waves=True,
        extra_build_args=("--trace-underscore",),
        extra_env=ActivitySettings(beats=beats, zero=zero).environment(),
        test_module="energy.gates.tb_activity",
    )
    window = dict(report.reports["activity"])
    activity = read_toggles(report.directory / "dump.vcd", top, window["start_ps"], window["end_ps"])
    cycles = round((window["end_ps"] - window["start_ps"]) / window["clock_ps"])
    window["cycles"] = cycles
    return window, activity, cycles
