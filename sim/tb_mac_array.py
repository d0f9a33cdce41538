"""cocotb tests of one generated MAC array, run inside the simulator by :mod:`sim.runner`.

The runner hands the tests their settings (:class:`sim.settings.RunSettings`: the array's parameters, the
random seed, the random-test size in multiply-accumulates, whether the whole-layer test runs) through
environment variables that only :mod:`sim.settings` names. Every test checks the array bit-exactly against
the model through :func:`sim.bench.run_prepared`; the stimulus of each test is built by a plain function
of this module (no simulator needed), the test body runs it and logs what it checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cocotb
import numpy as np

from hw.params import ArrayParams
from model.bitlinear import bitlinear, bitlinear_int
from model.fp16 import MAX_FINITE, NEGATIVE_ZERO, POSITIVE_INFINITY, SIGN_BIT, to_bits
from model.quant import quantize_activations, quantize_weights
from sim.bench import RunResult, run_prepared, start_array
from sim.protocol import prepare
from sim.scheduler import Program, assemble, schedule_layer
from sim.settings import THROUGHPUT_REPORT, RunSettings, layer_test_enabled, write_report
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

#: Beats of the back-to-back ``last`` corner (one-beat reductions in consecutive cycles).
BACK_TO_BACK_BEATS = 20
#: The whole-layer test: tokens, in_features, out_features.
LAYER_TOKENS, LAYER_IN, LAYER_OUT = 16, 1024, 256

# --- directed corners of the integer arrays ----------------------------------------------------------------


def _back_to_back_lasts(params: ArrayParams, act: np.ndarray, tile: np.ndarray) -> list[Stimulus]:
    """One-beat reductions ``act`` in consecutive cycles, all against ``tile``."""
    if params.dataflow == "stationary":
        return [load(params, tile), beats(params, act, None, True)]
    return [beats(params, act, np.tile(tile, (len(act), 1, 1)), True)]


def _longest_reduction(params: ArrayParams, act_value: int, weight_value: int) -> list[Stimulus]:
    """One reduction of ``max_k`` elements: every activation ``act_value``, every weight ``weight_value``."""
    n, m, longest = params.lanes, params.rows, params.max_beats
    tiles = np.full((longest, m, n), weight_value, np.int64)
    act = np.full((longest, n), act_value, np.int64)
    if params.dataflow == "stationary":
        last = np.zeros(longest, bool)
        last[-1] = True
        return [load(params, tiles[0]), beats(params, act, None, last)]
    return [reduction(params, act, tiles)]


def _walking_weight(
    params: ArrayParams, plus: int, minus: int, activations: Callable[[], np.ndarray]
) -> list[Stimulus]:
    """A single non-zero weight walking across the lanes: row ``r`` carries it at lane ``(i + r) % N``,
    ``plus`` on even rows and ``minus`` on odd ones; ``activations()`` gives each reduction's one beat."""
    n, m = params.lanes, params.rows
    parts = []
    for i in range(n):
        tile = np.zeros((1, m, n), np.int64)
        for r in range(m):
            tile[0, r, (i + r) % n] = plus if r % 2 == 0 else minus
        parts.append(reduction(params, activations(), tile))
    return parts


def _extreme_sums(params: ArrayParams, rng: np.random.Generator) -> list[Stimulus]:
    """All-zero weights against random and extreme activations, then the largest sums of either sign."""
    n, m = params.lanes, params.rows
    lo, hi, w_lo = params.act_min, params.act_max, params.weight_min  # w_lo: -1 (ternary) or -128 (int8)
    full = np.ones((m, n), np.int64)
    acts = np.concatenate([random_activations(params, rng, (3, n)), np.full((1, n), lo)])
    return [
        reduction(params, acts, np.zeros((4, m, n))),
        reduction(params, np.full((3, n), hi), np.tile(full, (3, 1, 1))),
        reduction(params, np.full((3, n), lo), np.tile(-full, (3, 1, 1))),
        reduction(params, np.full((2, n), lo), np.full((2, m, n), w_lo)),
    ]


def _alternating_signs(params: ArrayParams) -> list[Stimulus]:
    """Weights and activations of alternating signs."""
    n, m = params.lanes, params.rows
    signs = np.where((np.arange(m)[:, None] + np.arange(n)[None, :]) % 2 == 0, 1, -1)
    alternating_act = np.where(np.arange(n) % 2 == 0, params.act_max, params.act_min)[None]
    return [reduction(params, np.repeat(alternating_act, 2, 0), np.tile(signs, (2, 1, 1)))]


