"""Pricing the toggles of a gate-level run with the liberty's own tables (energy per window and per MAC).

Modeling choices (each a parameter or a documented constant):

- **Internal energy of a cell output** per toggle of its net: the ``internal_power`` tables of that output
  pin, read at the input transition ``slew_ps`` (default 20 ps) and the net's load; rise and fall averaged
  (a toggle is a rise or a fall, half of each over a run); ``when`` conditions averaged; the arcs of the
  two ``related_pg_pin`` (VDD, VSS) summed; and, since a toggle count does not say which input caused it,
  the arcs of the different related input pins averaged.
- **Internal energy of input pins** (arcs without a related pin, e.g. a flip-flop's ``CLK`` and ``D``) per
  toggle of the input net, read at ``slew_ps``, with the same averaging and summing.
- **Switching energy** of a net per toggle: ``0.5 * C * V^2``, ``C`` the net's load: the sum of the
  input-pin capacitances of its fanout, plus its modelled wire when the circuit carries one
  (:mod:`energy.gates.parasitics`; there is no placement), ``V`` the library's nominal voltage (0.7 V).
  Primary outputs drive no load.
- **Leakage**: the sum of the cells' state-independent ``leakage_power`` (pW), times the window's cycles at
  the clock period ``clock_ps`` (default 1000 ps, 1 GHz; the simulation's own clock is only a time base).
- **Split**: *sequential* is the flip-flops' internal energy (clock and data pins included), the switching
  of the clock net and of the nets the flip-flops drive; *combinational* is every other cell's internal
  energy and the switching of the nets they drive and of the input ports (also reported alone, as
  ``details["input_ports"]``: the load the module puts on whatever drives it); *leakage* as above.
- **Per MAC**: the window's energy divided by the multiply-accumulates done in it (beats x lanes x rows).
- **By block** (when :func:`gate_energy` is given each instance's block, :mod:`energy.gates.blocks`): a
  net's switching and its driver's internal energy go to the driver's block, an input pin's internal
  energy and a cell's leakage to its cell's; the input ports' switching is ``input ports``, the clock
  net's ``clock``.
- **Per transition**: a toggle is priced the same whether it settles the net or is a glitch
  (:mod:`energy.gates.timed` counts both).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from energy.gates.activity import Activity
from energy.gates.circuit import Circuit
from energy.gates.liberty import Cell, Library, PdkError

DEFAULT_SLEW_PS = 20.0
DEFAULT_CLOCK_PS = 1000.0
CLOCK_NET = "clk"


@dataclass(frozen=True)
class EnergySettings:
    """The pricing knobs: the input transition of every table lookup and the clock period of leakage."""

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
    #: With blocks given to :func:`gate_energy`: energy (fJ, leakage included) by block of the array, the
    #: switching of the input ports as ``input ports`` and of the clock net as ``clock``.
    by_block: dict[str, float] = field(default_factory=dict)

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


def _toggles_by_net(circuit: Circuit, activity: Activity) -> Counter:
    """Toggle counts per canonical net (the most of the names that alias one net)."""
    toggles: Counter = Counter()
    for name, count in activity.toggles.items():
        net = circuit.netlist.canonical(name)
        toggles[net] = max(toggles[net], count)
    return toggles


def toggle_rate(circuit: Circuit, activity: Activity, cycles: int) -> float:
    """Toggles per cell-driven net per cycle over the window (0: nothing switched; 1: every net toggled
    every cycle)."""
    driven = circuit.driver
    toggles = _toggles_by_net(circuit, activity)
    total = sum(count for net, count in toggles.items() if net in driven)
    return total / (len(driven) * cycles) if driven and cycles else 0.0


def _net_energy(
    circuit: Circuit,
    toggles: Counter,
    voltage: float,
    slew_ps: float,
    report: EnergyReport,
    blocks: dict[str, str],
) -> None:
    """Switching energy of every toggled net and internal energy of the cell output driving it."""
    load, driver = circuit.load, circuit.driver
    for net, count in toggles.items():
        switching = 0.5 * load.get(net, 0.0) * voltage**2 * count  # fF * V^2 = fJ
        source = driver.get(net)
        sequential_net = net == CLOCK_NET or (source is not None and source.cell.sequential)
        if source is not None:
            internal = output_internal_fj(source.cell, source.pin, slew_ps, load.get(net, 0.0)) * count
            report.by_cell[source.cell.name] += internal
            report.details["internal_outputs"] += internal
        else:
            internal = 0.0
        report.details["switching"] += switching
        if source is None and net != CLOCK_NET:  # an input port: the upstream driver's load, priced here
            report.details["input_ports"] += switching
        block = (
            "clock" if net == CLOCK_NET else "input ports" if source is None else blocks.get(source.instance)
        )
        if block is not None:
            report.by_block[block] += switching + internal
        if sequential_net:
            report.sequential_fj += switching + internal
        else:
            report.combinational_fj += switching + internal


def _input_pin_energy(
    circuit: Circuit, toggles: Counter, slew_ps: float, report: EnergyReport, blocks: dict[str, str]
) -> None:
    """Internal energy of the input pins (arcs without a related pin) on toggled nets."""
    for instance, cell in circuit.cells:
        for pin, net in instance.pins.items():
            info = cell.pins.get(pin)
            if info is None or info.direction != "input" or not toggles.get(net):
                continue
            energy = input_internal_fj(cell, pin, slew_ps) * toggles[net]
            if energy:
                report.by_cell[cell.name] += energy
                report.details["internal_inputs"] += energy
                if instance.name in blocks:
                    report.by_block[blocks[instance.name]] += energy
                if cell.sequential:
                    report.sequential_fj += energy
                else:
                    report.combinational_fj += energy


def leakage_fj(circuit: Circuit, cycles: int, clock_ps: float) -> float:
    """The cells' leakage over ``cycles`` clock periods of ``clock_ps`` (fJ)."""
    return sum(leakage_fj_of(cell, cycles, clock_ps) for _, cell in circuit.cells)


def leakage_fj_of(cell: Cell, cycles: int, clock_ps: float) -> float:
    """One cell's leakage over ``cycles`` clock periods of ``clock_ps`` (fJ)."""
    return cell.leakage_pw * 1e-12 * cycles * clock_ps * 1e-12 * 1e15  # W * s = J -> fJ


def gate_energy(
    circuit: Circuit,
    activity: Activity,
    macs: int,
    cycles: int,
    settings: EnergySettings,
    blocks: dict[str, str] | None = None,
) -> EnergyReport:
    """Price the toggles of ``activity`` on ``circuit`` (see the module docstring for the model);
    ``blocks`` (instance name -> block, :func:`energy.gates.blocks.cell_blocks`) fills ``by_block``."""
    if macs <= 0:
        raise ValueError(f"macs must be positive, got {macs}")
    blocks = blocks or {}
    voltage = nominal_voltage(circuit.library)
    toggles = _toggles_by_net(circuit, activity)
    report = EnergyReport(0.0, 0.0, 0.0, macs, defaultdict(float), defaultdict(float), defaultdict(float))
    _net_energy(circuit, toggles, voltage, settings.slew_ps, report, blocks)
    _input_pin_energy(circuit, toggles, settings.slew_ps, report, blocks)
    report.leakage_fj = leakage_fj(circuit, cycles, settings.clock_ps)
    if blocks:
        for instance, cell in circuit.cells:
            report.by_block[blocks[instance.name]] += leakage_fj_of(cell, cycles, settings.clock_ps)
    report.by_cell, report.details, report.by_block = (
        dict(report.by_cell),
        dict(report.details),
        dict(report.by_block),
    )
    return report
