"""The MAC arrays in Amaranth's simulator, scored against the golden model ``model.bitlinear.bitlinear_int``
(the FP16 array against ``model.fp16``; its own tests are in test_hw_fp16.py and reuse this testbench).

One cycle-level testbench drives every test: it offers the operations of a list (input beats, weight-tile
loads, resets) in order with random idle gaps (random payloads while ``valid`` is low), takes the output
with random ``ready`` backpressure, checks the stream rules (a valid output payload stays, unchanged, until it
is taken; ``i_stream.ready`` does not depend on ``i_stream.valid`` or its payload, nor ``o_stream.valid`` on
``o_stream.ready``; nothing transfers during reset), and records the clock edge of every transfer. A
reference walks the same list and computes each K-reduction with the golden model.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import random
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Const, Fragment, Module, Signal, UnusedElaboratable, signed, unsigned
from amaranth.sim import Simulator

from hw.arrays import (
    ARRAY_CLASSES,
    Fp16MacArray,
    Int8MacArray,
    MacArray,
    TernaryLutArray,
    TernaryMacArray,
    build_array,
)
from hw.layout import pack_input, pack_weight_load, unpack_output
from hw.params import ARRAY_TREES, ArrayParams
from hw.tree import PipelinedTreeBuilder, Term
from model.bitlinear import bitlinear_int
from model.encoding import CODE_BITS, NEGATIVE_BIT, NONZERO_BIT
from model.fp16 import fp16_mac_reference
from model.group_code import code_bits, entry_digits, group_count, group_entries, sign_bit

# --- operations and the reference --------------------------------------------------------------------------


@dataclasses.dataclass
class Beat:
    act: np.ndarray  # (N,)
    last: bool
    weights: np.ndarray | None = None  # (M, N), stream dataflow
    codes: bool = False  # weights are raw 2-bit codes


@dataclasses.dataclass
class Load:
    weights: np.ndarray  # (M, N)
    codes: bool = False


@dataclasses.dataclass
class LoadWithBeat:
    """A tile load and a beat offered in the same cycle: the beat must still see the previous tile."""

    load: Load
    beat: Beat


@dataclasses.dataclass
class Reset:
    cycles: int = 1


def hardware_weights(p: ArrayParams, weights: np.ndarray, codes: bool) -> np.ndarray:
    """The weight values the RTL computes with; raw codes decode as the hardware does (0b10 -> 0)."""
    if not codes:
        return weights.astype(np.int64)
    if p.array == "ternary-lut":  # group codes: an invalid one reads as a zero group
        g, entries = p.group, group_entries(p.group)
        index, sign = weights & ((1 << sign_bit(g)) - 1), (weights >> sign_bit(g)) & 1
        digits = entry_digits(g)[np.where(index <= entries, index, 0)].astype(np.int64)  # (..., groups, G)
        beyond = np.arange(weights.shape[-1] * g).reshape(-1, g) >= p.lanes  # lanes past N, per group
        digits[(digits * beyond != 0).any(axis=-1)] = 0  # a code reaching past N: invalid, a zero group
        digits *= np.where(sign == 1, -1, 1)[..., None]
        return digits.reshape(*weights.shape[:-1], -1)[..., : p.lanes]
    nonzero = (weights >> NONZERO_BIT) & 1
    negative = (weights >> NEGATIVE_BIT) & 1
    return np.where(nonzero == 1, np.where(negative == 1, -1, 1), 0).astype(np.int64)


def golden(p: ArrayParams, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One K-reduction: ``x`` (K,), ``w`` (M, K) -> (M,) sums (fp16: bit patterns, beat by beat)."""
    if p.is_float:
        beats = x.size // p.lanes
        tiles = w.reshape(p.rows, beats, p.lanes).transpose(1, 0, 2)
        return fp16_mac_reference(x.reshape(beats, p.lanes), tiles).astype(np.int64)
    if p.is_ternary and p.act_width <= 8:
        return bitlinear_int(x[None, :], w)[0].astype(np.int64)
    return (x.astype(object) @ w.T.astype(object)).astype(np.int64)  # exact: the int8 baseline


