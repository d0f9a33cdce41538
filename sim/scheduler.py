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
from sim.stimulus import Stimulus, beats, concat, load

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
    tokens, chunks, _ = x.shape
    blocks = w.shape[0]
    parts: list[Stimulus] = []
    targets: Targets = []
    for block in range(blocks):
        for chunk in range(chunks):
            parts += [load(params, w[block, :, chunk]), beats(params, x[:, chunk], None, True)]
            targets += [(token, block) for token in range(tokens)]
    return concat(parts), targets


def schedule_layer(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> Program:
    """The program computing ``x_q @ w_q.T`` on an array with ``params`` (see the module docstring)."""
    if x_q.ndim != 2 or w_q.ndim != 2 or x_q.shape[1] != w_q.shape[1]:
        raise ValueError(f"x_q (T, K) and w_q (O, K) must share K, got {x_q.shape} and {w_q.shape}")
    tokens, k = x_q.shape
    out_features = w_q.shape[0]
    n, m = params.lanes, params.rows
    chunks = -(-k // n)
    blocks = -(-out_features // m)
    if params.dataflow == "stream" and chunks > params.max_beats:
        raise ValueError(f"K={k} needs {chunks} beats, more than max_k={params.max_k} allows")
    x = _pad(x_q, tokens, chunks * n).reshape(tokens, chunks, n)
    w = _pad(w_q, blocks * m, chunks * n).reshape(blocks, m, chunks, n)
    schedule = _stream_schedule if params.dataflow == "stream" else _stationary_schedule
    stimulus, targets = schedule(params, x, w)
    return Program(stimulus, targets, tokens, out_features)


def prepare_layer(params: ArrayParams, x_q: np.ndarray, w_q: np.ndarray) -> PreparedStimulus:
    """The program of :func:`schedule_layer`, prepared for a driver (:func:`sim.protocol.prepare`)."""
    return prepare(params, schedule_layer(params, x_q, w_q).stimulus)


def assemble(params: ArrayParams, program: Program, sums: np.ndarray) -> np.ndarray:
    """Add the array's output sums ``(outputs, M)`` into the ``(T, O)`` accumulator matrix (int64)."""
    sums = np.asarray(sums, dtype=np.int64)
    if sums.shape != (len(program.targets), params.rows):
        raise ValueError(f"expected {len(program.targets)} outputs of {params.rows} sums, got {sums.shape}")
    blocks = -(-program.out_features // params.rows)
    acc = np.zeros((program.tokens, blocks * params.rows), dtype=np.int64)
    for (token, block), row_sums in zip(program.targets, sums, strict=True):
        acc[token, block * params.rows : (block + 1) * params.rows] += row_sums
    return acc[:, : program.out_features]