def directed_corners(params: ArrayParams, rng: np.random.Generator) -> Stimulus:
    """All-zero weights, extreme sums, a walking non-zero weight, alternating signs, back-to-back lasts,
    and the longest reduction at both extremes."""
    n, m = params.lanes, params.rows
    lo, hi = params.act_min, params.act_max
    parts = _extreme_sums(params, rng)
    parts += _walking_weight(params, 1, -1, lambda: random_activations(params, rng, (1, n)))
    parts += _alternating_signs(params)
    tile = random_weights(params, rng, (m, n))
    parts += _back_to_back_lasts(params, random_activations(params, rng, (BACK_TO_BACK_BEATS, n)), tile)
    # the accumulator's worst cases
    for act_value, weight_value in (
        (lo, params.weight_min),
        (hi, params.weight_max),
        (lo, params.weight_max),
    ):
        parts += _longest_reduction(params, act_value, weight_value)
    return concat(parts)


# --- directed corners of the FP16 array --------------------------------------------------------------------

FP16_ONE, FP16_TWO, FP16_HALF = 0x3C00, 0x4000, 0x3800
FP16_NEGATIVE_INFINITY = SIGN_BIT | POSITIVE_INFINITY
#: NaNs of every kind: signalling, quiet, negative, all ones, a payload.
FP16_NANS = (0x7C01, 0x7E00, 0xFE00, 0xFFFF, 0x7D55)