def reference(p: ArrayParams, ops: list) -> list[np.ndarray]:
    """The sums the array must output for ``ops``, in order."""
    tile = np.zeros((p.rows, p.lanes), dtype=np.int64)
    xs: list[np.ndarray] = []
    ws: list[np.ndarray] = []
    outputs = []

    def beat(op: Beat) -> None:
        nonlocal xs, ws
        xs.append(op.act.astype(np.int64))
        ws.append(tile if op.weights is None else hardware_weights(p, op.weights, op.codes))
        if op.last:
            outputs.append(golden(p, np.concatenate(xs), np.concatenate(ws, axis=1)))
            xs, ws = [], []

    for op in ops:
        if isinstance(op, Reset):
            tile = np.zeros_like(tile)
            xs, ws = [], []
        elif isinstance(op, Load):
            tile = hardware_weights(p, op.weights, op.codes)
        elif isinstance(op, LoadWithBeat):
            beat(op.beat)
            tile = hardware_weights(p, op.load.weights, op.load.codes)
        else:
            beat(op)
    return outputs


# --- the testbench -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class BenchResult:
    outputs: list[np.ndarray]
    out_edges: list[int]
    beat_edges: list[int]
    load_edges: list[int]
    reset_edges: list[int]
    traces: dict[str, list[int]]


def _packed(p: ArrayParams, op: Beat | Load) -> int:
    if isinstance(op, Load):
        return pack_weight_load(p, op.weights, codes=op.codes)
    return pack_input(p, op.act, op.weights, op.last, codes=op.codes)


def run_bench(
    dut: MacArray,
    ops: list,
    *,
    seed: int = 0,
    valid_prob: float = 1.0,
    ready_prob: float = 1.0,
    watch: Callable[[str], bool] | None = None,
    drain: int = 12,
) -> BenchResult:
    """Simulate ``ops`` on ``dut``; see the module docstring.

    ``watch`` selects, by name, nodes of :attr:`MacArray.nodes` that are sampled at every edge.
    """
    p = dut.params
    prng = random.Random(seed)
    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)  # elaborates the array, so that its nodes exist
    sim.add_clock(1e-8)
    watch = {name: node for name, node in dut.nodes.items() if watch is not None and watch(name)}
    result = BenchResult([], [], [], [], [], {name: [] for name in watch})
    expected = len(reference(p, ops))
    i_stream, o_stream = dut.i_stream, dut.o_stream
    w_stream = getattr(dut, "w_stream", None)
    i_bits, w_bits = len(i_stream.payload.as_value()), p.tile_bits
    packed = [
        (_packed(p, op.load), _packed(p, op.beat)) if isinstance(op, LoadWithBeat) else _packed(p, op)
        for op in ops
        if not isinstance(op, Reset)
    ]

    async def bench(ctx) -> None:
        k, payload_index, edge, idle = 0, 0, 0, 0
        offering = False
        done_load = done_beat = False
        hold = None  # an output payload that must stay until taken
        reset_left = None
        while True:
            op = ops[k] if k < len(ops) else None
            if op is None:
                idle += 1
                if (len(result.outputs) >= expected and idle > drain) or idle > drain + 200:
                    break
            in_reset = isinstance(op, Reset)
            if in_reset and reset_left is None:
                reset_left = op.cycles
            ctx.set(domain.rst, in_reset)
            if not offering and isinstance(op, (Beat, Load, LoadWithBeat)):
                offering = prng.random() < valid_prob
                done_load = done_beat = False
            i_valid = w_valid = False
            i_payload, w_payload = prng.getrandbits(i_bits), prng.getrandbits(w_bits)  # junk unless offered
            if in_reset:
                i_valid = w_valid = True  # offered during reset: must not transfer
            elif offering:
                payload = packed[payload_index]
                if isinstance(op, Beat):
                    i_valid, i_payload = True, payload
                elif isinstance(op, Load):
                    w_valid, w_payload = True, payload
                else:
                    w_valid, i_valid = not done_load, not done_beat
                    w_payload, i_payload = payload
            ready = prng.random() < ready_prob
            # stream rules: i_stream.ready depends neither on i_stream.valid nor on the payload, and
            # o_stream.valid does not depend on o_stream.ready (checked by flipping them within the cycle)
            ctx.set(o_stream.ready, ready)
            ctx.set(i_stream.valid, not i_valid)
            ctx.set(i_stream.payload.as_value(), prng.getrandbits(i_bits))
            flipped_ready = ctx.get(i_stream.ready)
            ctx.set(i_stream.valid, i_valid)
            ctx.set(i_stream.payload.as_value(), i_payload)
            assert ctx.get(i_stream.ready) == flipped_ready, f"i_stream.ready depends on valid at edge {edge}"
            ctx.set(o_stream.ready, not ready)
            flipped_valid = ctx.get(o_stream.valid)
            ctx.set(o_stream.ready, ready)
            assert ctx.get(o_stream.valid) == flipped_valid, f"o_stream.valid depends on ready at edge {edge}"
            if w_stream is not None:
                ctx.set(w_stream.valid, w_valid)
                ctx.set(w_stream.payload.as_value(), w_payload)
            w_ready_value = Const(0) if w_stream is None else w_stream.ready
            _, _, i_ready, w_ready, o_valid, o_payload, *traced = await ctx.tick().sample(
                i_stream.ready, w_ready_value, o_stream.valid, o_stream.payload.as_value(), *watch.values()
            )
            for name, value in zip(watch, traced, strict=True):
                result.traces[name].append(value)
            if in_reset:
                assert not (i_ready or w_ready or o_valid), f"a handshake is possible in reset at edge {edge}"
                hold = None
            else:
                if hold is not None:
                    assert o_valid and o_payload == hold, (
                        f"o_stream withdrew or changed its payload at edge {edge}"
                    )
                if o_valid and ready:
                    result.outputs.append(unpack_output(p, o_payload))
                    result.out_edges.append(edge)
                hold = o_payload if (o_valid and not ready) else None
            # progress of the current operation
            if in_reset:
                result.reset_edges.append(edge)
                reset_left -= 1
                if reset_left == 0:
                    k, reset_left = k + 1, None
            elif offering:
                if i_valid and i_ready:
                    result.beat_edges.append(edge)
                    done_beat = True
                if w_valid and w_ready:
                    result.load_edges.append(edge)
                    done_load = True
                finished = {Beat: done_beat, Load: done_load, LoadWithBeat: done_beat and done_load}[type(op)]
                if finished:
                    k, payload_index, offering = k + 1, payload_index + 1, False
            edge += 1
        ctx.set(domain.rst, 0)

    sim.add_testbench(bench)
    sim.run()
    return result


