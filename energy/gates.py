"""Gate-level area and energy per MAC of a generated array, measured on ASAP7 cells.

``python -m energy.gates --array {ternary,int8,fp16} [array parameters]`` synthesizes the array
(:mod:`energy.synth`), simulates the mapped netlist on realistic data (:mod:`sim.realistic`) while checking
every output against the golden model, counts the toggles of every net and prices them with the library's
own tables. Two gate-level simulators give the same toggles (a test compares them): :mod:`energy.gatesim`,
a levelized NumPy cycle simulator (the default: no compilation, seconds for 100,000 cells), and cocotb +
Verilator on cell models made from the liberty (:mod:`sim.tb_activity`, :mod:`energy.activity` reading
its VCD; ``--engine cocotb``; minutes of C++ compilation per 10,000 cells). It prints the area, the
cells, and the energy per MAC split into combinational, sequential and leakage.

Modeling choices (each a parameter or a documented constant):

- **Internal energy of a cell output** per toggle of its net: the ``internal_power`` tables of that output
  pin, read at the input transition ``slew_ps`` (default 20 ps) and the net's load; rise and fall averaged
  (a toggle is a rise or a fall, half of each over a run); ``when`` conditions averaged; the arcs of the
  two ``related_pg_pin`` (VDD, VSS) summed; and, since a toggle count does not say which input caused it,
  the arcs of the different related input pins averaged.
- **Internal energy of input pins** (arcs without a related pin, e.g. a flip-flop's ``CLK`` and ``D``) per
  toggle of the input net, read at ``slew_ps``, with the same averaging and summing.
- **Switching energy** of a net per toggle: ``0.5 * C * V^2``, ``C`` the sum of the input-pin capacitances
  of its fanout (wire capacitance is not modeled: there is no placement), ``V`` the library's nominal
  voltage (0.7 V). Primary outputs drive no load.
- **Leakage**: the sum of the cells' state-independent ``leakage_power`` (pW), times the window's cycles at
  the clock period ``clock_ps`` (default 1000 ps, 1 GHz; the simulation's own clock is only a time base).
- **Split**: *sequential* is the flip-flops' internal energy (clock and data pins included), the switching
  of the clock net and of the nets the flip-flops drive; *combinational* is every other cell's internal
  energy and the switching of the nets they drive and of the input ports; *leakage* as above.
- **Per MAC**: the window's energy divided by the multiply-accumulates done in it (beats x lanes x rows).
- **Critical path** (:func:`critical_path_ps`): the longest register-to-register (or port) path through
  the liberty ``cell_rise``/``cell_fall`` tables at ``slew_ps`` and each net's load, with no slew
  propagation and no wire delay: an estimate, named as such in every report.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from energy.activity import Activity, read_toggles
from energy.liberty import Cell, Library, PdkError, read_library
from energy.netlist import Netlist, read_netlist
from energy.synth import FlowSettings, SynthResult, synthesize
from model.cli import OneLineErrorParser, fail, positive_int

DEFAULT_SLEW_PS = 20.0
DEFAULT_CLOCK_PS = 1000.0
DEFAULT_BEATS = 400
CLOCK_NET = "clk"


@dataclass(frozen=True)
class EnergySettings:
    slew_ps: float = DEFAULT_SLEW_PS
    clock_ps: float = DEFAULT_CLOCK_PS

    def __post_init__(self) -> None:
        if not self.slew_ps > 0 or not self.clock_ps > 0:
            raise ValueError("slew_ps and clock_ps must be positive")


def nominal_voltage(library: Library) -> float:
    header = next(iter(library.headers.values()))
    match = re.search(r"nom_voltage\s*:\s*([\d.]+)", header)
    if not match:
        raise PdkError("the liberty header has no nom_voltage")
    return float(match.group(1))


def _arc_energy(arcs: list, slew: float, load: float) -> float:
    """Sum over pg pins of the mean over ``when`` conditions of the mean of rise and fall energy (fJ)."""
    by_pg: dict[str | None, list[float]] = defaultdict(list)
    for arc in arcs:
        values = [table.at(slew, load) for table in (arc.rise, arc.fall) if table is not None]
        if values:
            by_pg[arc.pg_pin].append(sum(values) / 2 if len(values) == 2 else values[0] / 2)
    return sum(sum(v) / len(v) for v in by_pg.values())


def output_internal_fj(cell: Cell, pin: str, slew: float, load: float) -> float:
    """Internal energy (fJ) per toggle of output ``pin`` (see the module docstring)."""
    by_related: dict[str, list] = defaultdict(list)
    for arc in cell.power:
        if arc.pin == pin and arc.related_pin:
            by_related[arc.related_pin].append(arc)
    if not by_related:
        return 0.0
    return sum(_arc_energy(arcs, slew, load) for arcs in by_related.values()) / len(by_related)


def input_internal_fj(cell: Cell, pin: str, slew: float) -> float:
    """Internal energy (fJ) per toggle of input ``pin`` (arcs without a related pin)."""
    return _arc_energy([arc for arc in cell.power if arc.pin == pin and not arc.related_pin], slew, 0.0)


@dataclass
class EnergyReport:
    """Energy of a measured window in fJ, by category and by cell type, and per MAC in pJ."""

    combinational_fj: float
    sequential_fj: float
    leakage_fj: float
    macs: int
    by_cell: dict[str, float] = field(default_factory=dict)
    details: dict[str, float] = field(default_factory=dict)

    @property
    def total_fj(self) -> float:
        return self.combinational_fj + self.sequential_fj + self.leakage_fj

    def per_mac_pj(self) -> dict[str, float]:
        scale = 1e-3 / self.macs
        return {
            "combinational": self.combinational_fj * scale,
            "sequential": self.sequential_fj * scale,
            "leakage": self.leakage_fj * scale,
            "total": self.total_fj * scale,
        }


def _loads(netlist: Netlist, library: Library) -> tuple[dict[str, float], dict[str, tuple[str, Cell, str]]]:
    load: dict[str, float] = defaultdict(float)
    driver: dict[str, tuple[str, Cell, str]] = {}
    for instance in netlist.instances:
        cell = library.cell(instance.cell)
        for pin, net in instance.pins.items():
            info = cell.pins.get(pin)
            if info is None:
                continue
            if info.direction == "input":
                load[net] += info.capacitance
            else:
                driver[net] = (instance.name, cell, pin)
    return load, driver


def gate_energy(
    netlist: Netlist, library: Library, activity: Activity, macs: int, cycles: int, settings: EnergySettings
) -> EnergyReport:
    """Price the toggles of ``activity`` on ``netlist`` (see the module docstring for the model)."""
    if macs <= 0:
        raise ValueError("macs must be positive")
    voltage = nominal_voltage(library)
    load, driver = _loads(netlist, library)
    toggles: Counter = Counter()
    for name, count in activity.toggles.items():
        net = netlist.canonical(name)
        toggles[net] = max(toggles[net], count)
    combinational = sequential = 0.0
    by_cell: dict[str, float] = defaultdict(float)
    details: dict[str, float] = defaultdict(float)
    for net, count in toggles.items():
        switching = 0.5 * load.get(net, 0.0) * voltage**2 * count  # fF * V^2 = fJ
        source = driver.get(net)
        sequential_net = net == CLOCK_NET or (source is not None and source[1].sequential)
        if source is not None:
            _, cell, pin = source
            internal = output_internal_fj(cell, pin, settings.slew_ps, load.get(net, 0.0)) * count
            by_cell[cell.name] += internal
            details["internal_outputs"] += internal
        else:
            internal = 0.0
        details["switching"] += switching
        if sequential_net:
            sequential += switching + internal
        else:
            combinational += switching + internal
    for instance in netlist.instances:
        cell = library.cell(instance.cell)
        for pin, net in instance.pins.items():
            info = cell.pins.get(pin)
            if info is None or info.direction != "input" or not toggles.get(net):
                continue
            energy = input_internal_fj(cell, pin, settings.slew_ps) * toggles[net]
            if energy:
                by_cell[cell.name] += energy
                details["internal_inputs"] += energy
                if cell.sequential:
                    sequential += energy
                else:
                    combinational += energy
    leakage_w = sum(library.cell(i.cell).leakage_pw for i in netlist.instances) * 1e-12
    leakage = leakage_w * cycles * settings.clock_ps * 1e-12 * 1e15  # J -> fJ
    return EnergyReport(combinational, sequential, leakage, macs, dict(by_cell), dict(details))


def critical_path_ps(netlist: Netlist, library: Library, slew_ps: float = DEFAULT_SLEW_PS) -> float:
    """Longest path delay estimate (ps): see the module docstring (no slew propagation, no wires)."""
    load, driver = _loads(netlist, library)
    arrival: dict[str, float] = {net: 0.0 for net in netlist.inputs}
    pending = []
    for instance in netlist.instances:
        cell = library.cell(instance.cell)
        if cell.sequential:
            for pin in cell.outputs:
                net = instance.pins.get(pin)
                if net is not None:
                    arcs = [a for a in cell.timing if a.pin == pin and a.cell_rise is not None]
                    delay = max(
                        (
                            max(a.cell_rise.at(slew_ps, load[net]), a.cell_fall.at(slew_ps, load[net]))
                            for a in arcs
                        ),
                        default=0.0,
                    )
                    arrival[net] = delay
        else:
            pending.append((instance, cell))
    for instance, cell in pending:  # constants (tie cells) start at 0
        if not cell.inputs:
            for pin in cell.outputs:
                arrival[instance.pins[pin]] = 0.0
    remaining = [(i, c) for i, c in pending if c.inputs]
    while remaining:
        progressed = []
        for instance, cell in remaining:
            inputs = [instance.pins[p] for p in cell.inputs if p in instance.pins]
            if not all(net in arrival for net in inputs):
                progressed.append((instance, cell))
                continue
            for pin in cell.outputs:
                net = instance.pins.get(pin)
                if net is None:
                    continue
                best = 0.0
                for arc in cell.timing:
                    source = instance.pins.get(arc.related_pin)
                    if arc.pin != pin or source is None or arc.cell_rise is None:
                        continue
                    delay = max(arc.cell_rise.at(slew_ps, load[net]), arc.cell_fall.at(slew_ps, load[net]))
                    best = max(best, arrival[source] + delay)
                arrival[net] = best
        if len(progressed) == len(remaining):
            raise ValueError("the netlist has a combinational loop")
        remaining = progressed
    endpoints = [
        instance.pins.get("D") for instance in netlist.instances if library.cell(instance.cell).sequential
    ]
    endpoints += netlist.outputs
    return max((arrival.get(net, 0.0) for net in endpoints if net is not None), default=0.0)


#: How the mapped netlist is simulated for activity: :mod:`energy.gatesim` (NumPy, no compilation; the
#: default) or cocotb + Verilator on the cell models of :mod:`energy.cells` with a VCD (minutes of C++
#: compilation per 10,000 cells; both check every output against the golden model).
ENGINES = ("numpy", "cocotb")


@dataclass
class GateMeasurement:
    """Everything one measurement produced; ``seconds`` times each step (synthesis as first run)."""

    params: dict
    synth: SynthResult
    energy: EnergyReport
    activity: dict
    critical_path_ps: float
    seconds: dict = field(default_factory=dict)


def measure_array(
    params,
    *,
    pdk: str | Path | None = None,
    beats: int = DEFAULT_BEATS,
    zero: str = "gaussian",
    seed: int = 1,
    settings: EnergySettings | None = None,
    flow: FlowSettings | None = None,
    engine: str = "numpy",
) -> GateMeasurement:
    """Synthesize, simulate (bit-exact checked) and price one array; see the module docstring.

    ``engine`` chooses the gate-level simulator (:data:`ENGINES`); ``zero`` is ``"gaussian"`` or a weight
    zero fraction in [0, 1) (:mod:`sim.realistic`).
    """
    from hw.generate import verilog_for
    from sim.realistic import check_zero

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(beats, int) or beats < 1:
        raise ValueError(f"beats must be a positive integer, got {beats!r}")
    check_zero(zero)
    settings = settings or EnergySettings()
    flow = flow or FlowSettings()
    top = params.default_name()
    started = time.perf_counter()
    # the FP16 array's units as submodules: ABC maps them one by one (see energy.synth)
    result = synthesize(verilog_for(params, name=top, unit_modules=True), top, pdk=pdk, settings=flow)
    library = read_library(flow.cells, pdk)
    netlist = read_netlist(result.netlist, top)
    seconds = {"synthesis": result.seconds, "synthesis_call": time.perf_counter() - started}
    started = time.perf_counter()
    if engine == "numpy":
        window, activity, cycles = _simulate_numpy(params, netlist, library, beats, zero, seed, settings)
    else:
        window, activity, cycles = _simulate_cocotb(params, result, library, beats, zero, seed)
    seconds["simulation"] = time.perf_counter() - started
    window["engine"] = engine
    started = time.perf_counter()
    energy = gate_energy(netlist, library, activity, window["macs"], cycles, settings)
    critical = critical_path_ps(netlist, library, settings.slew_ps)
    seconds["pricing"] = time.perf_counter() - started
    return GateMeasurement(params.as_dict(), result, energy, window, critical, seconds)


def _simulate_numpy(params, netlist, library, beats, zero, seed, settings) -> tuple[dict, Activity, int]:
    import numpy as np

    from energy.gatesim import GateSimulator, simulate
    from sim.realistic import activity_stimulus, weight_zero_fraction

    stimulus = activity_stimulus(params, np.random.default_rng(seed), beats, zero)
    run = simulate(GateSimulator(netlist, library), params, stimulus, clock_ps=settings.clock_ps)
    window = {
        "beats": run.beats,
        "macs": run.beats * params.macs_per_beat,
        "outputs": run.outputs,
        "cycles": run.cycles,
        "zero_fraction": weight_zero_fraction(params, stimulus),
    }
    return window, run.activity, run.cycles


def _simulate_cocotb(params, result, library, beats, zero, seed) -> tuple[dict, Activity, int]:
    from energy.cells import cell_models
    from sim.runner import run_array

    top = params.default_name()
    netlist_text = result.netlist.read_text()
    used = {instance.split()[0] for instance in re.findall(r"^\s*(\w+_ASAP7_75t_R)\s", netlist_text, re.M)}
    report = run_array(
        params,
        tests=["test_activity"],
        seed=seed,
        verilog=netlist_text + "\n" + cell_models(library, used),
        run_name=f"gates-{zero}-{beats}",
        waves=True,
        extra_build_args=("--trace-underscore",),
        extra_env={"BITNET_ACTIVITY_BEATS": str(beats), "BITNET_ACTIVITY_ZERO": zero},
        test_module="sim.tb_activity",
    )
    window = dict(report.reports["activity"])
    activity = read_toggles(report.directory / "dump.vcd", top, window["start_ps"], window["end_ps"])
    cycles = round((window["end_ps"] - window["start_ps"]) / window["clock_ps"])
    window["cycles"] = cycles
    return window, activity, cycles


# --- command line ---------------------------------------------------------------------------------------


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _zero(text: str) -> str:
    from sim.realistic import check_zero

    try:
        return check_zero(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("zero must be ")) from None


def build_parser() -> argparse.ArgumentParser:
    from hw.generate import add_array_arguments

    parser = OneLineErrorParser(
        prog="python -m energy.gates",
        description="Area and energy per MAC of a generated array on ASAP7 cells (synthesis, gate-level "
        "simulation on realistic data checked against the golden model, liberty power tables).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_array_arguments(parser)
    parser.add_argument("--pdk", help="ASAP7 folder (default $BITNET_ASAP7_DIR or shared/pdk/asap7)")
    parser.add_argument(
        "--beats", type=positive_int, default=DEFAULT_BEATS, help="beats in the measured window"
    )
    parser.add_argument(
        "--zero", type=_zero, default="gaussian", help="weight zeros: 'gaussian' or a fraction"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data")
    parser.add_argument("--slew-ps", type=_float, default=DEFAULT_SLEW_PS, help="input transition for tables")
    parser.add_argument("--clock-ps", type=_float, default=DEFAULT_CLOCK_PS, help="clock period for leakage")
    parser.add_argument("--abc-clock-ps", type=_float, default=None, help="delay target for abc -D")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="numpy",
        help="gate-level simulator: NumPy (fast) or cocotb + Verilator on cell models (slow, same toggles)",
    )
    return parser


def format_measurement(m: GateMeasurement) -> str:
    per_mac = m.energy.per_mac_pj()
    lines = [
        f"{m.synth.top}: {m.params['rows']} rows x {m.params['lanes']} lanes",
        f"area {m.synth.area_um2:.1f} um^2 ({m.synth.area_um2 / (m.params['lanes'] * m.params['rows']):.3f} "
        f"um^2 per MAC lane), {m.synth.cell_count} cells, sequential {m.synth.sequential_area_um2:.1f} um^2",
        "cells: "
        + ", ".join(f"{n.removesuffix('_ASAP7_75t_R')} {c}" for n, c in sorted(m.synth.cells.items())),
        "critical path (estimate: liberty tables, no slew propagation or wires): "
        f"{m.critical_path_ps:.0f} ps",
        f"window: {m.activity['beats']} beats, {m.activity['macs']} MACs, weight zero fraction "
        f"{m.activity['zero_fraction']:.3f}, all {m.activity['outputs']} outputs bit-exact "
        f"(gate-level simulation: {m.activity['engine']})",
        "run time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in m.seconds.items()),
        "energy per MAC (pJ): " + ", ".join(f"{k} {v:.5f}" for k, v in per_mac.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from hw.generate import params_from_arguments

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = params_from_arguments(args)
        settings = EnergySettings(args.slew_ps, args.clock_ps)
        measurement = measure_array(
            params,
            pdk=args.pdk,
            beats=args.beats,
            zero=args.zero,
            seed=args.seed,
            settings=settings,
            flow=FlowSettings(clock_ps=args.abc_clock_ps),
            engine=args.engine,
        )
    except (TypeError, ValueError) as error:
        fail(parser.prog, str(error))
    print(format_measurement(measurement))
    return 0


if __name__ == "__main__":
    sys.exit(main())
