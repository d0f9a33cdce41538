"""A mapped netlist bound to its cell library: the loads, drivers and levels every later step reads.

Computed once per measurement (:class:`Circuit`) and shared by the gate simulator
(:mod:`energy.gates.gatesim`), the pricing (:mod:`energy.gates.power`) and the timing estimate
(:mod:`energy.gates.timing`):

- **load** of a net: the sum of the input-pin capacitances (fF) of the cell pins it feeds, plus any
  ``extra_load`` given (the modelled wires; none by default);
- **driver** of a net: the instance, cell and output pin driving it (none for input ports);
- **levels**: the combinational cells in topological order. The input ports, the flip-flop outputs and
  the tie cells' outputs are level 0; a cell's level is one more than the deepest level among the nets its
  connected inputs read. A net read but never driven, or a combinational loop, raises ``ValueError``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from energy.gates.liberty import Cell, Library
from energy.gates.netlist import Instance, Netlist


@dataclass(frozen=True)
class Driver:
    """The cell output that drives a net."""

    instance: str
    cell: Cell
    pin: str


@dataclass(frozen=True)
class Placed:
    """A combinational instance at its level."""

    level: int
    instance: Instance
    cell: Cell


class Circuit:
    """``netlist`` with the cells of ``library``; see the module docstring.

    Parameters
    ----------
    netlist : Netlist
        The mapped netlist (:func:`energy.gates.netlist.read_netlist`).
    library : Library
        A library holding every cell the netlist instantiates.
    extra_load : dict, optional
        Capacitance (fF) added to the load of each net named, beyond its pins (the modelled wires of
        :mod:`energy.gates.parasitics`).

    Members
    -------
    cells : list of (Instance, Cell)
        Every instance with its cell, in netlist order.
    load, driver, fanout : dict
        Per net: the load in fF, the :class:`Driver` and the input pins driven (computed on first use).
    levels : list of Placed
        The combinational instances in topological order (computed on first use).
    """

    def __init__(self, netlist: Netlist, library: Library, extra_load: dict[str, float] | None = None):
        self.netlist = netlist
        self.library = library
        self.cells = [(instance, library.cell(instance.cell)) for instance in netlist.instances]
        self.extra_load = dict(extra_load or {})

    @property
    def flops(self) -> list[tuple[Instance, Cell]]:
        return [(instance, cell) for instance, cell in self.cells if cell.sequential]

    @cached_property
    def _loads_and_drivers(self) -> tuple[dict[str, float], dict[str, Driver], dict[str, int]]:
        load: dict[str, float] = defaultdict(float)
        driver: dict[str, Driver] = {}
        fanout: dict[str, int] = defaultdict(int)
        for instance, cell in self.cells:
            for pin, net in instance.pins.items():
                info = cell.pins.get(pin)
                if info is None:
                    continue
                if info.direction == "input":
                    load[net] += info.capacitance
                    fanout[net] += 1
                else:
                    driver[net] = Driver(instance.name, cell, pin)
        for net, capacitance in self.extra_load.items():
            load[net] += capacitance
        return dict(load), driver, dict(fanout)

    @property
    def load(self) -> dict[str, float]:
        return self._loads_and_drivers[0]

    @property
    def driver(self) -> dict[str, Driver]:
        return self._loads_and_drivers[1]

    @property
    def fanout(self) -> dict[str, int]:
        """Per net: the cell input pins it drives."""
        return self._loads_and_drivers[2]

    @cached_property
    def levels(self) -> list[Placed]:
        level_of_net: dict[str, int] = {net: 0 for net in self.netlist.inputs}
        for instance, cell in self.flops:
            for pin in cell.outputs:
                if pin in instance.pins:
                    level_of_net[instance.pins[pin]] = 0
        pending = [(instance, cell) for instance, cell in self.cells if not cell.sequential]
        placed: list[Placed] = []
        while pending:
            waiting = []
            for instance, cell in pending:
                inputs = [instance.pins[p] for p in cell.inputs if p in instance.pins]
                if not all(net in level_of_net for net in inputs):
                    waiting.append((instance, cell))
                    continue
                level = 1 + max((level_of_net[net] for net in inputs), default=-1)
                for pin in cell.outputs:
                    if pin in instance.pins:
                        level_of_net[instance.pins[pin]] = level
                placed.append(Placed(level, instance, cell))
            if len(waiting) == len(pending):
                raise ValueError("the netlist has a combinational loop or an undriven net")
            pending = waiting
        return placed

    @property
    def depth(self) -> int:
        """The deepest combinational level (0 for a netlist without logic)."""
        return max((placed.level for placed in self.levels), default=0)
