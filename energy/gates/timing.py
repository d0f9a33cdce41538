"""A critical-path estimate of a mapped netlist from the liberty's delay tables.

:func:`critical_path_ps` is the longest register-to-register (or port) path through the
``cell_rise``/``cell_fall`` tables, each read at one input transition ``slew_ps`` and the driven net's load
(:attr:`energy.gates.circuit.Circuit.load`): no slew propagation and no wire delay, so it is an estimate,
named as such in every report. Input ports and tie cells start at 0 ps, flip-flop outputs at their
clock-to-output delay; a path ends at a flip-flop's ``D`` pin or an output port.
"""

from __future__ import annotations

from energy.gates.circuit import Circuit
from energy.gates.liberty import Cell
from energy.gates.netlist import Instance
from energy.gates.power import DEFAULT_SLEW_PS


def _arc_delay(arc, slew_ps: float, load: float) -> float:
    return max(arc.cell_rise.at(slew_ps, load), arc.cell_fall.at(slew_ps, load))


def _launch_times(circuit: Circuit, slew_ps: float) -> dict[str, float]:
    """Arrival at the input ports (0) and the flip-flop outputs (their slowest clock-to-output arc)."""
    arrival = {net: 0.0 for net in circuit.netlist.inputs}
    for instance, cell in circuit.flops:
        for pin in cell.outputs:
            net = instance.pins.get(pin)
            if net is None:
                continue
            arcs = [arc for arc in cell.timing if arc.pin == pin and arc.cell_rise is not None]
            arrival[net] = max(
                (_arc_delay(arc, slew_ps, circuit.load.get(net, 0.0)) for arc in arcs), default=0.0
            )
    return arrival


def _output_arrival(
    instance: Instance, cell: Cell, pin: str, arrival: dict[str, float], load: float, slew_ps: float
) -> float:
    best = 0.0
    for arc in cell.timing:
        source = instance.pins.get(arc.related_pin)
        if arc.pin != pin or source is None or arc.cell_rise is None:
            continue
        best = max(best, arrival[source] + _arc_delay(arc, slew_ps, load))
    return best


def critical_path_ps(circuit: Circuit, slew_ps: float = DEFAULT_SLEW_PS) -> float:
    """Longest path delay estimate (ps): see the module docstring (no slew propagation, no wires)."""
    arrival = _launch_times(circuit, slew_ps)
    for placed in circuit.levels:  # topological order; tie cells (no inputs) start at 0
        for pin in placed.cell.outputs:
            net = placed.instance.pins.get(pin)
            if net is not None:
                load = circuit.load.get(net, 0.0)
                arrival[net] = _output_arrival(placed.instance, placed.cell, pin, arrival, load, slew_ps)
    endpoints = [instance.pins.get("D") for instance, _ in circuit.flops] + circuit.netlist.outputs
    return max((arrival.get(net, 0.0) for net in endpoints if net is not None), default=0.0)
