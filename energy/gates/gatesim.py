"""A cycle-based, zero-delay simulator of a mapped gate-level netlist in NumPy, for switching activity.

Why it exists. cocotb's Verilator flow builds a simulator with every net public and traced; for a netlist
of standard cells that C++ grows with the cell count (a 13,000-cell FP16 array: 68 MB of C++, 3.5 minutes
of compilation), so the FP16 baseline at 16 or 64 lanes (hundreds of thousands of cells) cannot be
measured that way in a session. This simulator needs no compilation: it levelizes the combinational
cells once and then evaluates each level's cells of one type with one NumPy expression per cycle, so a
cycle costs a few thousand array operations whatever the cell count.

Semantics (the same as a Verilator run of the cell models of :mod:`energy.gates.cells`, which the tests
check):

- every net holds 0 or 1; one evaluation per clock cycle: the flip-flops take their next state at the
  rising edge, the input ports take their new values at the same edge (as if driven by upstream registers
  on the same clock), and the combinational logic settles once. Toggles are counted between the settled
  values of consecutive cycles, so glitches are not modeled (neither are they by the Verilator flow);
- combinational outputs are the liberty ``function`` of the cell; a flip-flop (``ff (state, ...)``) takes
  ``next_state`` at the rising edge of ``clocked_on``, which must be the clock port; its outputs are their
  ``function`` of the state. Flip-flops start at state 0 (the testbench resets the array first);
- the clock net toggles twice per cycle.

The driver (:func:`simulate`, :func:`simulate_prepared`) runs a :class:`sim.protocol.PreparedStimulus` of
beats and weight loads at full throughput (no idle cycles, output always ready) by the port rules of
:mod:`sim.protocol`, the ones the cocotb bench (:class:`sim.bench.Driver`) follows, and checks every output
sum against the model's, so the activity comes from a run that is proven bit-exact.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from energy.gates.activity import Activity
from energy.gates.cells import numpy_function
from energy.gates.circuit import Circuit
from energy.gates.liberty import Cell
from energy.gates.netlist import Instance
from hw.params import ArrayParams
from sim.protocol import (
    CLOCK_PORT,
    OUTPUT_STREAM,
    RESET_CYCLES,
    RESET_PORT,
    PreparedStimulus,
    StreamPorts,
    prepare,
)
from sim.stimulus import Op, Stimulus


def _function(cell: Cell, pin: str) -> str:
    function = cell.pins[pin].function
    if function is None:
        raise ValueError(f"cell {cell.name}: output {pin} has no function")
    return function


@dataclass
class CellGroup:
    """Cells of one type at one level: the cell, the instances, the net indices of each input pin (in the
    order of ``cell.inputs``) and, per connected output pin, its name, net indices and evaluator."""

    cell: Cell
    instances: list[Instance]
    inputs: list[np.ndarray]
    outputs: list[tuple[str, np.ndarray, Callable[..., np.ndarray]]]


@dataclass
class FlopOutputs:
    """The flip-flops of one cell type driving output ``pin``: their state slots, the nets they drive and
    the output's function of the state."""

    cell: Cell
    pin: str
    slots: np.ndarray
    nets: np.ndarray
    function: Callable[..., np.ndarray]


