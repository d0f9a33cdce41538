"""The integration notes of the Verilog header (:mod:`hw.integration`): each statement, checked on the RTL.

The lines are built from :class:`hw.params.ArrayParams` and :mod:`model.encoding`; the behaviour they
state is checked here in Amaranth's simulator with a deterministic, cycle-by-cycle driver (reset drops
waiting sums and clears the tile, the ``i_stream__ready`` formula and its combinational dependence on
``o_stream__ready``, how many finished reductions wait under backpressure, how latency is counted, what
the invalid code does, wrapping beyond the longest reduction, fp16 padding) and on the generated Verilog
(every register's initial value is its synchronous reset value).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator
from test_hw_arrays import Beat, Load, reference

from hw.arrays import MacArray, build_array
from hw.generate import describe, header, verilog_for
from hw.integration import integration_notes
from hw.layout import pack_input, pack_weight_load, unpack_output
from hw.params import ArrayParams
from model.encoding import CODE_INVALID, CODE_MINUS_ONE, CODE_PLUS_ONE, CODE_ZERO, encode_ternary
from model.fp16 import (
    CANONICAL_NAN,
    NEGATIVE_ZERO,
    POSITIVE_INFINITY,
    POSITIVE_ZERO,
    fp16_accumulate,
    fp16_mul,
    fp16_tree_sum,
)
from sim.stimulus import random_activations, random_weights

# --- a cycle-by-cycle driver ------------------------------------------------------------------------------


@dataclasses.dataclass
class Edge:
    """What happened at one rising clock edge (values sampled just before it)."""

    accepted: int | None  # index of the beat transferred at this edge
    taken: np.ndarray | None  # the sums transferred at this edge
    i_ready: bool
    o_valid: bool


def drive(
    dut: MacArray,
    beats: list[Beat],
    edges: int,
    *,
    o_ready: Callable[[int], bool] = lambda edge: True,
    rst: Callable[[int], bool] = lambda edge: False,
    offer: Callable[[int, int], bool] = lambda edge, index: True,
    loads: dict[int, np.ndarray] | None = None,
) -> list[Edge]:
    """Offer ``beats`` in order (each held until taken, from the edges ``offer(edge, index)`` allows), load
    ``loads[edge]`` tiles (stationary), drive ``o_stream__ready`` and ``rst``; record ``edges`` edges."""
    p = dut.params
    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    packed = [pack_input(p, b.act, b.weights, b.last, codes=b.codes) for b in beats]
    loads = loads or {}
    record: list[Edge] = []

    async def bench(ctx) -> None:
        index = 0
        for edge in range(edges):
            offered = index < len(beats) and offer(edge, index)
            ctx.set(domain.rst, rst(edge))
            ctx.set(dut.i_stream.valid, offered)
            ctx.set(dut.i_stream.payload.as_value(), packed[index] if offered else 0)
            if p.dataflow == "stationary":
                ctx.set(dut.w_stream.valid, edge in loads)
                ctx.set(
                    dut.w_stream.payload.as_value(), pack_weight_load(p, loads[edge]) if edge in loads else 0
                )
            ctx.set(dut.o_stream.ready, o_ready(edge))
            _, _, i_ready, o_valid, payload = await ctx.tick().sample(
                dut.i_stream.ready, dut.o_stream.valid, dut.o_stream.payload.as_value()
            )
            accepted = index if offered and i_ready else None
            taken = unpack_output(p, payload) if o_valid and o_ready(edge) else None
            record.append(Edge(accepted, taken, bool(i_ready), bool(o_valid)))
            index += accepted is not None

    sim.add_testbench(bench)
    sim.run()
    return record


def random_beats(p: ArrayParams, rng: np.random.Generator, lasts: list[bool]) -> list[Beat]:
    """Random beats (binary16 patterns for fp16) with the given ``last`` flags."""
    acts = random_activations(p, rng, (len(lasts), p.lanes))
    tiles = random_weights(p, rng, (len(lasts), p.rows, p.lanes))
    stream = p.dataflow == "stream"
    return [Beat(acts[b], last, tiles[b] if stream else None) for b, last in enumerate(lasts)]


def taken(record: list[Edge]) -> list[np.ndarray]:
    return [edge.taken for edge in record if edge.taken is not None]


def assert_sums(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want), f"{len(got)} sums, expected {len(want)}"
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


CONFIGS = [
    ArrayParams("ternary", 3, 2, max_k=3 * 40, pipeline=0),
    ArrayParams("ternary", 4, 2, max_k=4 * 40, pipeline=1, tree="split"),
    ArrayParams("ternary", 3, 1, max_k=3 * 40, pipeline="full", dataflow="stationary"),
    ArrayParams("int8", 3, 2, max_k=3 * 40, pipeline=2),
    ArrayParams("fp16", 3, 2, max_k=3 * 40, pipeline="full"),
    ArrayParams("fp16", 2, 1, max_k=2 * 40, pipeline=0, dataflow="stationary"),
]
IDS = [p.default_name() for p in CONFIGS]

# --- the lines --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
def test_header_gains_the_notes_and_keeps_every_line(p):
    lines = header(p, "top").splitlines()
    notes = [f"// {line}" for line in integration_notes(p)]
    kept = [f"// {line}" for line in describe(p, "top")]
    assert lines[: len(kept)] == kept and lines[len(kept) : len(kept) + len(notes)] == notes
    assert lines[len(kept) + len(notes)].startswith("// generator:")
    text = "\n".join(notes)
    for fragment in (
        f"longest reduction: {p.max_beats} beats = {p.max_beats * p.lanes} elements",
        f"its sums transfer at edge c + {p.latency} at the earliest",
        "hold rst high for at least one rising clk edge",
        "ASIC flip-flops do not",
        "combinational in o_stream__ready",
    ):
        assert fragment in text, fragment
    assert ("weight codes" in text) == (p.array == "ternary")
    assert ("stationary weight tile is cleared" in text) == (p.dataflow == "stationary")
    waiting = (
        "1 finished reduction waits" if p.pipeline == 0 else f"up to pipeline + 1 = {p.latency} finished"
    )
    assert waiting in text


def test_weight_code_line_comes_from_model_encoding():
    (line, second) = integration_notes(ArrayParams(lanes=2, rows=1))[:2]
    codes = {"+1": CODE_PLUS_ONE, "0": CODE_ZERO, "-1": CODE_MINUS_ONE}
    for value, code in codes.items():
        assert f"{value} = 0b{code:02b}" in line
    assert f"the invalid 0b{CODE_INVALID:02b}" in line and "reads it as 0" in second


def test_notes_refuse_other_objects():
    with pytest.raises(TypeError, match="params"):
        integration_notes({"lanes": 2})


# --- the behaviour ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tree", ["signed", "split"])
def test_invalid_code_acts_like_zero(tree):
    """Tiles holding 0b10 give exactly the sums of the same tiles with 0b00 there."""
    p = ArrayParams(lanes=4, rows=2, tree=tree, max_k=16, pipeline=1)
    rng = np.random.default_rng(3)
    acts = random_activations(p, rng, (4, p.lanes))
    weights = rng.integers(-1, 2, size=(4, p.rows, p.lanes))
    invalid = encode_ternary(weights)
    invalid[weights == 0] = CODE_INVALID
    want = reference(p, [Beat(acts[b], b % 2 == 1, weights[b]) for b in range(4)])
    beats = [Beat(acts[b], b % 2 == 1, invalid[b], codes=True) for b in range(4)]
    assert len(want) == 2 and (weights == 0).any()
    assert_sums(taken(drive(build_array(p), beats, 12)), want)


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
@pytest.mark.parametrize("when", ["in the pipeline", "waiting in the output register"])
def test_reset_drops_finished_sums_and_clears_the_tile(p, when):
    """A reduction whose `last` beat was transferred is dropped by a reset, both while in the pipeline and
    while its sums wait (o_stream__ready low); the stationary tile then holds zero weights."""
    rng = np.random.default_rng(11)
    first, after = random_beats(p, rng, [True, True])
    reset_edge = 2 if when == "in the pipeline" else 1 + p.latency + 2
    loads = {0: random_weights(p, rng, (p.rows, p.lanes))} if p.dataflow == "stationary" else None
    record = drive(
        build_array(p),
        [first, after],
        reset_edge + p.latency + 12,
        o_ready=lambda edge: edge > reset_edge,
        rst=lambda edge: edge == reset_edge,
        offer=lambda edge, index: edge >= 1 if index == 0 else edge > reset_edge,
        loads=loads,
    )
    assert record[1].accepted == 0 and record[reset_edge + 1].accepted == 1
    assert record[reset_edge - 1].o_valid == (when != "in the pipeline")  # the sums were waiting
    assert not (record[reset_edge].o_valid or record[reset_edge].i_ready)
    # only the reduction after the reset comes out, computed with a zero tile when stationary
    assert_sums(taken(record), reference(p, [after]))


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
def test_reset_drops_a_partial_sum(p):
    """The beats of a reduction begun before a reset do not leak into the sums of the next one."""
    rng = np.random.default_rng(2)
    partial, after = random_beats(p, rng, [False, True])
    reset_edge = 3 + p.pipeline
    tiles = random_weights(p, rng, (2, p.rows, p.lanes))
    stationary = p.dataflow == "stationary"
    record = drive(
        build_array(p),
        [partial, after],
        reset_edge + p.latency + 10,
        rst=lambda edge: edge == reset_edge,
        offer=lambda edge, index: edge >= 1 if index == 0 else edge > reset_edge + 1,
        loads={0: tiles[0], reset_edge + 1: tiles[1]} if stationary else None,
    )
    assert record[1].accepted == 0
    assert_sums(taken(record), reference(p, [Load(tiles[1]), after] if stationary else [after]))


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
def test_i_stream_ready_formula_and_its_combinational_path(p):
    """In every cycle of random traffic, i_stream__ready equals the header's formula for both values of
    o_stream__ready set within the cycle (no clock edge between): combinational in o_stream__ready."""
    dut = build_array(p)
    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    prng = random.Random(5)
    stage = f"s{p.pipeline}"
    flips = []

    async def bench(ctx) -> None:
        nodes = dut.nodes
        i_bits = len(dut.i_stream.payload.as_value())
        for _ in range(250):
            in_reset = prng.random() < 0.03
            ctx.set(domain.rst, in_reset)
            ctx.set(dut.i_stream.valid, prng.random() < 0.8)
            ctx.set(dut.i_stream.payload.as_value(), prng.getrandbits(i_bits))
            readies = {}
            for o_ready in (0, 1):
                ctx.set(dut.o_stream.ready, o_ready)
                o_valid = ctx.get(dut.o_stream.valid)
                if p.pipeline == 0:
                    want = not in_reset and (not o_valid or o_ready)
                else:
                    held = ctx.get(nodes[f"{stage}_valid"]) and ctx.get(nodes[f"{stage}_last"])
                    want = not in_reset and not (held and o_valid and not o_ready)
                readies[o_ready] = ctx.get(dut.i_stream.ready)
                assert readies[o_ready] == want
            flips.append(readies[0] != readies[1])
            ctx.set(dut.o_stream.ready, prng.random() < 0.3)
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    assert sum(flips) > 5, "the traffic never exercised the o_stream__ready -> i_stream__ready path"


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
def test_backpressure_holds_at_most_latency_finished_reductions(p):
    """With o_stream__ready low, one-beat reductions enter until pipeline + 1 are inside; then nothing
    enters; released, they all come out, in order and exact."""
    rng = np.random.default_rng(4)
    beats = random_beats(p, rng, [True] * (p.latency + 6))
    release = 3 * p.latency + 10
    record = drive(build_array(p), beats, release + 3 * len(beats) + 10, o_ready=lambda edge: edge >= release)
    before = [e.accepted for e in record[:release] if e.accepted is not None]
    assert before == list(range(p.latency)), f"{len(before)} reductions entered, expected {p.latency}"
    assert not any(e.i_ready for e in record[p.latency : release])
    assert_sums(taken(record), reference(p, beats))


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
def test_beats_of_an_unfinished_reduction_flow_while_the_output_waits(p):
    """pipeline > 0: while a finished reduction waits, the beats of the next one keep entering until its
    `last` beat reaches the last stage (then pipeline - 1 more beats fill the stages behind it);
    pipeline 0: no beat enters while the output waits."""
    rng = np.random.default_rng(6)
    lasts = [True] + [False] * 30 + [True] + [True] * 4
    beats = random_beats(p, rng, lasts)
    release = 60
    record = drive(build_array(p), beats, release + 3 * len(beats) + 10, o_ready=lambda edge: edge >= release)
    entered = sum(e.accepted is not None for e in record[:release])
    assert entered == (1 if p.pipeline == 0 else 31 + p.pipeline)
    assert_sums(taken(record), reference(p, beats))


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
def test_latency_counting(p):
    """A `last` beat transferred at edge c: o_stream__valid is low at edge c + p and its sums transfer at
    edge c + p + 1; back-to-back reductions then leave one per cycle."""
    rng = np.random.default_rng(8)
    beats = random_beats(p, rng, [False, True, True, True])
    record = drive(build_array(p), beats, 20, offer=lambda edge, index: edge >= 2)
    c = next(edge for edge, e in enumerate(record) if e.accepted == 1)
    assert not record[c + p.pipeline].o_valid and record[c + p.latency].o_valid
    out = [edge for edge, e in enumerate(record) if e.taken is not None]
    assert out == [c + p.latency, c + p.latency + 1, c + p.latency + 2]
    assert_sums(taken(record), reference(p, beats))


def test_longer_reductions_wrap_modulo_the_accumulator_width():
    """max_beats beats of the largest products fit; twice as many wrap modulo 2**acc_width."""
    p = ArrayParams(lanes=2, rows=1, max_k=4)
    w = p.acc_width
    beat = Beat(np.full(p.lanes, p.act_min), False, np.full((p.rows, p.lanes), -1))
    beats = [dataclasses.replace(beat, last=b == 2 * p.max_beats - 1) for b in range(2 * p.max_beats)]
    exact = 2 * p.max_beats * p.lanes * p.product_max_magnitude
    wrapped = (exact + (1 << (w - 1))) % (1 << w) - (1 << (w - 1))
    assert exact != wrapped
    assert_sums(taken(drive(build_array(p), beats, 12)), [np.array([wrapped])])


def test_fp16_padding_with_negative_zero_products():
    """-0 activations against +0 weights in the padding lanes leave the sums of a tree over the real
    lanes, signed zeros included; +0 products there turn a -0 sum into +0; zero times infinity is NaN."""
    p = ArrayParams("fp16", 4, 2, max_k=16)
    rng = np.random.default_rng(9)
    real = p.lanes - 1  # K = 2 * N + 3: the last of three beats has one padding lane
    acts = rng.integers(0x3000, 0x4400, size=(3, p.lanes))  # positive normals
    tiles = rng.integers(0x2000, 0x5000, size=(3, p.rows, p.lanes)) | (
        rng.integers(0, 2, (3, p.rows, p.lanes)) << 15
    )
    tiles[:, 0, :] = NEGATIVE_ZERO  # row 0: every product -0, its sum -0
    acts[2, real:], tiles[2, :, real:] = NEGATIVE_ZERO, POSITIVE_ZERO  # the padding lane
    products = fp16_mul(acts[:, None, :], tiles)  # (beats, rows, lanes)
    tree_sums = [fp16_tree_sum(products[0]), fp16_tree_sum(products[1]), fp16_tree_sum(products[2, :, :real])]
    want = fp16_accumulate(np.stack(tree_sums))
    assert want[0] == NEGATIVE_ZERO
    beats = [Beat(acts[b], b == 2, tiles[b]) for b in range(3)]
    assert_sums(taken(drive(build_array(p), beats, 12)), [want])
    plus_zero = np.where(np.arange(p.lanes) < real, acts[2], POSITIVE_ZERO)
    (sums,) = taken(drive(build_array(p), [*beats[:2], Beat(plus_zero, True, tiles[2])], 12))
    assert sums[0] == POSITIVE_ZERO
    infinite = tiles[2].copy()
    infinite[:, real:] = POSITIVE_INFINITY
    nan = [*beats[:2], Beat(plus_zero, True, infinite)]
    assert_sums(taken(drive(build_array(p), nan, 12)), [np.full(p.rows, CANONICAL_NAN)])


# --- power-up: the Verilog --------------------------------------------------------------------------------

_FLOP = re.compile(r"always @\(posedge clk\)\n\s+(\\?\S+) <= (\\\$\d+) ;")


def _literal(text: str) -> int:
    """The value of a Verilog constant such as ``16'h8000``, ``32'd0``, ``1'h0`` or ``0``."""
    match = re.fullmatch(r"(?:\d+)?'([hdb])([0-9a-fA-F_]+)|(\d+)", text.strip())
    assert match, text
    if match[3] is not None:
        return int(match[3])
    return int(match[2].replace("_", ""), {"h": 16, "d": 10, "b": 2}[match[1]])


@pytest.mark.parametrize("p", CONFIGS, ids=IDS)
def test_every_register_resets_to_its_initial_value(p):
    """Every flip-flop of the Verilog is declared with an initial value, and the last statement of its
    next-state logic is ``if (rst) next = that value``: one rising edge with rst high initializes all."""
    text = verilog_for(p, name="top")
    flops = _FLOP.findall(text)
    assert len(flops) == text.count("always @(posedge clk)") > 0
    for register, following in flops:
        declared = re.search(rf"\n\s+reg (?:\[\d+:0\] )?{re.escape(register)}\s*= ([^;]+);", text)
        assert declared, f"{register} has no initial value"
        reset = re.search(
            rf"if \(rst\) begin\n\s+{re.escape(following)}\s*= ([^;]+);\n\s+end\n\s+end\n", text
        )
        assert reset, f"{register} has no synchronous reset as its last assignment"
        assert _literal(reset[1]) == _literal(declared[1]), register
