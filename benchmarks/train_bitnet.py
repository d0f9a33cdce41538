"""Benchmark: BitNet b1.58 against its full-precision twin at toy scale (the paper's Table 1), on CPU.

Trains every run of ``model.study.FULL`` (sizes ``small`` and ``large`` in both precisions, and the
2x-hidden ``small-2x`` in b1.58; same data, steps, tokens and seed) with ``model.train``, resuming any run
already in ``--out``, then records what each trained b1.58 model's projections compute on while it reads
:data:`OPERAND_WINDOWS` held-out windows (``model.operands``: zero weights, activation histogram, zero
activations, outlier channels per projection type), and writes the tables, loss curves and operand
figures to ``benchmarks/results/`` (CSV and PNG) and the section ``train_bitnet`` of RESULTS.md.

    python benchmarks/train_bitnet.py [--out build/train/study] [--data FILE] [--steps 3000] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from model.atomic import write_figure, write_table
from model.cli import OneLineErrorParser, fail, positive_int
from model.infer import load_model
from model.operands import (
    OUTLIER_FACTOR,
    activation_histogram,
    heldout_windows,
    operand_figure,
    operand_statistics,
    record_operands,
)
from model.study import (
    CONVERGED_BELOW,
    FULL,
    StudyConfig,
    exported_model,
    loss_curve_figure,
    loss_curves,
    summarize,
    train_all,
)

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

RESULTS_DIR = Path(__file__).with_name("results")
TABLE, CURVES, FIGURE = "train_bitnet.csv", "train_bitnet_curves.csv", "train_bitnet_loss.png"
OPERANDS, HISTOGRAM = "train_bitnet_operands.csv", "train_bitnet_activation_histogram.csv"
#: Held-out windows (of the study's sequence length) each b1.58 model reads for its operand statistics.
OPERAND_WINDOWS = 32


def operand_figure_name(run: str) -> str:
    return f"train_bitnet_operands_{run.replace(' ', '_')}.png"


def record_study_operands(config: StudyConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Figure]]:
    """Per trained b1.58 run: its operand statistics and activation histogram (with a ``run`` column) and
    its operand figure."""
    windows = heldout_windows(config.data, config.seq_len, OPERAND_WINDOWS)
    statistics, histograms, figures = [], [], {}
    for size, precision in config.runs:
        if precision != "b1.58":
            continue
        run = f"{size} {precision}"
        operands = record_operands(load_model(exported_model(config, size, precision)), windows)
        table, histogram = operand_statistics(operands), activation_histogram(operands)
        figures[run] = operand_figure(table, histogram, title=f"{run}: ")
        statistics.append(table.assign(run=run, tokens=operands.tokens))
        histograms.append(histogram.assign(run=run))
    return pd.concat(statistics), pd.concat(histograms), figures


def write_outputs(tables: dict[str, pd.DataFrame], figures: dict[str, Figure], folder: Path) -> None:
    """Each table as CSV and each figure as PNG under its file name, each written whole."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        write_table(folder / name, frame)
    for name, figure in figures.items():
        write_figure(folder / name, figure)


