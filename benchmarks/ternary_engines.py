"""Benchmark: the flow's own per-op table and the ternary engines study (issue: LUT engine, refinements).

Measures, in one run, the primitives of the paper's per-op table on the ASAP7 flow
(:func:`energy.gates.primitives.primitive_table`) and every family of :mod:`energy.gates.engines` at N = 64
lanes, M in {1, 8, 32}, both dataflows, on the bundled b1.58 checkpoint's ``up_proj`` operands (int8 and
FP16: its full-precision twin's). Writes ``benchmarks/results/primitives.csv``,
``benchmarks/results/ternary_engines.csv`` and ``.png``, and the sections ``primitives`` and
``ternary-engines`` of RESULTS.md.

    python benchmarks/ternary_engines.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from energy.gates.engines import FULL, SUMMARY_COLUMNS, best_ternary, engine_study, flow_units
from energy.gates.plots import engines_figure
from energy.gates.primitives import format_table, paper_ratio, primitive_table
from energy.gates.study import markdown
from model.atomic import write_figure, write_table

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

RESULTS = Path(__file__).with_name("results")
TERNARY = ("ternary", "ternary-lut")
GOAL_TABLE_ADDS = 2.0


def primitives_section(table: pd.DataFrame, seconds: float) -> str:
    columns = [
        "primitive",
        "table_pJ",
        "flow_total_pJ",
        "flow_logic_pJ",
        "flow_logic_cells_pJ",
        "flow_registers_pJ",
        "flow_input_ports_pJ",
        "logic / table",
        "registers share",
        "flip_flops",
        "area_um2",
        "critical_path_ps",
    ]
    ratios = ", ".join(
        f"{label} {paper_ratio(table, column):.1f}x"
        for label, column in (
            ("table", "table_pJ"),
            ("flow logic", "flow_logic_pJ"),
            ("flow logic cells alone", "flow_logic_cells_pJ"),
            ("flow with registers", "flow_total_pJ"),
        )
    )
    return "\n\n".join(
        [
            "Each primitive registered at its inputs and output (`hw.primitives`), "
            f"{int(table.cycles.iloc[0])} cycles of uniform random operands, every result checked (NumPy, "
            "`model.fp16`); energy per operation. "
            "logic: the cells that are not flip-flops and the nets they drive; logic cells: their internal "
            "energy alone; registers: the flip-flops, the clock net and the nets the flip-flops drive; input "
            f"ports: the switching of the input nets. Run {seconds:.0f} s.",
            f"(FP16 mul + FP16 add) / INT8 add: {ratios}.",
            markdown(table[columns]),
        ]
    )


def findings(frame: pd.DataFrame, units: dict[str, float]) -> list[str]:
    """Computed statements: the best ternary engine, the goal, the LUT against the tree per row count."""
    best = best_ternary(frame)
    lines = [
        f"- Best ternary engine: **{best.family}**, M = {best.rows}, {best.dataflow}: "
        f"{best.energy_per_mac_pJ:.4f} pJ per MAC = {best.table_int8_adds:.2f} table INT8 adds "
        f"({units['table_int8_adds']} pJ) = {best.flow_int8_adds:.2f} of the flow's INT8 add logic "
        f"({units['flow_int8_adds']:.4f} pJ); goal <= {GOAL_TABLE_ADDS:g} table INT8 adds: "
        + ("met." if best.table_int8_adds <= GOAL_TABLE_ADDS else "not met."),
    ]
    for (dataflow, rows), part in frame.groupby(["dataflow", "rows"], sort=False):
        trees = part[part.array == "ternary"]
        luts = part[part.array == "ternary-lut"]
        tree, lut = trees.loc[trees.energy_per_mac_pJ.idxmin()], luts.loc[luts.energy_per_mac_pJ.idxmin()]
        lines.append(
            f"- {dataflow}, M = {rows}: best adder tree {tree.family} {tree.energy_per_mac_pJ:.4f} pJ, best "
            f"LUT {lut.family} {lut.energy_per_mac_pJ:.4f} pJ "
            f"(LUT / tree {lut.energy_per_mac_pJ / tree.energy_per_mac_pJ:.2f})"
        )
    return lines


def main() -> int:
    started = time.perf_counter()
    primitives = primitive_table()
    primitive_seconds = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_table(RESULTS / "primitives.csv", primitives)
    print(format_table(primitives))
    write_section(
        "primitives",
        primitives_section(primitives, primitive_seconds),
        "python benchmarks/ternary_engines.py",
    )
    units = flow_units(primitives)
    frame = engine_study(FULL, units=units)
    seconds = time.perf_counter() - started
    write_table(RESULTS / "ternary_engines.csv", frame)
    write_figure(RESULTS / "ternary_engines.png", engines_figure(frame, units))
    body = "\n\n".join(
        [
            f"N = {FULL.lanes} lanes, M in {list(FULL.rows)}, pipeline {FULL.pipeline}, {FULL.beats} beats "
            f"per window on the bundled checkpoint's `{FULL.projection}` operands (middle layer, held-out "
            "Tiny Shakespeare; int8 and FP16 on its full-precision twin's); every output checked "
            "bit-exactly. The adder trees are "
            "measured on up to 8 rows, int8 and FP16 on 1 (rows are identical copies; "
            "`energy.gates.engines`), the LUT engines on all. Units: table INT8 adds (the paper's "
            f"{units['table_int8_adds']} pJ), flow INT8 adds (this flow's INT8 add logic, "
            f"{units['flow_int8_adds']:.4f} pJ, section primitives). Whole run {seconds / 60:.0f} min; table "
            "`benchmarks/results/ternary_engines.csv`, figure `benchmarks/results/ternary_engines.png`.",
            "\n".join(findings(frame, units)),
            markdown(frame[list(SUMMARY_COLUMNS)]),
        ]
    )
    print(body)
    write_section("ternary-engines", body, "python benchmarks/ternary_engines.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
