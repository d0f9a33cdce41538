"""The reusable cocotb testbench of the MAC arrays: driver, monitor, scoreboard, run by one clocked loop.

In the style of cocotb's ``examples/matrix_multiplier``: a driver puts operations on the input ports, a
monitor takes what the array returns, and a scoreboard compares it with the model. All three work from one
:class:`sim.protocol.PreparedStimulus` (the payload words, the model's sums, the output decoder) and follow
the port rules of :mod:`sim.protocol`. For speed they are stepped by a single coroutine, two triggers per
clock cycle:

1. after ``RisingEdge(clk)``: the transfers decided in the previous cycle take effect, then the driver
   writes this cycle's inputs (``rst``, ``valid``, one packed integer per payload) and the monitor its
   ``ready`` (random backpressure);
2. in ``ReadOnly()``: every signal has settled; a handshake whose ``valid`` and ``ready`` are both high
   will complete at the next edge, so the driver marks its operation done and the monitor records the
   payload.

Random idle cycles on the inputs and random ``ready`` stalls on the output come from one seeded
``random.Random``; the whole run is reproducible from the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from sim.protocol import (
    CLOCK_PORT,
    OP_STREAMS,
    OUTPUT_STREAM,
    RESET_CYCLES,
    RESET_PORT,
    PreparedStimulus,
    StreamPorts,
)
from sim.stimulus import Op

#: Idle cycles after the last expected output during which nothing more may come out, beyond the latency.
QUIET_CYCLES = 3


class MismatchError(AssertionError):
    """The array's output differs from the model's."""


@dataclass(frozen=True)
class StreamHandles:
    """The simulator handles of one stream's ``valid``, ``ready`` and ``payload``."""

    valid: object
    ready: object
    payload: object

    @classmethod
    def of(cls, dut: object, ports: StreamPorts) -> StreamHandles:
        return cls(getattr(dut, ports.valid), getattr(dut, ports.ready), getattr(dut, ports.payload))


def _input_handles(dut: object) -> dict[Op, StreamHandles]:
    """The handles of the input streams ``dut`` has, by the kind of operation each carries."""
    return {
        kind: StreamHandles.of(dut, ports) for kind, ports in OP_STREAMS.items() if hasattr(dut, ports.valid)
    }


async def start_array(dut: object, clock_ns: int = 10) -> None:
    """Start the clock, hold the array in synchronous reset for :data:`~sim.protocol.RESET_CYCLES` cycles with
    every stream idle (the output not ready), then release the reset."""
    clock = getattr(dut, CLOCK_PORT)
    cocotb.start_soon(Clock(clock, clock_ns, unit="ns").start())
    getattr(dut, RESET_PORT).value = 1
    for stream in _input_handles(dut).values():
        stream.valid.value = 0
    getattr(dut, OUTPUT_STREAM.ready).value = 0
    for _ in range(RESET_CYCLES):
        await RisingEdge(clock)
    getattr(dut, RESET_PORT).value = 0


