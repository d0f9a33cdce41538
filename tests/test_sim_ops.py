"""sim's one operation vocabulary (sim.stimulus.Op), the scheduler's programs, sim.protocol's prepared
stimulus, and the cocotb bench's driver, monitor and scoreboard stepped against a Python model of an array
(no simulator needed)."""

import random
import re

import numpy as np
import pytest

from hw.generate import verilog_for
from hw.layout import pack_fields
from hw.params import ArrayParams
from model.bitlinear import bitlinear_int
from sim.bench import Driver, MismatchError, Monitor, Scoreboard
from sim.protocol import (
    CLOCK_PORT,
    INPUT_STREAM,
    OUTPUT_STREAM,
    RESET_PORT,
    WEIGHT_STREAM,
    input_streams,
    prepare,
)
from sim.scheduler import assemble, schedule_layer
from sim.stimulus import (
    Op,
    Stimulus,
    beats,
    concat,
    expected_outputs,
    load,
    payloads,
    random_reductions,
    reset,
)
from sim.tb_mac_array import corners_for, reset_stimulus

STREAM = ArrayParams("ternary", 4, 3, max_k=64, pipeline=0)
STATIONARY = ArrayParams("ternary", 4, 3, max_k=64, pipeline=0, dataflow="stationary")


def test_the_kind_array_holds_ops():
    parts = concat([load(STATIONARY, np.ones((3, 4))), beats(STATIONARY, np.ones((2, 4)), None, True)])
    parts += reset(STATIONARY, drain=True)
    assert parts.ops() == [Op.LOAD, Op.BEAT, Op.BEAT, Op.RESET]
    assert all(type(op) is Op for op in parts.ops())


@pytest.mark.parametrize("params", [STREAM, STATIONARY], ids=["stream", "stationary"])
def test_a_scheduled_layer_is_a_stimulus_whose_sums_assemble_the_layer(params):
    rng = np.random.default_rng(0)
    x_q = rng.integers(-128, 128, (3, 10))
    w_q = rng.integers(-1, 2, (7, 10))
    program = schedule_layer(params, x_q, w_q)
    assert isinstance(program.stimulus, Stimulus)
    kinds = set(program.stimulus.ops())
    assert kinds == ({Op.BEAT, Op.LOAD} if params.dataflow == "stationary" else {Op.BEAT})
    sums = np.concatenate(expected_outputs(params, program.stimulus).sums)
    assert np.array_equal(
        assemble(params, program, sums), bitlinear_int(x_q.astype(np.int8), w_q.astype(np.int8))
    )


def test_prepare_holds_what_the_drivers_need():
    stimulus = random_reductions(STATIONARY, np.random.default_rng(1), 200)
    prepared = prepare(STATIONARY, stimulus)
    assert prepared.kinds == stimulus.ops() and prepared.words == payloads(STATIONARY, stimulus)
    assert np.array_equal(prepared.sums, np.concatenate(expected_outputs(STATIONARY, stimulus).sums))
    word = pack_fields(prepared.sums[0], STATIONARY.acc_width)
    assert np.array_equal(prepared.decode(word), prepared.sums[0])
    assert prepared.decode_all([]).shape == (0, STATIONARY.rows)
    assert prepared.beat_number(len(prepared) - 1) == stimulus.beats - 1


def test_prepare_rejects_bad_arguments():
    with pytest.raises(TypeError, match="params"):
        prepare({"lanes": 4}, beats(STREAM, np.ones((1, 4)), np.ones((1, 3, 4)), True))
    with pytest.raises(TypeError, match="stimulus"):
        prepare(STREAM, [Op.BEAT])
    with pytest.raises(ValueError, match="weight loads"):
        prepare(STREAM, load(STATIONARY, np.ones((3, 4))))


@pytest.mark.parametrize("params", [STREAM, STATIONARY], ids=["stream", "stationary"])
def test_the_port_names_are_the_generated_arrays(params):
    declared = set(re.findall(r"^\s*(?:input|output)\s+(?:\[\d+:\d+\]\s+)?(\w+);", verilog_for(params), re.M))
    streams = [INPUT_STREAM, OUTPUT_STREAM] + ([WEIGHT_STREAM] if params.dataflow == "stationary" else [])
    names = {CLOCK_PORT, RESET_PORT} | {getattr(s, f) for s in streams for f in ("valid", "ready", "payload")}
    assert declared == names
    assert set(input_streams(params).values()) == set(streams) - {OUTPUT_STREAM}


# --- the bench against a Python model of a pipeline-0 array -----------------------------------------------


class _Port:
    """A simulator handle: ``value`` is written by the bench or computed by the model."""

    def __init__(self, read=None):
        self._read, self._value = read, 0

    @property
    def value(self):
        return self._read() if self._read else self._value

    @value.setter
    def value(self, value):
        self._value = value


