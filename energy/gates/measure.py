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
from pathlib import Path

import numpy as np

from energy.gates.activity import Activity, read_toggles
from energy.gates.cells import cell_models
from energy.gates.circuit import Circuit
from energy.gates.equivalence import NOT_REQUESTED, EquivalenceSettings, Verdict, check_equivalence
from energy.gates.gatesim import GateSimulator, simulate_prepared
from energy.gates.liberty import read_library
from energy.gates.model_operands import ModelSource, model_operands
from energy.gates.netlist import read_netlist
from energy.gates.power import EnergyReport, EnergySettings, gate_energy, toggle_rate
from energy.gates.realistic import check_zero, realistic_operands, weight_zero_fraction
from energy.gates.synth import FlowSettings, SynthResult, synthesize
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
) -> GateMeasurement:
    """Synthesize, simulate (bit-exact checked) and price one array; see the module docstring.

    ``engine`` chooses the gate-level simulator (:data:`ENGINES`); ``zero`` is ``"gaussian"`` or a weight
    zero fraction in [0, 1) (:mod:`energy.gates.realistic`); ``operands`` a
    :class:`energy.gates.model_operands.ModelSource` takes the operands from a trained model instead.
    ``equivalence`` settings prove the netlist equivalent to its RTL first (cached with the synthesis; not
    checked when ``None``).
    """
    _check_request(engine, beats, zero, operands)
    settings = settings or EnergySettings()
    flow = flow or FlowSettings()
    top = params.default_name()
    started = time.perf_counter()
    # the FP16 array's units as submodules: ABC maps them one by one (see energy.gates.synth)
    verilog = verilog_for(params, name=top, unit_modules=True)
    seconds = {"generation": time.perf_counter() - started}
    started = time.perf_counter()
    result = synthesize(verilog, top, pdk=pdk, settings=flow)
    circuit = Circuit(read_netlist(result.netlist, top), read_library(flow.cells, pdk))
    seconds |= {"synthesis": result.seconds, "synthesis_call": time.perf_counter() - started}
    verdict = Verdict("not checked", NOT_REQUESTED)
    if equivalence is not None:
        verdict = check_equivalence(result, equivalence)
        seconds["equivalence"] = verdict.seconds
    started = time.perf_counter()
    if engine == "numpy":
        data = _operands(params, beats, zero, seed, operands)
        window, activity, cycles = _simulate_numpy(params, circuit, data, settings)
    else:
        window, activity, cycles = _simulate_cocotb(params, result, circuit, beats, zero, seed)
    seconds["simulation"] = time.perf_counter() - started
    window["engine"] = engine
    window["operands"] = (
        operands.describe() if isinstance(operands, ModelSource) else f"gaussian, zero {zero}"
    )
    window["toggle_rate"] = toggle_rate(circuit, activity, cycles)
    started = time.perf_counter()
    energy = gate_energy(circuit, activity, window["macs"], cycles, settings)
    critical = critical_path_ps(circuit, settings.slew_ps)
    buffered = critical_path_ps(circuit, settings.slew_ps, DEFAULT_MAX_FANOUT)
    seconds["pricing"] = time.perf_counter() - started
    return GateMeasurement(params.as_dict(), result, energy, window, critical, seconds, buffered, verdict)


def _operands(
    params: ArrayParams, beats: int, zero: str, seed: int, operands: str | ModelSource
) -> tuple[np.ndarray, np.ndarray]:
    """Activations ``(T, K)`` and weights ``(M, K)`` for a window of ``beats`` beats."""
    rng = np.random.default_rng(seed)
    if isinstance(operands, ModelSource):
        return model_operands(params, operands, rng, beats)
    return realistic_operands(params, rng, beats, zero)


def _simulate_numpy(
    params: ArrayParams, circuit: Circuit, data: tuple[np.ndarray, np.ndarray], settings: EnergySettings
) -> tuple[dict, Activity, int]:
    prepared = prepare_layer(params, *data)
    run = simulate_prepared(GateSimulator(circuit), prepared, clock_ps=settings.clock_ps)
    beat = prepared.stimulus.kind == Op.BEAT
    window = {
        "beats": run.beats,
        "macs": run.beats * params.macs_per_beat,
        "outputs": run.outputs,
        "cycles": run.cycles,
        "zero_fraction": weight_zero_fraction(params, prepared.stimulus),
        "activation_zero_fraction": float(np.mean(prepared.stimulus.act[beat] == 0)),
    }
    return window, run.activity, run.cycles


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