class GateSimulator:
    """A levelized NumPy model of ``netlist`` with the cells of ``library`` (see the module docstring)."""

    def __init__(self, circuit: Circuit):
        self.netlist = circuit.netlist
        self._index = self._number_nets(circuit)
        self._constant = self._net("<constant 0>")  # unconnected inputs read 0
        self.scratch = self._net("<unconnected outputs>")  # unconnected outputs write here
        flops = circuit.flops
        self.flop_count = len(flops)
        self._flop_next: list[tuple[np.ndarray, Callable[..., np.ndarray], list[np.ndarray]]] = []
        #: The flip-flop outputs by cell type and pin, and the combinational groups in level order.
        self.flop_outputs: list[FlopOutputs] = []
        self._build_flops(flops)
        self.groups = self._build_groups(circuit)
        self.depth = circuit.depth
        self.net_names = list(self._index)
        self.values = np.zeros(len(self._index), bool)
        self.state = np.zeros(self.flop_count, bool)

    @staticmethod
    def _number_nets(circuit: Circuit) -> dict[str, int]:
        """Net name -> index: the ports first, then the nets in netlist order."""
        names: dict[str, int] = {}
        for net in [*circuit.netlist.inputs, *circuit.netlist.outputs]:
            names.setdefault(net, len(names))
        for instance, _ in circuit.cells:
            for net in instance.pins.values():
                names.setdefault(net, len(names))
        return names

    def _net(self, net: str) -> int:
        return self._index.setdefault(net, len(self._index))

    def _pin_nets(self, instances: list[Instance], pin: str, missing: int) -> np.ndarray:
        """The net index of ``pin`` of every instance (``missing`` where the pin is unconnected)."""
        return np.array([self._net(i.pins[pin]) if pin in i.pins else missing for i in instances])

    def _build_flops(self, flops: list[tuple[Instance, Cell]]) -> None:
        """The state vector's next-state groups by cell type, and the outputs as functions of the state."""
        by_type: dict[str, list[Instance]] = defaultdict(list)
        cells: dict[str, Cell] = {}
        for instance, cell in flops:
            if cell.ff is None:
                raise ValueError(f"cell {cell.name}: a sequential cell without an ff group is not supported")
            if instance.pins.get(cell.clock_pin) != CLOCK_PORT:
                raise ValueError(f"instance {instance.name}: flip-flops must be clocked by {CLOCK_PORT!r}")
            by_type[cell.name].append(instance)
            cells[cell.name] = cell
        position = 0
        for cell_name, instances in by_type.items():
            cell = cells[cell_name]
            state, clocked_on, next_state = cell.ff
            slots = np.arange(position, position + len(instances))
            position += len(instances)
            pins = [p for p in cell.inputs if p != clocked_on.strip('"').strip()]
            pin_nets = [self._pin_nets(instances, p, self._constant) for p in pins]
            self._flop_next.append((slots, numpy_function(next_state, pins), pin_nets))
            for pin in cell.outputs:
                nets = self._pin_nets(instances, pin, -1)
                keep = nets >= 0
                self.flop_outputs.append(
                    FlopOutputs(
                        cell, pin, slots[keep], nets[keep], numpy_function(_function(cell, pin), [state])
                    )
                )

    def _build_groups(self, circuit: Circuit) -> list[CellGroup]:
        """One group per (level, cell type) of the combinational cells, in level order."""
        by_level: dict[tuple[int, str], list[Instance]] = defaultdict(list)
        cells: dict[str, Cell] = {}
        for placed in circuit.levels:
            by_level[(placed.level, placed.cell.name)].append(placed.instance)
            cells[placed.cell.name] = placed.cell
        groups = []
        for (_, cell_name), instances in sorted(by_level.items()):
            cell = cells[cell_name]
            inputs = [self._pin_nets(instances, p, self._constant) for p in cell.inputs]
            outputs = [
                (
                    pin,
                    self._pin_nets(instances, pin, self.scratch),
                    numpy_function(_function(cell, pin), cell.inputs),
                )
                for pin in cell.outputs
                if any(pin in i.pins for i in instances)
            ]
            groups.append(CellGroup(cell, instances, inputs, outputs))
        return groups

    def net_index(self, net: str) -> int:
        """The index in :attr:`values` of ``net`` (any of the names it goes by)."""
        return self._index[self.netlist.canonical(net)]

    def port(self, name: str) -> np.ndarray:
        """The net indices of port ``name``, least significant bit first (a port bit joined to another net
        by an ``assign`` is that net)."""
        canonical = self.netlist.canonical
        if canonical(name) in self._index:
            return np.array([self._index[canonical(name)]])
        bits = []
        while canonical(f"{name}[{len(bits)}]") in self._index:
            bits.append(self._index[canonical(f"{name}[{len(bits)}]")])
        if not bits:
            raise ValueError(f"the netlist has no port {name!r}")
        return np.array(bits)

    def settle(self) -> None:
        """Drive the flip-flop outputs from the state and evaluate the combinational levels."""
        values = self.values
        for flops in self.flop_outputs:
            values[flops.nets] = flops.function(self.state[flops.slots])
        for group in self.groups:
            operands = [values[nets] for nets in group.inputs]
            for _, nets, function in group.outputs:
                values[nets] = function(*operands)

    def transitions(self, previous: np.ndarray) -> np.ndarray:
        """Transitions of every net in the cycle just settled, from the values ``previous`` it held: at most
        one each in this zero-delay model (a subclass that models delays counts the glitches too)."""
        return (self.values != previous).astype(np.int64)

    def clock(self) -> None:
        """The rising edge: every flip-flop takes its next state from the settled values."""
        for slots, function, pin_nets in self._flop_next:
            self.state[slots] = function(*(self.values[nets] for nets in pin_nets))


