"""Cell delays and output transitions for the timing-aware simulator (:mod:`energy.gates.timed`).

A delay model answers, for the instances of one cell type driving output ``pin`` and the events arriving
on one input (:meth:`DelayModel.arc`, or the clock for a flip-flop: :meth:`DelayModel.clock_to_output`),
the delay of each output transition and the transition time (slew) it leaves, both in ps, as NumPy arrays.

:class:`LibertyDelays` (the default) reads the liberty's NLDM tables, as a static timing tool does:

- ``cell_rise`` / ``cell_fall`` for the delay and ``rise_transition`` / ``fall_transition`` for the output
  slew, chosen by the direction of the output transition, each read at the **input event's own slew**
  (propagated from the cell that drove it: nothing is fixed but the slew of the input ports and of the
  clock) and the **instance's load** (the pin capacitances of its fanout, plus the modelled wire when the
  wire load of :mod:`energy.gates.parasitics` is on); bilinear interpolation, linear extrapolation beyond
  the grid (:meth:`energy.gates.liberty.Table.at`, vectorized);
- a cell whose arcs from one input carry ``when`` conditions (ASAP7's XOR and XNOR: one arc per state of
  the other input) uses, per event, the arc whose condition holds on the inputs after the event; where
  none holds (or the arcs carry none) the first arc listed;
- ``scale`` multiplies every delay (``scale=0``: every transition at the instant of its cause; the
  timing-aware count then equals the zero-delay one, which a test checks).

:class:`FixedDelays` gives every arc of a cell type one constant delay (tests count glitches by hand).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy.gates.cells import numpy_function
from energy.gates.liberty import Cell, Table, TimingArc

Lookup = tuple[np.ndarray, np.ndarray]  # (delay ps, output slew ps), each shaped like the events


class _ArcTables:
    """One arc's four tables (rise and fall delay, rise and fall slew) read at each instance's load once,
    then per event at its slew: bilinear interpolation with linear extrapolation, as
    :meth:`energy.gates.liberty.Table.at` (vectorized)."""

    def __init__(self, tables: tuple[Table, ...], loads: np.ndarray):
        index = tables[0].index_1
        if any(t.index_1 != index for t in tables):
            raise ValueError("the delay and transition tables of one arc must share their slew index")
        self.index = np.asarray(index, float)
        self.by_slew = np.stack([_at_loads(t, loads) for t in tables], axis=2)  # (instances, slews, 4)

    def at(self, instances: np.ndarray, slew: np.ndarray) -> np.ndarray:
        """``(events, 4)``: the four tables for each event on instance ``instances`` at its ``slew``."""
        if len(self.index) == 1:
            return self.by_slew[instances, 0]
        i = np.clip(np.searchsorted(self.index, slew, side="left") - 1, 0, len(self.index) - 2)
        fx = ((slew - self.index[i]) / (self.index[i + 1] - self.index[i]))[:, None]
        low, high = self.by_slew[instances, i], self.by_slew[instances, i + 1]
        return low + (high - low) * fx


def _at_loads(table: Table, loads: np.ndarray) -> np.ndarray:
    """``(instances, slews)``: ``table`` interpolated along its load index at each instance's load."""
    values = np.atleast_2d(table.values)
    load_index = np.asarray(table.index_2, float)
    if len(load_index) == 1:
        return np.repeat(values[:, :1].T, len(loads), axis=0)
    j = np.clip(np.searchsorted(load_index, loads, side="left") - 1, 0, len(load_index) - 2)
    fy = (loads - load_index[j]) / (load_index[j + 1] - load_index[j])
    return (values[:, j] * (1 - fy) + values[:, j + 1] * fy).T


def _condition(when: str | None, inputs: list[str]):
    """``when`` as a function of the input pins' values; None when absent or naming other pins."""
    if not when:
        return None
    function = numpy_function(when.strip('"'), inputs)
    try:
        function(*(np.zeros(1, bool) for _ in inputs))
    except NameError:
        return None
    return function