class _ModelArray:
    """Ports named as in sim.protocol, behaving like a pipeline-0 array (``sign_error``: lane N-1 negated)."""

    def __init__(self, params: ArrayParams, sign_error: bool = False):
        self.params, self.sign_error = params, sign_error
        self.acc = np.zeros(params.rows, np.int64)
        self.tile = np.zeros((params.rows, params.lanes), np.int64)
        self.out_valid, self.out_word = False, 0
        setattr(self, RESET_PORT, _Port())
        for stream in input_streams(params).values():
            setattr(self, stream.valid, _Port())
            setattr(self, stream.payload, _Port())
        setattr(self, INPUT_STREAM.ready, _Port(lambda: int(self._ready())))
        if params.dataflow == "stationary":  # w_stream is ready except in reset
            setattr(self, WEIGHT_STREAM.ready, _Port(lambda: int(not self._port(RESET_PORT))))
        setattr(self, OUTPUT_STREAM.ready, _Port())
        setattr(self, OUTPUT_STREAM.valid, _Port(lambda: int(self.out_valid and not self._port(RESET_PORT))))
        setattr(self, OUTPUT_STREAM.payload, _Port(lambda: self.out_word))

    def _port(self, name: str) -> int:
        return getattr(self, name).value

    def _ready(self) -> bool:
        return not self._port(RESET_PORT) and (not self.out_valid or bool(self._port(OUTPUT_STREAM.ready)))

    def edge(self, ops: dict[Op, dict[int, tuple]]) -> None:
        """The rising edge; ``ops[kind]`` maps a payload word to its beat ``(act, tile, last)`` or load."""
        if self._port(RESET_PORT):
            self.acc[:], self.out_valid = 0, False
            self.tile = np.zeros_like(self.tile)
            return
        if self.out_valid and self._port(OUTPUT_STREAM.ready):
            self.out_valid = False
        if Op.LOAD in input_streams(self.params) and self._port(WEIGHT_STREAM.valid):
            self.tile = ops[Op.LOAD][self._port(WEIGHT_STREAM.payload)][0].copy()
        if self._port(INPUT_STREAM.valid) and self._ready():
            act, tile, last = ops[Op.BEAT][self._port(INPUT_STREAM.payload)]
            tile = self.tile if tile is None else tile
            if self.sign_error:
                act = act.copy()
                act[-1] = -act[-1]
            self.acc += tile @ act
            if last:
                self.out_word, self.out_valid = pack_fields(self.acc, self.params.acc_width), True
                self.acc[:] = 0


def _words_to_ops(params: ArrayParams, stimulus: Stimulus) -> dict[Op, dict[int, tuple]]:
    """What each payload word on each input stream stands for (the model array's decoder)."""
    ops: dict[Op, dict[int, tuple]] = {Op.BEAT: {}, Op.LOAD: {}}
    own_tile = params.dataflow == "stream"
    for i, (word, kind) in enumerate(zip(payloads(params, stimulus), stimulus.ops(), strict=True)):
        if kind is Op.LOAD:
            ops[kind][word] = (stimulus.weights[i],)
        elif kind is Op.BEAT:
            tile = stimulus.weights[i] if own_tile else None
            ops[kind][word] = (stimulus.act[i], tile, bool(stimulus.last[i]))
    return ops


def _run_on_model(params: ArrayParams, stimulus: Stimulus, *, sign_error: bool = False) -> list[np.ndarray]:
    """The bench's per-cycle loop (sim.bench._drive_until_done) with the model array instead of cocotb."""
    dut, prepared, rng = _ModelArray(params, sign_error), prepare(params, stimulus), random.Random(3)
    ops = _words_to_ops(params, stimulus)
    driver, monitor = Driver(dut, prepared, rng, idle=0.3), Monitor(dut, rng, stall=0.3)
    for cycle in range(20 * len(stimulus) + 50):
        segment = driver.segment
        driver.drive(monitor)
        if driver.segment != segment:
            monitor.new_segment()
        monitor.drive()
        in_reset = driver.in_reset
        driver.sample()
        monitor.sample(cycle, in_reset)
        dut.edge(ops)
    assert driver.finished
    return Scoreboard(prepared, "model", 3).check(monitor)


@pytest.mark.parametrize("params", [STREAM, STATIONARY], ids=["stream", "stationary"])
def test_driver_monitor_and_scoreboard_check_a_model_array(params):
    stimulus = reset_stimulus(params, np.random.default_rng(2))
    assert stimulus.ops().count(Op.RESET) == 3
    checked = _run_on_model(params, stimulus)
    expected = expected_outputs(params, stimulus)
    assert len(checked) == 4 and len(checked[-1]) == len(expected.sums[-1]) > 0
    assert sum(map(len, checked)) >= sum(
        len(s) for s, done in zip(expected.sums, expected.must_complete, strict=True) if done
    )


def test_the_scoreboard_names_the_first_wrong_sum():
    stimulus = corners_for(STREAM, np.random.default_rng(4))
    with pytest.raises(
        MismatchError, match=r"\[model, seed 3\] output \d+ of segment 0 .*beat \d+.*expected"
    ):
        _run_on_model(STREAM, stimulus, sign_error=True)
