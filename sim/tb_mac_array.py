"""cocotb tests of one generated MAC array, run inside the simulator by :mod:`sim.runner`.

The array's parameters arrive as JSON in ``BITNET_ARRAY`` (``hw.params.ArrayParams`` fields), the random
seed in ``BITNET_SIM_SEED``, the random-test size in ``BITNET_SIM_MACS`` (multiply-accumulates), and
``BITNET_SIM_LAYER=1`` enables the whole-layer test. Every test checks the array bit-exactly against the
model through :func:`sim.bench.run_stimulus`.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np

from hw.params import ArrayParams
from model.bitlinear import bitlinear, bitlinear_int
from model.fp16 import MAX_FINITE, NEGATIVE_ZERO, POSITIVE_INFINITY, SIGN_BIT, to_bits
from model.quant import quantize_activations, quantize_weights
from sim.bench import run_stimulus, start_array
from sim.scheduler import assemble, schedule_layer
from sim.stimulus import (
    Stimulus,
    beats,
    concat,
    load,
    random_activations,
    random_reductions,
    random_weights,
    reduction,
    reset,
)


def _report(name: str, values: dict) -> None:
    """Write measured values as JSON next to the results file, for the runner and the benchmark."""
    folder = os.environ.get("BITNET_SIM_REPORT_DIR")
    if folder:
        with open(os.path.join(folder, f"{name}.json"), "w") as file:
            json.dump(values, file)


def _settings() -> tuple[ArrayParams, str, int]:
    params = ArrayParams(**json.loads(os.environ["BITNET_ARRAY"]))
    return params, params.default_name(), int(os.environ.get("BITNET_SIM_SEED", "1"))


def directed_corners(params: ArrayParams, rng: np.random.Generator) -> Stimulus:
    """All-zero weights, extreme sums, a walking non-zero weight, alternating signs, back-to-back lasts,
    and the longest reduction at both extremes."""
    n, m = params.lanes, params.rows
    lo, hi = params.act_min, params.act_max
    w_lo = params.weight_min  # -1 (ternary) or -128 (int8)
    full = np.ones((m, n), np.int64)
    parts = []
    # all-zero weights against random and extreme activations
    acts = np.concatenate([random_activations(params, rng, (3, n)), np.full((1, n), lo)])
    parts.append(reduction(params, acts, np.zeros((4, m, n))))
    # all +1 against act_max, all -1 against act_min (and the most negative weight for int8)
    parts.append(reduction(params, np.full((3, n), hi), np.tile(full, (3, 1, 1))))
    parts.append(reduction(params, np.full((3, n), lo), np.tile(-full, (3, 1, 1))))
    parts.append(reduction(params, np.full((2, n), lo), np.full((2, m, n), w_lo)))
    # a single non-zero weight walking across the lanes (row r carries it at lane (i + r) % n)
    for i in range(n):
        tile = np.zeros((m, n), np.int64)
        for r in range(m):
            tile[r, (i + r) % n] = 1 if r % 2 == 0 else -1
        parts.append(reduction(params, random_activations(params, rng, (1, n)), tile[None]))
    # alternating signs of weights and activations
    signs = np.where((np.arange(m)[:, None] + np.arange(n)[None, :]) % 2 == 0, 1, -1)
    alternating_act = np.where(np.arange(n) % 2 == 0, hi, lo)[None]
    parts.append(reduction(params, np.repeat(alternating_act, 2, 0), np.tile(signs, (2, 1, 1))))
    # back-to-back last beats: one-beat reductions in consecutive cycles
    tile = random_weights(params, rng, (m, n))
    if params.dataflow == "stationary":
        parts.append(load(params, tile))
        parts.append(beats(params, random_activations(params, rng, (20, n)), None, True))
    else:
        parts.append(beats(params, random_activations(params, rng, (20, n)), np.tile(tile, (20, 1, 1)), True))
    # the longest reduction (max_k elements) at both extremes: the accumulator's worst cases
    longest = params.max_beats
    for act_value, weight_value in ((lo, w_lo), (hi, params.weight_max), (lo, params.weight_max)):
        tiles = np.full((longest, m, n), weight_value)
        if params.dataflow == "stationary":
            parts.append(load(params, tiles[0]))
            last = np.zeros(longest, bool)
            last[-1] = True
            parts.append(beats(params, np.full((longest, n), act_value), None, last))
        else:
            parts.append(reduction(params, np.full((longest, n), act_value), tiles))
    return concat(parts)


def fp16_directed_corners(params: ArrayParams, rng: np.random.Generator) -> Stimulus:
    """The FP16 array's corners: signed zeros, cancellation to +0, overflow to infinity (of products and of
    sums), infinities, ``inf - inf`` and ``inf * 0``, NaNs of every kind (walking across the lanes),
    subnormal products and sums, ties to even, a walking weight, back-to-back lasts, and the longest
    reduction (max_k elements) of ones."""
    n, m = params.lanes, params.rows
    one, two, half = 0x3C00, 0x4000, 0x3800
    neg_inf = SIGN_BIT | POSITIVE_INFINITY

    def full(value: int, beats: int = 1) -> np.ndarray:
        return np.full((beats, m, n), value, np.int64)

    def lanes(
        values: list[int],
    ) -> np.ndarray:  # one beat of activations, the pattern repeated over the lanes
        return np.resize(np.array(values, np.int64), n)[None]

    def normal(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        return to_bits(rng.standard_normal(shape) * scale).astype(np.int64)

    parts = []
    # signed zeros: -0 * 1 = -0 everywhere gives -0, -0 * -1 = +0; +0 weights against negative activations
    parts.append(reduction(params, lanes([NEGATIVE_ZERO]), full(one)))
    parts.append(reduction(params, lanes([NEGATIVE_ZERO]), full(SIGN_BIT | one)))
    parts.append(reduction(params, lanes([SIGN_BIT | one]), full(0)))
    parts.append(reduction(params, normal((3, n)) | SIGN_BIT, full(0, 3)))
    # x + -x = +0 (pairs of lanes cancel), and a whole reduction cancelling across beats
    signs = np.where(np.arange(n) % 2 == 0, one, SIGN_BIT | one)
    parts.append(reduction(params, lanes([0x4500]), np.broadcast_to(signs, (1, m, n))))
    act = normal((1, n))
    parts.append(
        reduction(params, np.concatenate([act, act]), np.concatenate([full(one), full(SIGN_BIT | one)]))
    )
    # overflow to infinity: products (65504 * 2) and sums of finite products (65504 + 65504)
    parts.append(reduction(params, lanes([MAX_FINITE]), full(two)))
    parts.append(reduction(params, lanes([MAX_FINITE]).repeat(2, 0), full(SIGN_BIT | one, 2)))
    # infinities: inf + -inf in the tree (or across beats for one lane) and inf * 0
    parts.append(reduction(params, lanes([POSITIVE_INFINITY, neg_inf]), full(one)))
    parts.append(
        reduction(params, np.concatenate([lanes([POSITIVE_INFINITY]), lanes([neg_inf])]), full(one, 2))
    )
    parts.append(reduction(params, lanes([POSITIVE_INFINITY]), full(0)))
    parts.append(reduction(params, lanes([neg_inf, one]), full(half)))
    # NaNs of every kind, one lane at a time (also in the weights), among normal values
    for i, nan in enumerate([0x7C01, 0x7E00, 0xFE00, 0xFFFF, 0x7D55]):
        act, tile = normal((1, n)), normal((1, m, n), 0.1)
        if i % 2:
            tile[0, :, (i * 7) % n] = nan
        else:
            act[0, (i * 5) % n] = nan
        parts.append(reduction(params, act, tile))
    # subnormals: products of subnormals underflow to zero, of small normals give subnormals; ties at 2**-25
    subnormal = rng.integers(1, 1024, (2, n)) | (rng.integers(0, 2, (2, n)) << 15)
    parts.append(reduction(params, subnormal, rng.integers(1, 1024, (2, m, n))))
    parts.append(reduction(params, lanes([0x2000, 0x0001, 0x0003, 0x0400]), full(half)))
    parts.append(reduction(params, lanes([0x0401, 0x83FF]), full(0x1C00)))
    # ties to even: 2048 + 1 + 1 + 2 in the tree
    parts.append(reduction(params, lanes([0x6800, one, one, two]), full(one)))
    # a single 1.0 weight walking across the lanes (row r carries it at lane (i + r) % n)
    for i in range(n):
        tile = np.zeros((1, m, n), np.int64)
        for r in range(m):
            tile[0, r, (i + r) % n] = one if r % 2 == 0 else SIGN_BIT | one
        parts.append(reduction(params, normal((1, n), 8.0), tile))
    # back-to-back last beats
    tile = normal((m, n), 0.05)
    if params.dataflow == "stationary":
        parts.append(load(params, tile))
        parts.append(beats(params, normal((20, n)), None, True))
    else:
        parts.append(beats(params, normal((20, n)), np.tile(tile, (20, 1, 1)), True))
    # the longest reduction (max_k elements) of ones
    longest = params.max_beats
    last = np.zeros(longest, bool)
    last[-1] = True
    if params.dataflow == "stationary":
        parts += [load(params, full(one)[0]), beats(params, np.full((longest, n), one), None, last)]
    else:
        parts.append(reduction(params, np.full((longest, n), one), full(one, longest)))
    return concat(parts)


@cocotb.test()
async def test_directed_corners(dut):
    """Directed corner cases, no idle cycles and no backpressure."""
    params, config, seed = _settings()
    await start_array(dut)
    corners = fp16_directed_corners if params.is_float else directed_corners
    stimulus = corners(params, np.random.default_rng(seed))
    result = await run_stimulus(dut, params, stimulus, seed=seed, config=config)
    dut._log.info("directed: %d outputs exact", result.outputs)


@cocotb.test()
async def test_random_with_gaps_and_backpressure(dut):
    """At least BITNET_SIM_MACS random multiply-accumulates, random valid gaps and ready stalls."""
    params, config, seed = _settings()
    macs = int(os.environ.get("BITNET_SIM_MACS", "1000000"))
    await start_array(dut)
    stimulus = random_reductions(params, np.random.default_rng(seed), macs)
    start = time.perf_counter()
    result = await run_stimulus(dut, params, stimulus, seed=seed, config=config, idle=0.2, stall=0.2)
    seconds = time.perf_counter() - start
    verified = result.beats * params.macs_per_beat
    assert verified >= macs, f"only {verified} MACs were driven"
    dut._log.info(
        "random: %d MACs in %d beats, %d outputs exact, %.0f verified MACs/s",
        verified,
        result.beats,
        result.outputs,
        verified / seconds,
    )


@cocotb.test()
async def test_full_throughput(dut):
    """No gaps, no stalls: one beat per cycle (MACs/s measured here is the benchmark's cocotb figure)."""
    params, config, seed = _settings()
    macs = int(os.environ.get("BITNET_SIM_MACS", "1000000")) // 4
    await start_array(dut)
    stimulus = random_reductions(params, np.random.default_rng(seed + 1), macs)
    start = time.perf_counter()
    result = await run_stimulus(dut, params, stimulus, seed=seed, config=config)
    seconds = time.perf_counter() - start
    macs_done = result.beats * params.macs_per_beat
    dut._log.info(
        "throughput: %d MACs verified in %.3f s: %.0f MACs/s (%d outputs)",
        macs_done,
        seconds,
        macs_done / seconds,
        result.outputs,
    )
    _report("throughput", {"macs": macs_done, "seconds": seconds, "beats": result.beats})


@cocotb.test()
async def test_reset_mid_reduction(dut):
    """Resets in the middle of K-reductions, with sums in flight and after draining them."""
    params, config, seed = _settings()
    rng = np.random.default_rng(seed + 2)
    await start_array(dut)
    n, m = params.lanes, params.rows
    longest = max(2, min(8, params.max_beats))
    parts = [random_reductions(params, rng, 4 * n * m, max_beats=longest)]
    for drain in (False, True, False):
        # an unfinished reduction: beats without a last (the stationary array also loses its tile)
        cut = reduction(
            params,
            random_activations(params, rng, (longest, n)),
            random_weights(params, rng, (longest, m, n)),
        )
        cut.last[:] = False
        parts += [
            cut,
            reset(params, drain=drain),
            random_reductions(params, rng, 6 * n * m, max_beats=longest),
        ]
    result = await run_stimulus(dut, params, concat(parts), seed=seed, config=config, idle=0.1, stall=0.5)
    dut._log.info("reset: %d outputs exact across 3 resets", result.outputs)


@cocotb.test(skip=os.environ.get("BITNET_SIM_LAYER") != "1")
async def test_bitlinear_layer(dut):
    """A 256 x 1024 BitLinear layer on 16 tokens, tiled over the array, against the golden model."""
    params, config, seed = _settings()
    rng = np.random.default_rng(seed + 3)
    await start_array(dut)
    w = rng.standard_normal((256, 1024)).astype(np.float32)
    x = rng.standard_normal((16, 1024)).astype(np.float32)
    w_q, s_w = quantize_weights(w)
    x_q, s_x = quantize_activations(x)
    program = schedule_layer(params, x_q, w_q)
    parts = []
    for kind, op in program.ops:
        if kind == "load":
            parts.append(load(params, op["weights"]))
        else:
            tile = None if op["weights"] is None else op["weights"][None]
            parts.append(beats(params, op["act"][None], tile, op["last"]))
    result = await run_stimulus(dut, params, concat(parts), seed=seed, config=config, idle=0.1, stall=0.1)
    acc = assemble(params, program, np.concatenate(result.sums))
    reference = bitlinear_int(x_q, w_q)
    assert np.array_equal(acc, reference), (
        f"[{config}] layer accumulators differ in {np.count_nonzero(acc != reference)} places"
    )
    y = acc.astype(np.float32) / (s_x * s_w)
    assert np.array_equal(y, bitlinear(x, w)), (
        f"[{config}] dequantized layer output differs from model.bitlinear"
    )
    dut._log.info("layer: 256 x 1024 x 16 tokens = %d MACs exact", 256 * 1024 * 16)
