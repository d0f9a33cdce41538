"""The BitNet b1.58 vs full-precision study: the paper's Table 1 at toy scale.

Each size preset of :data:`model.bitnet_config.SIZES` is trained in both precisions on the same data, for
the same steps and tokens, with the same seed (so the same data order), by :func:`model.train.train`; the
``small-2x`` preset (twice the hidden size of ``small``) is trained in b1.58 only, the "BitNet b1.58
Reloaded" (arXiv 2407.09527) question of how much wider a small ternary model must be to match its twin.
A :class:`StudyConfig` names the runs and their shared options; :data:`FULL` is the study of
``benchmarks/train_bitnet.py``, :data:`TINY` the one CI and the notebook's default run in seconds.

Runs are resumable: a run whose folder holds a training checkpoint continues from it (a finished run is
only re-exported), so an interrupted study loses at most ``eval_every`` steps per run.

:func:`summarize` turns the runs' logs into the table (validation loss and bits per byte, tokens seen,
tokens/s, wall time, the best validation loss and its step (a run that starts to overfit the 1 MB text
ends above its best), and the convergence check: the relative improvement of the validation loss over the
last fifth of the steps, which :data:`CONVERGED_BELOW` bounds), :func:`loss_curves` into the curves, and
:func:`loss_curve_figure` draws them.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from model.bitnet_config import PRECISIONS, SIZES, preset
from model.data import DEFAULT_DATA, REPO_ROOT
from model.train import CHECKPOINT_FILE, EXPORT_FOLDER, LOG_FILE, TrainConfig, train

#: The runs of the study: every size in both precisions, and the 2x-hidden ternary model.
RUNS: tuple[tuple[str, str], ...] = (
    ("small", "b1.58"),
    ("small", "fp"),
    ("large", "b1.58"),
    ("large", "fp"),
    ("small-2x", "b1.58"),
)
#: A run counts as converged when its validation loss improved by less than this fraction over the last
#: fifth of its steps.
CONVERGED_BELOW = 0.03
#: The share of the steps whose improvement the convergence check measures.
LAST_SHARE = 0.2


@dataclass(frozen=True)
class StudyConfig:
    """The runs of a study and the options they share (the other :class:`model.train.TrainConfig` fields
    keep their defaults: the recipe is the same for every run).

    Parameters
    ----------
    runs : the ``(size, precision)`` pairs to train.
    steps, batch_size, seq_len, warmup_steps, eval_every, eval_batches, seed, threads :
        the :class:`model.train.TrainConfig` options of every run.
    data : the text file.
    out : the folder holding one run folder per pair (``<size>-<precision>``).
    """

    runs: tuple[tuple[str, str], ...] = RUNS
    steps: int = 3000
    batch_size: int = 32
    seq_len: int = 128
    warmup_steps: int = 100
    eval_every: int = 100
    eval_batches: int = 20
    seed: int = 0
    threads: int = 2
    data: Path = DEFAULT_DATA
    out: Path = REPO_ROOT / "build" / "train" / "study"

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", tuple(tuple(run) for run in self.runs))
        if not self.runs:
            raise ValueError("runs must name at least one (size, precision) pair")
        for size, precision in self.runs:
            if size not in SIZES or precision not in PRECISIONS:
                raise ValueError(
                    f"runs: ({size!r}, {precision!r}) is not a (size in {sorted(SIZES)}, precision in "
                    f"{PRECISIONS}) pair"
                )
        for run in self.runs:
            self.train_config(*run)  # TrainConfig checks the shared options

    def folder(self, size: str, precision: str) -> Path:
        """The run folder of one pair."""
        return Path(self.out) / f"{size}-{precision}"

    def train_config(self, size: str, precision: str) -> TrainConfig:
        """The training options of one pair (resuming when its folder holds a checkpoint)."""
        folder = self.folder(size, precision)
        shared = {name: getattr(self, name) for name in _SHARED}
        return TrainConfig(
            precision=precision,
            size=size,
            out=folder,
            resume=(folder / CHECKPOINT_FILE).is_file(),
            **shared,
        )


_SHARED = (
    "steps",
    "batch_size",
    "seq_len",
    "warmup_steps",
    "eval_every",
    "eval_batches",
    "seed",
    "threads",
    "data",
)

#: The study of ``benchmarks/train_bitnet.py`` (106 minutes of training measured on 2 shared cores).
FULL = StudyConfig()
#: A study of seconds (CI, the notebook's default): every run, a few dozen steps of short sequences.
TINY = StudyConfig(
    steps=30,
    batch_size=8,
    seq_len=64,
    warmup_steps=5,
    eval_every=10,
    eval_batches=2,
    threads=1,  # CI runs it beside another test worker: two torch threads on a shared core stall each other
    out=REPO_ROOT / "build" / "train" / "study-tiny",
)


def train_all(config: StudyConfig) -> list[Path]:
    """Train (or resume, or only re-export) every run of ``config``; returns the exported model folders."""
    exported = []
    for index, (size, precision) in enumerate(config.runs, 1):
        run = config.train_config(size, precision)
        action = "resuming" if run.resume else "training"
        print(f"run {index}/{len(config.runs)}: {action} {size} {precision} -> {run.out}", flush=True)
        result = train(run)
        exported.append(result.exported)
    return exported


def read_log(folder: Path) -> list[dict[str, float | None]]:
    """A run's ``log.csv``: one dict per step, empty ``val_loss`` cells as ``None``."""
    path = Path(folder) / LOG_FILE
    if not path.is_file():
        raise ValueError(f"folder: {folder} holds no {LOG_FILE} (the run has not started)")
    with path.open(newline="") as handle:
        return [
            {key: (float(value) if value != "" else None) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]


def last_share_improvement(rows: Sequence[dict[str, float | None]], share: float = LAST_SHARE) -> float:
    """The relative drop of the validation loss over the last ``share`` of the steps: ``(v_a - v_end) /
    v_a``, ``v_a`` the validation loss at the last evaluation at or before step ``(1 - share) * steps``."""
    evaluated = [(int(row["step"]), row["val_loss"]) for row in rows if row["val_loss"] is not None]
    if len(evaluated) < 2:
        raise ValueError("rows: the convergence check needs at least two evaluations")
    final_step, final = evaluated[-1]
    start = [loss for step, loss in evaluated if step <= (1 - share) * final_step]
    if not start:
        raise ValueError(f"rows: no evaluation before the last {share:.0%} of the steps")
    return (start[-1] - final) / start[-1]


def summary_row(config: StudyConfig, size: str, precision: str) -> dict[str, Any]:
    """One row of the study's table (see :func:`summarize`)."""
    rows = read_log(config.folder(size, precision))
    model = preset(size, precision)
    improvement = last_share_improvement(rows)  # also checks that the run has evaluations
    evaluated = [(int(row["step"]), row["val_loss"]) for row in rows if row["val_loss"] is not None]
    final_val = evaluated[-1][1]
    best_step, best_val = min(evaluated, key=lambda pair: (pair[1], pair[0]))
    steps = int(rows[-1]["step"])
    return {
        "size": size,
        "precision": precision,
        "hidden_size": model.hidden_size,
        "layers": model.num_hidden_layers,
        "non_embedding_params": model.non_embedding_parameters(),
        "steps": steps,
        "finished": steps == config.steps,
        "tokens": steps * config.batch_size * config.seq_len,
        "val_loss": final_val,
        "bits_per_byte": final_val / math.log(2),
        "best_val_loss": best_val,
        "best_step": best_step,
        "last_fifth_improvement": improvement,
        "converged": improvement < CONVERGED_BELOW,
        "tokens_per_s": statistics.median(row["tokens_per_s"] for row in rows),
        "wall_s": rows[-1]["elapsed"],
    }


def summarize(config: StudyConfig) -> pd.DataFrame:
    """The study's table: one row per run, in ``config.runs`` order, with ``gap_to_fp`` (the validation
    loss over the same size's twin's, minus 1; the 2x model is compared with ``small``'s twin)."""
    table = pd.DataFrame([summary_row(config, *run) for run in config.runs])
    twins = table[table.precision == "fp"].set_index("size").val_loss
    baseline = table["size"].map(lambda size: twins.get(size.removesuffix("-2x"), math.nan))
    table["gap_to_fp"] = table.val_loss / baseline - 1
    return table


def loss_curves(config: StudyConfig) -> pd.DataFrame:
    """Every run's validation loss at each evaluation: columns ``run``, ``step``, ``tokens``, ``val_loss``."""
    records = []
    for size, precision in config.runs:
        for row in read_log(config.folder(size, precision)):
            if row["val_loss"] is not None:
                step = int(row["step"])
                tokens = step * config.batch_size * config.seq_len
                record = {"run": f"{size} {precision}", "step": step, "tokens": tokens}
                records.append({**record, "val_loss": row["val_loss"]})
    return pd.DataFrame(records)


def loss_curve_figure(curves: pd.DataFrame) -> Figure:
    """Validation bits per byte against steps, one line per run (b1.58 solid, fp dashed): the whole run,
    and its second half on a finer scale (where the runs separate)."""
    figure = Figure(figsize=(12, 4.2), layout="constrained")
    whole, tail = figure.subplots(1, 2)
    half = curves.step.max() / 2
    for run, group in curves.groupby("run", sort=False):
        style = "--" if run.endswith(" fp") else "-"
        whole.plot(group.step, group.val_loss / math.log(2), style, label=run)
        late = group[group.step >= half]
        tail.plot(late.step, late.val_loss / math.log(2), style, label=run)
    whole.set(xlabel="step", ylabel="validation bits per byte", title="BitNet b1.58 vs full precision")
    tail.set(xlabel="step", ylabel="validation bits per byte", title="second half of the steps")
    for axes in (whole, tail):
        axes.grid(alpha=0.3)
    whole.legend()
    return figure


def exported_model(config: StudyConfig, size: str, precision: str) -> Path:
    """The exported model folder of a finished run."""
    folder = config.folder(size, precision) / EXPORT_FOLDER
    if not (folder / "config.json").is_file():
        raise ValueError(f"{size} {precision}: no exported model in {folder} (train the run first)")
    return folder
