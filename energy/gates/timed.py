"""Timing-aware activity: every transition of every net within a cycle, glitches included, in NumPy.

The zero-delay simulator (:class:`energy.gates.gatesim.GateSimulator`) settles each net once per cycle,
so a net toggles at most once. In silicon a net whose inputs arrive at different times can change several
times before it settles (a glitch), and each change costs energy. :class:`TimedSimulator` is a second mode
of the same simulator that produces those transitions: a **waveform-based** simulation, level by level,
of the mapped netlist with the delays of :mod:`energy.gates.delays` (the liberty's NLDM tables at each
instance's load and each event's propagated slew, by default).

Why this and not an event-driven simulator with an SDF file (Icarus Verilog on the ASAP7 cell models): the
study's netlists hold up to 100,000 cells per measured row, and an event-driven interpreter walks them
event by event in one thread; here each (level, cell type) group is evaluated for all its instances with a
few NumPy expressions per cycle, as the zero-delay mode does, and no file is written or compiled. Its
speed on the study's netlists is measured by ``benchmarks/glitches.py`` (``benchmarks/RESULTS.md``).

The model, per clock cycle (the cycle is taken long enough for every net to settle, as the zero-delay
model assumes; the critical-path estimate says what clock that takes):

- **Sources.** Each flip-flop output that changes does so at its clock-to-output delay (the ``CLK`` arc
  at slew ``clock_slew_ps`` and the output's load). Each input port that changes does so as if a
  flip-flop of type ``port_driver`` drove it from the same clock edge (its clock-to-output arc at the
  port's load: the array sits between registers, and an ideal port at 0 ps would skew the port-fed logic
  against the register-fed logic by a clock-to-output delay and count glitches that would not happen),
  or without a ``port_driver`` at 0 ps with slew ``input_slew_ps``. Tie cells never change.
- **A waveform** per net: its value at the start of the cycle (the previous cycle's settled value) and its
  transitions in time order, each with a time and a slew.
- **A cell** evaluates its function at each instant an input changes (inputs changing at the same instant
  are one evaluation, so zero-width pulses never arise); where the output value changes, a transition is
  scheduled at that instant plus the delay of the arc from the changing input (when several inputs change
  at one instant, the arc of the last of them in the cell's pin order), for the output's direction, read
  at the input event's slew; it leaves the arc's output slew.
- **Inertial delay** (the rule of Verilog's gate primitives and of the VITAL/SDF default pulse rejection
  at 100 %): a scheduled transition that comes less than its own delay after the output's previous kept
  transition, or not after it, cancels that transition and is itself dropped: a pulse shorter than the
  delay of the cell that would end it is filtered, and an output's kept transitions stay in time order
  and alternate in direction.

Checked every cycle: each net's settled value (its start value changed by its transitions) equals the
zero-delay simulator's (which the bench checks against the golden model); a mismatch raises
``AssertionError``. With every delay zero (``LibertyDelays(scale=0)``) each net changes at most once, at
0 ps, and the counts equal the zero-delay mode's (a test checks it, and a hand-counted XOR circuit).
"""

from __future__ import annotations

import numpy as np

from energy.gates.circuit import Circuit
from energy.gates.delays import DelayModel, LibertyDelays
from energy.gates.gatesim import CellGroup, GateSimulator
from energy.gates.liberty import Cell
from energy.gates.power import DEFAULT_SLEW_PS

#: Transition slots per net reserved at first (grown when a net needs more).
INITIAL_SLOTS = 4


class _GroupTiming:
    """The arcs of one cell group at its instances' loads: ``arcs[output][input]``."""

    def __init__(self, group: CellGroup, loads: np.ndarray, delays: DelayModel):
        self.arcs = [
            [delays.arc(group.cell, p, pin, loads[nets]) for p in group.cell.inputs]
            for pin, nets, _ in group.outputs
        ]