def check(dut: MacArray, ops: list, **bench) -> BenchResult:
    """Run ``ops`` and assert the outputs equal the reference exactly, with nothing extra."""
    result = run_bench(dut, ops, **bench)
    expected = reference(dut.params, ops)
    assert len(result.outputs) == len(expected), f"{len(result.outputs)} outputs, expected {len(expected)}"
    for index, (got, want) in enumerate(zip(result.outputs, expected, strict=True)):
        np.testing.assert_array_equal(got, want, err_msg=f"{dut.params} reduction {index}")
    return result


# --- random operations -------------------------------------------------------------------------------------


def random_acts(p: ArrayParams, rng: np.random.Generator, count: int) -> np.ndarray:
    """Uniform activations with one in five at an extreme value."""
    acts = rng.integers(p.act_min, p.act_max + 1, size=(count, p.lanes))
    extremes = rng.random((count, p.lanes)) < 0.2
    return np.where(extremes, rng.choice([p.act_min, p.act_max], size=(count, p.lanes)), acts)


def random_tiles(p: ArrayParams, rng: np.random.Generator, count: int) -> np.ndarray:
    """Ternary tiles with a random zero fraction per tile, or int8 tiles with extremes and zeros."""
    shape = (count, p.rows, p.lanes)
    if p.is_ternary:
        zero_fraction = rng.random((count, 1, 1))
        signs = rng.choice([-1, 1], size=shape)
        return np.where(rng.random(shape) < zero_fraction, 0, signs)
    values = rng.integers(p.weight_min, p.weight_max + 1, size=shape)
    special = rng.choice([p.weight_min, p.weight_max, 0, -1, 1], size=shape)
    return np.where(rng.random(shape) < 0.25, special, values)


def random_ops(
    p: ArrayParams,
    rng: np.random.Generator,
    beats: int,
    *,
    max_reduction: int = 4,
    acts: np.ndarray | None = None,
    tiles: np.ndarray | None = None,
) -> list:
    """``beats`` beats in reductions of 1..``max_reduction`` beats; stationary: tiles reloaded at random,
    also in the middle of a reduction. ``acts`` ``(beats, N)`` and ``tiles`` ``(beats, M, N)`` default to
    :func:`random_acts` and :func:`random_tiles`."""
    acts = random_acts(p, rng, beats) if acts is None else acts
    tiles = random_tiles(p, rng, beats) if tiles is None else tiles
    ops: list = []
    left = 0
    for b in range(beats):
        if left == 0:
            left = int(rng.integers(1, max_reduction + 1))
        left -= 1
        last = left == 0 or b == beats - 1
        if p.dataflow == "stream":
            ops.append(Beat(acts[b], last, tiles[b]))
        else:
            if b == 0 or rng.random() < 0.3:
                ops.append(Load(tiles[b]))
            ops.append(Beat(acts[b], last))
    return ops


