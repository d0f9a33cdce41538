"""A critical-path estimate of a mapped netlist from the liberty's delay tables.

:func:`critical_path_ps` is the longest register-to-register (or port) path through the
``cell_rise``/``cell_fall`` tables, each read at one input transition ``slew_ps`` and the driven net's load
(:attr:`energy.gates.circuit.Circuit.load`): no slew propagation and no wire delay, so it is an estimate,
named as such in every report. Input ports and tie cells start at 0 ps, flip-flop outputs at their
clock-to-output delay; a path ends at a flip-flop's ``D`` pin or an output port.

Buffered high-fanout nets (``max_fanout``). The flow maps without buffer insertion, so a control net (a
pipeline's enable, a reset) drives hundreds of pins from one minimum-size cell, and its delay read at
that load dominates the estimate of every pipelined array. A placed design buffers such nets.
With ``max_fanout = b`` the estimate assumes each net of ``F > b`` sink pins is driven through a balanced
tree of :data:`BUFFER` cells, each driving at most ``b`` pins: ``s = ceil(log_b F) - 1`` buffer levels.
The driver then sees ``b`` buffer inputs, each inner level ``b`` buffer inputs, and the last level ``b``
sinks of the net's mean pin capacitance; the net's delay is the driver's at that load plus the ``s``
buffers' (an input port is an ideal driver: its net's delay is the buffers'). The buffers' area and
energy are not added (this is a timing estimate only, and a model).
"""

from __future__ import annotations

import math

from energy.gates.circuit import Circuit
from energy.gates.liberty import Cell
from energy.gates.netlist import Instance
from energy.gates.power import DEFAULT_SLEW_PS

#: The buffer of the modelled fanout trees (in the flow's trimmed library), and its pins.
BUFFER, BUFFER_INPUT, BUFFER_OUTPUT = "BUFx2_ASAP7_75t_R", "A", "Y"
#: The fanout limit the design-space sweeps assume (``max_fanout``).
DEFAULT_MAX_FANOUT = 16


class _NetDelays:
    """Delay of a driver arc into a net: at the net's load, or through a modelled buffer tree."""

    def __init__(self, circuit: Circuit, slew_ps: float, max_fanout: int | None) -> None:
        if max_fanout is not None and (
            isinstance(max_fanout, bool) or not isinstance(max_fanout, int) or max_fanout < 2
        ):
            raise ValueError(f"max_fanout must be an integer >= 2 or None, got {max_fanout!r}")
        self.circuit, self.slew_ps, self.max_fanout = circuit, slew_ps, max_fanout
        if max_fanout is not None:
            buffer = circuit.library.cell(BUFFER)
            (self.buffer_arc,) = [arc for arc in buffer.timing if arc.pin == BUFFER_OUTPUT]
            self.buffer_input = buffer.pins[BUFFER_INPUT].capacitance

    def _tree(self, net: str) -> tuple[float | None, float]:
        """``(load the net's driver sees, delay of its buffer tree)``: ``(None, 0)`` when not buffered."""
        load, fanout = self.circuit.load.get(net, 0.0), self.circuit.fanout.get(net, 0)
        if self.max_fanout is None or fanout <= self.max_fanout:
            return None, 0.0
        b = self.max_fanout
        levels = math.ceil(math.log(fanout) / math.log(b) - 1e-9) - 1
        inner = _arc_delay(self.buffer_arc, self.slew_ps, b * self.buffer_input)
        last = _arc_delay(self.buffer_arc, self.slew_ps, b * load / fanout)
        return b * self.buffer_input, (levels - 1) * inner + last

    def delay(self, arc, net: str) -> float:
        """The delay of driver ``arc`` into ``net``, its buffer tree included."""
        driven, tree = self._tree(net)
        return (
            _arc_delay(arc, self.slew_ps, self.circuit.load.get(net, 0.0) if driven is None else driven)
            + tree
        )

    def port(self, net: str) -> float:
        """The arrival at the sinks of an input port's net (an ideal driver): its buffer tree's delay."""
        return self._tree(net)[1]


def _arc_delay(arc, slew_ps: float, load: float) -> float:
    return max(arc.cell_rise.at(slew_ps, load), arc.cell_fall.at(slew_ps, load))


def _launch_times(circuit: Circuit, delays: _NetDelays) -> dict[str, float]:
    """Arrival at the input ports (0, or their buffer tree's delay) and the flip-flop outputs (their
    slowest clock-to-output arc)."""
    arrival = {net: delays.port(net) for net in circuit.netlist.inputs}
    for instance, cell in circuit.flops:
        for pin in cell.outputs:
            net = instance.pins.get(pin)
            if net is None:
                continue
            arcs = [arc for arc in cell.timing if arc.pin == pin and arc.cell_rise is not None]
            arrival[net] = max((delays.delay(arc, net) for arc in arcs), default=0.0)
    return arrival


def _output_arrival(
    instance: Instance, cell: Cell, pin: str, arrival: dict[str, float], net: str, delays: _NetDelays
) -> float:
    best = 0.0
    for arc in cell.timing:
        source = instance.pins.get(arc.related_pin)
        if arc.pin != pin or source is None or arc.cell_rise is None:
            continue
        best = max(best, arrival[source] + delays.delay(arc, net))
    return best


def critical_path_ps(
    circuit: Circuit, slew_ps: float = DEFAULT_SLEW_PS, max_fanout: int | None = None
) -> float:
    """Longest path delay estimate (ps): see the module docstring (no slew propagation, no wires; nets of
    more than ``max_fanout`` pins through modelled buffer trees, None: as mapped)."""
    delays = _NetDelays(circuit, slew_ps, max_fanout)
    arrival = _launch_times(circuit, delays)
    for placed in circuit.levels:  # topological order; tie cells (no inputs) start at 0
        for pin in placed.cell.outputs:
            net = placed.instance.pins.get(pin)
            if net is not None:
                arrival[net] = _output_arrival(placed.instance, placed.cell, pin, arrival, net, delays)
    endpoints = [instance.pins.get("D") for instance, _ in circuit.flops] + circuit.netlist.outputs
    return max((arrival.get(net, 0.0) for net in endpoints if net is not None), default=0.0)