def _bits_of(value: int, width: int) -> np.ndarray:
    return np.array([(value >> i) & 1 for i in range(width)], bool)


def _integer(bits: np.ndarray) -> int:
    return int(sum(1 << i for i, bit in enumerate(bits.tolist()) if bit))


@dataclass
class GateRun:
    """What :func:`simulate` measured: the activity in its window (every transition the simulator counts),
    beats, MACs and outputs checked, and the settled-value activity (at most one toggle per net and
    cycle: the zero-delay count, the same as ``activity`` for :class:`GateSimulator` itself)."""

    activity: Activity
    cycles: int
    beats: int
    outputs: int
    settled_activity: Activity | None = None


@dataclass(frozen=True)
class _StreamNets:
    """The net indices of one stream's ``valid``, ``ready`` and ``payload`` bits."""

    valid: np.ndarray
    ready: np.ndarray
    payload: np.ndarray

    @classmethod
    def of(cls, simulator: GateSimulator, ports: StreamPorts) -> _StreamNets:
        return cls(simulator.port(ports.valid), simulator.port(ports.ready), simulator.port(ports.payload))


class _GateBench:
    """One checked run of a prepared stimulus through a :class:`GateSimulator`, cycle by cycle."""

    def __init__(self, simulator: GateSimulator, prepared: PreparedStimulus):
        self.simulator = simulator
        self.prepared = prepared
        self.sums = prepared.sums
        self.inputs = {kind: _StreamNets.of(simulator, ports) for kind, ports in prepared.streams.items()}
        self.output = _StreamNets.of(simulator, OUTPUT_STREAM)
        self.reset_nets = simulator.port(RESET_PORT)
        self.limit = 20 * (len(prepared) + prepared.params.latency + 10)
        self.toggles = np.zeros(len(simulator.values), np.int64)
        self.settled_toggles = np.zeros(len(simulator.values), np.int64)
        self.previous = simulator.values.copy()
        self.position = self.taken = self.cycles = self.beats = 0

    @property
    def done(self) -> bool:
        return self.taken >= len(self.sums)

    def reset(self) -> None:
        """The output ready from now on; ``rst`` high for RESET_CYCLES cycles, then low."""
        values = self.simulator.values
        values[self.output.ready] = True
        values[self.reset_nets] = True
        for _ in range(RESET_CYCLES):
            self.simulator.settle()
            self.simulator.clock()
        self.previous = values.copy()  # the window starts with rst falling: its toggle is counted
        values[self.reset_nets] = False

    def cycle(self) -> None:
        """One clock cycle: offer the current op, settle, count toggles, take the output, clock."""
        self.cycles += 1
        if self.cycles > self.limit:
            raise AssertionError(
                f"{self.prepared.params.default_name()}: only {self.taken} of {len(self.sums)} sums "
                f"after {self.limit} cycles"
            )
        kind = self._offer()
        self.simulator.settle()
        self._count_toggles()
        self._check_output()
        self._accept(kind)
        self.simulator.clock()

    def _offer(self) -> Op | None:
        """``valid`` high on the current op's stream only, with the op's payload on it."""
        values = self.simulator.values
        kind = self.prepared.kinds[self.position] if self.position < len(self.prepared) else None
        for stream_kind, nets in self.inputs.items():
            values[nets.valid] = stream_kind == kind
        if kind in self.inputs:
            payload = self.inputs[kind].payload
            values[payload] = _bits_of(self.prepared.words[self.position], len(payload))
        return kind

    def _count_toggles(self) -> None:
        values = self.simulator.values
        self.toggles += self.simulator.transitions(self.previous)
        self.settled_toggles += values != self.previous
        self.previous[:] = values

    def _check_output(self) -> None:
        """Take the output when it is valid (it is always ready) and compare it with the model's word."""
        values = self.simulator.values
        if not values[self.output.valid][0]:
            return
        word = _integer(values[self.output.payload])
        if word != self.prepared.output_words[self.taken]:
            self._report_wrong_sum(word)
        self.taken += 1

    def _report_wrong_sum(self, word: int) -> None:
        params = self.prepared.params
        got, want = self.prepared.decode(word), self.sums[self.taken]
        rows = [r for r in range(params.rows) if got[r] != want[r]]
        raise AssertionError(
            f"{params.default_name()}: gate-level sum {self.taken} wrong in rows {rows}: "
            f"expected {want[rows].tolist()} got {got[rows].tolist()}"
        )

    def _accept(self, kind: Op | None) -> None:
        """The offered op completes at this edge when its stream is ready."""
        nets = self.inputs.get(kind)
        if nets is not None and self.simulator.values[nets.ready][0]:
            self.beats += kind is Op.BEAT
            self.position += 1

    def activity(self, clock_ps: float, *, settled: bool = False) -> Activity:
        """The transitions per net (the clock: two per cycle) over the run's window, or with ``settled``
        only the changes of the settled values (at most one per net per cycle: the zero-delay count)."""
        toggles = self.settled_toggles if settled else self.toggles
        counts = Counter(
            {
                name: int(t)
                for name, t in zip(self.simulator.net_names, toggles.tolist(), strict=True)
                if t and not name.startswith("<")  # the internal constant and scratch nets
            }
        )
        counts[CLOCK_PORT] = 2 * self.cycles
        return Activity(counts, 0.0, self.cycles * clock_ps)


