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

from hw.params import ArrayParams
from sim.protocol import PreparedStimulus, prepare
from sim.stimulus import Op, Stimulus, beats

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


def _stream_schedule(params: ArrayParams, x: np.ndarray, w: np.ndarray) -> tuple[Stimulus, Targets]:
    """For every token and row block, one reduction over the K chunks, each beat with its tile.

    ``x`` is ``(T, chunks, N)``, ``w`` ``(blocks, M, chunks, N)``.
    """
    tokens, chunks, n = x.shape
    blocks, m = w.shape[:2]
    act = np.broadcast_to(x[:, None], (tokens, blocks, chunks, n)).reshape(-1, n)
    tiles = np.broadcast_to(w.transpose(0, 2, 1, 3)[None], (tokens, blocks, chunks, m, n)).reshape(-1, m, n)
    last = np.tile(np.arange(chunks) == chunks - 1, tokens * blocks)
    targets = [(token, block) for token in range(tokens) for block in range(blocks)]
    return beats(params, act, tiles, last), targets


def _stationary_schedule(params: ArrayParams, x: np.ndarray, w: np.ndarray) -> tuple[Stimulus, Targets]:
    """For every row block and K chunk, the tile loaded once and every token a one-beat reduction on it."""
    tokens, chunks, n = x.shape
    blocks, m = w.shape[:2]
    groups = blocks * chunks  # one (load, T beats) group per (block, chunk), block-major
    kind = np.tile(np.array([Op.LOAD] + [Op.BEAT] * tokens, np.int8), groups)
    act = np.zeros((blocks, chunks, 1 + tokens, n), np.int64)
    act[:, :, 1:] = x.transpose(1, 0, 2)[None]
    weights = np.zeros((blocks, chunks, 1 + tokens, m, n), np.int64)
    weights[:, :, 0] = w.transpose(0, 2, 1, 3)
    last = np.tile(np.arange(1 + tokens) > 0, groups)
    stimulus = Stimulus(kind, act.reshape(-1, n), weights.reshape(-1, m, n), last, np.zeros(len(kind), bool))
    targets = [(token, block) for block in range(blocks) for _ in range(chunks) for token in range(tokens)]
    return stimulus, targets


def _tiled(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x_q`` as ``(T, chunks, N)`` and ``w_q`` as ``(blocks, M, chunks, N)``, zero-padded."""
    if x_q.ndim != 2 or w_q.ndim != 2 or x_q.shape[1] != w_q.shape[1]:
        raise ValueError(f"x_q (T, K) and w_q (O, K) must share K, got {x_q.shape} and {w_q.shape}")
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
    schedule = _stream_schedule if params.dataflow == "stream" else _stationary_schedule
    stimulus, targets = schedule(params, x, w)
    return Program(stimulus, targets, x_q.shape[0], w_q.shape[0])


def program_sums(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """The model's sums of every output of :func:`schedule_layer`'s program, in order: ``(outputs, M)``
    int64, computed in bulk (float64 matmuls, exact: every partial sum of int8 x int8 products stays far
    below 2**53). ``stream``: the whole reduction of each ``(token, row block)``; ``stationary``: the
    partial sum of each ``(row block, K chunk, token)``. Integer arrays only."""
    if params.is_float:
        raise ValueError("program_sums applies to integer arrays (the fp16 sums depend on the order)")
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


def assemble(params: ArrayParams, program: Program, sums: np.ndarray) -> np.ndarray:
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
