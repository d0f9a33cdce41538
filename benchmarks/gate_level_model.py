"""Benchmark: gate-level energy per MAC on the trained model's own operands, per projection type.

Runs :func:`energy.gates.study.model_operand_study` on :data:`energy.gates.study.FULL`'s sweep width (N =
16, M = 8 measured on one row): the ternary, int8 and FP16 arrays in both dataflows, each on the bundled
b1.58 checkpoint's operands of every projection type (the int8 and FP16 arrays on its full-precision twin's,
see ``energy.gates.model_operands``) and on the Gaussian operands of the other gate-level figures. Writes
the table to ``benchmarks/results/gate_level_model.csv`` and the section ``gate-level-model`` of
RESULTS.md.

    python benchmarks/gate_level_model.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from energy.gates.study import FULL, markdown, model_operand_study
from model.atomic import write_table

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

CSV = Path(__file__).with_name("results") / "gate_level_model.csv"
COLUMNS = [
    "dataflow",
    "array",
    "projection",
    "zero_fraction",
    "activation_zero_fraction",
    "toggle_rate",
    "energy_per_mac_pJ",
    "vs_gaussian",
]


def with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """``vs_gaussian``: each row's energy per MAC over the same array's and dataflow's Gaussian row."""
    gaussian = frame[frame.projection == ""].set_index(["dataflow", "array"]).energy_per_mac_pJ
    keys = list(zip(frame.dataflow, frame.array, strict=True))
    return frame.assign(vs_gaussian=frame.energy_per_mac_pJ.to_numpy() / gaussian.loc[keys].to_numpy())


def summary(frame: pd.DataFrame) -> str:
    """Per array and dataflow: the Gaussian figure and the lowest and highest projection type."""
    model = frame[frame.projection != ""]
    rows = []
    for (dataflow, array), group in model.groupby(["dataflow", "array"], sort=False):
        gaussian = frame[(frame.dataflow == dataflow) & (frame.array == array) & (frame.projection == "")]
        rows.append(
            f"| {dataflow} | {array} | {gaussian.energy_per_mac_pJ.iloc[0]:.4g} | "
            f"{group.energy_per_mac_pJ.min():.4g} ({group.projection[group.energy_per_mac_pJ.idxmin()]}) | "
            f"{group.energy_per_mac_pJ.max():.4g} ({group.projection[group.energy_per_mac_pJ.idxmax()]}) |"
        )
    header = (
        "| dataflow | array | Gaussian pJ/MAC | model, lowest (projection) | model, highest (projection) |"
    )
    return "\n".join([header, "|---|---|---|---|---|", *rows])


def main() -> int:
    started = time.perf_counter()
    frame = with_ratios(model_operand_study(FULL))
    CSV.parent.mkdir(parents=True, exist_ok=True)
    write_table(CSV, frame)
    body = "\n\n".join(
        [
            f"N = {FULL.sweep_lanes} lanes, M = {FULL.rows} rows (measured on {FULL.measured_rows}), "
            f"{FULL.beats} beats per window, pipeline {FULL.pipeline}, signed tree; operands of the bundled "
            "checkpoint (middle layer, held-out Tiny Shakespeare; int8 and FP16: its full-precision twin's, "
            "`energy.gates.model_operands`) and Gaussian ones (`energy.gates.realistic`). Every output of "
            "every window checked bit-exactly. Toggle rate: toggles per cell-driven net per cycle. "
            f"Whole run {time.perf_counter() - started:.0f} s; table `benchmarks/results/{CSV.name}`.",
            summary(frame),
            markdown(frame[COLUMNS]),
        ]
    )
    print(body)
    write_section("gate-level-model", body, "python benchmarks/gate_level_model.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
