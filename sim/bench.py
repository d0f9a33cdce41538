"""The reusable cocotb testbench of the MAC arrays: driver, monitor, scoreboard, run by one clocked loop.

In the style of cocotb's ``examples/matrix_multiplier``: a driver puts operations on the input ports, a
monitor takes what the array returns, and a scoreboard compares it with the model. For speed all three are
stepped by a single coroutine, two triggers per clock cycle:

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

from hw.layout import unpack_output
from hw.params import ArrayParams
from sim.stimulus import BEAT, LOAD, RESET, Expected, Stimulus, expected_outputs, payloads

#: Cycles the reset op holds ``rst`` high.
RESET_CYCLES = 2


class MismatchError(AssertionError):
    """The array's output differs from the model's."""


async def start_array(dut, clock_ns: int = 10) -> None:
    """Start the clock, hold the array in synchronous reset for two cycles with every stream idle (the
    output not ready), then release the reset."""
    cocotb.start_soon(Clock(dut.clk, clock_ns, unit="ns").start())
    dut.rst.value = 1
    dut.i_stream__valid.value = 0
    dut.o_stream__ready.value = 0
    if hasattr(dut, "w_stream__valid"):
        dut.w_stream__valid.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


@dataclass
class Driver:
    """Drives ``i_stream`` (beats), ``w_stream`` (tile loads, stationary arrays) and ``rst``, op by op.

    An op is presented only after the previous one completed, so a beat never overtakes a load. A reset op
    with ``drain`` first waits until the monitor has taken every finished reduction's sums.
    """

    dut: object
    stimulus: Stimulus
    words: list[int]
    rng: random.Random
    idle: float = 0.0
    position: int = 0
    segment: int = 0
    _presented: int = -1
    _reset_left: int = 0
    beats_done: int = 0
    lasts_done: list[int] = field(default_factory=lambda: [0])

    def __post_init__(self) -> None:
        self._kind = self.stimulus.kind.tolist()
        self._last = self.stimulus.last.tolist()
        self._drain = self.stimulus.drain.tolist()
        self._has_w = hasattr(self.dut, "w_stream__valid")
        self._i_valid = self._w_valid = False

    @property
    def finished(self) -> bool:
        return self.position >= len(self._kind) and self._reset_left == 0

    def drive(self, monitor: Monitor) -> None:
        dut = self.dut
        if self._reset_left:
            self._reset_left -= 1
            if self._reset_left == 0:
                dut.rst.value = 0
                self.position += 1
                self.segment += 1
                self.lasts_done.append(0)
            return
        i_valid = w_valid = 0
        if self.position < len(self._kind):
            kind = self._kind[self.position]
            if kind == RESET:
                if (
                    not self._drain[self.position]
                    or monitor.taken[self.segment] >= self.lasts_done[self.segment]
                ):
                    dut.rst.value = 1
                    self._reset_left = RESET_CYCLES
                    self._i_valid = self._w_valid = False
                    dut.i_stream__valid.value = 0
                    if self._has_w:
                        dut.w_stream__valid.value = 0
                    return
            elif self.rng.random() >= self.idle:
                if self._presented != self.position:
                    port = dut.i_stream__payload if kind == BEAT else dut.w_stream__payload
                    port.value = self.words[self.position]
                    self._presented = self.position
                i_valid, w_valid = kind == BEAT, kind == LOAD
        dut.i_stream__valid.value = int(i_valid)
        if self._has_w:
            dut.w_stream__valid.value = int(w_valid)
        self._i_valid, self._w_valid = i_valid, w_valid

    def sample(self) -> None:
        """In ReadOnly: the presented op completes at the next edge if its handshake is on."""
        if self._reset_left or self.position >= len(self._kind):
            return
        if self._i_valid and self.dut.i_stream__ready.value:
            self.beats_done += 1
            if self._last[self.position]:
                self.lasts_done[self.segment] += 1
            self.position += 1
        elif self._w_valid and self.dut.w_stream__ready.value:
            self.position += 1


@dataclass
class Monitor:
    """Takes ``o_stream`` transfers with random ``ready`` stalls; records each payload and its segment."""

    dut: object
    rng: random.Random
    stall: float = 0.0
    words: list[list[int]] = field(default_factory=lambda: [[]])
    cycles: list[list[int]] = field(default_factory=lambda: [[]])
    _ready: int = 0

    @property
    def taken(self) -> list[int]:
        return [len(w) for w in self.words]

    def new_segment(self) -> None:
        self.words.append([])
        self.cycles.append([])

    def drive(self) -> None:
        self._ready = int(self.rng.random() >= self.stall)
        self.dut.o_stream__ready.value = self._ready

    def sample(self, cycle: int, in_reset: bool) -> None:
        if self._ready and not in_reset and self.dut.o_stream__valid.value:
            self.words[-1].append(int(self.dut.o_stream__payload.value))
            self.cycles[-1].append(cycle)


@dataclass
class RunResult:
    """What :func:`run_stimulus` checked: the sums of each segment, and the beats transferred."""

    sums: list[np.ndarray]
    beats: int

    @property
    def outputs(self) -> int:
        return sum(len(s) for s in self.sums)


@dataclass
class Scoreboard:
    """Compares the monitor's outputs with the model's, segment by segment, in bulk."""

    params: ArrayParams
    expected: Expected
    config: str
    seed: int

    def check(self, monitor: Monitor, driver: Driver) -> list[np.ndarray]:
        """Raise :class:`MismatchError` naming the config, seed, beat and rows at the first difference.

        Returns the checked sums of each segment, ``(outputs, M)`` int64.
        """
        checked = []
        for segment, (sums, last_op, complete) in enumerate(
            zip(self.expected.sums, self.expected.last_op, self.expected.must_complete, strict=True)
        ):
            words = monitor.words[segment] if segment < len(monitor.words) else []
            if len(words) > len(sums):
                raise MismatchError(
                    f"[{self.config}, seed {self.seed}] segment {segment}: {len(words)} outputs, "
                    f"but only {len(sums)} reductions ended there (an output leaked or was duplicated)"
                )
            if complete and len(words) < len(sums):
                raise MismatchError(
                    f"[{self.config}, seed {self.seed}] segment {segment}: "
                    f"only {len(words)} of {len(sums)} outputs"
                )
            if not words:
                checked.append(np.zeros((0, self.params.rows), np.int64))
                continue
            actual = unpack_output(self.params, words).reshape(len(words), self.params.rows)
            wanted = sums[: len(words)]
            bad = np.flatnonzero((actual != wanted).any(axis=1))
            if bad.size:
                i = int(bad[0])
                beat = int(np.count_nonzero(driver.stimulus.kind[: last_op[i] + 1] == BEAT)) - 1
                rows = ", ".join(
                    f"row {r}: expected {wanted[i, r]} got {actual[i, r]}"
                    for r in range(self.params.rows)
                    if wanted[i, r] != actual[i, r]
                )
                raise MismatchError(
                    f"[{self.config}, seed {self.seed}] output {i} of segment {segment} "
                    f"(reduction closed by beat {beat}): {rows}; "
                    f"{bad.size} mismatching outputs in this segment"
                )
            checked.append(actual)
        return checked


async def run_stimulus(
    dut: object,
    params: ArrayParams,
    stimulus: Stimulus,
    *,
    seed: int,
    config: str,
    idle: float = 0.0,
    stall: float = 0.0,
    timeout_cycles: int | None = None,
) -> RunResult:
    """Drive ``stimulus`` into ``dut`` and check every output against the model.

    Returns the checked outputs and the number of beats transferred. Raises :class:`MismatchError` on
    any difference, and
    on a time-out (an array that stops accepting beats or producing sums).
    """
    rng = random.Random(seed)
    expected = expected_outputs(params, stimulus)
    driver = Driver(dut, stimulus, payloads(params, stimulus), rng, idle)
    monitor = Monitor(dut, rng, stall)
    scoreboard = Scoreboard(params, expected, config, seed)
    wanted_last = len(expected.sums[-1])
    if timeout_cycles is None:
        slack = 1.0 / max(1e-3, (1 - idle) * (1 - stall))
        timeout_cycles = int((len(stimulus) * (RESET_CYCLES + 1) + 100 + 10 * params.latency) * slack * 2)
    cycle = 0
    while not (
        driver.finished and len(monitor.words) == len(expected.sums) and monitor.taken[-1] >= wanted_last
    ):
        await RisingEdge(dut.clk)
        cycle += 1
        if cycle > timeout_cycles:
            raise MismatchError(
                f"[{config}, seed {seed}] time-out after {cycle} cycles: "
                f"{driver.position} of {len(stimulus)} ops "
                f"issued, outputs per segment {monitor.taken}, expected {[len(s) for s in expected.sums]}"
            )
        segment_before = driver.segment
        driver.drive(monitor)
        if driver.segment != segment_before:
            monitor.new_segment()
        monitor.drive()
        await ReadOnly()
        in_reset = bool(driver._reset_left)
        driver.sample()
        monitor.sample(cycle, in_reset)
    # a few idle cycles: nothing more may come out
    monitor.stall = 0.0
    for _ in range(params.latency + 3):
        await RisingEdge(dut.clk)
        dut.i_stream__valid.value = 0
        monitor.drive()
        await ReadOnly()
        monitor.sample(cycle, False)
    await RisingEdge(dut.clk)
    return RunResult(scoreboard.check(monitor, driver), driver.beats_done)
