"""Pricing any Verilog module on the gate-level flow: synthesize, simulate on random or given inputs, price.

:func:`measure_module` is the machinery of :func:`energy.gates.measure.measure_array` for a module that is
not one of the generated arrays (a primitive of :mod:`hw.primitives`, a user's own unit): the same ASAP7
synthesis (:mod:`energy.gates.synth`, cached), the same zero-delay NumPy gate simulator
(:mod:`energy.gates.gatesim`), the same liberty pricing (:mod:`energy.gates.power`), which reports the
registers (flip-flops, the clock net and the nets the flip-flops drive) apart from the logic.

Stimulus. Every input port except the clock (``clk``) takes a new value every cycle: uniform random bits by
default, or the values of a CSV file (:func:`read_stimulus`: a header of port names, one row per cycle,
integers in decimal or ``0x`` hex, ``-2**(w-1)`` to ``2**w - 1`` for a ``w``-bit port, negative ones in two's
complement; ports the file does not name get random bits). The warm-up cycles take the file's first row; the
priced window takes its rows in order, from the first, repeated when the window is longer. A port named
``rst`` is held low unless the file drives it: random resets would measure the reset, not the operation. The
first :data:`WARMUP_CYCLES` cycles fill the registers and are not priced; the energy per cycle of the priced
window is the energy per operation of a unit that takes one operation per cycle. Outputs are recorded every
cycle (:attr:`ModuleMeasurement.values`), so a caller with a reference can check them
(:mod:`energy.gates.primitives` does)."""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from energy.gates.activity import Activity
from energy.gates.circuit import Circuit
from energy.gates.gatesim import GateSimulator
from energy.gates.liberty import read_library
from energy.gates.netlist import read_netlist
from energy.gates.power import EnergyReport, EnergySettings, gate_energy, toggle_rate
from energy.gates.synth import FlowSettings, SynthResult, synthesize
from energy.gates.timing import critical_path_ps
from sim.protocol import CLOCK_PORT, RESET_PORT

#: Cycles simulated before the priced window: the registers of a unit two register stages deep (inputs and
#: output, as the primitives) filled and its first result out.
WARMUP_CYCLES = 3
#: The name prefix of ASAP7's flip-flop cells.
FLIP_FLOP_PREFIX = "DFF"
#: Priced cycles unless told otherwise.
DEFAULT_CYCLES = 2000


@dataclass
class ModuleMeasurement:
    """One module's area, cells, critical path, energy per cycle (per operation), and the value of every
    port in every cycle (warm-up included; unsigned integers)."""

    top: str
    synth: SynthResult
    energy: EnergyReport
    cycles: int
    inputs: dict[str, int]
    values: dict[str, np.ndarray]
    critical_path_ps: float
    toggle_rate: float
    seconds: dict = field(default_factory=dict)

    @property
    def flip_flops(self) -> int:
        """The flip-flops of the netlist (ASAP7's ``DFF*`` cells)."""
        return sum(count for cell, count in self.synth.cells.items() if cell.startswith(FLIP_FLOP_PREFIX))

    def logic_cells_pj(self) -> float:
        """The internal energy per cycle (pJ) of the cells that are not flip-flops, without the switching
        of the nets they drive."""
        internal = sum(
            fj for cell, fj in self.energy.by_cell.items() if not cell.startswith(FLIP_FLOP_PREFIX)
        )
        return internal * 1e-3 / self.cycles


def port_widths(simulator: GateSimulator, ports: list[str]) -> dict[str, int]:
    """Port name -> width for the bits ``name[i]`` (or the one-bit ``name``) of a netlist's port list."""
    names = dict.fromkeys(port.split("[")[0] for port in ports)
    return {name: len(simulator.port(name)) for name in names}


