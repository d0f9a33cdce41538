"""Figures of the energy model: the b1.58 paper's Figure 3 (left and right), the ratio waterfall, and the
gate-level headline (measured energy per MAC beside the paper's table).

Figures are built with matplotlib's object API (:class:`matplotlib.figure.Figure`, no pyplot state), so
they render with the Agg canvas in scripts and display inline in notebooks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from energy.gates.plots import ARRAY_COLORS

FP16_COLORS = {"mul": "#c44e52", "add": "#dd8452"}
B158_COLOR = "#4c72b0"
PRECISION_COLORS = {"fp16": "#c44e52", "b1.58": "#4c72b0"}


def figure3_left(per_mac: pd.DataFrame, node: str) -> Figure:
    """Per-MAC arithmetic energy by op type, FP16 vs b1.58 (the b1.58 paper's Figure 3, left).

    ``per_mac`` is :func:`energy.arithmetic.per_mac_energy`.
    """
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    fp16 = per_mac[per_mac["precision"] == "fp16"]
    bottom = 0.0
    for part in fp16.itertuples():
        ax.bar(
            "FP16", part.energy_pJ, bottom=bottom, color=FP16_COLORS[part.op], label=f"FP16 {part.op.upper()}"
        )
        ax.text(
            0, bottom + part.energy_pJ / 2, f"{part.energy_pJ:g} pJ", ha="center", va="center", color="white"
        )
        bottom += part.energy_pJ
    b158 = per_mac[per_mac["precision"] == "b1.58"]
    total_b158 = float(b158["energy_pJ"].sum())
    for part in b158.itertuples():
        ax.bar(
            "BitNet b1.58", part.energy_pJ, color=B158_COLOR, label=f"{part.dtype.upper()} {part.op.upper()}"
        )
    ax.text(1, total_b158 + bottom * 0.01, f"{total_b158:g} pJ", ha="center", va="bottom")
    ax.text(
        1,
        bottom * 0.45,
        f"{bottom / total_b158:.1f}x\nlower",
        ha="center",
        va="center",
        fontsize=15,
        fontweight="bold",
    )
    ax.set_ylabel(f"{node} arithmetic energy per MAC (pJ)")
    ax.set_title(f"Matmul arithmetic energy per MAC, {node}")
    ax.legend(loc="upper right")
    ax.set_ylim(0, bottom * 1.15)
    return fig


def figure3_right(by_model: pd.DataFrame, node: str, tokens: int) -> Figure:
    """End-to-end matmul energy per model size with the ratio per size (the b1.58 paper's Figure 3, right).

    ``by_model`` is :func:`energy.arithmetic.energy_by_model`.
    """
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = range(len(by_model))
    width = 0.8 / 2  # two bars share 80% of each slot
    for offset, precision, label in ((-width / 2, "fp16", "FP16"), (width / 2, "b1.58", "BitNet b1.58")):
        ax.bar(
            [i + offset for i in x],
            by_model[f"{precision}_total_J"],
            width,
            color=PRECISION_COLORS[precision],
            label=label,
        )
    for i, line in enumerate(by_model.itertuples()):
        ax.text(
            i, line.fp16_total_J * 1.25, f"{line.ratio:.1f}x", ha="center", va="bottom", fontweight="bold"
        )
    ax.set_yscale("log")
    ax.set_xticks(list(x), by_model["label"])
    ax.set_xlabel("model size")
    ax.set_ylabel(f"matmul energy (J), {tokens} tokens")
    ax.set_title(f"End-to-end matmul arithmetic energy, {node}")
    top = float(by_model["fp16_total_J"].max())
    ax.set_ylim(float(by_model["b1.58_total_J"].min()) / 4, top * 6)
    ax.legend(loc="upper left")
    return fig


def waterfall_figure(waterfalls: dict[str, pd.DataFrame], title: str) -> Figure:
    """The FP16 / b1.58 ratio after each step, one panel per phase (:func:`energy.system.waterfall`)."""
    fig = Figure(figsize=(13, 5), layout="constrained")
    axes = fig.subplots(1, len(waterfalls), sharey=True, squeeze=False)[0]
    for ax, (phase, frame) in zip(axes, waterfalls.items(), strict=True):
        y = list(range(len(frame)))[::-1]
        colors = [
            "#999999" if pd.isna(change) else ("#55a868" if change >= 1 else "#c44e52")
            for change in frame["change"]
        ]
        ax.barh(y, frame["ratio"], color=colors)
        ax.plot(frame["ratio"], y, color="black", linewidth=0.8, marker="o", markersize=3)
        for yi, ratio in zip(y, frame["ratio"], strict=True):
            ax.text(ratio * 1.06, yi, f"{ratio:.1f}x", va="center")
        ax.set_xscale("log")
        ax.set_xlim(1, float(frame["ratio"].max()) * 2.2)
        ax.set_yticks(y, frame["label"])
        ax.set_xlabel("FP16 / b1.58 energy ratio (log scale)")
        ax.set_title(phase)
        ax.grid(axis="x", which="both", alpha=0.3)
    fig.suptitle(title)
    return fig


def phase_waterfall_figure(
    decode: pd.DataFrame, prefill: pd.DataFrame, model: str, node: str, tokens: int
) -> Figure:
    """One model's waterfall, decode (batch 1) and prefill side by side (:func:`waterfall_figure`).

    Parameters
    ----------
    decode, prefill : pandas.DataFrame
        :func:`energy.system.waterfall` of one decode step at context ``tokens`` and of a prefill of
        ``tokens`` tokens.
    model : str
        Model name, in the title.
    node : str
        Process node, in the title.
    tokens : int
        Decode context and prefill length, in the panel titles.
    """
    panels = {
        f"decode (batch 1, context {tokens})": decode,
        f"prefill ({tokens} tokens)": prefill,
    }
    return waterfall_figure(panels, f"{model}, {node}: where the per-MAC ratio lands")


#: The columns of :func:`energy.gates.study.headline` that :func:`measured_energy_figure` draws.
HEADLINE_COLUMNS = (
    "lanes",
    "rows",
    "ternary_pJ",
    "int8_pJ",
    "fp16_pJ",
    "fp16/ternary energy",
    "int8/ternary energy",
    "paper INT8 add pJ",
    "paper FP16 MAC pJ",
    "paper ratio",
)


def _headline_groups(headline: pd.DataFrame) -> list[tuple[str, dict[str, float], dict[str, float]]]:
    """Per bar group (each measured width, then the paper's table): energies per array and ratios."""
    groups = []
    for line in headline.to_dict("records"):
        energies = {array: line[f"{array}_pJ"] for array in ARRAY_COLORS}
        ratios = {array: line[f"{array}/ternary energy"] for array in ("fp16", "int8")}
        groups.append((f"measured\nN={line['lanes']}, M={line['rows']}", energies, ratios))
    paper = headline.iloc[0]
    groups.append(
        (
            "paper's 7nm table\n(ternary: INT8 add,\nfp16: FP16 mul + add)",
            {"ternary": paper["paper INT8 add pJ"], "fp16": paper["paper FP16 MAC pJ"]},
            {"fp16": paper["paper ratio"]},
        )
    )
    return groups


def _grouped_bars(ax: Axes, groups: list[tuple[str, dict[str, float]]], fmt: str, legend: str = "{}") -> None:
    """Bars per group and array (an array a group lacks leaves a gap), each labelled with ``fmt``, the
    last group hatched (the paper's table); ``legend`` formats each array's legend entry."""
    arrays = [array for array in ARRAY_COLORS if any(array in values for _, values in groups)]
    width = 0.8 / len(arrays)
    for slot, array in enumerate(arrays):
        offset = (slot - (len(arrays) - 1) / 2) * width
        points = [(i, values[array]) for i, (_, values) in enumerate(groups) if array in values]
        x = [i + offset for i, _ in points]
        heights = [value for _, value in points]
        hatches = ["//" if i == len(groups) - 1 else "" for i, _ in points]
        bars = ax.bar(x, heights, width, color=ARRAY_COLORS[array], label=legend.format(array), hatch=hatches)
        ax.bar_label(bars, [fmt.format(value) for value in heights], fontsize=8, padding=2)
    ax.set_xticks(range(len(groups)), [label for label, _ in groups])


def measured_energy_figure(headline: pd.DataFrame) -> Figure:
    """Measured energy per MAC of the ternary, int8 and FP16 arrays beside the paper's 7nm table, and the
    ratios to the ternary array beside the table's (hatched bars: the table).

    Parameters
    ----------
    headline : pandas.DataFrame
        :func:`energy.gates.study.headline` (one row per array width, with :data:`HEADLINE_COLUMNS`).
        The table prices a ternary MAC as one INT8 add and an FP16 MAC as an FP16 multiply plus add.
    """
    if not isinstance(headline, pd.DataFrame):
        raise TypeError(f"headline must be a pandas DataFrame, not {type(headline).__name__}")
    missing = [column for column in HEADLINE_COLUMNS if column not in headline.columns]
    if missing or headline.empty:
        raise ValueError(
            f"headline must have rows and the columns {list(HEADLINE_COLUMNS)}; missing {missing}"
        )
    groups = _headline_groups(headline)
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    energy_ax, ratio_ax = fig.subplots(1, 2, width_ratios=(3, 2))
    _grouped_bars(energy_ax, [(label, energies) for label, energies, _ in groups], "{:.3g}")
    energy_ax.set_yscale("log")
    energy_ax.set_ylabel("energy per MAC (pJ, log scale)")
    energy_ax.set_title("Energy per MAC (hatched: the paper's table)")
    energy_ax.legend(loc="upper left")
    _grouped_bars(ratio_ax, [(label, ratios) for label, _, ratios in groups], "{:.1f}x", "{} / ternary")
    ratio_ax.set_ylabel("energy per MAC, ratio to the ternary array")
    ratio_ax.set_title(f"Ratio to ternary (hatched: the paper's {headline['paper ratio'].iloc[0]:.1f}x)")
    ratio_ax.legend(loc="upper left")
    ratio_ax.set_ylim(0, max(max(ratios.values()) for _, _, ratios in groups) * 1.15)
    fig.suptitle("Ternary vs int8 vs FP16 MAC arrays: ASAP7 7nm gate level vs the paper's per-op table")
    return fig


def save_figure(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG (Agg) without any file-system path in its metadata."""
    fig.savefig(path, format="png", dpi=120, metadata={"Software": None})