class ArcLookup:
    """The arcs from one input (or the clock) to one output of a cell, at the instances' loads."""

    def __init__(self, cell: Cell, arcs: list[TimingArc], loads: np.ndarray, scale: float):
        if not arcs:
            raise ValueError(f"cell {cell.name}: no timing arc")
        self.scale = scale
        self.arcs = []
        for arc in arcs:
            tables = (arc.cell_rise, arc.cell_fall, arc.rise_transition, arc.fall_transition)
            if None in tables:
                raise ValueError(f"cell {cell.name}: a timing arc to {arc.pin} lacks a delay or slew table")
            self.arcs.append((_condition(arc.when, cell.inputs), _ArcTables(tables, loads)))

    def __call__(
        self,
        instances: np.ndarray,
        slew: np.ndarray,
        rising: np.ndarray,
        values: list[np.ndarray] | None = None,
    ) -> Lookup:
        """Delay and output slew of each event (1-D arrays): on instance ``instances``, input ``slew``,
        output ``rising``, ``values`` the input pins' values after the event (in the order of the cell's
        inputs; for the ``when`` conditions)."""
        found = self.arcs[0][1].at(instances, slew)
        if values is not None:
            for condition, tables in self.arcs:
                if condition is not None and (holds := condition(*values)).any():
                    found = np.where(holds[:, None], tables.at(instances, slew), found)
        return (
            self.scale * np.where(rising, found[:, 0], found[:, 1]),
            np.where(rising, found[:, 2], found[:, 3]),
        )


class DelayModel:
    """Where the timing-aware simulator gets its delays (see the module docstring)."""

    def arc(self, cell: Cell, input_pin: str, output_pin: str, loads: np.ndarray) -> ArcLookup:
        raise NotImplementedError

    def clock_to_output(self, cell: Cell, output_pin: str, loads: np.ndarray) -> ArcLookup:
        raise NotImplementedError


@dataclass(frozen=True)
class LibertyDelays(DelayModel):
    """The liberty's tables, every delay times ``scale`` (see the module docstring)."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.scale >= 0:
            raise ValueError(f"scale must be >= 0, got {self.scale!r}")

    def arc(self, cell: Cell, input_pin: str, output_pin: str, loads: np.ndarray) -> ArcLookup:
        arcs = [a for a in cell.timing if a.pin == output_pin and a.related_pin == input_pin]
        return ArcLookup(cell, arcs, loads, self.scale)

    def clock_to_output(self, cell: Cell, output_pin: str, loads: np.ndarray) -> ArcLookup:
        arcs = [a for a in cell.timing if a.pin == output_pin and a.related_pin == cell.clock_pin]
        return ArcLookup(cell, arcs, loads, self.scale)


class _Constant:
    """A fixed delay and output slew for every event."""

    def __init__(self, delay_ps: float, slew_ps: float):
        self.delay_ps, self.slew_ps = delay_ps, slew_ps

    def __call__(self, instances: np.ndarray, slew: np.ndarray, *_: object) -> Lookup:
        """The fixed delay and slew for each event (the output's direction and the inputs aside)."""
        return np.full(slew.shape, self.delay_ps), np.full(slew.shape, self.slew_ps)


@dataclass(frozen=True)
class FixedDelays(DelayModel):
    """Every arc of cell type ``name`` takes ``delays_ps[name]`` (``default_ps`` for the others), every
    output transition ``slew_ps``: delays one can count glitches by hand with."""

    delays_ps: dict
    default_ps: float = 1.0
    slew_ps: float = 10.0

    def _constant(self, cell: Cell) -> _Constant:
        return _Constant(float(self.delays_ps.get(cell.name, self.default_ps)), self.slew_ps)

    def arc(self, cell: Cell, input_pin: str, output_pin: str, loads: np.ndarray) -> _Constant:
        return self._constant(cell)

    def clock_to_output(self, cell: Cell, output_pin: str, loads: np.ndarray) -> _Constant:
        return self._constant(cell)