def make(array: str, lanes: int, rows: int, **kwargs) -> MacArray:
    return ARRAY_CLASSES[array](lanes, rows, **kwargs)


# --- the tests ---------------------------------------------------------------------------------------------

DATAFLOWS = ["stream", "stationary"]
TREES = list(ARRAY_TREES["ternary"])


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("pipeline", [0, "full"])
@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_ternary_exhaustive_codes(lanes, tree, pipeline, dataflow):
    """Every combination of the four 2-bit codes (the invalid 0b10 included) in every row, N <= 3."""
    dut = TernaryMacArray(lanes, 2, tree=tree, pipeline=pipeline, dataflow=dataflow, max_k=64)
    p = dut.params
    rng = np.random.default_rng(lanes * 100 + len(tree))
    combos = 4**lanes
    all_codes = (np.arange(combos)[:, None] >> (CODE_BITS * np.arange(lanes))) & 3  # (combos, N)
    check(dut, exhaustive_ops(p, all_codes, rng), seed=lanes, valid_prob=0.8, ready_prob=0.7)


def exhaustive_ops(p: ArrayParams, all_codes: np.ndarray, rng: np.random.Generator) -> list:
    """One beat per row of ``all_codes`` (raw codes of one tile row, ``(combos, fields)``), reductions of 3
    beats: row ``r`` walks the combos in another order (odd stride: a permutation), so rows differ in
    every beat; stationary: a tile load before each beat."""
    combos = len(all_codes)
    tiles = np.stack([all_codes[(np.arange(combos) * (2 * r + 1) + r) % combos] for r in range(p.rows)], 1)
    acts = random_acts(p, rng, combos)
    ops: list = []
    for b in range(combos):
        last = b % 3 == 2 or b == combos - 1
        if p.dataflow == "stream":
            ops.append(Beat(acts[b], last, tiles[b], codes=True))
        else:
            ops += [Load(tiles[b], codes=True), Beat(acts[b], last)]
    return ops


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("pipeline", [0, 1, "full"])
@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("rows", [1, 2])
def test_ternary_random(rows, tree, pipeline, dataflow):
    """N = 8: random weights (random zero fraction) and activations, gaps and backpressure."""
    dut = TernaryMacArray(8, rows, tree=tree, pipeline=pipeline, dataflow=dataflow, max_k=8 * 6)
    rng = np.random.default_rng(rows * 10 + len(tree) + len(dataflow))
    check(dut, random_ops(dut.params, rng, 150), seed=rows, valid_prob=0.7, ready_prob=0.6)


@pytest.mark.parametrize(
    ("array", "lanes", "rows", "kwargs"),
    [
        ("ternary", 3, 1, {"act_width": 4}),
        ("ternary", 5, 2, {"act_width": 12, "tree": "split"}),
        ("ternary", 7, 1, {"pipeline": 2, "tree": "split", "dataflow": "stationary"}),
        ("int8", 5, 2, {"act_width": 12, "pipeline": 2}),
        ("int8", 6, 1, {"act_width": 3, "dataflow": "stationary"}),
    ],
)
def test_other_shapes(array, lanes, rows, kwargs):
    """Odd lane counts, narrow and wide activations, partial pipelines."""
    dut = make(array, lanes, rows, max_k=lanes * 5, **kwargs)
    rng = np.random.default_rng(lanes)
    check(dut, random_ops(dut.params, rng, 40), seed=lanes, valid_prob=0.6, ready_prob=0.6)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("pipeline", [0, "full"])
@pytest.mark.parametrize(("lanes", "rows"), [(1, 1), (3, 2), (8, 2)])
def test_int8_random(lanes, rows, pipeline, dataflow):
    """The int8 baseline: real multipliers, extremes -128 x -128 included."""
    dut = Int8MacArray(lanes, rows, pipeline=pipeline, dataflow=dataflow, max_k=lanes * 5)
    rng = np.random.default_rng(lanes + rows)
    check(dut, random_ops(dut.params, rng, 80), seed=lanes, valid_prob=0.7, ready_prob=0.6)


def _extreme_ops(p: ArrayParams) -> list:
    """max_beats beats of the four sign extremes, one per row group; each reduction is max_beats long."""
    beats = p.max_beats
    ops: list = []
    lo, hi = p.weight_min, p.weight_max
    # (activation, weight) pairs for every lane: the largest positive sum, and the most negative ones
    cases = [(p.act_min, lo), (p.act_max, hi), (p.act_min, hi), (p.act_max, lo)]
    if p.is_ternary:
        cases.append((p.act_max, 0))
    for act, weight in cases:
        tile = np.full((p.rows, p.lanes), weight)
        acts = np.full(p.lanes, act)
        if p.dataflow == "stationary":
            ops.append(Load(tile))
        for b in range(beats):
            ops.append(Beat(acts, b == beats - 1, tile if p.dataflow == "stream" else None))
    return ops