class TimedSimulator(GateSimulator):
    """The gate simulator with delays: see the module docstring.

    Parameters
    ----------
    circuit : Circuit
        The mapped netlist and its library (its loads include the modelled wires when it was built with
        them: :mod:`energy.gates.parasitics`).
    delays : DelayModel
        The delays (default :class:`energy.gates.delays.LibertyDelays`).
    input_slew_ps, clock_slew_ps : float
        The slew of the input ports' transitions and of the clock at the flip-flops.
    port_driver : Cell, optional
        A flip-flop cell: the input ports then change as if it drove them from the same clock edge (its
        clock-to-output delay and slew at the port's load), not at 0 ps with ``input_slew_ps``.

    Members
    -------
    counts : numpy.ndarray
        Transitions of each net in the cycle last settled (:meth:`transitions` returns them).
    """

    def __init__(
        self,
        circuit: Circuit,
        delays: DelayModel | None = None,
        *,
        input_slew_ps: float = DEFAULT_SLEW_PS,
        clock_slew_ps: float = DEFAULT_SLEW_PS,
        port_driver: Cell | None = None,
    ):
        super().__init__(circuit)
        if not input_slew_ps > 0 or not clock_slew_ps > 0:
            raise ValueError(
                f"input_slew_ps and clock_slew_ps must be positive, got {input_slew_ps}, {clock_slew_ps}"
            )
        delays = delays or LibertyDelays()
        load_by_index = np.array([circuit.load.get(name, 0.0) for name in self.net_names])
        self._timing = [_GroupTiming(g, load_by_index, delays) for g in self.groups]
        self._clock = [
            delays.clock_to_output(f.cell, f.pin, load_by_index[f.nets]) for f in self.flop_outputs
        ]
        self.input_slew_ps, self.clock_slew_ps = input_slew_ps, clock_slew_ps
        self._ports = np.array(sorted({self.net_index(n) for n in self.netlist.inputs}), int)
        self._port_driver = None
        if port_driver is not None:
            output = port_driver.outputs[0]
            self._port_driver = delays.clock_to_output(port_driver, output, load_by_index[self._ports])
        nets = len(self.values)
        self.counts = np.zeros(nets, np.int64)
        self._times = np.full((nets, INITIAL_SLOTS), np.inf)
        self._slews = np.zeros((nets, INITIAL_SLOTS))
        super().settle()  # the state the first cycle starts from: flip-flops at 0, inputs at 0
        self._settled = self.values.copy()

    def settle(self) -> None:
        """Settle as the zero-delay model does, then derive every net's waveform and check its end."""
        super().settle()
        self.counts[:] = 0
        self._launch()
        for group, timing in zip(self.groups, self._timing, strict=True):
            self._evaluate(group, timing)
        final = self._settled ^ (self.counts & 1).astype(bool)
        wrong = np.flatnonzero(final != self.values)
        wrong = wrong[wrong != self.scratch]
        if len(wrong):
            raise AssertionError(
                f"timing-aware simulation: net {self.net_names[wrong[0]]!r} settles to "
                f"{int(final[wrong[0]])}, the zero-delay value is {int(self.values[wrong[0]])}"
            )
        self._settled = self.values.copy()

    def waveform(self, net: str) -> list[tuple[float, float]]:
        """The transitions of ``net`` in the cycle last settled: ``(time ps, slew ps)`` in time order."""
        index = self.net_index(net)
        count = self.counts[index]
        times, slews = self._times[index, :count].tolist(), self._slews[index, :count].tolist()
        return list(zip(times, slews, strict=True))

    def transitions(self, previous: np.ndarray) -> np.ndarray:
        """Every transition of every net in the cycle just settled, glitches included."""
        return self.counts.copy()

    def _launch(self) -> None:
        """The sources' one transition each: the input ports at 0 ps (or after their driver's clock arc),
        the flip-flop outputs after CLK (every source's waveform is written, an unchanged one empty)."""
        ports = self._ports
        changed = np.flatnonzero(self.values[ports] != self._settled[ports])
        times = np.full((len(ports), 1), np.inf)
        slews = np.full((len(ports), 1), self.input_slew_ps)
        times[changed, 0] = 0.0
        if self._port_driver is not None and len(changed):
            slew = np.full(len(changed), self.clock_slew_ps)
            rising = self.values[ports[changed]]
            times[changed, 0], slews[changed, 0] = self._port_driver(changed, slew, rising)
        self._write(ports, times, slews)
        for flops, clock in zip(self.flop_outputs, self._clock, strict=True):
            moved = np.flatnonzero(self.values[flops.nets] != self._settled[flops.nets])
            times, slews = np.full((len(flops.nets), 1), np.inf), np.zeros((len(flops.nets), 1))
            if len(moved):
                slew = np.full(len(moved), self.clock_slew_ps)
                times[moved, 0], slews[moved, 0] = clock(moved, slew, self.values[flops.nets[moved]])
            self._write(flops.nets, times, slews)

    def _write(self, nets: np.ndarray, times: np.ndarray, slews: np.ndarray) -> None:
        """Store the waveforms ``times``/``slews`` (rows padded with ``inf`` times) of ``nets``."""
        width = times.shape[1]
        if width > self._times.shape[1]:
            grown = max(width, 2 * self._times.shape[1])
            extra = grown - self._times.shape[1]
            self._times = np.pad(self._times, ((0, 0), (0, extra)), constant_values=np.inf)
            self._slews = np.pad(self._slews, ((0, 0), (0, extra)))
        self._times[nets] = np.inf
        self._times[nets, :width] = times
        self._slews[nets, :width] = slews
        self.counts[nets] = np.isfinite(times).sum(axis=1)

    def _inputs(self, group: CellGroup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The group's input events merged in time order: times, slews and the input pin of each."""
        widths = [int(self.counts[nets].max()) if len(nets) else 0 for nets in group.inputs]
        times = np.concatenate(
            [self._times[nets, :w] for nets, w in zip(group.inputs, widths, strict=True)], axis=1
        )
        slews = np.concatenate(
            [self._slews[nets, :w] for nets, w in zip(group.inputs, widths, strict=True)], axis=1
        )
        pins = np.repeat(np.arange(len(widths)), widths)
        order = np.argsort(times, axis=1, kind="stable")
        return (
            np.take_along_axis(times, order, axis=1),
            np.take_along_axis(slews, order, axis=1),
            pins[order],
        )

    def _evaluate(self, group: CellGroup, timing: _GroupTiming) -> None:
        times, slews, pins = self._inputs(group)
        outputs = [
            (nets, function, arcs)
            for (_, nets, function), arcs in zip(group.outputs, timing.arcs, strict=True)
        ]
        if not np.isfinite(times).any():  # no input changed: no output changes
            for nets, _, _ in outputs:
                kept = nets[nets != self.scratch]
                self._write(kept, np.empty((len(kept), 0)), np.empty((len(kept), 0)))
            return
        valid = np.isfinite(times)
        start = [self._settled[nets] for nets in group.inputs]
        values = [
            start[p][:, None] ^ (np.cumsum((pins == p) & valid, axis=1) & 1).astype(bool)
            for p in range(len(group.inputs))
        ]
        following = np.concatenate([times[:, 1:], np.full((len(times), 1), np.inf)], axis=1)
        instant = valid & (times < following)  # the last event of each instant: its inputs are complete
        for nets, function, arcs in outputs:
            self._output(nets, function(*values), arcs, times, slews, pins, values, instant)

    def _output(self, nets, sequence, arcs, times, slews, pins, values, instant) -> None:
        """One output pin's waveform from its value after each input event (``sequence``)."""
        before = self._settled[nets]
        positions = np.where(instant, np.arange(times.shape[1]), -1)
        latest = np.maximum.accumulate(positions, axis=1)
        value = np.where(
            latest >= 0, np.take_along_axis(sequence, np.maximum(latest, 0), axis=1), before[:, None]
        )
        previous = np.concatenate([before[:, None], value[:, :-1]], axis=1)
        rows, columns = np.nonzero(instant & (value != previous))  # row by row, in time order
        keep = nets != self.scratch
        if not len(rows):
            self._write(nets[keep], np.empty((int(keep.sum()), 0)), np.empty((int(keep.sum()), 0)))
            return
        delay, out_slew = np.zeros(len(rows)), np.zeros(len(rows))
        pin = pins[rows, columns]
        after = [v[rows, columns] for v in values]
        for p, arc in enumerate(arcs):
            here = np.flatnonzero(pin == p)
            if len(here):
                at = rows[here], columns[here]
                delay[here], out_slew[here] = arc(rows[here], slews[at], value[at], [v[here] for v in after])
        kept_times, kept_slews = _inertial(len(nets), rows, times[rows, columns] + delay, delay, out_slew)
        self._write(nets[keep], kept_times[keep], kept_slews[keep])


def _inertial(count: int, rows: np.ndarray, arrival: np.ndarray, delay: np.ndarray, slew: np.ndarray):
    """The kept transitions of each of ``count`` outputs (times padded with ``inf``, and slews) from its
    scheduled ones (``rows`` says whose, in the order they were caused) under the inertial rule of the
    module docstring: a stack per output, one scheduled transition of each at a time."""
    starts = np.searchsorted(rows, np.arange(count))
    rank = np.arange(len(rows)) - starts[rows]  # the k-th scheduled transition of its output
    most = int(rank.max()) + 1 if len(rows) else 0
    kept = np.full((count, max(most, 1)), np.inf)
    kept_slew = np.zeros(kept.shape)
    if most <= 1:  # one transition at most: nothing to filter
        kept[rows, 0], kept_slew[rows, 0] = arrival, slew
        return kept[:, :most], kept_slew[:, :most]
    same = np.zeros(len(rows), bool)
    same[1:] = rows[1:] == rows[:-1]
    close = same.copy()
    close[1:] &= (arrival[1:] - arrival[:-1] < delay[1:]) | (arrival[1:] <= arrival[:-1])
    contested = np.zeros(count, bool)
    contested[rows[close]] = True
    free = ~contested[rows]  # outputs with no scheduled pair too close: every transition is kept
    kept[rows[free], rank[free]], kept_slew[rows[free], rank[free]] = arrival[free], slew[free]
    depth = np.where(contested, 0, np.bincount(rows, minlength=count))
    for k in range(most if contested.any() else 0):
        at = np.flatnonzero((rank == k) & ~free)
        owner, time = rows[at], arrival[at]
        height = depth[owner]
        top = np.where(height > 0, kept[owner, np.maximum(height - 1, 0)], -np.inf)
        cancel = (height > 0) & ((time - top < delay[at]) | (time <= top))
        depth[owner[cancel]] -= 1
        push = ~cancel
        kept[owner[push], height[push]] = time[push]
        kept_slew[owner[push], height[push]] = slew[at[push]]
        depth[owner[push]] += 1
    kept[np.arange(kept.shape[1])[None, :] >= depth[:, None]] = np.inf
    width = int(depth.max()) if count else 0
    return kept[:, :width], kept_slew[:, :width]
