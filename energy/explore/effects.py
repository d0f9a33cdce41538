"""What each parameter does: paired comparisons over a sweep's results.

For a parameter (say ``tree``) and one of its values (``csa``), :func:`parameter_effects` pairs every
measured point with the point that differs from it only in that parameter, set to the baseline value (the
parameter's first value in its own order: the first of its choices, ``signed``, or the smallest number),
and reports the geometric mean of the ratios of energy per MAC, area per MAC lane and throughput over the
pairs, with their number. A ratio below 1 means the value lowers that quantity against the baseline,
everything else held. Values with no pair (an array kind against another, where no other parameter
matches) are left out. Comparing array kinds, the parameters a kind sets by itself
(:data:`IMPLIED_BY_ARRAY`) are not matched.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from energy.explore.pareto import measured_points
from energy.explore.spec import ARRAY_FIELDS
from hw.params import ArrayParams

#: Parameters an array kind sets by itself (fp16's 16-bit activations, the LUT's group), left out of the
#: match when the array kinds are compared.
IMPLIED_BY_ARRAY = ("act_width", "group")
#: The allowed values of the string parameters, in their order (the first is the baseline).
CHOICES = {f.name: f.metadata["choices"] for f in dataclasses.fields(ArrayParams) if f.metadata["choices"]}
#: The quantities compared.
QUANTITIES = ("energy_per_mac_pJ", "area_per_lane_um2", "throughput_gmac_s")


def _identity(frame: pd.DataFrame) -> list[str]:
    """The parameter columns that vary in ``frame`` (constant ones pair every point trivially)."""
    return [name for name in ARRAY_FIELDS if frame[name].astype(str).nunique() > 1]


def _order(column: pd.Series, name: str) -> list[str]:
    """The column's values as text, in the parameter's own order: its choices (array kinds, trees,
    dataflows as :class:`hw.params.ArrayParams` lists them), else ascending numbers."""
    choices = CHOICES.get(name)
    values = set(column.dropna().tolist())
    if choices is not None:
        ordered = [value for value in choices if value in values]
    else:
        ordered = sorted(values, key=float)
    text = [str(value) for value in ordered]
    return text + (["nan"] if column.isna().any() else [])


def parameter_effects(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per parameter and non-baseline value: ``parameter``, ``value``, ``baseline``, ``pairs`` and
    the geometric-mean ratio of each of :data:`QUANTITIES` (see the module docstring)."""
    ok = measured_points(frame)
    varying = _identity(ok)
    orders = {name: _order(ok[name], name) for name in varying}
    for name in varying:
        ok[name] = ok[name].astype(str)  # groups and joins on text: None and NaN become one value
    lines = []
    for parameter in varying:
        implied = IMPLIED_BY_ARRAY if parameter == "array" else ()
        others = [name for name in varying if name != parameter and name not in implied]
        values = orders[parameter]
        baseline = ok[ok[parameter] == values[0]]
        for value in values[1:]:
            pairs = ok[ok[parameter] == value].merge(baseline, on=others, suffixes=("", "_base"))
            if pairs.empty:
                continue
            line = {"parameter": parameter, "value": value, "baseline": values[0], "pairs": len(pairs)}
            for quantity in QUANTITIES:
                ratios = pairs[quantity].to_numpy(float) / pairs[f"{quantity}_base"].to_numpy(float)
                line[f"{quantity} ratio"] = float(np.exp(np.mean(np.log(ratios))))
            lines.append(line)
    return pd.DataFrame(lines)


def effects_figure(effects: pd.DataFrame) -> Figure:
    """Bars of each value's ratios against its parameter's baseline, one panel per quantity (log scale:
    1 is no change)."""
    labels = [f"{row.parameter}: {row.value} / {row.baseline}" for row in effects.itertuples()]
    figure = Figure(figsize=(12, 0.32 * len(labels) + 1.6), layout="constrained")
    for ax, quantity in zip(figure.subplots(1, len(QUANTITIES), sharey=True), QUANTITIES, strict=True):
        ratios = effects[f"{quantity} ratio"].to_numpy(float)
        ax.barh(labels, ratios, color=np.where(ratios < 1, "#4c72b0", "#c44e52"))
        ax.axvline(1, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"{quantity} ratio")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    figure.axes[0].invert_yaxis()
    figure.suptitle("What each parameter does (geometric mean over pairs that differ only in it)")
    return figure
