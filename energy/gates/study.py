"""The gate-level study: ternary vs int8 vs FP16 MAC arrays on ASAP7, beside the paper's per-op table.

Every number here is measured by :func:`energy.gates.measure_array` (synthesis to ASAP7 cells, a
gate-level simulation on realistic data that checks every output against the golden model, liberty power
tables); the paper's numbers come from the ops table of :mod:`energy.tables` and
:func:`energy.arithmetic.matmul_saving`.

What the study measures (:class:`StudyConfig` sets the sizes; :data:`FULL` is the issue's study,
:data:`SMALL` the one CI runs):

- :func:`compare_arrays`: the three arrays at equal lanes ``N`` and rows ``M`` (same pipeline, tree and
  dataflow): area per MAC lane, energy per MAC split into combinational, sequential and leakage;
  :func:`headline` adds the ratios FP16/ternary and int8/ternary and the paper's table values.
- :func:`micro_architectures`: the ternary array's two trees (``signed``: negate then add; ``split``: sum of
  the +1 lanes minus sum of the -1 lanes) with no pipeline and fully pipelined.
- :func:`zero_sweep`: energy per MAC as the weights' zero fraction goes from 0 to 2/3 (the same netlist:
  only the data change).
- :func:`row_scaling`: the check behind ``measured_rows``.
- :func:`model_operand_study`: every array in both dataflows on a trained model's operands of each
  projection type, beside the Gaussian figures.

Row scaling. The ``M`` rows of an array are identical copies (the same tree on the same broadcast
activations, each with its own weights and accumulator) plus a few flip-flops of shared handshake control,
so a configuration can be measured on ``measured_rows < M`` rows: area and cell counts scale by
``M / measured_rows``; energy per MAC is per MAC already (each activation net's load grows with the rows
it feeds, and so do the MACs it serves). Only the shared control is overcounted, by ``M / measured_rows``
times its tiny share. :func:`row_scaling` measures both ways where the full array is cheap enough; the
FP16 array (about 1,600 cells per lane) is measured on one row because a flattened 8-row, 64-lane FP16
array has about 800,000 cells, beyond what the WebAssembly Yosys maps in a session.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from energy.arithmetic import matmul_saving
from energy.gates.equivalence import DEFAULT_TIMEOUT_S, EquivalenceSettings
from energy.gates.measure import DEFAULT_BEATS, GateMeasurement, measure_array
from energy.gates.model_operands import ModelSource
from energy.gates.module import FLIP_FLOP_PREFIX
from energy.tables import EnergyTables, resolve_tables
from hw.params import DATAFLOWS, DEFAULT_MAX_K, ArrayParams
from model.cli import OneLineErrorParser, fail
from model.infer import load_model
from model.operands import PROJECTION_TYPES

PAPER_NODE = "7nm"
ARRAY_ORDER = ("ternary", "int8", "fp16")
#: The zero fractions of the sweep: 0 to 2/3 in sixths.
ZERO_FRACTIONS = (0.0, 1 / 6, 1 / 3, 1 / 2, 2 / 3)


@dataclass(frozen=True)
class StudyConfig:
    """Sizes of one run of the study.

    Parameters
    ----------
    lanes : tuple of int
        The array widths ``N`` compared.
    rows : int
        ``M``, the rows of every compared array.
    measured_rows : int
        Rows actually synthesized and simulated (``<= rows``); results are scaled to ``rows`` (see the
        module docstring). Equal to ``rows`` to measure the whole array.
    sweep_lanes : int
        ``N`` of the micro-architecture and zero-fraction sweeps.
    beats : int
        Input beats in each measured window.
    max_k, pipeline : int
        Array parameters shared by every compared array (the tree is ``signed``, the dataflow ``stream``).
    seed : int
        Seed of the realistic data.
    equivalence_timeout_s : float
        Budget of each netlist's equivalence proof (:mod:`energy.gates.equivalence`; 0: not checked).
    """

    lanes: tuple[int, ...]
    rows: int
    measured_rows: int
    sweep_lanes: int
    beats: int = DEFAULT_BEATS
    max_k: int = DEFAULT_MAX_K
    pipeline: int | str = 0
    seed: int = 1
    equivalence_timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.lanes or any(not isinstance(n, int) or n < 1 for n in self.lanes):
            raise ValueError(f"lanes must be positive integers, got {self.lanes!r}")
        if not 1 <= self.measured_rows <= self.rows:
            raise ValueError(f"measured_rows must be in [1, rows={self.rows}], got {self.measured_rows}")
        if self.beats < 1:
            raise ValueError(f"beats must be positive, got {self.beats}")
        if not self.equivalence_timeout_s >= 0:
            raise ValueError(f"equivalence_timeout_s must be >= 0, got {self.equivalence_timeout_s!r}")

    def equivalence(self) -> EquivalenceSettings | None:
        """The settings of each netlist's equivalence proof (``None``: not checked)."""
        if self.equivalence_timeout_s == 0:
            return None
        return EquivalenceSettings(timeout_s=self.equivalence_timeout_s)

    def params(self, array: str, lanes: int, *, rows: int | None = None, **changes) -> ArrayParams:
        """The measured array (``measured_rows`` rows unless ``rows`` is given)."""
        base = ArrayParams(
            array,
            lanes,
            self.measured_rows if rows is None else rows,
            max_k=self.max_k,
            pipeline=self.pipeline,
        )
        return replace(base, **changes) if changes else base


