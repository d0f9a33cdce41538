"""Payloads as 32-bit words (hw.layout) and layers packed straight into them (sim.scheduler.pack_layer):
the same bits as the integer packers and as the scheduled stimulus, for byte-aligned and unaligned
layouts, and the schedule's expected sums equal to the stimulus model's."""

from __future__ import annotations

import numpy as np
import pytest

from hw.layout import (
    input_layout,
    input_words,
    output_layout,
    output_sums,
    pack_input,
    pack_output,
    pack_weight_load,
    port_words,
    weight_load_words,
    words_from_field_bytes,
)
from hw.params import ArrayParams
from sim.scheduler import assemble, pack_layer, program_sums, schedule_layer
from sim.stimulus import Op, expected_outputs

PARAMS = [
    ArrayParams(),
    ArrayParams(lanes=5, rows=3),  # a tile of 15 codes: not whole bytes
    ArrayParams(lanes=5, rows=3, dataflow="stationary"),
    ArrayParams(lanes=4, rows=1, pipeline="full", tree="split"),
    ArrayParams(lanes=6, rows=2, act_width=5),  # 5-bit activations: not whole bytes
    ArrayParams("int8", 4, 2),
    ArrayParams("int8", 3, 2, dataflow="stationary"),
    ArrayParams("fp16", 3, 2),
    ArrayParams(lanes=1, rows=1),
    ArrayParams("ternary-lut", 7, 2, group=3),  # 5-bit group codes, a partial last group
    ArrayParams("ternary-lut", 8, 3, group=2, dataflow="stationary"),  # 4-bit codes: whole bytes
]


def as_ints(words: np.ndarray) -> list[int]:
    return [int.from_bytes(row.tobytes(), "little") for row in words]


def operands(params: ArrayParams, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    if params.is_float:
        return rng.integers(0, 1 << 16, shape)
    if params.is_ternary:
        return rng.integers(-1, 2, shape)
    return rng.integers(-128, 128, shape)


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: p.default_name())
def test_words_hold_the_bits_of_the_integer_packers(params):
    rng = np.random.default_rng(params.lanes * params.rows)
    act = (
        rng.integers(0, 1 << 16, (9, params.lanes))
        if params.is_float
        else rng.integers(params.act_min, params.act_max + 1, (9, params.lanes))
    )
    tiles = operands(params, rng, (9, params.rows, params.lanes))
    last = rng.integers(0, 2, 9).astype(bool)
    carried = tiles if params.dataflow == "stream" else None
    words = input_words(params, act, carried, last)
    assert words.dtype == np.dtype("<u4") and words.shape == (9, port_words(input_layout(params).size))
    assert as_ints(words) == pack_input(params, act, carried, last)
    if params.dataflow == "stationary":
        assert as_ints(weight_load_words(params, tiles)) == pack_weight_load(params, tiles)
    sums = (
        rng.integers(0, 1 << 16, (9, params.rows))
        if params.is_float
        else rng.integers(-5000, 5000, (9, params.rows))
    )
    packed = [
        np.frombuffer(v.to_bytes(4 * port_words(output_layout(params).size), "little"), "<u4")
        for v in pack_output(params, sums)
    ]
    np.testing.assert_array_equal(output_sums(params, np.array(packed)), sums)


@pytest.mark.parametrize("params", [p for p in PARAMS if not p.is_float], ids=lambda p: p.default_name())
@pytest.mark.parametrize("tokens", [1, 3])
def test_a_packed_layer_is_the_scheduled_stimulus(params, tokens):
    rng = np.random.default_rng(tokens)
    x = rng.integers(params.act_min, params.act_max + 1, (tokens, 23))
    w = operands(params, rng, (7, 23))
    program, packed = schedule_layer(params, x, w), pack_layer(params, x, w)
    stimulus = program.stimulus
    beats, loads = stimulus.kind == Op.BEAT, stimulus.kind == Op.LOAD
    np.testing.assert_array_equal(packed.kind, stimulus.kind)
    carried = stimulus.weights[beats] if params.dataflow == "stream" else None
    np.testing.assert_array_equal(
        packed.beat_words, input_words(params, stimulus.act[beats], carried, stimulus.last[beats])
    )
    if loads.any():
        np.testing.assert_array_equal(packed.load_words, weight_load_words(params, stimulus.weights[loads]))
    else:
        assert len(packed.load_words) == 0
    assert packed.targets == program.targets
    sums = program_sums(params, x, w)
    np.testing.assert_array_equal(sums, np.concatenate(expected_outputs(params, stimulus).sums))
    np.testing.assert_array_equal(assemble(params, packed, sums), x @ w.T)


def test_program_sums_refuse_fp16_and_payloads_must_add_up():
    with pytest.raises(ValueError, match="integer arrays"):
        program_sums(ArrayParams("fp16", 2, 1), np.zeros((1, 2), np.int64), np.zeros((1, 2), np.int64))
    with pytest.raises(ValueError, match="do not make a width=40-bit payload"):
        words_from_field_bytes(40, [np.zeros((1, 4), np.uint8)])
