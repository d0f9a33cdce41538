"""``python -m model.train``: train a BitNet b1.58 LLM or its full-precision twin on a text file, on CPU.

The data (:mod:`model.data`): a text file's bytes (``--data``, default Tiny Shakespeare at
``../shared/data/tinyshakespeare/input.txt`` from the repository's root, never downloaded), the first 90%
training and the last 10% validating; each sequence is BOS and ``seq_len - 1`` bytes predicting ``seq_len``
bytes, so losses are in nats per byte (and bits per byte, divided by ln 2). The model
(:class:`model.bitnet_torch.BitNetLM`) is a size preset of :func:`model.bitnet_config.preset`.

The recipe: AdamW in the shape of BitNet b1.58's two-stage recipe ("The Era of 1-bit LLMs: Training Tips,
Code and FAQ"; the BitNet b1.58 2B4T report, arXiv 2504.12285), at toy scale. ``step`` counts updates
from 1 to ``steps``; ``W = warmup_steps``, ``S1 = (steps - W) // 2``.

warmup, steps ``1 .. W``
    the learning rate rises linearly to the peak ``lr`` (``lr * step / W``); weight decay 0.1.
stage one, the next ``S1`` steps (the first half after warmup)
    cosine decay from the peak to :data:`STAGE_ONE_END` (0.5) of it; weight decay 0.1.
stage two, the remaining steps
    the learning rate drops to :data:`STAGE_TWO_PEAK` (1/3) of the peak and decays by cosine to near zero
    (the last step's rate is ``lr / 3 * (1 + cos(pi * (S2 - 1) / S2)) / 2``); weight decay 0.
    A 1.5e-3 peak thus runs 1.5e-3 -> 7.5e-4 in stage one and 5e-4 -> 0 in stage two: the shape reported
    for BitNet b1.58 2B4T (a high-rate first stage, then an abrupt drop and a cool-down without weight
    decay, which lets the latent weights settle once their ternary values stop flipping).

Always: betas :data:`BETAS` (0.9, 0.95) and eps 1e-8 as in the BitNet recipes; weight decay only on
matrices (projections and the tied embedding; norms never decay); gradients clipped to a global norm of
1.0. The peak learning rate depends on the precision (:data:`PEAK_LR`): 1.5e-3 for b1.58, the stage-one
peak of the BitNet b1.58 recipes for their smallest models (a ternary model needs a high rate: a
latent-weight update changes its forward pass only when it moves a weight across a rounding threshold of
the absmean quantizer, and BitNet, arXiv 2310.11453, reports 1-bit models stable at rates where the FP16
Transformer diverges), and 1e-3 for the full-precision twin, the usual peak of small byte-level
transformers on Tiny Shakespeare (nanoGPT's ``shakespeare_char``), where a higher rate buys less because
every update reaches the forward pass. Both twins use the same schedule shape, warmup (100 steps, about
the FAQ's 375 scaled to runs of a few thousand steps) and weight decay. ``--lr`` overrides the peak; these
values are the recipe's, not tuned here.

Every ``eval_every`` steps, and at the last step, the run measures the mean loss over a fixed set of
``eval_batches`` validation batches, prints a line (step, train and validation loss, bits per byte,
learning rate, tokens/s; a tqdm bar shows loss and tokens/s between them on a terminal), rewrites the log
``<out>/log.csv`` whole (:data:`LOG_COLUMNS`, one row per step, ``val_loss`` on evaluation steps) and
saves ``<out>/checkpoint.pt`` (model, AdamW state, schedule, RNG state, data position, step, log), each
through a temporary file and a rename. The same command with ``--resume`` added continues from that
checkpoint: the options that define the run (all but ``--data``, ``--out``, ``--threads``, ``--resume``,
``--stop-at``) must be the checkpoint's, and ``--data`` must hold the same bytes (its SHA-256 is checked;
no path is stored). A run stopped at step ``k`` (``--stop-at k``, or killed after the checkpoint of step
``k``) and resumed to ``steps`` gives, bit for bit, the losses and weights of the run that never stopped,
with the same ``--threads`` (the thread count may change float reductions). The same command twice gives
bit-identical losses. A non-finite loss stops the run with ``training diverged: loss nan at step N``
(exit status 1). At the end the model is exported by :func:`model.export.export` to ``<out>/model`` (a
folder transformers' ``BitNetForCausalLM`` and :func:`model.infer.load_model` load) and the final
validation loss is printed.

Every option is a :class:`TrainConfig` field; bad input exits 2 with one line.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from model.atomic import write_text
from model.bitnet_config import PRECISIONS, SIZES, BitNetLMConfig, preset
from model.bitnet_torch import BitNetLM, load_torch_checkpoint, save_torch_checkpoint
from model.cli import OneLineErrorParser, fail, positive_int
from model.data import (
    DEFAULT_DATA,
    DEFAULT_DATA_IN_PARENT,
    REPO_ROOT,
    Corpus,
    TrainBatches,
    check_fits,
    load_corpus,
    validation_batches,
)
from model.export import export

#: Peak learning rate (stage one) of each precision when ``--lr`` is not given (see the module docstring).
PEAK_LR = {"b1.58": 1.5e-3, "fp": 1e-3}
#: Where stage one's cosine ends and where stage two starts, as fractions of the peak learning rate.
STAGE_ONE_END = 0.5
STAGE_TWO_PEAK = 1 / 3
#: AdamW's betas and eps.
BETAS = (0.9, 0.95)
ADAM_EPS = 1e-8
#: Files of an output folder.
CHECKPOINT_FILE, LOG_FILE, EXPORT_FOLDER = "checkpoint.pt", "log.csv", "model"
#: The log's columns; ``elapsed`` is wall seconds since the run started (over all resumed sessions).
LOG_COLUMNS = ("step", "lr", "weight_decay", "train_loss", "val_loss", "tokens_per_s", "elapsed")
#: The extra entries of a training checkpoint (beside the model's config and weights).
CHECKPOINT_ENTRIES = (
    "train",
    "data",
    "step",
    "optimizer",
    "schedule",
    "rng",
    "data_position",
    "log",
    "elapsed",
)
#: Exit statuses of a run whose loss became NaN or infinite, and of one stopped by Ctrl-C.
DIVERGED, INTERRUPTED = 1, 130


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _number(text)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def option(
    default: object,
    help: str,
    *,
    parse: Callable[[str], object] = positive_int,
    choices: tuple[str, ...] | None = None,
    run: bool = True,
) -> Any:
    """A :class:`TrainConfig` field with its command-line help, conversion and choices; ``run`` says
    whether it defines the run (a resumed run must keep it) or only this session (paths, threads)."""
    return dataclasses.field(
        default=default, metadata={"help": help, "parse": parse, "choices": choices, "run": run}
    )


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run takes; each field is a ``python -m model.train`` option (``--batch-size``
    for ``batch_size``, ...). The help texts below are the options' help."""

    data: Path = option(
        DEFAULT_DATA,
        f"the text file to train on, by default Tiny Shakespeare at ../{DEFAULT_DATA_IN_PARENT.as_posix()} "
        "from the repository's root (never downloaded); the first 90%% of its bytes train, the last 10%% "
        "validate",
        parse=Path,
        run=False,
    )
    precision: str = option(
        "b1.58", "b1.58 (ternary BitLinear projections) or fp (the twin)", parse=str, choices=PRECISIONS
    )
    size: str = option(
        "small", "model size preset (model.bitnet_config.SIZES)", parse=str, choices=tuple(SIZES)
    )
    steps: int = option(2000, "optimizer steps of the whole run (the schedule spans them)")
    seed: int = option(0, "seed of the initialisation and of the data order", parse=int)
    out: Path | None = option(
        None,
        "output folder: checkpoint, log CSV, exported model (None: build/train/SIZE-PRECISION in the "
        "repository)",
        parse=Path,
        run=False,
    )
    batch_size: int = option(32, "sequences per step")
    seq_len: int = option(128, "bytes per sequence (at most the model's context, 256)")
    lr: float | None = option(
        None, "peak learning rate (None: 1.5e-3 for b1.58, 1e-3 for fp)", parse=positive_float
    )
    warmup_steps: int = option(100, "steps of linear warmup (fewer than --steps)", parse=int)
    weight_decay: float = option(
        0.1, "AdamW weight decay of warmup and stage one (stage two: 0)", parse=non_negative_float
    )
    grad_clip: float = option(1.0, "clip the gradients' global norm to this", parse=positive_float)
    eval_every: int = option(100, "evaluate, log and checkpoint every this many steps (and at the last)")
    eval_batches: int = option(20, "validation batches per evaluation (a fixed set)")
    threads: int = option(2, "torch threads (torch.set_num_threads)", run=False)
    resume: bool = option(False, "continue the run in --out from its checkpoint", run=False)
    stop_at: int | None = option(
        None, "stop after this step, checkpointed for --resume (None: --steps)", run=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {sorted(SIZES)}, got {self.size!r}")
        for name in ("steps", "batch_size", "seq_len", "eval_every", "eval_batches", "threads"):
            _check_int(getattr(self, name), name, 1)
        _check_int(self.seed, "seed", 0)
        if _check_int(self.warmup_steps, "warmup_steps", 0) >= self.steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be less than steps={self.steps}")
        if self.stop_at is not None and not 1 <= _check_int(self.stop_at, "stop_at", 1) <= self.steps:
            raise ValueError(f"stop_at={self.stop_at} must be in [1, steps={self.steps}]")
        for name, low in (("lr", None), ("weight_decay", 0.0), ("grad_clip", None)):
            _check_float(getattr(self, name), name, low, optional=name == "lr")
        context = self.model_config().max_position_embeddings
        if self.seq_len > context:
            raise ValueError(f"seq_len={self.seq_len} exceeds the model's context of {context} positions")

    @property
    def peak_lr(self) -> float:
        """``lr``, or :data:`PEAK_LR` of the precision."""
        return PEAK_LR[self.precision] if self.lr is None else self.lr

    @property
    def out_dir(self) -> Path:
        """``out``, or ``build/train/<size>-<precision>`` in the repository."""
        return (
            REPO_ROOT / "build" / "train" / f"{self.size}-{self.precision}" if self.out is None else self.out
        )

    def model_config(self) -> BitNetLMConfig:
        """The model: the size preset in the precision."""
        return preset(self.size, self.precision)

    def schedule(self) -> TwoStageSchedule:
        """The learning-rate and weight-decay schedule of the run."""
        return TwoStageSchedule(self.steps, self.warmup_steps, self.peak_lr, self.weight_decay)

    def run_fields(self) -> dict[str, Any]:
        """The fields that define the run (a checkpoint records them; ``lr`` resolved to the peak)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata["run"]}
        return {**fields, "lr": self.peak_lr}


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def _check_float(value: object, name: str, low: float | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or (value < low if low is not None else value <= 0):
        bound = "> 0" if low is None else f">= {low}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")


@dataclass(frozen=True)
class TwoStageSchedule:
    """Learning rate and weight decay of each step ``1 .. steps`` (the module docstring's recipe).

    Members
    -------
    steps, warmup_steps : int
        Steps of the run and of the warmup (``warmup_steps < steps``).
    peak_lr, weight_decay : float
        The peak learning rate and the weight decay of warmup and stage one.
    """

    steps: int
    warmup_steps: int
    peak_lr: float
    weight_decay: float

    @property
    def stage_one_steps(self) -> int:
        """Steps of stage one: the first half of those after warmup."""
        return (self.steps - self.warmup_steps) // 2

    @property
    def last_stage_one_step(self) -> int:
        """The last step with stage one's learning rate and weight decay."""
        return self.warmup_steps + self.stage_one_steps

    def lr(self, step: int) -> float:
        """The learning rate of update ``step`` (1-based)."""
        if not 1 <= step <= self.steps:
            raise ValueError(f"step must be in [1, {self.steps}], got {step}")
        if step <= self.warmup_steps:
            return self.peak_lr * step / self.warmup_steps
        if step <= self.last_stage_one_step:
            progress = (step - self.warmup_steps - 1) / self.stage_one_steps
            return self.peak_lr * (STAGE_ONE_END + (1 - STAGE_ONE_END) * _cosine(progress))
        stage_two_steps = self.steps - self.last_stage_one_step
        progress = (step - self.last_stage_one_step - 1) / stage_two_steps
        return self.peak_lr * STAGE_TWO_PEAK * _cosine(progress)

    def weight_decay_at(self, step: int) -> float:
        """The weight decay of update ``step``: ``weight_decay`` up to the end of stage one, then 0."""
        return self.weight_decay if step <= self.last_stage_one_step else 0.0

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> tuple[float, float]:
        """Set ``step``'s learning rate on every group and its weight decay on the decaying group (the
        first, :func:`make_optimizer`); returns both."""
        lr, decay = self.lr(step), self.weight_decay_at(step)
        for index, group in enumerate(optimizer.param_groups):
            group["lr"], group["weight_decay"] = lr, decay if index == 0 else 0.0
        return lr, decay

    def state_dict(self) -> dict[str, float | int]:
        """The schedule's fields (a checkpoint records them)."""
        return dataclasses.asdict(self)


def _cosine(progress: float) -> float:
    """1 at ``progress`` 0, 0 at 1: ``(1 + cos(pi * progress)) / 2``."""
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: BitNetLM, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over two groups: the matrices (weight decay per the schedule) and the rest (norms, never)."""
    parameters = list(model.parameters())
    groups = [
        {"params": [p for p in parameters if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.peak_lr, betas=BETAS, eps=ADAM_EPS)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step."""

    def __init__(self, loss: float, step: int, checkpoint_step: int | None) -> None:
        last = checkpoint_name(checkpoint_step)
        super().__init__(f"training diverged: loss {loss} at step {step} (last checkpoint: {last})")
        self.loss, self.step = loss, step


def checkpoint_name(step: int | None) -> str:
    """``"step N"`` of the last checkpoint saved, or ``"none saved"``."""
    return "none saved" if step is None else f"step {step}"


@dataclass
class RunState:
    """What a checkpoint holds besides the run's fields: model, optimizer, data position, step, log."""

    model: BitNetLM
    optimizer: torch.optim.AdamW
    batches: TrainBatches
    step: int = 0
    log: list[dict[str, float | int | None]] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0
    checkpoint_step: int | None = None


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`: the step reached, the last validation loss (nats per byte) and the
    exported folder (``None`` when the run stopped early for ``--resume``)."""

    step: int
    val_loss: float | None
    exported: Path | None

    @property
    def bits_per_byte(self) -> float | None:
        """``val_loss / ln 2``."""
        return None if self.val_loss is None else self.val_loss / math.log(2)


# --- starting and resuming ----------------------------------------------------------------------------


def fresh_state(config: TrainConfig, corpus: Corpus) -> RunState:
    """A new run: refuses an ``out`` that already holds one, seeds torch, builds model and optimizer."""
    out = config.out_dir
    if (out / CHECKPOINT_FILE).exists():
        raise ValueError(
            f"out: {out} already holds a training run ({CHECKPOINT_FILE}): --resume continues it, "
            "or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = BitNetLM(config.model_config(), seed=config.seed)
    batches = TrainBatches(corpus.train, config.batch_size, config.seq_len, config.seed)
    return RunState(model, make_optimizer(model, config), batches)


def resume_state(config: TrainConfig, corpus: Corpus) -> RunState:
    """The run saved in ``out``'s checkpoint, after checking that the options and data are its own."""
    path = config.out_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(f"resume: no {CHECKPOINT_FILE} in {config.out_dir} to resume from")
    model, extra = load_torch_checkpoint(path)
    missing = [name for name in CHECKPOINT_ENTRIES if name not in extra]
    if missing:
        raise ValueError(f"resume: {path} is not a training checkpoint (it lacks {', '.join(missing)})")
    _check_same_run(config, corpus, extra)
    optimizer = make_optimizer(model, config)
    optimizer.load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["rng"]["torch"])
    batches = TrainBatches(
        corpus.train, config.batch_size, config.seq_len, config.seed, **extra["data_position"]
    )
    step = extra["step"]
    return RunState(model, optimizer, batches, step, list(extra["log"]), extra["elapsed"], step)


def _check_same_run(config: TrainConfig, corpus: Corpus, extra: dict[str, Any]) -> None:
    for name, saved in extra["train"].items():
        if config.run_fields().get(name) != saved:
            option_text = "--" + name.replace("_", "-")
            raise ValueError(
                f"resume: the checkpoint's run has {option_text} {saved}, not {config.run_fields().get(name)}"
            )
    if extra["data"] != _data_entry(corpus):
        raise ValueError("resume: --data is not the file the checkpoint was trained on (its sha256 differs)")


def _data_entry(corpus: Corpus) -> dict[str, Any]:
    return {"sha256": corpus.sha256, "bytes": corpus.size}


# --- one step, evaluation, saving ---------------------------------------------------------------------


def train_step(state: RunState, schedule: TwoStageSchedule, grad_clip: float) -> dict[str, Any]:
    """One AdamW update at step ``state.step + 1``; returns its log row. Raises :class:`TrainingDiverged`
    on a non-finite loss (before the update)."""
    step = state.step + 1
    started = time.perf_counter()
    ids, targets = (torch.from_numpy(array) for array in next(state.batches))
    lr, decay = schedule.apply(state.optimizer, step)
    loss = state.model.loss(ids, targets)
    value = loss.item()
    if not math.isfinite(value):
        raise TrainingDiverged(value, step, state.checkpoint_step)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(state.model.parameters(), grad_clip)
    state.optimizer.step()
    state.step = step
    row = {"step": step, "lr": lr, "weight_decay": decay, "train_loss": value, "val_loss": None}
    return {**row, "tokens_per_s": ids.numel() / (time.perf_counter() - started), "elapsed": None}


@torch.no_grad()
def evaluate(model: BitNetLM, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean cross-entropy (nats per byte) over every target of ``batches``."""
    model.eval()
    total, count = 0.0, 0
    for ids, targets in batches:
        total += model.loss(ids, targets).item() * targets.numel()
        count += targets.numel()
    model.train()
    return total / count


def log_text(rows: list[dict[str, Any]]) -> str:
    """The log CSV of ``rows`` (:data:`LOG_COLUMNS`; floats in full precision, an empty ``val_loss``
    where the step was not evaluated)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for row in rows:
        writer.writerow("" if row[column] is None else repr(row[column]) for column in LOG_COLUMNS)
    return buffer.getvalue()


def save(state: RunState, config: TrainConfig, corpus: Corpus, schedule: TwoStageSchedule) -> None:
    """Write the checkpoint, then the log, each whole."""
    save_torch_checkpoint(
        config.out_dir / CHECKPOINT_FILE,
        state.model,
        train=config.run_fields(),
        data=_data_entry(corpus),
        step=state.step,
        optimizer=state.optimizer.state_dict(),
        schedule=schedule.state_dict(),
        rng={"torch": torch.get_rng_state()},
        data_position=state.batches.position(),
        log=state.log,
        elapsed=state.elapsed,
    )
    state.checkpoint_step = state.step
    write_text(config.out_dir / LOG_FILE, log_text(state.log))


# --- the run ----------------------------------------------------------------------------------------------


@dataclass
class Run:
    """A prepared run (:func:`prepare`): configuration, data, state, schedule and validation batches."""

    config: TrainConfig
    corpus: Corpus
    state: RunState
    schedule: TwoStageSchedule
    validation: list[tuple[torch.Tensor, torch.Tensor]]


def prepare(config: TrainConfig) -> Run:
    """Read and check the data, set the torch threads, start or resume the state. Raises ``ValueError``
    (or ``OSError``) for bad input, before any training."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, not {type(config).__name__}")
    corpus = load_corpus(config.data)
    check_fits(corpus, config.batch_size, config.seq_len)
    torch.set_num_threads(config.threads)
    state = resume_state(config, corpus) if config.resume else fresh_state(config, corpus)
    validation = [
        (torch.from_numpy(ids), torch.from_numpy(targets))
        for ids, targets in validation_batches(
            corpus.validation, config.batch_size, config.seq_len, config.eval_batches
        )
    ]
    return Run(config, corpus, state, config.schedule(), validation)


def _report(run: Run, row: dict[str, Any], interval: list[dict[str, Any]]) -> str:
    """The line printed at an evaluation step (tokens/s over the training steps since the last one)."""
    train_loss = float(np.mean([r["train_loss"] for r in interval]))
    speed = len(interval) / sum(1 / r["tokens_per_s"] for r in interval)
    return (
        f"step {row['step']}/{run.config.steps}: train {train_loss:.4f}, val {row['val_loss']:.4f} nats/byte "
        f"({row['val_loss'] / math.log(2):.4f} bits/byte), lr {row['lr']:.3g}, "
        f"weight decay {row['weight_decay']:g}, {speed:,.0f} tokens/s"
    )


def run_steps(run: Run, last: int) -> None:
    """Train from ``run.state.step`` to step ``last``, evaluating and saving as the module docstring says."""
    config, state = run.config, run.state
    started, before = time.perf_counter(), state.elapsed
    interval: list[dict[str, Any]] = []
    bar = tqdm(total=config.steps, initial=state.step, unit="step", disable=None, desc=config.precision)
    with bar:
        while state.step < last:
            row = train_step(state, run.schedule, config.grad_clip)
            state.log.append(row)
            interval.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", tokens_per_s=f"{row['tokens_per_s']:,.0f}")
            evaluating = state.step % config.eval_every == 0 or state.step == config.steps
            if evaluating:
                row["val_loss"] = evaluate(state.model, run.validation)
                bar.write(_report(run, row, interval))
                interval = []
            state.elapsed = row["elapsed"] = before + time.perf_counter() - started
            if evaluating or state.step == last:
                save(state, config, run.corpus, run.schedule)


def finish(run: Run) -> TrainResult:
    """After :func:`run_steps`: export the model to ``<out>/model`` when the run reached ``steps``."""
    state, config = run.state, run.config
    val_losses = [row["val_loss"] for row in state.log if row["val_loss"] is not None]
    last_val = val_losses[-1] if val_losses else None
    if state.step < config.steps:
        return TrainResult(state.step, last_val, None)
    folder = export(state.model, config.out_dir / EXPORT_FOLDER, overwrite=True)
    return TrainResult(state.step, last_val, folder)


def train(config: TrainConfig) -> TrainResult:
    """Run ``config`` (see the module docstring): train to ``stop_at`` or ``steps``, and at ``steps``
    export the model to ``<out>/model``."""
    run = prepare(config)
    run_steps(run, config.stop_at or config.steps)
    return finish(run)


# --- command line ----------------------------------------------------------------------------------------


def option_name(field: dataclasses.Field) -> str:
    """``--batch-size`` for the field ``batch_size``."""
    return "--" + field.name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The options of :class:`TrainConfig`, one per field, with its default, help and choices."""
    parser = OneLineErrorParser(
        prog="python -m model.train",
        description="Train a BitNet b1.58 LLM or its full-precision twin on a text file (byte-level tokens).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for field in dataclasses.fields(TrainConfig):
        meta = field.metadata
        if field.type in (bool, "bool"):
            parser.add_argument(option_name(field), action="store_true", help=meta["help"])
            continue
        parser.add_argument(
            option_name(field),
            type=meta["parse"],
            choices=meta["choices"],
            default=field.default,
            help=meta["help"],
        )
    return parser


def config_from_arguments(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed options."""
    return TrainConfig(**{field.name: getattr(args, field.name) for field in dataclasses.fields(TrainConfig)})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_arguments(args)
        run = prepare(config)
    except (TypeError, ValueError) as error:
        fail(parser.prog, str(error))
    except OSError as error:
        fail(parser.prog, f"cannot write {config.out_dir}: {error.strerror or error}")
    try:
        run_steps(run, config.stop_at or config.steps)
    except TrainingDiverged as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return DIVERGED
    except KeyboardInterrupt:
        last = checkpoint_name(run.state.checkpoint_step)
        print(
            f"{parser.prog}: interrupted at step {run.state.step} (last checkpoint: {last})", file=sys.stderr
        )
        return INTERRUPTED
    result = finish(run)
    if result.exported is None:
        print(f"stopped at step {result.step} of {config.steps}: --resume continues from {config.out_dir}")
    else:
        print(
            f"final validation loss {result.val_loss:.4f} nats/byte, {result.bits_per_byte:.4f} bits/byte; "
            f"wrote {result.exported}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