@pytest.mark.parametrize(
    ("array", "lanes", "max_k", "kwargs"),
    [
        ("ternary", 3, 15, {}),  # 5 beats, K a multiple of N
        ("ternary", 8, 29, {"tree": "split", "pipeline": "full"}),  # 4 beats, the last one padded
        ("ternary", 1, 16, {"dataflow": "stationary"}),  # 16 beats: 128 * 16 = 2**11 exactly
        ("int8", 3, 12, {"pipeline": "full"}),
        ("int8", 2, 8, {"dataflow": "stationary"}),  # 4 beats: 2 * 4 * 16384 = 2**17 exactly
        ("ternary", 4, 32, {"tree": "deferred", "pipeline": "full"}),
        ("ternary", 5, 40, {"tree": "csa"}),
        ("int8", 3, 9, {"tree": "csa", "pipeline": 1}),
        ("ternary-lut", 3, 24, {"group": 3}),  # one group: 8 beats of 3 * 128 = 3 * 2**10
        ("ternary-lut", 7, 28, {"group": 2, "pipeline": "full", "dataflow": "stationary"}),
        ("ternary-lut", 10, 40, {"group": 4, "tree": "csa"}),
        ("ternary-lut", 5, 20, {"group": 5, "pipeline": 1}),
    ],
)
def test_accumulator_extremes_cannot_overflow(array, lanes, max_k, kwargs):
    """max_k beats of all -1 against act -128 (the largest sum), all +1 against 127, and the negative
    extremes, give exact sums in the derived width, which is also the smallest that holds them."""
    dut = make(array, lanes, 2, max_k=max_k, **kwargs)
    p = dut.params
    bound = p.max_beats * p.lanes * p.product_max_magnitude
    assert bound == -p.max_beats * p.lanes * p.act_min * -p.weight_min  # reached by act_min x weight_min
    assert bound > (1 << (p.acc_width - 2)) - 1, "acc_width is not the smallest width holding the sums"
    result = check(dut, _extreme_ops(p), seed=3, ready_prob=0.5)
    assert result.outputs[0][0] == bound  # act_min x weight_min, max_beats beats: the largest sum


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize(("tree", "pipeline"), [("signed", 0), ("split", "full"), ("signed", 2)])
def test_reset_mid_reduction(tree, pipeline, dataflow):
    """A reset in the middle of a reduction (partial sums in the accumulators), or right after a `last`
    beat (its sums in flight): nothing from before it comes out, the stationary tile is cleared, every
    later sum is exact, and no handshake completes during the reset (checked by the testbench)."""
    p = ArrayParams(lanes=3, rows=2, tree=tree, pipeline=pipeline, dataflow=dataflow, max_k=30)
    rng = np.random.default_rng(7)
    ops = random_ops(p, rng, 14, max_reduction=3)
    while isinstance(ops[-1], Load) or not ops[-1].last:
        ops.pop()
    in_flight = ops  # ends with a `last` beat: the reset comes while its sums are in the pipeline
    partial = ops + [op for op in random_ops(p, rng, 2, max_reduction=3) if isinstance(op, Beat)]
    partial[-1].last = partial[-2].last = False  # ends inside a reduction
    after = random_ops(p, rng, 12, max_reduction=3)
    if dataflow == "stationary":  # a beat before any load computes with the cleared tile: all zeros
        after = [Beat(random_acts(p, rng, 1)[0], True)] + after
    post = reference(p, after)
    for before, cycles in ((in_flight, 1), (partial, 3)):
        pre = reference(p, before)
        result = run_bench(build_array(p), before + [Reset(cycles)] + after, seed=cycles, ready_prob=0.5)
        taken = sum(edge < result.reset_edges[0] for edge in result.out_edges)  # sums taken before the reset
        if before is in_flight:
            assert taken < len(pre)
        assert len(result.outputs) == taken + len(post)
        for got, want in zip(result.outputs, pre[:taken] + post, strict=True):
            np.testing.assert_array_equal(got, want)
        if dataflow == "stationary":
            np.testing.assert_array_equal(result.outputs[taken], np.zeros(p.rows))