@dataclass
class Driver:
    """Drives the input streams (beats, tile loads) and ``rst`` op by op, following :mod:`sim.protocol`.

    A reset op with ``drain`` first waits until the monitor has taken every finished reduction's sums.
    """

    dut: object
    prepared: PreparedStimulus
    rng: random.Random
    idle: float = 0.0
    position: int = 0
    segment: int = 0
    beats_done: int = 0
    lasts_done: list[int] = field(default_factory=lambda: [0])
    _presented: int = -1
    _reset_left: int = 0
    _offered: StreamHandles | None = None

    def __post_init__(self) -> None:
        self._streams = _input_handles(self.dut)
        self._reset = getattr(self.dut, RESET_PORT)

    @property
    def finished(self) -> bool:
        return self.position >= len(self.prepared) and self._reset_left == 0

    @property
    def in_reset(self) -> bool:
        return bool(self._reset_left)

    def drive(self, monitor: Monitor) -> None:
        """After the clock edge: write this cycle's ``rst``, ``valid`` and payload."""
        if self._reset_left:
            self._count_down_reset()
            return
        offered = None
        if self.position < len(self.prepared):
            kind = self.prepared.kinds[self.position]
            if kind is Op.RESET:
                if self._may_reset(monitor):
                    self._start_reset()
                    return
            elif self.rng.random() >= self.idle:
                offered = self._present(kind)
        self._offer(offered)

    def _may_reset(self, monitor: Monitor) -> bool:
        """A reset without ``drain`` goes at once; with it, once every finished reduction's sums are in."""
        drained = monitor.taken[self.segment] >= self.lasts_done[self.segment]
        return not self.prepared.drain[self.position] or drained

    def _start_reset(self) -> None:
        self._reset.value = 1
        self._reset_left = RESET_CYCLES
        self._offer(None)

    def _count_down_reset(self) -> None:
        self._reset_left -= 1
        if self._reset_left == 0:
            self._reset.value = 0
            self.position += 1
            self.segment += 1
            self.lasts_done.append(0)

    def _present(self, kind: Op) -> StreamHandles:
        """Put the current op's payload on its stream (once) and return the stream."""
        stream = self._streams[kind]
        if self._presented != self.position:
            stream.payload.value = self.prepared.words[self.position]
            self._presented = self.position
        return stream

    def _offer(self, offered: StreamHandles | None) -> None:
        """``valid`` high on the ``offered`` stream only."""
        for stream in self._streams.values():
            stream.valid.value = int(stream is offered)
        self._offered = offered

    def sample(self) -> None:
        """In ReadOnly: the presented op completes at the next edge if its handshake is on."""
        if self._offered is None or self._reset_left or self.position >= len(self.prepared):
            return
        if self._offered.ready.value:
            if self.prepared.kinds[self.position] is Op.BEAT:
                self.beats_done += 1
                if self.prepared.last[self.position]:
                    self.lasts_done[self.segment] += 1
            self.position += 1

    def stop(self) -> None:
        """Every input stream idle."""
        self._offer(None)


@dataclass
class Monitor:
    """Takes ``o_stream`` transfers with random ``ready`` stalls; records each payload and its segment."""

    dut: object
    rng: random.Random
    stall: float = 0.0
    words: list[list[int]] = field(default_factory=lambda: [[]])
    cycles: list[list[int]] = field(default_factory=lambda: [[]])
    _ready: int = 0

    def __post_init__(self) -> None:
        self._stream = StreamHandles.of(self.dut, OUTPUT_STREAM)

    @property
    def taken(self) -> list[int]:
        return [len(w) for w in self.words]

    def new_segment(self) -> None:
        self.words.append([])
        self.cycles.append([])

    def drive(self) -> None:
        self._ready = int(self.rng.random() >= self.stall)
        self._stream.ready.value = self._ready

    def sample(self, cycle: int, in_reset: bool) -> None:
        if self._ready and not in_reset and self._stream.valid.value:
            self.words[-1].append(int(self._stream.payload.value))
            self.cycles[-1].append(cycle)


@dataclass
class RunResult:
    """What :func:`run_prepared` checked: the sums of each segment, and the beats transferred."""

    sums: list[np.ndarray]
    beats: int

    @property
    def outputs(self) -> int:
        return sum(len(s) for s in self.sums)


@dataclass
class Scoreboard:
    """Compares the monitor's outputs with the model's, segment by segment, in bulk."""

    prepared: PreparedStimulus
    config: str
    seed: int

    def check(self, monitor: Monitor) -> list[np.ndarray]:
        """Raise :class:`MismatchError` naming the config, seed, beat and rows at the first difference.

        Returns the checked sums of each segment, ``(outputs, M)`` int64.
        """
        expected = self.prepared.expected
        checked = []
        for segment, sums in enumerate(expected.sums):
            words = monitor.words[segment] if segment < len(monitor.words) else []
            self._check_count(segment, len(words), len(sums), expected.must_complete[segment])
            actual = self.prepared.decode_all(words)
            self._check_sums(segment, actual, sums[: len(words)], expected.last_op[segment])
            checked.append(actual)
        return checked

    def _fail(self, message: str) -> MismatchError:
        return MismatchError(f"[{self.config}, seed {self.seed}] {message}")

    def _check_count(self, segment: int, got: int, reductions: int, complete: bool) -> None:
        if got > reductions:
            raise self._fail(
                f"segment {segment}: {got} outputs, "
                f"but only {reductions} reductions ended there (an output leaked or was duplicated)"
            )
        if complete and got < reductions:
            raise self._fail(f"segment {segment}: only {got} of {reductions} outputs")

    def _check_sums(self, segment: int, actual: np.ndarray, wanted: np.ndarray, last_op: np.ndarray) -> None:
        bad = np.flatnonzero((actual != wanted).any(axis=1))
        if not bad.size:
            return
        i = int(bad[0])
        rows = ", ".join(
            f"row {r}: expected {wanted[i, r]} got {actual[i, r]}"
            for r in range(self.prepared.params.rows)
            if wanted[i, r] != actual[i, r]
        )
        raise self._fail(
            f"output {i} of segment {segment} "
            f"(reduction closed by beat {self.prepared.beat_number(int(last_op[i]))}): {rows}; "
            f"{bad.size} mismatching outputs in this segment"
        )