#: The issue's study: N = 16 and 64, M = 8, measured on one row and scaled (see the module docstring).
FULL = StudyConfig(
    lanes=(16, 64), rows=8, measured_rows=1, sweep_lanes=16, beats=400, equivalence_timeout_s=60.0
)
#: The configuration CI runs: small enough to synthesize in seconds (and measured on one row of two, so that
#: CI also runs the row-scaling check). Its netlists are not proven equivalent here: the proofs of small
#: netlists run in tests/test_energy_equivalence.py, and a time-out per netlist would only slow CI.
SMALL = StudyConfig(
    lanes=(4,), rows=2, measured_rows=1, sweep_lanes=4, beats=64, max_k=64, equivalence_timeout_s=0.0
)


def measurement_row(measurement: GateMeasurement, rows: int) -> dict:
    """One measurement as a flat record, area and cells scaled to ``rows`` rows."""
    p = measurement.params
    scale = rows / p["rows"]
    per_mac = measurement.energy.per_mac_pj()
    synth = measurement.synth
    flops = sum(count for cell, count in synth.cells.items() if cell.startswith(FLIP_FLOP_PREFIX))
    return {
        "array": p["array"],
        "lanes": p["lanes"],
        "rows": rows,
        "measured_rows": p["rows"],
        "tree": p["tree"],
        "pipeline": p["pipeline"],
        "dataflow": p["dataflow"],
        "zero_fraction": measurement.activity["zero_fraction"],
        "area_um2": synth.area_um2 * scale,
        "area_per_lane_um2": synth.area_um2 / (p["lanes"] * p["rows"]),
        "cells": round(synth.cell_count * scale),
        "flip_flops": round(flops * scale),
        "combinational_pJ": per_mac["combinational"],
        "sequential_pJ": per_mac["sequential"],
        "leakage_pJ": per_mac["leakage"],
        "energy_per_mac_pJ": per_mac["total"],
        "critical_path_ps": measurement.critical_path_ps,
        "outputs_checked": measurement.activity["outputs"],
        "netlist_equivalence": measurement.equivalence.summary(),
        "synthesis_s": measurement.seconds["synthesis"],
        "simulation_s": measurement.seconds["simulation"],
        "pricing_s": measurement.seconds["pricing"],
    }


def activity_columns(measurement: GateMeasurement) -> dict:
    """What the operands did to the circuit: their source, the activations' zero fraction, the toggle rate
    (the columns :func:`model_operand_study` adds to :func:`measurement_row`'s)."""
    window = measurement.activity
    return {
        "operands": window["operands"],
        "activation_zero_fraction": window.get("activation_zero_fraction"),
        "toggle_rate": window["toggle_rate"],
    }


def _measure(config: StudyConfig, params: ArrayParams, rows: int, pdk, zero: str = "gaussian") -> dict:
    measurement = measure_array(
        params, pdk=pdk, beats=config.beats, zero=zero, seed=config.seed, equivalence=config.equivalence()
    )
    return measurement_row(measurement, rows)


def compare_arrays(config: StudyConfig, *, pdk: str | Path | None = None) -> pd.DataFrame:
    """The three arrays at every ``config.lanes``, ``config.rows`` rows: one record per array and width."""
    records = [
        _measure(config, config.params(array, lanes), config.rows, pdk)
        for lanes in config.lanes
        for array in ARRAY_ORDER
    ]
    return pd.DataFrame(records)


def paper_values(tables: EnergyTables | None = None) -> dict[str, float]:
    """The paper's 7nm per-op numbers from the ops table: INT8 add, FP16 mul + add, and their ratio."""
    tables = resolve_tables(tables)
    int8_add = tables.op(PAPER_NODE, "add", "int8").value_pJ
    fp16_mac = tables.op(PAPER_NODE, "mul", "fp16").value_pJ + tables.op(PAPER_NODE, "add", "fp16").value_pJ
    return {"int8_add_pJ": int8_add, "fp16_mac_pJ": fp16_mac, "ratio": matmul_saving(PAPER_NODE, tables)}


def headline(frame: pd.DataFrame, tables: EnergyTables | None = None) -> pd.DataFrame:
    """Per width: energy per MAC and area per lane of each array, the ratios to ternary, and the paper's
    table values beside them (``paper_*`` columns)."""
    paper = paper_values(tables)
    lines = []
    for lanes, group in frame.groupby("lanes", sort=True):
        by = group.set_index("array")
        if not set(ARRAY_ORDER) <= set(by.index):
            raise ValueError(f"frame must hold the arrays {ARRAY_ORDER} at lanes={lanes}")
        energy, area = by["energy_per_mac_pJ"], by["area_per_lane_um2"]
        lines.append(
            {
                "lanes": lanes,
                "rows": int(by["rows"].iloc[0]),
                "ternary_pJ": energy["ternary"],
                "int8_pJ": energy["int8"],
                "fp16_pJ": energy["fp16"],
                "fp16/ternary energy": energy["fp16"] / energy["ternary"],
                "int8/ternary energy": energy["int8"] / energy["ternary"],
                "fp16/ternary area": area["fp16"] / area["ternary"],
                "int8/ternary area": area["int8"] / area["ternary"],
                "paper INT8 add pJ": paper["int8_add_pJ"],
                "paper FP16 MAC pJ": paper["fp16_mac_pJ"],
                "paper ratio": paper["ratio"],
            }
        )
    return pd.DataFrame(lines)