@pytest.mark.parametrize(
    ("array", "kwargs"),
    [
        ("ternary", {"pipeline": 0}),
        ("ternary", {"pipeline": "full", "tree": "split"}),
        ("ternary", {"pipeline": 2, "dataflow": "stationary"}),
        ("int8", {"pipeline": "full"}),
        ("ternary", {"pipeline": "full", "tree": "deferred"}),
        ("ternary", {"pipeline": "full", "tree": "csa"}),
        ("ternary-lut", {"pipeline": "full"}),
        ("ternary-lut", {"pipeline": 1, "tree": "csa", "dataflow": "stationary", "group": 2}),
    ],
)
def test_full_throughput_and_latency(array, kwargs):
    """Without gaps or backpressure a beat is accepted every cycle, back-to-back `last` beats included, and
    each sum appears exactly `latency` cycles after its last beat."""
    dut = make(array, 8, 2, max_k=64, **kwargs)
    p = dut.params
    rng = np.random.default_rng(1)
    ops = random_ops(p, rng, 30, max_reduction=3)
    if p.dataflow == "stationary":  # one tile for all beats, so that only beats are transferred
        ops = [ops[0]] + [op for op in ops if isinstance(op, Beat)]
    for _ in range(5):  # then five one-beat reductions
        ops.append(
            Beat(
                random_acts(p, rng, 1)[0],
                True,
                random_tiles(p, rng, 1)[0] if p.dataflow == "stream" else None,
            )
        )
    result = check(dut, ops)
    first = result.beat_edges[0]
    assert result.beat_edges == list(range(first, first + len(result.beat_edges)))
    beats = [op for op in ops if isinstance(op, Beat)]
    last_edges = [edge for edge, op in zip(result.beat_edges, beats, strict=True) if op.last]
    assert [out - last for out, last in zip(result.out_edges, last_edges, strict=True)] == [p.latency] * len(
        last_edges
    )


@pytest.mark.parametrize("pipeline", [0, "full"])
def test_stationary_load_in_the_same_cycle_as_a_beat(pipeline):
    """A beat transferred in the same cycle as a tile load computes with the previous tile."""
    dut = TernaryMacArray(4, 2, pipeline=pipeline, dataflow="stationary", max_k=16)
    p = dut.params
    rng = np.random.default_rng(2)
    tiles, acts = random_tiles(p, rng, 3), random_acts(p, rng, 3)
    ops = [
        Load(tiles[0]),
        LoadWithBeat(Load(tiles[1]), Beat(acts[0], False)),
        LoadWithBeat(Load(tiles[2]), Beat(acts[1], True)),
        Beat(acts[2], True),
    ]
    result = check(dut, ops)
    assert result.load_edges[1:] == result.beat_edges[:2]  # both pairs really shared a cycle


