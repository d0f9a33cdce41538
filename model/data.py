"""The training data of the project's BitNet LLMs: one text file as byte-level tokens, split 90/10.

:func:`load_corpus` reads a text file's bytes (byte ``b`` is token ``b`` of :mod:`model.tokenizer`; nothing
is decoded, so any file works) and splits them once and for all: the first 90% of the bytes train, the last
10% validate (:data:`TRAIN_FRACTION`). Nothing is downloaded: the default file, Tiny Shakespeare, is read
from ``../shared/data/tinyshakespeare/input.txt`` beside the repository (:data:`DEFAULT_DATA`).

A sequence of the model is ``seq_len`` consecutive bytes ``b_0 .. b_{L-1}``: the input is BOS followed by
``b_0 .. b_{L-2}`` and the targets are ``b_0 .. b_{L-1}``, so every target is one byte (the loss is in nats
per byte) and the model learns to continue right after BOS, as ``python -m model.generate`` prompts it.

:class:`TrainBatches` deals the training split in epochs: epoch ``e`` cuts the split into ``seq_len``-byte
windows from an offset drawn in ``[0, seq_len)`` and visits them in a random order, both drawn from
``numpy.random.default_rng([seed, e])``; a batch is ``batch_size`` consecutive windows of that order, and
the windows left over at the end of an epoch are skipped. The position ``(epoch, batch)`` alone determines
what follows, so a resumed run continues the same stream. :func:`validation_batches` is the fixed
validation set: the split's first ``eval_batches * batch_size`` windows from offset 0 (all of them when
the split holds fewer).

This module needs NumPy only (no torch): batches are ``int64`` arrays ``(batch, seq_len)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.tokenizer import BOS_ID

#: The repository's root folder (the parent of ``model/``).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Tiny Shakespeare on the project's machines: this path in the folder that holds the repository, i.e.
#: ``../shared/data/tinyshakespeare/input.txt`` from the repository's root; it is never downloaded.
DEFAULT_DATA_IN_PARENT = Path("shared", "data", "tinyshakespeare", "input.txt")
DEFAULT_DATA = REPO_ROOT.parent / DEFAULT_DATA_IN_PARENT
#: Share of the bytes, from the start, that trains; the rest validates.
TRAIN_FRACTION = Fraction(9, 10)


@dataclass(frozen=True)
class Corpus:
    """A text file's bytes split into training and validation tokens.

    Members
    -------
    train, validation : numpy.ndarray
        uint8 bytes: the first :data:`TRAIN_FRACTION` of the file and the rest.
    sha256 : str
        Hex digest of the whole file (a checkpoint records it, not the file's path).
    """

    train: np.ndarray
    validation: np.ndarray
    sha256: str

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return self.train.size + self.validation.size


def split_bytes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)``: the first ``floor(0.9 * len(data))`` bytes and the rest, as uint8."""
    tokens = np.frombuffer(data, dtype=np.uint8)
    boundary = int(len(tokens) * TRAIN_FRACTION)  # exact: floor(9 n / 10)
    return tokens[:boundary], tokens[boundary:]


def load_corpus(path: str | Path) -> Corpus:
    """Read and split a text file; ``ValueError`` naming ``data`` when it is missing, unreadable or empty."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data: no file at {path} (give a text file with --data; nothing is downloaded)")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"data: cannot read {path}: {error.strerror or error}") from None
    if not data:
        raise ValueError(f"data: {path} is empty")
    train, validation = split_bytes(data)
    return Corpus(train, validation, hashlib.sha256(data).hexdigest())


def check_fits(corpus: Corpus, batch_size: int, seq_len: int) -> None:
    """``ValueError`` unless the training split holds one batch of windows at any epoch offset and the
    validation split one window."""
    if windows_at(corpus.train.size, seq_len, seq_len - 1) < batch_size:
        need = batch_size * seq_len + seq_len - 1
        raise ValueError(
            f"data: the training split (first 90%, {corpus.train.size:,} bytes) is too short for one batch "
            f"of batch_size x seq_len = {batch_size} x {seq_len} (needs {need:,} bytes)"
        )
    if corpus.validation.size < seq_len:
        raise ValueError(
            f"data: the validation split (last 10%, {corpus.validation.size:,} bytes) is shorter than one "
            f"sequence of seq_len = {seq_len} bytes"
        )


def windows_at(size: int, seq_len: int, offset: int) -> int:
    """Whole ``seq_len``-byte windows in ``size`` bytes starting at ``offset``."""
    return max(size - offset, 0) // seq_len


def sequences(split: np.ndarray, starts: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, targets)`` int64 ``(len(starts), seq_len)``: BOS then each window but its last byte, and the
    window."""
    targets = split[starts[:, None] + np.arange(seq_len)].astype(np.int64)
    ids = np.concatenate([np.full((len(starts), 1), BOS_ID, dtype=np.int64), targets[:, :-1]], axis=1)
    return ids, targets


class TrainBatches:
    """The training batches of one run, epoch after epoch (see the module docstring).

    Parameters
    ----------
    split : numpy.ndarray
        The training bytes (uint8).
    batch_size, seq_len : int
        Windows per batch and bytes per window.
    seed : int
        Seed of the epochs' offsets and orders.
    epoch, batch : int
        The position to start from (a resumed run passes the one it saved).
    """

    def __init__(
        self, split: np.ndarray, batch_size: int, seq_len: int, seed: int, epoch: int = 0, batch: int = 0
    ) -> None:
        self.split, self.batch_size, self.seq_len, self.seed = split, batch_size, seq_len, seed
        self.epoch, self.batch = epoch, batch
        self._order_epoch: int | None = None
        self._starts = np.empty(0, dtype=np.int64)

    def epoch_starts(self, epoch: int) -> np.ndarray:
        """The window starts of ``epoch`` in the order it visits them."""
        rng = np.random.default_rng([self.seed, epoch])
        offset = int(rng.integers(self.seq_len))
        count = windows_at(self.split.size, self.seq_len, offset)
        return offset + self.seq_len * rng.permutation(count)

    def batches_per_epoch(self, epoch: int) -> int:
        """Whole batches in ``epoch`` (its offset decides how many windows it has)."""
        return len(self._epoch(epoch)) // self.batch_size

    def _epoch(self, epoch: int) -> np.ndarray:
        if self._order_epoch != epoch:
            self._starts, self._order_epoch = self.epoch_starts(epoch), epoch
        return self._starts

    def position(self) -> dict[str, int]:
        """``{"epoch", "batch"}`` of the next batch."""
        return {"epoch": self.epoch, "batch": self.batch}

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray]:
        if self.batch >= self.batches_per_epoch(self.epoch):
            self.epoch, self.batch = self.epoch + 1, 0
        first = self.batch * self.batch_size
        starts = self._epoch(self.epoch)[first : first + self.batch_size]
        self.batch += 1
        return sequences(self.split, starts, self.seq_len)


def validation_batches(
    split: np.ndarray, batch_size: int, seq_len: int, eval_batches: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The fixed validation set: up to ``eval_batches`` batches of consecutive windows from offset 0 (the
    last one shorter when the split runs out)."""
    count = min(windows_at(split.size, seq_len, 0), eval_batches * batch_size)
    starts = seq_len * np.arange(count)
    return [sequences(split, starts[i : i + batch_size], seq_len) for i in range(0, count, batch_size)]
