"""What the mapped netlist leaves out: the wires and the clock tree, each a documented model, switchable.

ASAP7 gives no wire-load model and the flow places nothing, so both are estimates, named as such
wherever they are reported; with both off every figure is the netlist's alone, as before.

**Wire load** (:class:`WireLoad`, :func:`wire_loads`). A net with ``f`` sink pins is taken to span the
half-perimeter of the ``f + 1`` cells it joins packed side by side: ``L = 2 * s * sqrt(f + 1)`` um, ``s``
the side of the design's mean cell footprint (``sqrt(cell area / cells)``; ASAP7's minimum cells are
0.27 um high), at ``cap_ff_per_um`` (default 0.2 fF/um, a local-metal figure of 7 nm-class processes:
an assumption, not a PDK number). The wire's capacitance is added to the net's pin load, so it is
switched by every toggle of the net, slows its driver in the timing-aware mode and raises the driver's
internal energy (read at the larger load). The clock net is left to the clock-tree model.

**Clock tree** (:class:`ClockTree`, :func:`clock_tree`). A balanced buffer tree: the flip-flops' clock
pins in groups of at most ``fanout`` per leaf buffer, the leaf buffers in groups of ``fanout`` per buffer
above, up to one root driven by the clock port. Each buffer is sized by its load: the smallest of
:data:`CLOCK_BUFFERS` whose output transition there, driven at ``slew_ps``, is at most ``slew_ps``
(the largest where none is). Its load is the pins it drives plus, with the wire load on, the wire of a
Steiner tree over its sinks, ``L = sqrt(k * A)`` for ``k`` sinks spread over the area ``A`` of the
flip-flops they clock (the design's area times their share of the flip-flops). Every buffer output
rises and falls once per cycle: priced by :func:`add_clock_tree` (the buffers' internal energy at their
loads and input slews, the switching of the nets between buffers, of the leaf nets' wires and of the
root's input; the clock pins' own switching and internal energy are priced as before, at the same
``slew_ps``), plus the buffers' leakage; all of it sequential energy. The tree is balanced, so it
delays every clock pin alike: it does not move a transition relative to another, and the timing-aware
mode reads the flip-flops' clock arcs at the leaf slew.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from energy.gates.circuit import Circuit
from energy.gates.liberty import Cell, Library
from energy.gates.power import (
    CLOCK_NET,
    DEFAULT_SLEW_PS,
    EnergyReport,
    input_internal_fj,
    leakage_fj_of,
    output_internal_fj,
)

#: The buffers a clock tree is sized from (ASAP7 RVT, smallest to largest drive).
CLOCK_BUFFERS = tuple(
    f"BUFx{size}_ASAP7_75t_R" for size in ("2", "3", "4", "5", "6f", "8", "10", "12", "12f", "16f", "24")
)
BUFFER_INPUT, BUFFER_OUTPUT = "A", "Y"


#: The wire capacitance per length the model assumes, in attofarads per um (0.2 fF/um).
WIRE_CAP_AF_PER_UM = 200


@dataclass(frozen=True)
class WireLoad:
    """The fanout-based wire model (see the module docstring)."""

    cap_ff_per_um: float = WIRE_CAP_AF_PER_UM / 1000

    def __post_init__(self) -> None:
        if not self.cap_ff_per_um >= 0:
            raise ValueError(f"cap_ff_per_um must be >= 0, got {self.cap_ff_per_um!r}")

    def length_um(self, sinks: int, cell_side_um: float) -> float:
        return 2.0 * cell_side_um * math.sqrt(sinks + 1)


def cell_side_um(circuit: Circuit) -> float:
    """The side of the design's mean cell footprint (um)."""
    cells = [cell for _, cell in circuit.cells]
    return math.sqrt(sum(cell.area for cell in cells) / len(cells)) if cells else 0.0


def wire_loads(circuit: Circuit, model: WireLoad) -> dict[str, float]:
    """The modelled wire capacitance (fF) of every net with sinks but the clock."""
    side = cell_side_um(circuit)
    return {
        net: model.cap_ff_per_um * model.length_um(sinks, side)
        for net, sinks in circuit.fanout.items()
        if net != CLOCK_NET
    }


@dataclass(frozen=True)
class TreeLevel:
    """One level of the clock tree: ``count`` buffers of type ``cell``, each driving ``sinks`` pins of
    ``pins_ff`` and a wire of ``wire_ff`` in all, driven at ``input_slew_ps``, leaving ``output_slew_ps``."""

    cell: Cell
    count: int
    sinks: float
    pins_ff: float
    wire_ff: float
    input_slew_ps: float
    output_slew_ps: float

    @property
    def load_ff(self) -> float:
        return self.pins_ff + self.wire_ff