def read_stimulus(path: str | Path, widths: dict[str, int]) -> dict[str, np.ndarray]:
    """The values per cycle of the ports a CSV file names (see the module docstring), as ``(cycles,
    width)`` bit matrices. ``ValueError`` naming the file for an unknown port, a bad value or no rows."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ValueError(f"stimulus: cannot read {path}: {reason}") from None
    if not rows:
        raise ValueError(f"stimulus: {path} has no rows")
    if any(None in row for row in rows):
        raise ValueError(f"stimulus: {path}: a row has more values than the header names ports")
    unknown = sorted(set(rows[0]) - set(widths))
    if unknown:
        raise ValueError(f"stimulus: {path} names ports the module does not have: {', '.join(unknown)}")
    bits = {}
    for port in rows[0]:
        try:
            values = [int(row[port], 0) for row in rows]
        except (TypeError, ValueError):
            raise ValueError(f"stimulus: {path}, column {port}: every value must be an integer") from None
        width = widths[port]
        if any(not -(1 << (width - 1)) <= v < (1 << width) for v in values):
            raise ValueError(f"stimulus: {path}, column {port}: a value does not fit {width} bits")
        bits[port] = np.array([[(v >> i) & 1 for i in range(width)] for v in values], bool)
    return bits


def _stimulus(
    widths: dict[str, int], cycles: int, rng: np.random.Generator, given: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Bits per port for every cycle: the given ones (repeated to length), random for the rest, reset low."""
    total = WARMUP_CYCLES + cycles
    stimulus = {}
    for port, width in widths.items():
        if port in given:  # the first row through the warm-up, then the rows in order, repeated
            rows = np.resize(given[port], (cycles, width))
            stimulus[port] = np.concatenate([np.repeat(rows[:1], WARMUP_CYCLES, axis=0), rows])
        elif port == RESET_PORT:
            stimulus[port] = np.zeros((total, width), bool)
        else:
            stimulus[port] = rng.random((total, width)) < 0.5
    return stimulus


def simulate_module(
    simulator: GateSimulator, stimulus: dict[str, np.ndarray], outputs: list[str], clock_ps: float
) -> tuple[Activity, dict[str, np.ndarray]]:
    """Run ``stimulus`` (bits per port and cycle) cycle by cycle; the toggles of the cycles after
    :data:`WARMUP_CYCLES` and every port's integer value per cycle (unsigned; inputs and ``outputs``)."""
    nets = {port: simulator.port(port) for port in stimulus}
    watched = {port: simulator.port(port) for port in [*stimulus, *outputs]}
    total = len(next(iter(stimulus.values())))
    toggles = np.zeros(len(simulator.values), np.int64)
    previous = simulator.values.copy()
    recorded = {port: np.zeros(total, object) for port in watched}
    for cycle in range(total):
        for port, bits in stimulus.items():
            simulator.values[nets[port]] = bits[cycle]
        simulator.settle()
        if cycle >= WARMUP_CYCLES:
            toggles += simulator.values != previous
        previous[:] = simulator.values
        for port, bits in watched.items():
            recorded[port][cycle] = sum(
                1 << i for i, bit in enumerate(simulator.values[bits].tolist()) if bit
            )
        simulator.clock()
    priced = total - WARMUP_CYCLES
    counts = {name: int(t) for name, t in zip(simulator.net_names, toggles.tolist(), strict=True) if t}
    counts = {name: t for name, t in counts.items() if not name.startswith("<")}
    counts[CLOCK_PORT] = 2 * priced
    return Activity(Counter(counts), 0.0, priced * clock_ps), recorded


def measure_module(
    verilog: str,
    top: str,
    *,
    cycles: int = DEFAULT_CYCLES,
    seed: int = 1,
    stimulus: str | Path | None = None,
    pdk: str | Path | None = None,
    settings: EnergySettings | None = None,
    flow: FlowSettings | None = None,
) -> ModuleMeasurement:
    """Synthesize module ``top`` of ``verilog``, simulate it ``cycles`` cycles on random inputs (or the
    CSV ``stimulus``) and price it; see the module docstring."""
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise ValueError(f"cycles must be a positive integer, got {cycles!r}")
    settings, flow = settings or EnergySettings(), flow or FlowSettings()
    started = time.perf_counter()
    result = synthesize(verilog, top, pdk=pdk, settings=flow)
    circuit = Circuit(read_netlist(result.netlist, top), read_library(flow.cells, pdk))
    seconds = {"synthesis": result.seconds, "synthesis_call": time.perf_counter() - started}
    started = time.perf_counter()
    simulator = GateSimulator(circuit)
    inputs = port_widths(simulator, [p for p in circuit.netlist.inputs if p != CLOCK_PORT])
    if not inputs:
        raise ValueError(f"top: module {top} has no input ports besides {CLOCK_PORT}")
    outputs = list(port_widths(simulator, circuit.netlist.outputs))
    given = read_stimulus(stimulus, inputs) if stimulus is not None else {}
    bits = _stimulus(inputs, cycles, np.random.default_rng(seed), given)
    activity, recorded = simulate_module(simulator, bits, outputs, settings.clock_ps)
    seconds["simulation"] = time.perf_counter() - started
    energy = gate_energy(circuit, activity, cycles, cycles, settings)
    rate = toggle_rate(circuit, activity, cycles)
    critical = critical_path_ps(circuit, settings.slew_ps)
    return ModuleMeasurement(top, result, energy, cycles, inputs, recorded, critical, rate, seconds)