def markdown_table(table: pd.DataFrame) -> str:
    """The study's table in Markdown."""
    lines = [
        "| run | hidden x layers | non-embedding params | val nats/byte | val bits/byte | vs fp twin "
        "| best val (step) | last-fifth gain | tokens/s | wall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        gap = "" if math.isnan(row.gap_to_fp) or row.precision == "fp" else f"{row.gap_to_fp:+.1%}"
        flag = "" if row.converged else " (not converged)"
        lines.append(
            f"| {row.size} {row.precision} | {row.hidden_size} x {row.layers} | {row.non_embedding_params:,} "
            f"| {row.val_loss:.4f} | {row.bits_per_byte:.4f} | {gap} "
            f"| {row.best_val_loss:.4f} ({row.best_step}) "
            f"| {row.last_fifth_improvement:.2%}{flag} | {row.tokens_per_s:,.0f} "
            f"| {row.wall_s / 60:.1f} min |"
        )
    return "\n".join(lines)


def operand_markdown(statistics: pd.DataFrame) -> str:
    """The operand statistics in Markdown, one row per run and projection type."""
    lines = [
        "| run | projection | in x out | zero weights | zero activations | saturated (abs 127) "
        "| mean abs act | outlier channels | max channel / mean | tokens scaled by an outlier |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in statistics.itertuples():
        lines.append(
            f"| {row.run} | {row.projection} | {row.in_features} x {row.out_features} "
            f"| {row.weight_zero_share:.1%} | {row.activation_zero_share:.1%} "
            f"| {row.activation_saturated_share:.2%} | {row.activation_mean_abs:.1f} "
            f"| {row.outlier_channels} ({row.outlier_channel_share:.1%}) | {row.max_channel_ratio:.1f} "
            f"| {row.outlier_scaled_share:.1%} |"
        )
    return "\n".join(lines)


def training_paragraph(config: StudyConfig, table: pd.DataFrame) -> str:
    """How the runs were made, and what the table's columns mean."""
    return (
        f"Byte-level Tiny Shakespeare (90/10 split), {config.steps:,} steps of {config.batch_size} x "
        f"{config.seq_len} bytes = {int(table.tokens.iloc[0]):,} training tokens per run, seed "
        f"{config.seed}, {config.threads} torch threads, the recipe of `model.train` (two-stage schedule, "
        f"AdamW 0.9/0.95, clip 1.0). Validation: the mean of {config.eval_batches} fixed held-out batches. "
        "'vs fp twin': validation loss over the same size's full-precision twin's (small-2x against small "
        "fp). 'Last-fifth gain': the relative drop of the validation loss over the last 20% of the steps "
        f"(converged when below {CONVERGED_BELOW:.0%}). tokens/s: median over steps of training throughput."
    )


def operand_paragraph(statistics: pd.DataFrame) -> str:
    """What the operand statistics were measured on, and what their columns mean."""
    tokens = int(statistics.tokens.iloc[0])
    return (
        "What the trained b1.58 models compute on (`model.operands`), reading the first "
        f"{OPERAND_WINDOWS} held-out windows ({tokens:,} tokens), over all layers, per projection type "
        "(q/k/v share one input, gate/up another). Outlier channel: mean abs activation at least "
        f"{OUTLIER_FACTOR:g}x the mean over its layer's channels; 'tokens scaled by an outlier': tokens "
        "whose absmax (mapped to 127) lies in an outlier channel."
    )


def section(config: StudyConfig, table: pd.DataFrame, statistics: pd.DataFrame) -> str:
    """The RESULTS.md section body."""
    files = ", ".join(f"`benchmarks/results/{name}`" for name in (TABLE, CURVES, OPERANDS, HISTOGRAM))
    operand_images = [f"![{run}](results/{operand_figure_name(run)})" for run in statistics.run.unique()]
    parts = [
        training_paragraph(config, table),
        markdown_table(table),
        f"![loss curves](results/{FIGURE})",
        operand_paragraph(statistics),
        operand_markdown(statistics),
        *operand_images,
        f"Tables: {files}.",
    ]
    return "\n\n".join(parts)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FULL.out, help="folder of the run folders")
    parser.add_argument("--data", type=Path, default=FULL.data, help="the text file")
    parser.add_argument("--steps", type=positive_int, default=FULL.steps, help="steps of every run")
    parser.add_argument("--threads", type=positive_int, default=FULL.threads, help="torch threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = StudyConfig(out=args.out, data=args.data, steps=args.steps, threads=args.threads)
        train_all(config)
        table, curves = summarize(config), loss_curves(config)
        statistics, histograms, operand_figures = record_study_operands(config)
    except (ValueError, OSError) as error:
        fail("train_bitnet", str(error))
    figures = {FIGURE: loss_curve_figure(curves)}
    figures.update({operand_figure_name(run): figure for run, figure in operand_figures.items()})
    tables = {TABLE: table, CURVES: curves, OPERANDS: statistics, HISTOGRAM: histograms}
    write_outputs(tables, figures, RESULTS_DIR)
    print(markdown_table(table))
    print(operand_markdown(statistics))
    command = "python benchmarks/train_bitnet.py" + (
        f" --steps {args.steps}" if args.steps != FULL.steps else ""
    )
    write_section("train_bitnet", section(config, table, statistics), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
