"""Stimulus for the MAC arrays as plain NumPy data, and the reference results it must produce.

A :class:`Stimulus` is a sequence of operations of the kinds :class:`Op`: activation beats (with their
weight tile in the stream dataflow), weight-tile loads (stationary dataflow) and resets.
:func:`expected_outputs` computes, from the model, the sums the array must return for it, segment by
segment (a reset starts a new segment; the beats of a reduction that a reset cuts short produce nothing).
The reference for ternary arrays is ``model.bitlinear.bitlinear_int``; for the int8 baseline an exact
int64 matmul; for the FP16 baseline ``model.fp16.fp16_mac_reference`` (binary16 bit patterns in, bit
patterns out, so that NaNs and signed zeros compare exactly).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from hw.layout import pack_input, pack_weight_load
from hw.params import ArrayParams
from model.bitlinear import bitlinear_int
from model.fp16 import EXPONENT_BITS, FRACTION_BITS, POSITIVE_INFINITY, fp16_mac_reference, to_bits


class Op(enum.IntEnum):
    """The kind of one operation of a :class:`Stimulus`; its ``kind`` array stores these values.

    ``BEAT`` is an activation beat on ``i_stream`` (carrying its weight tile in the stream dataflow),
    ``LOAD`` a weight-tile load on ``w_stream`` (stationary dataflow), ``RESET`` a synchronous reset.
    """

    BEAT = 0
    LOAD = 1
    RESET = 2


#: The members of :class:`Op` by value, to turn a ``kind`` array into members quickly.
_OPS = tuple(Op)


@dataclass
class Stimulus:
    """Operations in issue order.

    Members
    -------
    kind : (B,) int8
        The :class:`Op` of every operation.
    act : (B, N) int64
        The activation vector of each beat (zeros for other operations).
    weights : (B, M, N) int64
        The tile of each beat (stream dataflow) or load (stationary); zeros otherwise.
    last : (B,) bool
        The ``last`` flag of each beat.
    drain : (B,) bool
        For a reset: wait until every finished reduction's sums were taken before asserting it.
    """

    kind: np.ndarray
    act: np.ndarray
    weights: np.ndarray
    last: np.ndarray
    drain: np.ndarray

    @classmethod
    def empty(cls, params: ArrayParams) -> Stimulus:
        n, m = params.lanes, params.rows
        return cls(
            np.zeros(0, np.int8),
            np.zeros((0, n), np.int64),
            np.zeros((0, m, n), np.int64),
            np.zeros(0, bool),
            np.zeros(0, bool),
        )

    def __len__(self) -> int:
        return len(self.kind)

    def __add__(self, other: Stimulus) -> Stimulus:
        return concat([self, other])

    def fields(self) -> tuple[np.ndarray, ...]:
        return self.kind, self.act, self.weights, self.last, self.drain

    @property
    def beats(self) -> int:
        return int((self.kind == Op.BEAT).sum())

    def ops(self) -> list[Op]:
        """The :class:`Op` of every operation, as a list (for drivers stepping op by op)."""
        return [_OPS[kind] for kind in self.kind.tolist()]


def concat(parts: list[Stimulus]) -> Stimulus:
    """The operations of ``parts`` one after the other (``parts`` must not be empty)."""
    if not parts:
        raise ValueError("parts must hold at least one Stimulus")
    columns = zip(*(part.fields() for part in parts), strict=True)
    return Stimulus(*(np.concatenate(column) for column in columns))


def beats(params: ArrayParams, act: np.ndarray, weights: np.ndarray | None, last: np.ndarray) -> Stimulus:
    """Beats ``act`` ``(B, N)`` with ``last`` ``(B,)``; tiles ``(B, M, N)`` in the stream dataflow."""
    act = np.asarray(act, np.int64).reshape(-1, params.lanes)
    count = act.shape[0]
    if weights is None:
        weights = np.zeros((count, params.rows, params.lanes), np.int64)
    weights = np.asarray(weights, np.int64).reshape(count, params.rows, params.lanes)
    last = np.broadcast_to(np.asarray(last, bool), (count,)).copy()
    return Stimulus(np.full(count, Op.BEAT, np.int8), act, weights, last, np.zeros(count, bool))


def load(params: ArrayParams, tile: np.ndarray) -> Stimulus:
    """One stationary weight-tile load."""
    tile = np.asarray(tile, np.int64).reshape(1, params.rows, params.lanes)
    act = np.zeros((1, params.lanes), np.int64)
    return Stimulus(np.array([Op.LOAD], np.int8), act, tile, np.zeros(1, bool), np.zeros(1, bool))


def reset(params: ArrayParams, *, drain: bool) -> Stimulus:
    """A synchronous reset; with ``drain`` it waits until every finished reduction's sums were taken."""
    stimulus = load(params, np.zeros((params.rows, params.lanes)))
    stimulus.kind[:] = Op.RESET
    stimulus.drain[:] = drain
    return stimulus