def micro_architectures(config: StudyConfig, *, pdk: str | Path | None = None) -> pd.DataFrame:
    """The ternary array's trees (signed, split) without and with a full pipeline, at ``sweep_lanes``."""
    return pd.DataFrame([_measure(config, params, config.rows, pdk) for params in micro_params(config)])


def micro_params(config: StudyConfig) -> list[ArrayParams]:
    """The arrays :func:`micro_architectures` measures: both trees, no pipeline and fully pipelined."""
    return [
        config.params("ternary", config.sweep_lanes, tree=tree, pipeline=pipeline)
        for tree in ("signed", "split")
        for pipeline in (0, "full")
    ]


def zero_sweep(
    config: StudyConfig,
    *,
    arrays: tuple[str, ...] = ("ternary", "int8"),
    fractions: tuple[float, ...] = ZERO_FRACTIONS,
    pdk: str | Path | None = None,
) -> pd.DataFrame:
    """Energy per MAC against the weights' zero fraction (same netlists, other data), at ``sweep_lanes``."""
    records = []
    for array in arrays:
        params = config.params(array, config.sweep_lanes)
        for fraction in fractions:
            records.append(_measure(config, params, config.rows, pdk, zero=repr(float(fraction))))
    return pd.DataFrame(records)


def row_scaling(
    config: StudyConfig, *, array: str = "ternary", pdk: str | Path | None = None
) -> pd.DataFrame:
    """``array`` at ``sweep_lanes`` measured on ``measured_rows`` rows (scaled) and on all ``rows``."""
    records = []
    for rows in sorted({config.measured_rows, config.rows}):
        params = config.params(array, config.sweep_lanes, rows=rows)
        records.append(_measure(config, params, config.rows, pdk))
    frame = pd.DataFrame(records)
    frame["area_vs_full"] = frame["area_um2"] / frame["area_um2"].iloc[-1]
    frame["energy_vs_full"] = frame["energy_per_mac_pJ"] / frame["energy_per_mac_pJ"].iloc[-1]
    return frame


def model_operand_study(
    config: StudyConfig,
    *,
    source: ModelSource | None = None,
    dataflows: tuple[str, ...] = DATAFLOWS,
    pdk: str | Path | None = None,
) -> pd.DataFrame:
    """Every array at ``sweep_lanes`` in each dataflow on a trained model's operands of each projection type
    (:mod:`energy.gates.model_operands`; default the bundled checkpoint and its twin), beside the same
    array on Gaussian operands: one record per (dataflow, array, operands), with a ``projection`` column
    (empty for Gaussian). ``max_k`` is raised to the model's longest projection input when it is shorter
    (the whole input is one reduction)."""
    source = source or ModelSource()
    longest = load_model(source.checkpoint).config.intermediate_size
    records = []
    for dataflow in dataflows:
        for array in ARRAY_ORDER:
            params = config.params(array, config.sweep_lanes, dataflow=dataflow)
            params = replace(params, max_k=max(params.max_k, longest))
            for projection in ("", *PROJECTION_TYPES):
                operands = replace(source, projection=projection) if projection else "gaussian"
                measurement = measure_array(
                    params,
                    pdk=pdk,
                    beats=config.beats,
                    seed=config.seed,
                    operands=operands,
                    equivalence=config.equivalence(),
                )
                row = measurement_row(measurement, config.rows) | activity_columns(measurement)
                records.append(row | {"projection": projection})
    return pd.DataFrame(records)


# --- command line ---------------------------------------------------------------------------------------


def markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub markdown table of ``frame`` (numbers to ``digits`` significant digits)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}g}"
        return str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m energy.gates.study",
        description="The gate-level study: ternary vs int8 vs FP16 arrays on ASAP7 (area, energy per MAC, "
        "ratios beside the paper's table), tree and pipeline variants, zero-fraction sweep.",
    )
    parser.add_argument("--full", action="store_true", help="N = 16 and 64, M = 8 (default: the CI config)")
    parser.add_argument("--pdk", help="ASAP7 folder (default $BITNET_ASAP7_DIR or shared/pdk/asap7)")
    args = parser.parse_args(argv)
    config = FULL if args.full else SMALL
    try:
        frame = compare_arrays(config, pdk=args.pdk)
        print(markdown(headline(frame)))
        print()
        print(markdown(frame))
    except (TypeError, ValueError) as error:
        fail(parser.prog, str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
