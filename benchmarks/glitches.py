"""Benchmark: the glitch study (energy.gates.glitch_study) on the gate-level study's arrays.

Energy per MAC zero-delay vs timing-aware (the liberty's delays: glitches counted) vs timing-aware with
the modelled wires and clock tree, for the ternary array with each tree, int8 and FP16 at N = 16 and 64,
M = 8 (one row measured, :data:`energy.gates.study.FULL`), on the study's realistic operands; the ratios
FP16 / ternary and int8 / ternary under each mode; where the glitches go, by block and by cell type; and
the two simulators' speeds. Writes ``benchmarks/results/glitches.csv``, ``glitches_ratios.csv``,
``glitches_blocks.csv``, ``glitches_cells.csv`` (every cell type's internal energy with and without the
glitches), ``glitches.png`` and the ``glitches`` section of ``benchmarks/RESULTS.md``.

    python benchmarks/glitches.py [--beats 400] [--lanes 16 64]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

from energy.gates.glitch_study import MODES, glitch_blocks, glitch_study, ratios
from energy.gates.plots import glitch_figure
from energy.gates.study import FULL, markdown
from model.cli import positive_int

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

RESULTS = Path(__file__).resolve().parent / "results"


def _write(frame: pd.DataFrame, path: Path) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    frame.to_csv(staging, index=False)
    staging.replace(path)


def _moves(blocks: pd.DataFrame) -> list[str]:
    """Per array and lanes, the block whose glitches add the most energy per MAC, and its share."""
    lines = []
    columns = [c for c in blocks.columns if c not in ("array", "lanes")]
    for _, row in blocks.iterrows():
        added = row[columns].astype(float)
        top = added.idxmax()
        lines.append(
            f"- {row['array']} N={row['lanes']}: the glitches add {added.sum():.4f} pJ per MAC, "
            f"{100 * added[top] / added.sum():.0f}% of it in the {top}."
        )
    return lines


def _ratio_moves(frame: pd.DataFrame, ratio: pd.DataFrame, blocks: pd.DataFrame) -> list[str]:
    """Per ratio: how it moves from zero-delay to timing-aware, and whose glitches move it."""
    signed = frame[frame["tree"] == "signed"].set_index(["array", "lanes"])
    added = blocks.set_index(["array", "lanes"])
    lines = []
    for _, row in ratio.iterrows():
        other = row["ratio"].split(" / ")[0]
        lanes = row["lanes"]
        growth = {
            array: signed.loc[(array, lanes), "timing_pJ"] / signed.loc[(array, lanes), "zero_delay_pJ"]
            for array in (other, "ternary")
        }
        top = {array: added.loc[(array, lanes)].astype(float).idxmax() for array in (other, "ternary")}
        lines.append(
            f"- {row['ratio']} at N={lanes}: {row['zero-delay']:.2f} zero-delay, {row['timing']:.2f} "
            f"timing-aware, {row['timing + wires + clock tree']:.2f} with wires and clock tree. The glitches "
            f"multiply {other}'s energy per MAC by {growth[other]:.2f} (most in its {top[other]}) and the "
            f"ternary array's by {growth['ternary']:.2f} (most in its {top['ternary']})."
        )
    return lines


def report(frame: pd.DataFrame, ratio: pd.DataFrame, blocks: pd.DataFrame) -> str:
    energies = frame[
        ["array", "tree", "lanes", "cells", "critical_path_ps", *MODES, "glitch_share", "clock_tree_pJ"]
    ]
    speed = frame[
        ["array", "tree", "lanes", "simulated_cells", "zero_delay_cycles_per_s", "timing_cycles_per_s"]
    ]
    return "\n".join(
        [
            "Energy per MAC (pJ) of each array, one window per array simulated three times on the same "
            f"operands ({int(frame['beats'].iloc[0])} beats, Gaussian operands of the gate-level study, "
            "one row of M = 8 measured): zero-delay (`energy.gates.gatesim`), timing-aware "
            "(`energy.gates.timed`: the liberty's delays at each load and propagated slew, inertial "
            "rule), and both with the modelled wires and clock tree (`energy.gates.parasitics`, models). "
            "`glitch_share`: of the logic's transitions, the share beyond the settled changes. Every "
            "output of every run checked against the golden model; every net's settled value in the "
            "timed runs checked against the zero-delay simulator's. The netlists are the ones the flow "
            "prices: mapped by ABC for area, with no delay target, so their logic is deep "
            "(`critical_path_ps`, the flow's estimate), and depth is what glitches grow with; a "
            "timing-driven mapping would be shallower and glitch less.",
            "",
            markdown(energies),
            "",
            "Ratios against the ternary array (`signed` tree) under each mode:",
            "",
            markdown(ratio),
            "",
            *_ratio_moves(frame, ratio, blocks),
            "",
            "Energy per MAC (pJ) the glitches add to each block (timing-aware minus zero-delay, "
            "`energy.gates.blocks`; `signed` trees):",
            "",
            markdown(blocks),
            "",
            *_moves(blocks),
            "",
            "Cell types whose internal energy the glitches raise most: "
            + "; ".join(
                f"{r.array} {r.tree} N={r.lanes}: {r.glitchy_cells}"
                for r in frame[frame["tree"] == "signed"].itertuples(index=False)
            )
            + ".",
            "",
            "Simulator speed (clock cycles per second, one row of each netlist):",
            "",
            markdown(speed),
            "",
            "![glitches](results/glitches.png)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=positive_int, default=FULL.beats, help="beats in each window")
    parser.add_argument("--lanes", type=positive_int, nargs="+", default=list(FULL.lanes), help="N")
    args = parser.parse_args()
    config = replace(FULL, beats=args.beats, lanes=tuple(args.lanes))
    frame, cells = glitch_study(config)
    ratio, blocks = ratios(frame), glitch_blocks(frame)
    RESULTS.mkdir(exist_ok=True)
    tables = {"glitches": frame, "glitches_ratios": ratio, "glitches_blocks": blocks, "glitches_cells": cells}
    for name, table in tables.items():
        _write(table, RESULTS / f"{name}.csv")
    figure = glitch_figure(frame, ratio, MODES)
    figure.savefig(RESULTS / ".glitches.tmp.png", dpi=120)
    (RESULTS / ".glitches.tmp.png").replace(RESULTS / "glitches.png")
    options = "" if args.beats == FULL.beats else f" --beats {args.beats}"
    options += "" if tuple(args.lanes) == FULL.lanes else " --lanes " + " ".join(map(str, args.lanes))
    write_section("glitches", report(frame, ratio, blocks), f"python benchmarks/glitches.py{options}")


if __name__ == "__main__":
    main()