def _check_beats_and_loads(kind: np.ndarray) -> None:
    if not np.isin(kind, [Op.BEAT, Op.LOAD]).all():
        raise ValueError("stimulus must hold beats and weight loads only (no resets)")


def simulate_prepared(
    simulator: GateSimulator, prepared: PreparedStimulus, *, clock_ps: float = 1000.0
) -> GateRun:
    """Run ``prepared`` (beats and loads, no resets; :func:`sim.protocol.prepare`) through the netlist at
    full throughput, check every output sum against the model's, and count toggles per net from the first
    cycle after reset to the cycle that delivers the last sum. Raises ``AssertionError`` naming the first
    wrong sum."""
    if not isinstance(prepared, PreparedStimulus):
        raise TypeError(f"prepared must be a sim.protocol.PreparedStimulus, got {type(prepared).__name__}")
    _check_beats_and_loads(prepared.stimulus.kind)
    bench = _GateBench(simulator, prepared)
    bench.reset()
    while not bench.done:
        bench.cycle()
    return GateRun(
        bench.activity(clock_ps),
        bench.cycles,
        bench.beats,
        bench.taken,
        bench.activity(clock_ps, settled=True),
    )


def simulate(
    simulator: GateSimulator, params: ArrayParams, stimulus: Stimulus, *, clock_ps: float = 1000.0
) -> GateRun:
    """:func:`simulate_prepared` on ``stimulus`` prepared for ``params`` (:func:`sim.protocol.prepare`)."""
    _check_beats_and_loads(stimulus.kind)
    return simulate_prepared(simulator, prepare(params, stimulus), clock_ps=clock_ps)
