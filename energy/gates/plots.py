"""Figures of the gate-level study: energy per MAC and area per lane of each array, and the zero sweep.

Built with matplotlib's object API like :mod:`energy.plots` (no pyplot state).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

GATE_PART_COLORS = {"combinational_pJ": "#4c72b0", "sequential_pJ": "#dd8452", "leakage_pJ": "#937860"}
ARRAY_COLORS = {"ternary": "#4c72b0", "int8": "#55a868", "fp16": "#c44e52"}


def gate_energy_figure(
    frame: pd.DataFrame,
    paper: dict[str, float],
    labels: list[str] | None = None,
    title: str = "ASAP7 gate level",
) -> Figure:
    """Measured energy per MAC (stacked: combinational, sequential, leakage) and area per MAC lane of each
    measured array (:func:`energy.gates.study.compare_arrays`,
    :func:`energy.gates.study.micro_architectures`), log scale, with the paper's per-op values; bars
    labelled by array and width unless ``labels`` are given."""
    fig = Figure(figsize=(13, 5), layout="constrained")
    energy_ax, area_ax = fig.subplots(1, 2)
    if labels is None:
        labels = [f"{a}\nN={n}" for a, n in zip(frame["array"], frame["lanes"], strict=True)]
    x = list(range(len(frame)))
    bottom = [0.0] * len(frame)
    for column, color in GATE_PART_COLORS.items():
        values = frame[column].tolist()
        energy_ax.bar(x, values, bottom=bottom, color=color, label=column.removesuffix("_pJ"))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for xi, total in zip(x, bottom, strict=True):
        energy_ax.text(xi, total * 1.08, f"{total:.3g}", ha="center")
    energy_ax.axhline(
        paper["fp16_mac_pJ"], color=ARRAY_COLORS["fp16"], linestyle="--", label="paper FP16 MAC"
    )
    energy_ax.axhline(
        paper["int8_add_pJ"], color=ARRAY_COLORS["ternary"], linestyle="--", label="paper INT8 add"
    )
    energy_ax.set_yscale("log")
    energy_ax.set_xticks(x, labels)
    energy_ax.set_ylabel("energy per MAC (pJ, log scale)")
    energy_ax.set_title(f"{title}: energy per MAC")
    energy_ax.legend(loc="upper left", fontsize=8)
    colors = [ARRAY_COLORS.get(a, "#999999") for a in frame["array"]]
    area_ax.bar(x, frame["area_per_lane_um2"], color=colors)
    for xi, area in zip(x, frame["area_per_lane_um2"], strict=True):
        area_ax.text(xi, area * 1.08, f"{area:.3g}", ha="center")
    area_ax.set_yscale("log")
    area_ax.set_xticks(x, labels)
    area_ax.set_ylabel("cell area per MAC lane (um^2, log scale)")
    area_ax.set_title(f"{title}: area per MAC lane")
    return fig


def zero_sweep_figure(frame: pd.DataFrame) -> Figure:
    """Energy per MAC against the weights' measured zero fraction, one line per array
    (:func:`energy.gates.study.zero_sweep`)."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for array, group in frame.groupby("array", sort=False):
        ax.plot(
            group["zero_fraction"],
            group["energy_per_mac_pJ"],
            marker="o",
            color=ARRAY_COLORS.get(array, "#999999"),
            label=f"{array} (N={group['lanes'].iloc[0]})",
        )
    ax.set_yscale("log")
    ax.set_xlabel("zero fraction of the weights")
    ax.set_ylabel("energy per MAC (pJ, log scale)")
    ax.set_title("Zero weights: energy per MAC")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def engines_figure(frame: pd.DataFrame, units: dict[str, float]) -> Figure:
    """Energy per MAC against the rows ``M``, one line per family, one panel per dataflow
    (:func:`energy.gates.engines.engine_study`), with the paper's INT8 add and the flow's own INT8 add
    (its logic) as horizontal lines; log scale."""
    dataflows = list(dict.fromkeys(frame["dataflow"]))
    fig = Figure(figsize=(6.5 * len(dataflows), 5), layout="constrained")
    axes = fig.subplots(1, len(dataflows), squeeze=False)[0]
    for ax, dataflow in zip(axes, dataflows, strict=True):
        part = frame[frame["dataflow"] == dataflow]
        for family, group in part.groupby("family", sort=False):
            array = group["array"].iloc[0]
            style = {"ternary": "-", "ternary-lut": "--"}.get(array, "-" if "csa" not in family else ":")
            ax.plot(
                group["rows"],
                group["energy_per_mac_pJ"],
                marker="o",
                linestyle=style,
                label=family,
                color=None if array in ("ternary", "ternary-lut") else ARRAY_COLORS.get(array),
            )
        ax.axhline(units["table_int8_adds"], color="black", linestyle=":", label="paper INT8 add")
        ax.axhline(units["flow_int8_adds"], color="gray", linestyle="-.", label="flow INT8 add (logic)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted(part["rows"].unique()), [str(r) for r in sorted(part["rows"].unique())])
        ax.set_xlabel("rows M (output channels sharing the activations)")
        ax.set_ylabel("energy per MAC (pJ, log scale)")
        ax.set_title(f"N = {part['lanes'].iloc[0]}, {dataflow}: energy per MAC against rows")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    return fig


MODE_COLORS = ("#4c72b0", "#8c8c8c", "#c44e52", "#dd8452")


def _grouped_bars(ax, labels: list[str], series: dict[str, list[float]]) -> None:
    """One group of bars per label, one bar per series, in the order of ``series``."""
    width = 0.8 / len(series)
    for k, ((name, values), color) in enumerate(zip(series.items(), MODE_COLORS, strict=False)):
        x = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(x, values, width, color=color, label=name)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)


def glitch_figure(frame: pd.DataFrame, ratios: pd.DataFrame, modes: dict[str, str]) -> Figure:
    """Energy per MAC of each array under each mode (``modes``: column -> label; log scale) and the
    FP16 / ternary and int8 / ternary ratios under each mode (:mod:`energy.gates.glitch_study`)."""
    fig = Figure(figsize=(14, 5), layout="constrained")
    energy_ax, ratio_ax = fig.subplots(1, 2, width_ratios=(2, 1))
    labels = [
        f"{a}\n{t}\nN={n}" if a == "ternary" else f"{a}\n\nN={n}"
        for a, t, n in zip(frame["array"], frame["tree"], frame["lanes"], strict=True)
    ]
    _grouped_bars(energy_ax, labels, {label: frame[column].tolist() for column, label in modes.items()})
    energy_ax.set_yscale("log")
    energy_ax.set_ylabel("energy per MAC (pJ, log scale)")
    energy_ax.set_title(
        "ASAP7 gate level: zero-delay vs timing-aware (glitches), each without and with wires + clock tree"
    )
    energy_ax.legend(fontsize=8)
    ratio_labels = [f"{r}\nN={n}" for r, n in zip(ratios["ratio"], ratios["lanes"], strict=True)]
    _grouped_bars(ratio_ax, ratio_labels, {label: ratios[label].tolist() for label in modes.values()})
    ratio_ax.set_ylabel("energy per MAC ratio")
    ratio_ax.set_title("ratios under each mode")
    ratio_ax.legend(fontsize=8)
    return fig