def default_timeout_cycles(prepared: PreparedStimulus, idle: float, stall: float) -> int:
    """A generous bound on the cycles ``prepared`` needs with ``idle`` and ``stall`` probabilities."""
    slack = 1.0 / max(1e-3, (1 - idle) * (1 - stall))
    return int((len(prepared) * (RESET_CYCLES + 1) + 100 + 10 * prepared.params.latency) * slack * 2)


def _all_taken(driver: Driver, monitor: Monitor, prepared: PreparedStimulus) -> bool:
    """Every op issued and, in the last segment, every expected output taken."""
    segments = len(prepared.expected.sums)
    wanted_last = len(prepared.expected.sums[-1])
    return driver.finished and len(monitor.words) == segments and monitor.taken[-1] >= wanted_last


async def _drive_until_done(
    dut: object, driver: Driver, monitor: Monitor, timeout_cycles: int, config: str, seed: int
) -> int:
    """Step driver and monitor cycle by cycle until every output is in; return the cycles taken."""
    prepared = driver.prepared
    clock = getattr(dut, CLOCK_PORT)
    cycle = 0
    while not _all_taken(driver, monitor, prepared):
        await RisingEdge(clock)
        cycle += 1
        if cycle > timeout_cycles:
            raise MismatchError(
                f"[{config}, seed {seed}] time-out after {cycle} cycles: "
                f"{driver.position} of {len(prepared)} ops issued, outputs per segment {monitor.taken}, "
                f"expected {[len(s) for s in prepared.expected.sums]}"
            )
        segment_before = driver.segment
        driver.drive(monitor)
        if driver.segment != segment_before:
            monitor.new_segment()
        monitor.drive()
        await ReadOnly()
        in_reset = driver.in_reset
        driver.sample()
        monitor.sample(cycle, in_reset)
    return cycle


async def _watch_quiet(dut: object, driver: Driver, monitor: Monitor, cycle: int) -> None:
    """A few idle cycles with the output ready: nothing more may come out (the scoreboard sees extras)."""
    clock = getattr(dut, CLOCK_PORT)
    monitor.stall = 0.0
    for _ in range(driver.prepared.params.latency + QUIET_CYCLES):
        await RisingEdge(clock)
        driver.stop()
        monitor.drive()
        await ReadOnly()
        monitor.sample(cycle, False)
    await RisingEdge(clock)


async def run_prepared(
    dut: object,
    prepared: PreparedStimulus,
    *,
    seed: int,
    config: str,
    idle: float = 0.0,
    stall: float = 0.0,
    timeout_cycles: int | None = None,
) -> RunResult:
    """Drive ``prepared`` into ``dut`` and check every output against the model's sums.

    Returns the checked outputs and the number of beats transferred. Raises :class:`MismatchError` on any
    difference, and on a time-out (an array that stops accepting beats or producing sums).
    """
    rng = random.Random(seed)
    driver = Driver(dut, prepared, rng, idle)
    monitor = Monitor(dut, rng, stall)
    if timeout_cycles is None:
        timeout_cycles = default_timeout_cycles(prepared, idle, stall)
    cycle = await _drive_until_done(dut, driver, monitor, timeout_cycles, config, seed)
    await _watch_quiet(dut, driver, monitor, cycle)
    return RunResult(Scoreboard(prepared, config, seed).check(monitor), driver.beats_done)
