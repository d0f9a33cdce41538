"""Benchmark: design-space sweeps on Dask (``energy.explore``), on one worker and on two, and an 80-point
design space with its Pareto front.

1. Speedup: ``energy/explore/specs/speedup.toml`` (16 points of similar cost) on a LocalCluster of one
   worker, then of two, each from empty synthesis and point caches and an empty table, so that both do
   the whole work; the ratio of the two sweeps' wall times (cluster start-up excluded) in one run.
2. The design space: ``energy/explore/specs/design_space.toml`` (ternary trees, the LUT engine, int8, FP16;
   several lanes, pipelines, both dataflows) on two workers from empty caches: its wall time, the
   per-stage times, the three-objective front and what each parameter does.

Writes ``benchmarks/results/explore_speedup.csv``, ``design_space.csv`` (the results table),
``design_space_front.csv`` / ``.png``, ``design_space_effects.csv`` / ``.png``, and the section
``explore`` of RESULTS.md. The runs live in ``build/explore/benchmark/`` (emptied first).

    python benchmarks/explore.py
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from energy.explore.__main__ import DEFAULT_OUT, SPECS
from energy.explore.effects import effects_figure, parameter_effects
from energy.explore.pareto import DEFAULT_TOKEN_MODEL, write_report
from energy.explore.spec import load_spec
from energy.explore.sweep import SweepSummary, connect, run_sweep
from energy.explore.table import read_table
from energy.gates.study import markdown
from energy.gates.timing import DEFAULT_MAX_FANOUT
from model.atomic import write_figure, write_table

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

RESULTS = Path(__file__).with_name("results")
WORK = DEFAULT_OUT / "benchmark"
FRONT_COLUMNS = [
    "array", "lanes", "rows", "tree", "pipeline", "dataflow", "group", "energy_per_mac_pJ",
    "area_per_lane_um2", "throughput_gmac_s", "clock_ghz", "energy_per_token_uJ",
]  # fmt: skip


def fresh_sweep(spec_name: str, workers: int, folder: Path) -> tuple[SweepSummary, Path]:
    """Run a shipped spec on ``workers`` LocalCluster workers from empty caches in ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    os.environ["BITNET_SYNTH_CACHE"] = str(folder / "synth")
    os.environ["BITNET_EXPLORE_CACHE"] = str(folder / "points")
    table = folder / "results.csv"
    with connect(workers=workers) as client:
        client.wait_for_workers(workers)
        summary = run_sweep(load_spec(SPECS / f"{spec_name}.toml"), table, client)
        client.cluster.close()
    if summary.failed:
        raise RuntimeError(f"{spec_name} on {workers} workers: {summary.failed} points failed")
    print(f"{spec_name}, {workers} workers: {summary.describe()}")
    return summary, table


def speedup() -> pd.DataFrame:
    runs = {workers: fresh_sweep("speedup", workers, WORK / f"speedup-{workers}")[0] for workers in (1, 2)}
    frame = pd.DataFrame(
        [
            {"workers": w, "points": s.points, "computed": s.computed, "wall_s": s.seconds}
            for w, s in runs.items()
        ]
    )
    frame["speedup"] = frame["wall_s"].iloc[0] / frame["wall_s"]
    return frame


def stage_times(table: pd.DataFrame) -> pd.DataFrame:
    """Median seconds of each stage per array kind."""
    stages = ["generation_s", "synthesis_s", "simulation_s", "pricing_s", "point_s"]
    grouped = table.groupby("array", sort=False)
    return grouped[stages].median().join(grouped.size().rename("points")).reset_index()


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    speed = speedup()
    summary, table_path = fresh_sweep("design_space", 2, WORK / "design_space")
    table = read_table(table_path)
    report = write_report(table_path, WORK / "design_space", DEFAULT_TOKEN_MODEL)
    marked = report["front"]
    effects = parameter_effects(table)
    write_table(RESULTS / "explore_speedup.csv", speed)
    write_table(RESULTS / "design_space.csv", table.drop(columns=["worker"]))
    write_table(RESULTS / "design_space_front.csv", marked[marked["on_front"]].drop(columns=["worker"]))
    shutil.copyfile(report["png"], RESULTS / "design_space_front.png")
    write_table(RESULTS / "design_space_effects.csv", effects)
    write_figure(RESULTS / "design_space_effects.png", effects_figure(effects))
    body = section(speed, summary, table, marked, effects)
    print(body)
    write_section("explore", body, "python benchmarks/explore.py")
    return 0


def section(speed, summary, table, marked, effects) -> str:
    front = marked[marked["on_front"]].sort_values("energy_per_mac_pJ")[FRONT_COLUMNS]
    two = speed.set_index("workers")
    return "\n\n".join(
        [
            "Speedup (`energy/explore/specs/speedup.toml`, 16 ternary points at N = 16, M = 4, each sweep "
            "from empty synthesis and point caches; wall time of the sweep, cluster start-up excluded): "
            f"**{two.loc[2, 'speedup']:.2f}x** on 2 workers over 1.",
            markdown(speed),
            f"Design space (`energy/explore/specs/design_space.toml`, 2 workers, empty caches): "
            f"{summary.points} points, {summary.computed} computed, {summary.failed} failed, "
            f"{len(summary.invalid)} invalid, **{summary.seconds / 60:.1f} min** wall time. Every point "
            "is synthesized to ASAP7, simulated at gate level with every output checked against the golden "
            "model, and priced; area and cells are scaled to M = 4 where fewer rows were measured.",
            "Median seconds per stage and array kind:",
            markdown(stage_times(table), digits=3),
            "The three-objective Pareto front (energy per MAC, area per MAC lane: lower; throughput: "
            "higher, the peak N x M MACs per cycle at the clock of the critical-path estimate with the nets "
            f"of more than {DEFAULT_MAX_FANOUT} pins buffered, `energy.gates.timing`): {len(front)} of "
            f"{len(marked)} points. Energy per "
            f"token: the linear layers' MACs of one {DEFAULT_TOKEN_MODEL} decode token at the point's "
            "energy per MAC (`energy.explore.pareto`).",
            markdown(front),
            "![front](results/design_space_front.png)",
            "What each parameter does: geometric-mean ratio over the pairs of points that differ only in "
            "that parameter (`energy.explore.effects`):",
            markdown(effects, digits=3),
            "![effects](results/design_space_effects.png)",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