@dataclass(frozen=True)
class ClockTree:
    """The modelled clock tree, root level first (see the module docstring)."""

    levels: tuple[TreeLevel, ...]
    clock_pins: int

    @property
    def buffers(self) -> int:
        return sum(level.count for level in self.levels)

    @property
    def leaf_slew_ps(self) -> float:
        return self.levels[-1].output_slew_ps if self.levels else DEFAULT_SLEW_PS

    @property
    def area_um2(self) -> float:
        return sum(level.count * level.cell.area for level in self.levels)


def _output_slew(cell: Cell, input_slew_ps: float, load_ff: float) -> float:
    (arc,) = [a for a in cell.timing if a.pin == BUFFER_OUTPUT and a.related_pin == BUFFER_INPUT]
    return max(arc.rise_transition.at(input_slew_ps, load_ff), arc.fall_transition.at(input_slew_ps, load_ff))


def _size(buffers: list[Cell], load_ff: float, slew_ps: float) -> Cell:
    """The smallest buffer whose output slew at ``load_ff`` is at most ``slew_ps``, else the largest."""
    return next((c for c in buffers if _output_slew(c, slew_ps, load_ff) <= slew_ps), buffers[-1])


def clock_tree(
    circuit: Circuit,
    library: Library,
    *,
    fanout: int = 16,
    slew_ps: float = DEFAULT_SLEW_PS,
    wires: WireLoad | None = None,
) -> ClockTree:
    """The balanced buffer tree over the flip-flops' clock pins of ``circuit`` (see the module docstring);
    ``library`` holds :data:`CLOCK_BUFFERS`; ``wires`` adds the Steiner wire of each buffer's net."""
    if isinstance(fanout, bool) or not isinstance(fanout, int) or fanout < 2:
        raise ValueError(f"fanout must be an integer >= 2, got {fanout!r}")
    buffers = [library.cell(name) for name in CLOCK_BUFFERS]
    pins = [cell.pins[cell.clock_pin] for _, cell in circuit.flops if cell.ff]
    if not pins:
        return ClockTree((), 0)
    area_per_flop = sum(cell.area for _, cell in circuit.cells) / len(pins)
    sinks, sink_cap, served = len(pins), sum(p.capacitance for p in pins) / len(pins), 1.0
    sized: list[tuple[Cell, int, float, float, float]] = []  # leaves first: buffer, count, sinks, pins, wire
    while True:
        count = math.ceil(sinks / fanout)
        each = sinks / count
        wire = 0.0
        if wires is not None:  # a Steiner tree over k sinks spread over area A: sqrt(k * A)
            wire = wires.cap_ff_per_um * math.sqrt(each * each * served * area_per_flop)
        cell = _size(buffers, each * sink_cap + wire, slew_ps)
        sized.append((cell, count, each, each * sink_cap, wire))
        if count == 1:
            break
        sinks, sink_cap, served = count, cell.pins[BUFFER_INPUT].capacitance, served * each
    levels, input_slew = [], slew_ps
    for cell, count, each, pins_ff, wire in reversed(sized):
        output_slew = _output_slew(cell, input_slew, pins_ff + wire)
        levels.append(TreeLevel(cell, count, each, pins_ff, wire, input_slew, output_slew))
        input_slew = output_slew
    return ClockTree(tuple(levels), len(pins))


def add_clock_tree(
    report: EnergyReport, tree: ClockTree, cycles: int, voltage: float, clock_ps: float
) -> None:
    """Add the clock tree's energy over ``cycles`` cycles to ``report`` (sequential and leakage; also
    ``details["clock_tree"]`` and ``details["clock_tree_leakage"]``): see the module docstring."""
    dynamic = 0.0
    for depth, level in enumerate(tree.levels):
        internal = output_internal_fj(level.cell, BUFFER_OUTPUT, level.input_slew_ps, level.load_ff)
        internal += input_internal_fj(level.cell, BUFFER_INPUT, level.input_slew_ps)
        leaf = depth == len(tree.levels) - 1
        switched = level.wire_ff + (0.0 if leaf else level.pins_ff)  # the clock pins: priced already
        dynamic += level.count * 2 * (internal + 0.5 * switched * voltage**2)
    root = tree.levels[0].cell.pins[BUFFER_INPUT].capacitance if tree.levels else 0.0
    dynamic = (dynamic + 2 * 0.5 * root * voltage**2) * cycles
    leakage_fj = sum(level.count * leakage_fj_of(level.cell, cycles, clock_ps) for level in tree.levels)
    report.sequential_fj += dynamic
    report.leakage_fj += leakage_fj
    report.details["clock_tree"] = report.details.get("clock_tree", 0.0) + dynamic
    report.details["clock_tree_leakage"] = report.details.get("clock_tree_leakage", 0.0) + leakage_fj
