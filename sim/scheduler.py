"""A host-side scheduler: a whole BitLinear layer tiled over a MAC array as a program of port operations.

The program's operations are a :class:`sim.stimulus.Stimulus` (beats and tile loads), so any driver of the
arrays runs it as it is; the program also says where each output of the array goes.

``x_q`` ``(T, K)`` int8 activations and ``w_q`` ``(O, K)`` weights are cut into ``M``-row blocks of outputs
and ``N``-lane chunks of the reduction (the last block and chunk padded with zero weights and zero
activations, which add nothing). Two schedules, one per dataflow:

``stream`` (batch-1 decode)
    For every token and row block, one K-reduction of ``ceil(K / N)`` beats, each beat carrying its
    activation chunk and the matching ``M x N`` weight tile; the array accumulates the whole reduction and
    returns the block's ``M`` sums.
``stationary`` (weight-stationary prefill)
    For every row block and K chunk, the ``M x N`` tile is loaded once and every token streams against it as
    a one-beat reduction; the array returns partial sums, which the host adds up over the K chunks.

:func:`assemble` turns the output sums, in order, back into the ``(T, O)`` accumulator matrix, which equals
``model.bitlinear.bitlinear_int(x_q, w_q)`` when the array is correct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.layout import (
    act_field_bytes,
    input_layout,
    input_words,
    tile_field_bytes,
    weight_load_layout,
    weight_load_words,
    words_from_field_bytes,
)
from hw.params import ArrayParams
from sim.protocol import PreparedStimulus, prepare
from sim.stimulus import Op, Stimulus

#: For each output of the array, in order: ``(token, row_block)``.
Targets = list[tuple[int, int]]


@dataclass
class Program:
    """Port operations in issue order, and where each output sum goes.

    Members
    -------
    stimulus : Stimulus
        The operations: beats (each with its weight tile in the stream dataflow) and, stationary, tile
        loads (:class:`sim.stimulus.Op`).
    targets : list of (int, int)
        For the ``j``-th output of the array: ``(token, row_block)``; its ``M`` sums are added to
        ``acc[token, row_block*M : (row_block+1)*M]``.
    tokens, out_features : int
        The shape of the result.
    """

    stimulus: Stimulus
    targets: Targets
    tokens: int
    out_features: int


def _pad(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    padded = np.zeros((rows, cols), dtype=array.dtype)
    padded[: array.shape[0], : array.shape[1]] = array
    return padded


@dataclass(frozen=True)
class Order:
    """The operations of a layer's program as indices, in issue order: the kind of each (:class:`Op`), the
    token (-1 for a load), K chunk and row block it concerns, and its ``last`` flag."""

    kind: np.ndarray
    token: np.ndarray
    chunk: np.ndarray
    block: np.ndarray
    last: np.ndarray


def _stream_order(tokens: int, blocks: int, chunks: int) -> Order:
    """For every token and row block, one reduction over the K chunks, each beat with its tile."""
    token, block, chunk = (a.ravel() for a in np.indices((tokens, blocks, chunks)))
    kind = np.full(token.size, Op.BEAT, np.int8)
    return Order(kind, token, chunk, block, chunk == chunks - 1)


def _stationary_order(tokens: int, blocks: int, chunks: int) -> Order:
    """For every row block and K chunk, the tile loaded once and every token a one-beat reduction on it."""
    block, chunk, slot = (a.ravel() for a in np.indices((blocks, chunks, 1 + tokens)))
    token = slot - 1
    kind = np.where(token < 0, Op.LOAD, Op.BEAT).astype(np.int8)
    return Order(kind, token, chunk, block, token >= 0)


def layer_order(params: ArrayParams, tokens: int, blocks: int, chunks: int) -> Order:
    """The order of the operations of a layer in the dataflow of ``params`` (see the module docstring)."""
    order = _stream_order if params.dataflow == "stream" else _stationary_order
    return order(tokens, blocks, chunks)


def _stimulus(params: ArrayParams, order: Order, x: np.ndarray, w: np.ndarray) -> Stimulus:
    """The operations of ``order`` on ``x`` ``(T, chunks, N)`` and ``w`` ``(blocks, M, chunks, N)``."""
    n, m = params.lanes, params.rows
    beat = order.kind == Op.BEAT
    act = np.zeros((len(order.kind), n), np.int64)
    act[beat] = x[order.token[beat], order.chunk[beat]]
    carries = ~beat if params.dataflow == "stationary" else beat
    weights = np.zeros((len(order.kind), m, n), np.int64)
    weights[carries] = w[order.block[carries], :, order.chunk[carries]]
    return Stimulus(order.kind, act, weights, order.last.copy(), np.zeros(len(order.kind), bool))


def _tiled(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x_q`` as ``(T, chunks, N)`` and ``w_q`` as ``(blocks, M, chunks, N)``, zero-padded."""
    if x_q.ndim != 2 or w_q.ndim != 2 or x_q.shape[1] != w_q.shape[1]:
        raise ValueError(f"x_q (T, K) and w_q (O, K) must share K, got {x_q.shape} and {w_q.shape}")
    if 0 in x_q.shape or 0 in w_q.shape:
        raise ValueError(f"x_q and w_q must not be empty, got {x_q.shape} and {w_q.shape}")
    tokens, k = x_q.shape
    n, m = params.lanes, params.rows
    chunks = -(-k // n)
    blocks = -(-w_q.shape[0] // m)
    if params.dataflow == "stream" and chunks > params.max_beats:
        raise ValueError(f"K={k} needs {chunks} beats, more than max_k={params.max_k} allows")
    x = _pad(x_q, tokens, chunks * n).reshape(tokens, chunks, n)
    w = _pad(w_q, blocks * m, chunks * n).reshape(blocks, m, chunks, n)
    return x, w


def schedule_layer(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> Program:
    """The program computing ``x_q @ w_q.T`` on an array with ``params`` (see the module docstring)."""
    x, w = _tiled(params, x_q, w_q)
    order = layer_order(params, x.shape[0], w.shape[0], x.shape[1])
    targets = list(zip(order.token[order.last].tolist(), order.block[order.last].tolist(), strict=True))
    return Program(_stimulus(params, order, x, w), targets, x_q.shape[0], w_q.shape[0])


@dataclass(frozen=True)
class PackedProgram:
    """A layer's program as a compiled harness takes it (:class:`sim.fastsim.FastArray`): the kind of every
    operation, the beats' ``i_stream`` and the loads' ``w_stream`` payloads as uint32 words, and, like
    :class:`Program`, where each output goes."""

    kind: np.ndarray
    beat_words: np.ndarray
    load_words: np.ndarray
    targets: Targets
    tokens: int
    out_features: int


def pack_layer(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> PackedProgram:
    """The program of :func:`schedule_layer`, packed straight into payload words: each distinct activation
    chunk and weight tile is packed once and copied into the beats (and loads) that carry it, when both
    fill whole bytes; otherwise through the scheduled stimulus and :func:`hw.layout.input_words`."""
    x, w = _tiled(params, x_q, w_q)
    n, m = params.lanes, params.rows
    order = layer_order(params, x.shape[0], w.shape[0], x.shape[1])
    targets = list(zip(order.token[order.last].tolist(), order.block[order.last].tolist(), strict=True))
    act = act_field_bytes(params, x.reshape(-1, n))
    tiles = tile_field_bytes(params, w.transpose(0, 2, 1, 3).reshape(-1, m, n))
    beat = order.kind == Op.BEAT
    if act is None or tiles is None:
        stimulus = _stimulus(params, order, x, w)
        carried = stimulus.weights[beat] if params.dataflow == "stream" else None
        beat_words = input_words(params, stimulus.act[beat], carried, stimulus.last[beat])
        load_words = weight_load_words(params, stimulus.weights[~beat]) if (~beat).any() else None
    else:
        act, tiles = act.reshape(*x.shape[:2], -1), tiles.reshape(w.shape[0], w.shape[2], -1)
        fields = [act[order.token[beat], order.chunk[beat]]]
        if params.dataflow == "stream":
            fields.append(tiles[order.block[beat], order.chunk[beat]])
        beat_words = words_from_field_bytes(input_layout(params).size, fields, order.last[beat])
        loaded = tiles[order.block[~beat], order.chunk[~beat]]
        load_words = (
            words_from_field_bytes(weight_load_layout(params).size, [loaded]) if len(loaded) else None
        )
    if load_words is None:
        load_words = np.zeros((0, 1), "<u4")
    return PackedProgram(order.kind, beat_words, load_words, targets, x_q.shape[0], w_q.shape[0])


def program_sums(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """The model's sums of every output of :func:`schedule_layer`'s program, in order: ``(outputs, M)``
    int64, computed in bulk (float64 matmuls, exact: every partial sum of int8 x int8 products stays far
    below 2**53). ``stream``: the whole reduction of each ``(token, row block)``; ``stationary``: the
    partial sum of each ``(row block, K chunk, token)``. Integer arrays only."""
    if params.is_float:
        raise ValueError("params: program_sums applies to integer arrays (fp16 sums depend on the order)")
    x, w = _tiled(params, x_q, w_q)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    m = params.rows
    if params.dataflow == "stream":  # (T, C*N) @ (C*N, B*M) -> (T, B, M)
        sums = x64.reshape(x.shape[0], -1) @ w64.transpose(2, 3, 0, 1).reshape(-1, w.shape[0] * m)
    else:  # per chunk c: (T, N) @ (N, B*M) -> (B, C, T, M)
        per_chunk = np.matmul(
            x64.transpose(1, 0, 2), w64.transpose(2, 3, 0, 1).reshape(w.shape[2], -1, w.shape[0] * m)
        )
        sums = per_chunk.reshape(w.shape[2], x.shape[0], w.shape[0], m).transpose(2, 0, 1, 3)
    return sums.reshape(-1, m).astype(np.int64)


def prepare_layer(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> PreparedStimulus:
    """The program of :func:`schedule_layer`, prepared for a driver (:func:`sim.protocol.prepare`)."""
    return prepare(params, schedule_layer(params, x_q, w_q).stimulus)


def assemble(params: ArrayParams, program: Program | PackedProgram, sums: np.ndarray) -> np.ndarray:
    """Add the array's output sums ``(outputs, M)`` into the ``(T, O)`` accumulator matrix (int64)."""
    sums = np.asarray(sums, dtype=np.int64)
    if sums.shape != (len(program.targets), params.rows):
        raise ValueError(f"expected {len(program.targets)} outputs of {params.rows} sums, got {sums.shape}")
    blocks = -(-program.out_features // params.rows)
    acc = np.zeros((program.tokens, blocks, params.rows), dtype=np.int64)
    if len(sums):
        token, block = np.asarray(program.targets).T
        np.add.at(acc, (token, block), sums)
    return acc.reshape(program.tokens, -1)[:, : program.out_features]