@pytest.mark.parametrize(
    ("tree", "pipeline"), [("signed", 0), ("signed", "full"), ("split", 0), ("split", "full")]
)
def test_zero_weights_are_gated(tree, pipeline):
    """A lane whose weight is zero (code 0b00 or the invalid 0b10) holds every node of its product at 0 while
    its activation toggles: the activation is gated before the negation."""
    dut = TernaryMacArray(3, 2, tree=tree, pipeline=pipeline, max_k=60)
    p = dut.params
    rng = np.random.default_rng(5)
    acts = random_acts(p, rng, 20)
    acts[:, 1] = np.where(np.arange(20) % 2, p.act_min, p.act_max)  # lane 1 toggles every bit every beat
    codes = rng.choice([0b00, 0b01, 0b11], size=(20, p.rows, p.lanes))
    codes[:, 0, 1] = 0b00
    codes[:, 1, 1] = 0b10
    ops = [Beat(acts[b], b % 4 == 3, codes[b], codes=True) for b in range(20)]

    def lane_1_product(name: str) -> bool:  # r<r>_g1, _n1, _l0_1, r<r>_pos_l0_1, r<r>_neg_l0_1, registers
        return name.removesuffix("_q").endswith(("_g1", "_n1", "_l0_1"))

    result = check(dut, ops, watch=lane_1_product)
    nodes, registers = {"signed": (3, 1), "split": (2, 2)}[tree]  # g, n, l0; or pos_l0, neg_l0
    per_row = nodes + (registers if 0 in p.register_levels else 0)
    assert len(result.traces) == per_row * p.rows, sorted(result.traces)
    for name, values in result.traces.items():  # at the edges where a beat was transferred
        assert {values[edge] for edge in result.beat_edges} == {0}, f"{name} toggled for a zero weight"


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("pipeline", [0, "full"])
@pytest.mark.parametrize("tree", ARRAY_TREES["ternary-lut"])
@pytest.mark.parametrize(("group", "lanes"), [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4), (5, 5), (2, 1)])
def test_lut_exhaustive_codes(group, lanes, tree, pipeline, dataflow):
    """Every group code (the invalid ones included) in every group position of every row, N <= 5: the
    LUT engine against the golden model of the weights the codes stand for."""
    dut = TernaryLutArray(lanes, 2, group=group, tree=tree, pipeline=pipeline, dataflow=dataflow, max_k=64)
    p = dut.params
    groups, codes = group_count(lanes, group), 1 << code_bits(group)
    combos = codes**groups  # a partial last group too: a code reaching past N reads as a zero group
    all_codes = (np.arange(combos)[:, None] // codes ** np.arange(groups)) % codes  # (combos, groups)
    rng = np.random.default_rng(group * 10 + lanes)
    check(dut, exhaustive_ops(p, all_codes, rng), seed=lanes, valid_prob=0.8, ready_prob=0.7)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("pipeline", [0, 1, "full"])
@pytest.mark.parametrize("tree", ARRAY_TREES["ternary-lut"])
@pytest.mark.parametrize(("group", "lanes", "rows"), [(2, 9, 2), (3, 8, 3), (4, 12, 1), (5, 11, 2)])
def test_lut_random(group, lanes, rows, tree, pipeline, dataflow):
    """Random ternary weights (re-encoded by the host) and activations, gaps and backpressure; N a
    multiple of G and not."""
    dut = TernaryLutArray(
        lanes, rows, group=group, tree=tree, pipeline=pipeline, dataflow=dataflow, max_k=lanes * 5
    )
    rng = np.random.default_rng(group * 100 + lanes + len(dataflow))
    check(dut, random_ops(dut.params, rng, 80), seed=rows, valid_prob=0.7, ready_prob=0.6)


@pytest.mark.parametrize("pipeline", [0, "full"])
def test_lut_zero_groups_are_gated(pipeline):
    """A group whose code is 0 (all-zero weights) or invalid holds its selected entry and its signed sum
    at 0 while its activations and the shared table toggle."""
    dut = TernaryLutArray(6, 2, group=3, pipeline=pipeline, max_k=60)
    p = dut.params
    rng = np.random.default_rng(5)
    acts = random_acts(p, rng, 20)
    acts[:, 3:] = np.where(np.arange(20)[:, None] % 2, p.act_min, p.act_max)  # group 1 toggles every bit
    codes = rng.integers(0, group_entries(3) + 1, size=(20, p.rows, 2)) | (
        rng.integers(0, 2, (20, p.rows, 2)) << 4
    )
    codes[:, 0, 1] = 0
    codes[:, 1, 1] = 15  # an index above E = 13
    ops = [Beat(acts[b], b % 4 == 3, codes[b], codes=True) for b in range(20)]

    def group_1(name: str) -> bool:
        return name.removesuffix("_q").endswith(("_s1", "_l0_1"))

    result = check(dut, ops, watch=group_1)
    assert len(result.traces) == (1 + (0 in p.register_levels)) * p.rows, sorted(result.traces)  # l0: a slice
    for name, values in result.traces.items():
        assert {values[edge] for edge in result.beat_edges} == {0}, f"{name} toggled for a zero group"


def test_lut_table_is_shared_by_the_rows():
    """One table per group, whatever M: the entry nodes t<j>_e<k> exist once, E - G adders per group."""
    for rows in (1, 4):
        dut = TernaryLutArray(6, rows, group=3, max_k=60)
        Fragment.get(dut, None)
        entries = [name for name in dut.nodes if name.startswith("t")]
        assert len(entries) == 2 * (group_entries(3) - 3), entries


def test_constructors_validate_parameters():
    with pytest.raises(ValueError, match="lanes"):
        TernaryMacArray(0, 1)
    with pytest.raises(TypeError, match="rows"):
        TernaryMacArray(4, 1.5)
    with pytest.raises(ValueError, match="tree"):
        Int8MacArray(4, 1, tree="split")
    with pytest.raises(ValueError, match="pipeline"):
        TernaryMacArray(4, 1, pipeline=4)  # 4 lanes, signed: 3 levels
    with pytest.raises(ValueError, match="params.array"):
        Int8MacArray.from_params(ArrayParams(lanes=4, rows=1))
    dut = TernaryMacArray(4, 1)
    with pytest.raises(RuntimeError, match="elaborated"):
        dut.nodes  # noqa: B018
    Fragment.get(dut, None)
    assert {"r0_g0", "r0_n0", "r0_l0_0", "r0_l1_0", "r0_l2_0", "r0_acc"} <= set(dut.nodes)


def test_signature_and_from_params():
    p = ArrayParams(array="int8", lanes=5, rows=3, pipeline="full", dataflow="stationary", max_k=100)
    dut = build_array(p)
    assert isinstance(dut, Int8MacArray) and dut.params == p
    assert set(dut.signature.members) == {"i_stream", "w_stream", "o_stream"}
    assert len(dut.i_stream.payload.as_value()) == 5 * 8 + 1
    assert len(dut.w_stream.payload.as_value()) == 3 * 5 * 8
    assert len(dut.o_stream.payload.as_value()) == 3 * p.acc_width
    stream = TernaryMacArray(5, 3)
    assert set(stream.signature.members) == {"i_stream", "o_stream"}
    assert len(stream.i_stream.payload.as_value()) == 5 * 8 + 3 * 5 * 2 + 1
    Fragment.get(dut, None), Fragment.get(stream, None)


def test_refused_arguments_leave_no_unused_elaboratable():
    """Bad arguments are refused before the component exists: no "created but never used" warning, even
    once Amaranth has enabled that warning by elaborating something."""
    Fragment.get(TernaryMacArray(1, 1), None)
    refusals = [
        (TernaryMacArray, (0, 1), {}),
        (Int8MacArray, (4, 1), {"tree": "split"}),
        (TernaryMacArray, (4, 1), {"array": "int8"}),
        (TernaryMacArray, (4, 1), {"bogus": 1}),
        (Fp16MacArray, (3, 2), {"unit_modules": 1}),
        (Fp16MacArray, (3, 2), {"act_width": 8}),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cls, args, kwargs in refusals:
            with pytest.raises((TypeError, ValueError)):
                cls(*args, **kwargs)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, UnusedElaboratable)]


