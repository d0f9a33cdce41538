"""Figures of the energy model: the b1.58 paper's Figure 3 (left and right) and the ratio waterfall.

Figures are built with matplotlib's object API (:class:`matplotlib.figure.Figure`, no pyplot state), so
they render with the Agg canvas in scripts and display inline in notebooks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

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


def save_figure(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG (Agg) without any file-system path in its metadata."""
    fig.savefig(path, format="png", dpi=120, metadata={"Software": None})