def payloads(params: ArrayParams, stimulus: Stimulus) -> list[int]:
    """The port integer of every operation: ``i_stream`` payload (beats), ``w_stream`` payload (loads), 0."""
    result = [0] * len(stimulus)
    beat_index = np.flatnonzero(stimulus.kind == Op.BEAT)
    if beat_index.size:
        tiles = stimulus.weights[beat_index] if params.dataflow == "stream" else None
        packed = pack_input(params, stimulus.act[beat_index], tiles, stimulus.last[beat_index])
        for i, value in zip(beat_index.tolist(), packed, strict=True):
            result[i] = value
    load_index = np.flatnonzero(stimulus.kind == Op.LOAD)
    if load_index.size:
        packed = pack_weight_load(params, stimulus.weights[load_index])
        for i, value in zip(load_index.tolist(), packed, strict=True):
            result[i] = value
    return result


def reference_sums(params: ArrayParams, act: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """The ``M`` sums of one reduction: beats ``act`` ``(B, N)`` against tiles ``(B, M, N)``.

    The beats of a reduction concatenate into one dot product of length ``B*N`` per row, so a reduction is
    one BitLinear: ``bitlinear_int(concat(act), hstack(tiles))``. FP16 arrays: the binary16 bit patterns of
    :func:`model.fp16.fp16_mac_reference`, whose result depends on the beats (tree per beat, then the
    accumulator), as int64.
    """
    if params.is_float:
        return fp16_mac_reference(act, tiles).astype(np.int64)
    x = act.reshape(1, -1)
    w = tiles.transpose(1, 0, 2).reshape(params.rows, -1)
    if params.is_ternary:
        return bitlinear_int(x.astype(np.int8), w.astype(np.int8))[0].astype(np.int64)
    return (x.astype(np.int64) @ w.astype(np.int64).T)[0]


@dataclass
class Expected:
    """Per segment (between resets): the sums ``(R, M)`` and the op index of each ``last`` beat."""

    sums: list[np.ndarray]
    last_op: list[np.ndarray]
    must_complete: list[bool]


def _beat_tiles(params: ArrayParams, stimulus: Stimulus) -> np.ndarray:
    """The tile ``(B, M, N)`` each op's beat multiplies: its own (stream dataflow) or, stationary, the tile of
    the latest load before it (all-zero weights before the first load and after a reset)."""
    if params.dataflow != "stationary":
        return stimulus.weights
    kind = stimulus.kind
    # index of the tile in force for every op: the latest LOAD (or RESET, which loads zeros) before it
    marks = np.where((kind == Op.LOAD) | (kind == Op.RESET), np.arange(len(kind)), -1)
    current = np.maximum.accumulate(np.concatenate([[-1], marks]))[:-1]
    zero_tile = np.zeros((1, params.rows, params.lanes), np.int64)
    tiles_by_op = np.concatenate(
        [zero_tile, np.where((kind == Op.RESET)[:, None, None], 0, stimulus.weights)]
    )
    return tiles_by_op[current + 1]


def _segment_sums(
    params: ArrayParams, stimulus: Stimulus, beat_tiles: np.ndarray, ops: range
) -> tuple[np.ndarray, np.ndarray]:
    """The sums ``(R, M)`` of the reductions closed among ``ops`` (one segment, no reset inside it) and the
    op index of each reduction's ``last`` beat."""
    kind = stimulus.kind
    sums: list[np.ndarray] = []
    last_ops: list[int] = []
    start = None
    for op in ops:
        if kind[op] != Op.BEAT:
            continue
        if start is None:
            start = op
        if stimulus.last[op]:
            span = np.arange(start, op + 1)
            span = span[kind[span] == Op.BEAT]
            sums.append(reference_sums(params, stimulus.act[span], beat_tiles[span]))
            last_ops.append(op)
            start = None
    return np.array(sums, np.int64).reshape(-1, params.rows), np.array(last_ops, np.int64)


def expected_outputs(params: ArrayParams, stimulus: Stimulus) -> Expected:
    """The sums the array must produce for ``stimulus``, segment by segment.

    In the stationary dataflow each beat uses the tile of the latest load before it (all-zero weights after
    a reset). A segment's outputs must all appear when the segment is the last one or ends in a draining
    reset; otherwise the reset may swallow the sums still in flight, so only a prefix is required.
    """
    ops = len(stimulus)
    beat_tiles = _beat_tiles(params, stimulus)
    bounds = [-1, *np.flatnonzero(stimulus.kind == Op.RESET).tolist(), ops]
    expected = Expected([], [], [])
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        sums, last_ops = _segment_sums(params, stimulus, beat_tiles, range(begin + 1, end))
        expected.sums.append(sums)
        expected.last_op.append(last_ops)
        expected.must_complete.append(end == ops or bool(stimulus.drain[end]))
    return expected


# --- building stimulus ---------------------------------------------------------------------------------


def reduction(
    params: ArrayParams, act: np.ndarray, tiles: np.ndarray, *, loaded: np.ndarray | None = None
) -> Stimulus:
    """One K-reduction: beats ``act`` ``(B, N)`` against tiles ``(B, M, N)``, ``last`` on the final beat.

    In the stationary dataflow a tile is loaded before every beat whose tile differs from the one in force
    (``loaded``, the tile loaded before this reduction, if known).
    """
    act = np.asarray(act, np.int64).reshape(-1, params.lanes)
    tiles = np.asarray(tiles, np.int64).reshape(-1, params.rows, params.lanes)
    last = np.zeros(len(act), bool)
    last[-1] = True
    if params.dataflow == "stream":
        return beats(params, act, tiles, last)
    parts = []
    for i in range(len(act)):
        if loaded is None or not np.array_equal(loaded, tiles[i]):
            parts.append(load(params, tiles[i]))
            loaded = tiles[i]
        parts.append(beats(params, act[i : i + 1], None, last[i : i + 1]))
    return concat(parts)


#: Random FP16 stimulus: standard deviations of the Gaussian activations and weights (LayerNorm-scale
#: activations, weights of a trained linear layer), each value further scaled by ``2**U(-3, 3)`` ...
FP16_ACT_SCALE, FP16_WEIGHT_SCALE = 1.0, 0.05
#: ... the fractions of signed zeros and subnormals among the operands ...
FP16_ZERO_FRACTION, FP16_SUBNORMAL_FRACTION = 0.03, 0.02
#: ... and about these fractions of the random reductions meet a "wide" operand (any finite exponent, whose
#: products may underflow or overflow to infinity and dominate the sum) and an infinity or a NaN.
FP16_WIDE_REDUCTIONS, FP16_NONFINITE_REDUCTIONS = 0.3, 0.2


def random_fp16(
    rng: np.random.Generator, shape: tuple[int, ...], *, scale: float, wide: float, nonfinite: float
) -> np.ndarray:
    """Random binary16 bit patterns (int64): mostly ``N(0, scale) * 2**U(-3, 3)`` rounded to binary16, with
    the zero and subnormal fractions above (random signs), a fraction ``wide`` of finite values of any
    exponent, and a fraction ``nonfinite`` of infinities and NaNs (random sign and payload: quiet and
    signalling)."""
    spread = np.exp2(rng.uniform(-3.0, 3.0, shape))
    values = to_bits(rng.standard_normal(shape) * scale * spread).astype(np.int64)
    sign = rng.integers(0, 2, shape) << (EXPONENT_BITS + FRACTION_BITS)
    fraction = rng.integers(0, 1 << FRACTION_BITS, shape)
    choices = [
        (FP16_ZERO_FRACTION, sign),
        (FP16_SUBNORMAL_FRACTION, sign | np.maximum(fraction, 1)),
        (wide, sign | rng.integers(0, POSITIVE_INFINITY, shape)),
        (nonfinite, sign | POSITIVE_INFINITY | np.where(rng.random(shape) < 0.5, 0, fraction)),
    ]
    draw = rng.random(shape)
    threshold = 0.0
    for fraction_of, special in choices:
        values = np.where((draw >= threshold) & (draw < threshold + fraction_of), special, values)
        threshold += fraction_of
    return values


def _fp16_rates(params: ArrayParams) -> dict[str, float]:
    """Per operand: the ``wide`` and ``nonfinite`` fractions that give :data:`FP16_WIDE_REDUCTIONS` and
    :data:`FP16_NONFINITE_REDUCTIONS` of :func:`random_reductions`' reductions (12.5 beats on average)."""
    beats = (1 + max(1, min(24, params.max_beats))) / 2
    operands = beats * params.lanes * (1 + params.rows)
    return {"wide": FP16_WIDE_REDUCTIONS / operands, "nonfinite": FP16_NONFINITE_REDUCTIONS / operands}


def random_weights(params: ArrayParams, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random weights: ternary with a random zero fraction, int8 with extra weight on the extremes, or
    binary16 bit patterns (:func:`random_fp16` with :data:`FP16_WEIGHT_SCALE`)."""
    if params.is_float:
        return random_fp16(rng, shape, scale=FP16_WEIGHT_SCALE, **_fp16_rates(params))
    if params.is_ternary:
        zero = rng.uniform(0.0, 0.8)
        return rng.choice([-1, 0, 1], size=shape, p=[(1 - zero) / 2, zero, (1 - zero) / 2])
    values = rng.integers(params.weight_min, params.weight_max + 1, size=shape)
    extreme = rng.random(shape) < 0.05
    return np.where(extreme, rng.choice([params.weight_min, params.weight_max], size=shape), values)


def random_activations(params: ArrayParams, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random activations over the full signed range, a few percent pinned to the extremes; FP16: binary16
    bit patterns (:func:`random_fp16` with :data:`FP16_ACT_SCALE`)."""
    if params.is_float:
        return random_fp16(rng, shape, scale=FP16_ACT_SCALE, **_fp16_rates(params))
    values = rng.integers(params.act_min, params.act_max + 1, size=shape)
    extreme = rng.random(shape) < 0.05
    return np.where(extreme, rng.choice([params.act_min, params.act_max], size=shape), values)


def _reduction_lengths(rng: np.random.Generator, total_beats: int, longest: int) -> list[int]:
    """Random reduction lengths in 1..``longest`` beats until they add up to at least ``total_beats``."""
    lengths: list[int] = []
    total = 0
    while total < total_beats:
        lengths.append(int(rng.integers(1, longest + 1)))
        total += lengths[-1]
    return lengths


def _with_random_loads(
    params: ArrayParams, rng: np.random.Generator, act: np.ndarray, last: np.ndarray, load_prob: float
) -> Stimulus:
    """Stationary: the beats ``act`` / ``last`` with random tile loads interleaved (before the first beat,
    before a reduction with probability ``load_prob``, now and then between the beats of a reduction)."""
    n, m = params.lanes, params.rows
    count = len(act)
    starts = np.concatenate([[0], np.flatnonzero(last[:-1]) + 1])
    load_before = np.zeros(count, bool)
    load_before[starts] = rng.random(len(starts)) < load_prob
    load_before |= rng.random(count) < 0.02
    load_before[0] = True
    loads = int(load_before.sum())
    ops = count + loads
    position = np.arange(count) + np.cumsum(load_before)  # op index of each beat
    kind = np.full(ops, Op.LOAD, np.int8)
    kind[position] = Op.BEAT
    all_act = np.zeros((ops, n), np.int64)
    all_act[position] = act
    weights = np.zeros((ops, m, n), np.int64)
    weights[kind == Op.LOAD] = random_weights(params, rng, (loads, m, n))
    all_last = np.zeros(ops, bool)
    all_last[position] = last
    return Stimulus(kind, all_act, weights, all_last, np.zeros(ops, bool))


def random_reductions(
    params: ArrayParams, rng: np.random.Generator, macs: int, *, max_beats: int = 24, load_prob: float = 0.3
) -> Stimulus:
    """Random reductions of 1..``max_beats`` beats until at least ``macs`` multiply-accumulates.

    Stream dataflow: a fresh random tile with every beat. Stationary: a new tile before a reduction with
    probability ``load_prob``, and now and then between the beats of a reduction.
    """
    n, m = params.lanes, params.rows
    longest = max(1, min(max_beats, params.max_beats))
    lengths = _reduction_lengths(rng, -(-macs // (n * m)), longest)
    count = sum(lengths)
    act = random_activations(params, rng, (count, n))
    last = np.zeros(count, bool)
    last[np.cumsum(lengths) - 1] = True
    if params.dataflow == "stream":
        return beats(params, act, random_weights(params, rng, (count, m, n)), last)
    return _with_random_loads(params, rng, act, last, load_prob)