def test_constructors_take_every_parameter_field():
    """lanes, rows and every other ArrayParams field but array, by keyword; array is fixed by the class."""
    for array, cls in ARRAY_CLASSES.items():
        p = ArrayParams(array=array, lanes=3, rows=2, max_k=30, pipeline=1, dataflow="stationary")
        others = {k: v for k, v in p.as_dict().items() if k not in ("array", "lanes", "rows")}
        assert set(others) == {f.name for f in dataclasses.fields(ArrayParams)} - {"array", "lanes", "rows"}
        duts = [cls(3, 2, **others), cls.from_params(p)]
        assert [dut.params for dut in duts] == [p, p]
        for dut in duts:
            Fragment.get(dut, None)
        with pytest.raises(TypeError, match="array"):
            cls(3, 2, array=array)


@pytest.mark.parametrize("method", ["_row_sum", "_accumulate"])
def test_overrides_keep_the_base_signatures(method):
    base = inspect.signature(getattr(MacArray, method))
    for cls in ARRAY_CLASSES.values():
        assert inspect.signature(getattr(cls, method)) == base, f"{cls.__name__}.{method}"


def test_tree_builder_with_a_custom_combine():
    """The pairing loop and register placement for nodes of any kind: plain 4-bit values combined by XOR,
    registered after level 1 (shape kept, names <node>_q)."""
    m = Module()
    builder = PipelinedTreeBuilder(m, [1], [Const(1)], cap=8)
    leaves = [builder.add_node(f"x{i}", Signal(unsigned(4), name=f"x{i}")) for i in range(5)]

    def xor(name: str, a, b):
        node = Signal(unsigned(4), name=name)
        m.d.comb += node.eq(a ^ b)
        return builder.add_node(name, node)

    root, level = builder.reduce(builder.stage(0, leaves, [f"x{i}" for i in range(5)]), "t", combine=xor)
    assert level == 3 and root.name == "t_l3_0"
    registers = sorted(name for name in builder.nodes if name.endswith("_q"))
    assert registers == ["t_l1_0_q", "t_l1_1_q", "t_l1_2_q"]  # x4 passes level 1 and is registered too
    assert all(builder.nodes[name].shape() == unsigned(4) for name in registers)
    assert builder.nodes["t_l1_2_q"] is not leaves[4]
    (term,) = builder.stage(1, [Term(Signal(signed(3)), -4, 3)], ["term"])  # a Term keeps its range
    assert isinstance(term, Term) and term.value.shape() == signed(3) and (term.lo, term.hi) == (-4, 3)
    assert builder.nodes["term_q"] is term.value
    with pytest.raises(TypeError, match="combine"):
        builder.reduce(leaves, "u")
    builder.elaborate_registers()
    Fragment.get(m, None)
