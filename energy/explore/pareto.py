"""Pareto fronts of a finished sweep, as CSV and PNG (``python -m energy.explore --report TABLE``).

The objectives (:data:`OBJECTIVES`): energy per MAC (lower is better), area per MAC lane (lower) and
throughput (higher, ``throughput_gmac_s`` of :mod:`energy.explore.point`). A point is on the front when no
other point is at least as good in every objective and better in one. :func:`front` marks the points of
the three-objective front and of each two-objective front the figure draws.

Energy per token (:func:`with_energy_per_token`): the linear layers' MACs of one decode token of a chosen
model (:func:`energy.opcount.matmul_counts`, every projection of every layer) times the point's energy per
MAC, in microjoules. It prices every projection at the energy per MAC the point measured on the sweep's
operands, and leaves out attention, the output head and memory traffic (``python -m energy.model_energy``
prices those); being energy per MAC times a constant, its front is the energy-per-MAC front.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from energy.explore.table import read_table
from energy.opcount import matmul_counts
from model.atomic import write_figure, write_table

#: The objectives of the front: column -> "min" or "max".
OBJECTIVES = {"energy_per_mac_pJ": "min", "area_per_lane_um2": "min", "throughput_gmac_s": "max"}
#: The two-objective fronts the figure draws (x, y).
PANELS = (("area_per_lane_um2", "energy_per_mac_pJ"), ("throughput_gmac_s", "energy_per_mac_pJ"))
LABELS = {
    "energy_per_mac_pJ": "energy per MAC (pJ)",
    "area_per_lane_um2": "area per MAC lane (um^2)",
    "throughput_gmac_s": "throughput (GMAC/s)",
}
ARRAY_COLORS = {"ternary": "#4c72b0", "ternary-lut": "#55a868", "int8": "#dd8452", "fp16": "#c44e52"}
#: The model energy per token is reported for unless told otherwise.
DEFAULT_TOKEN_MODEL = "bitnet-b1.58-2B-4T"
PJ_PER_UJ = 1e6


def pareto_mask(frame: pd.DataFrame, objectives: dict[str, str]) -> np.ndarray:
    """True for the rows of ``frame`` that no other row dominates in ``objectives`` (column -> min/max)."""
    if not objectives or any(sense not in ("min", "max") for sense in objectives.values()):
        raise ValueError(f"objectives must map columns to 'min' or 'max', got {objectives!r}")
    missing = sorted(set(objectives) - set(frame.columns))
    if missing:
        raise ValueError(f"frame has no column {missing[0]!r}")
    # every objective as "lower is better"
    costs = np.column_stack(
        [frame[name].to_numpy(float) * (1 if sense == "min" else -1) for name, sense in objectives.items()]
    )
    at_least_as_good = (costs[None, :, :] <= costs[:, None, :]).all(axis=2)  # [i, j]: j is no worse than i
    better = (costs[None, :, :] < costs[:, None, :]).any(axis=2)
    return ~(at_least_as_good & better).any(axis=1)


def measured_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The measured points of a results table, each point once (its last row: a table resumed with
    ``--retry-failed`` can hold a point twice); ``ValueError`` when the rows come from more than one
    version of the code (a table resumed after a change), which no front should mix."""
    ok = frame[frame["status"] == "ok"].drop_duplicates("key", keep="last").reset_index(drop=True)
    versions = sorted(set(ok["code"]))
    if len(versions) > 1:
        raise ValueError(
            f"the table's points come from {len(versions)} versions of the code ({', '.join(versions)}): "
            "sweep into a new table"
        )
    return ok


def front(frame: pd.DataFrame) -> pd.DataFrame:
    """The measured points of a results table (:func:`measured_points`) with ``on_front`` (the three
    objectives) and one ``front:X/Y`` column per panel of :data:`PANELS`."""
    ok = measured_points(frame)
    marked = ok.assign(on_front=pareto_mask(ok, OBJECTIVES))
    for x, y in PANELS:
        marked[f"front:{x}/{y}"] = pareto_mask(ok, {x: OBJECTIVES[x], y: OBJECTIVES[y]})
    return marked


def with_energy_per_token(frame: pd.DataFrame, model: str = DEFAULT_TOKEN_MODEL) -> pd.DataFrame:
    """``frame`` with ``token_model`` and ``energy_per_token_uJ`` (see the module docstring)."""
    counts = matmul_counts(model, 1, "decode")
    linear_macs = float(counts.loc[counts["kind"] == "linear", "macs"].sum())
    return frame.assign(
        token_model=model, energy_per_token_uJ=frame["energy_per_mac_pJ"] * linear_macs / PJ_PER_UJ
    )


def front_figure(marked: pd.DataFrame) -> Figure:
    """Each panel of :data:`PANELS`: every point by array kind, its two-objective front as a line, and the
    three-objective front ringed."""
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    for ax, (x, y) in zip(figure.subplots(1, len(PANELS)), PANELS, strict=True):
        for array, group in marked.groupby("array", sort=False):
            ax.scatter(
                group[x], group[y], s=18, color=ARRAY_COLORS.get(array, "gray"), label=array, alpha=0.8
            )
        pareto = marked[marked[f"front:{x}/{y}"]].sort_values(x)
        ax.step(
            pareto[x], pareto[y], where="post", color="black", linewidth=1, label=f"front ({len(pareto)})"
        )
        best = marked[marked["on_front"]]
        ax.scatter(best[x], best[y], s=70, facecolors="none", edgecolors="black", label="3-objective front")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS[x])
        ax.set_ylabel(LABELS[y])
        ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    figure.suptitle(f"Design space: {len(marked)} points on ASAP7 (gate-level, bit-exact)")
    return figure


def write_report(table: str | Path, out: str | Path | None = None, model: str = DEFAULT_TOKEN_MODEL) -> dict:
    """Read the results ``table`` and write ``front.csv`` (every measured point, marked) and ``front.png``
    into ``out`` (default: the table's folder). Returns the paths and the marked frame."""
    frame = read_table(table)
    if not (frame["status"] == "ok").any():
        raise ValueError(f"table {table}: no measured point to draw a front of")
    marked = with_energy_per_token(front(frame), model)
    out = Path(out) if out is not None else Path(table).parent
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_table(out / "front.csv", marked)
    png_path = write_figure(out / "front.png", front_figure(marked))
    return {"csv": csv_path, "png": png_path, "front": marked}