@dataclass
class _Fp16Values:
    """Binary16 operands shaped for one array: tiles, beats of a lane pattern, random normals."""

    params: ArrayParams
    rng: np.random.Generator

    def full(self, value: int, beats: int = 1) -> np.ndarray:
        """``beats`` tiles ``(beats, M, N)`` of ``value``."""
        return np.full((beats, self.params.rows, self.params.lanes), value, np.int64)

    def lanes(self, values: list[int]) -> np.ndarray:
        """One beat of activations ``(1, N)``: the pattern ``values`` repeated over the lanes."""
        return np.resize(np.array(values, np.int64), self.params.lanes)[None]

    def normal(self, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        """``N(0, scale)`` rounded to binary16 bit patterns."""
        return to_bits(self.rng.standard_normal(shape) * scale).astype(np.int64)


def _fp16_zeros_and_cancellation(params: ArrayParams, v: _Fp16Values) -> list[Stimulus]:
    """Signed zeros (-0 * 1 = -0 everywhere gives -0, -0 * -1 = +0; +0 weights against negative
    activations), and x + -x = +0 across lanes and across the beats of a reduction."""
    n, m = params.lanes, params.rows
    negative_one = SIGN_BIT | FP16_ONE
    parts = [
        reduction(params, v.lanes([NEGATIVE_ZERO]), v.full(FP16_ONE)),
        reduction(params, v.lanes([NEGATIVE_ZERO]), v.full(negative_one)),
        reduction(params, v.lanes([negative_one]), v.full(0)),
        reduction(params, v.normal((3, n)) | SIGN_BIT, v.full(0, 3)),
    ]
    signs = np.where(np.arange(n) % 2 == 0, FP16_ONE, negative_one)
    parts.append(reduction(params, v.lanes([0x4500]), np.broadcast_to(signs, (1, m, n))))
    act = v.normal((1, n))
    tiles = np.concatenate([v.full(FP16_ONE), v.full(negative_one)])
    parts.append(reduction(params, np.concatenate([act, act]), tiles))
    return parts


def _fp16_overflow_and_infinities(params: ArrayParams, v: _Fp16Values) -> list[Stimulus]:
    """Overflow to infinity of products (65504 * 2) and of sums (65504 + 65504); inf + -inf in the tree and
    across beats, inf * 0, -inf * 0.5."""
    inf, neg_inf = POSITIVE_INFINITY, FP16_NEGATIVE_INFINITY
    return [
        reduction(params, v.lanes([MAX_FINITE]), v.full(FP16_TWO)),
        reduction(params, v.lanes([MAX_FINITE]).repeat(2, 0), v.full(SIGN_BIT | FP16_ONE, 2)),
        reduction(params, v.lanes([inf, neg_inf]), v.full(FP16_ONE)),
        reduction(params, np.concatenate([v.lanes([inf]), v.lanes([neg_inf])]), v.full(FP16_ONE, 2)),
        reduction(params, v.lanes([inf]), v.full(0)),
        reduction(params, v.lanes([neg_inf, FP16_ONE]), v.full(FP16_HALF)),
    ]


def _fp16_nans(params: ArrayParams, v: _Fp16Values) -> list[Stimulus]:
    """NaNs of every kind, one lane at a time (in the activations or the weights), among normal values."""
    n, m = params.lanes, params.rows
    parts = []
    for i, nan in enumerate(FP16_NANS):
        act, tile = v.normal((1, n)), v.normal((1, m, n), 0.1)
        if i % 2:
            tile[0, :, (i * 7) % n] = nan
        else:
            act[0, (i * 5) % n] = nan
        parts.append(reduction(params, act, tile))
    return parts


def _fp16_subnormals_and_ties(params: ArrayParams, v: _Fp16Values) -> list[Stimulus]:
    """Products of subnormals underflow to zero, of small normals give subnormals; ties at 2**-25; ties to
    even in the tree (2048 + 1 + 1 + 2)."""
    n, m = params.lanes, params.rows
    rng = v.rng
    subnormal = rng.integers(1, 1024, (2, n)) | (rng.integers(0, 2, (2, n)) << 15)
    return [
        reduction(params, subnormal, rng.integers(1, 1024, (2, m, n))),
        reduction(params, v.lanes([0x2000, 0x0001, 0x0003, 0x0400]), v.full(FP16_HALF)),
        reduction(params, v.lanes([0x0401, 0x83FF]), v.full(0x1C00)),
        reduction(params, v.lanes([0x6800, FP16_ONE, FP16_ONE, FP16_TWO]), v.full(FP16_ONE)),
    ]


def fp16_directed_corners(params: ArrayParams, rng: np.random.Generator) -> Stimulus:
    """The FP16 array's corners: signed zeros, cancellation to +0, overflow to infinity (of products and of
    sums), infinities, ``inf - inf`` and ``inf * 0``, NaNs of every kind (walking across the lanes),
    subnormal products and sums, ties to even, a walking weight, back-to-back lasts, and the longest
    reduction (max_k elements) of ones."""
    n, m = params.lanes, params.rows
    v = _Fp16Values(params, rng)
    parts = _fp16_zeros_and_cancellation(params, v)
    parts += _fp16_overflow_and_infinities(params, v)
    parts += _fp16_nans(params, v)
    parts += _fp16_subnormals_and_ties(params, v)
    parts += _walking_weight(params, FP16_ONE, SIGN_BIT | FP16_ONE, lambda: v.normal((1, n), 8.0))
    tile = v.normal((m, n), 0.05)
    parts += _back_to_back_lasts(params, v.normal((BACK_TO_BACK_BEATS, n)), tile)
    parts += _longest_reduction(params, FP16_ONE, FP16_ONE)
    return concat(parts)


# --- the other tests' stimulus -----------------------------------------------------------------------------


def corners_for(params: ArrayParams, rng: np.random.Generator) -> Stimulus:
    """The directed corners of the array's kind (FP16 or integer)."""
    return fp16_directed_corners(params, rng) if params.is_float else directed_corners(params, rng)


def reset_stimulus(params: ArrayParams, rng: np.random.Generator) -> Stimulus:
    """Random reductions cut by three resets (without, with and without draining), each in the middle of an
    unfinished reduction (beats without a last; the stationary array also loses its tile)."""
    n, m = params.lanes, params.rows
    longest = max(2, min(8, params.max_beats))
    parts = [random_reductions(params, rng, 4 * n * m, max_beats=longest)]
    for drain in (False, True, False):
        act = random_activations(params, rng, (longest, n))
        cut = reduction(params, act, random_weights(params, rng, (longest, m, n)))
        cut.last[:] = False
        parts += [
            cut,
            reset(params, drain=drain),
            random_reductions(params, rng, 6 * n * m, max_beats=longest),
        ]
    return concat(parts)


@dataclass
class LayerCase:
    """A Gaussian BitLinear layer, its quantized operands and scales, and its schedule on the array."""

    x: np.ndarray
    w: np.ndarray
    x_q: np.ndarray
    s_x: np.ndarray
    w_q: np.ndarray
    s_w: np.ndarray
    program: Program


def layer_case(params: ArrayParams, rng: np.random.Generator) -> LayerCase:
    """A ``LAYER_OUT x LAYER_IN`` layer on ``LAYER_TOKENS`` tokens, tiled over the array."""
    w = rng.standard_normal((LAYER_OUT, LAYER_IN)).astype(np.float32)
    x = rng.standard_normal((LAYER_TOKENS, LAYER_IN)).astype(np.float32)
    w_q, s_w = quantize_weights(w)
    x_q, s_x = quantize_activations(x)
    return LayerCase(x, w, x_q, s_x, w_q, s_w, schedule_layer(params, x_q, w_q))


def check_layer(params: ArrayParams, case: LayerCase, result: RunResult, config: str) -> None:
    """The array's sums, assembled, must equal the golden accumulators and dequantize to ``bitlinear``."""
    acc = assemble(params, case.program, np.concatenate(result.sums))
    reference = bitlinear_int(case.x_q, case.w_q)
    assert np.array_equal(acc, reference), (
        f"[{config}] layer accumulators differ in {np.count_nonzero(acc != reference)} places"
    )
    y = acc.astype(np.float32) / (case.s_x * case.s_w)
    assert np.array_equal(y, bitlinear(case.x, case.w)), (
        f"[{config}] dequantized layer output differs from model.bitlinear"
    )


# --- the cocotb tests --------------------------------------------------------------------------------------


async def _run(
    dut: object, settings: RunSettings, stimulus: Stimulus, *, idle: float = 0.0, stall: float = 0.0
) -> tuple[RunResult, float]:
    """Run ``stimulus`` on the started array with the settings' seed; the result and its wall seconds."""
    start = time.perf_counter()
    result = await run_prepared(
        dut,
        prepare(settings.params, stimulus),
        seed=settings.seed,
        config=settings.params.default_name(),
        idle=idle,
        stall=stall,
    )
    return result, time.perf_counter() - start


@cocotb.test()
async def test_directed_corners(dut):
    """Directed corner cases, no idle cycles and no backpressure."""
    settings = RunSettings.from_environment()
    await start_array(dut)
    stimulus = corners_for(settings.params, np.random.default_rng(settings.seed))
    result, _ = await _run(dut, settings, stimulus)
    dut._log.info("directed: %d outputs exact", result.outputs)


@cocotb.test()
async def test_random_with_gaps_and_backpressure(dut):
    """At least ``settings.macs`` random multiply-accumulates, random valid gaps and ready stalls."""
    settings = RunSettings.from_environment()
    params = settings.params
    await start_array(dut)
    stimulus = random_reductions(params, np.random.default_rng(settings.seed), settings.macs)
    result, seconds = await _run(dut, settings, stimulus, idle=0.2, stall=0.2)
    verified = result.beats * params.macs_per_beat
    assert verified >= settings.macs, f"only {verified} MACs were driven"
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
    settings = RunSettings.from_environment()
    params = settings.params
    await start_array(dut)
    stimulus = random_reductions(params, np.random.default_rng(settings.seed + 1), settings.throughput_macs)
    result, seconds = await _run(dut, settings, stimulus)
    measured = {"macs": result.beats * params.macs_per_beat, "seconds": seconds, "beats": result.beats}
    write_report(settings, THROUGHPUT_REPORT, measured)
    dut._log.info(
        "throughput: %d MACs verified in %.3f s: %.0f MACs/s (%d outputs)",
        measured["macs"],
        seconds,
        measured["macs"] / seconds,
        result.outputs,
    )


@cocotb.test()
async def test_reset_mid_reduction(dut):
    """Resets in the middle of K-reductions, with sums in flight and after draining them."""
    settings = RunSettings.from_environment()
    stimulus = reset_stimulus(settings.params, np.random.default_rng(settings.seed + 2))
    await start_array(dut)
    result, _ = await _run(dut, settings, stimulus, idle=0.1, stall=0.5)
    dut._log.info("reset: %d outputs exact across 3 resets", result.outputs)


@cocotb.test(skip=not layer_test_enabled())
async def test_bitlinear_layer(dut):
    """A 256 x 1024 BitLinear layer on 16 tokens, tiled over the array, against the golden model."""
    settings = RunSettings.from_environment()
    params = settings.params
    case = layer_case(params, np.random.default_rng(settings.seed + 3))
    await start_array(dut)
    result, _ = await _run(dut, settings, case.program.stimulus, idle=0.1, stall=0.1)
    check_layer(params, case, result, params.default_name())
    dut._log.info(
        "layer: %d x %d x %d tokens = %d MACs exact",
        LAYER_OUT,
        LAYER_IN,
        LAYER_TOKENS,
        LAYER_OUT * LAYER_IN * LAYER_TOKENS,
    )
