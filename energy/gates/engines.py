"""The ternary engines study: adder trees and LUT engines beside int8 and FP16, in the flow's own units.

``python -m energy.gates.engines [--full]`` measures, with :func:`energy.gates.measure.measure_array`
(synthesis to ASAP7, a gate-level simulation checked bit-exactly against the golden model, liberty
pricing), every family of :data:`FAMILIES` (the ternary adder tree with each of its trees, the LUT engine at
each group size, int8, FP16) at ``N`` lanes for each row count ``M`` and each dataflow, on a trained
model's operands (default: the bundled checkpoint and its full-precision twin, one projection type). Every
record gives area per lane, energy per MAC split into combinational, sequential and leakage, the critical
path and the throughput at the critical-path clock (``N * M`` MACs per ``critical_path`` ns), and the
energy per MAC in three units: pJ, the paper's INT8 add (0.007 pJ, Jouppi et al.) and the flow's own INT8
add (:mod:`energy.gates.primitives`, measured in the same run: its logic, and the whole registered unit).

Rows. The LUT engine's table is shared by the ``M`` rows, so its energy per MAC depends on ``M`` and it is
measured with all of them. The adder trees, int8 and FP16 rows are independent copies (see
:mod:`energy.gates.study`), so their energy per MAC does not depend on ``M`` but for the shared handshake
control and the input ports: each family is measured on ``min(M, cap)`` rows (:data:`MEASURED_ROWS_CAP`:
8 for the adder trees, whose energy per MAC at 8 rows is within a few percent of what more rows would
give; 1 for int8 and FP16, whose 64-lane rows are 30,000 and 100,000 cells) and its area scaled to
``M``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from energy.gates.liberty import Library
from energy.gates.measure import GateMeasurement, measure_array
from energy.gates.model_operands import ModelSource
from energy.gates.module import FLIP_FLOP_PREFIX
from energy.gates.power import DEFAULT_SLEW_PS, input_internal_fj, nominal_voltage
from energy.gates.primitives import measure_primitive, primitive_row
from energy.gates.study import activity_columns, markdown, measurement_row
from energy.tables import default_tables
from hw.params import DATAFLOWS, DEFAULT_MAX_K, ArrayParams
from model.atomic import write_table
from model.cli import OneLineErrorParser, fail
from model.infer import load_model
from model.operands import PROJECTION_TYPES


@dataclass(frozen=True)
class Family:
    """One micro-architecture of the study: a label, the array kind and its parameters beyond the sizes."""

    label: str
    array: str
    options: dict = field(default_factory=dict)


FAMILIES = (
    Family("tree signed", "ternary", {"tree": "signed"}),
    Family("tree split", "ternary", {"tree": "split"}),
    Family("tree deferred", "ternary", {"tree": "deferred"}),
    Family("tree csa", "ternary", {"tree": "csa"}),
    Family("LUT G=2", "ternary-lut", {"group": 2}),
    Family("LUT G=3", "ternary-lut", {"group": 3}),
    Family("LUT G=4", "ternary-lut", {"group": 4}),
    Family("int8", "int8"),
    Family("int8 csa", "int8", {"tree": "csa"}),
    Family("fp16", "fp16"),
)
#: The ternary families (adder trees and LUT engines).
TERNARY_FAMILIES = tuple(family for family in FAMILIES if family.array in ("ternary", "ternary-lut"))
#: The most rows each array kind is measured with (see the module docstring); the LUT engine: all.
MEASURED_ROWS_CAP = {"ternary": 8, "ternary-lut": None, "int8": 1, "fp16": 1}
#: The paper's node, whose INT8 add is the table unit.
TABLE_NODE = "7nm"


@dataclass(frozen=True)
class EngineStudyConfig:
    """Sizes of one run: ``lanes`` N, the row counts, dataflows, beats per window, the families, the model
    projection whose operands drive every array, pipeline registers, seed."""

    lanes: int = 64
    rows: tuple[int, ...] = (1, 8, 32)
    dataflows: tuple[str, ...] = DATAFLOWS
    beats: int = 200
    families: tuple[Family, ...] = FAMILIES
    projection: str = "up_proj"
    pipeline: int | str = 0
    seed: int = 1

    def __post_init__(self) -> None:
        if self.projection not in PROJECTION_TYPES:
            raise ValueError(
                f"projection must be one of {', '.join(PROJECTION_TYPES)}; got {self.projection!r}"
            )
        if not self.rows or any(r < 1 for r in self.rows):
            raise ValueError(f"rows must be positive integers, got {self.rows!r}")

    def params(self, family: Family, rows: int, dataflow: str, max_k: int) -> ArrayParams:
        """The measured array of ``family`` for ``rows`` rows (capped, see the module docstring)."""
        cap = MEASURED_ROWS_CAP[family.array]
        measured = rows if cap is None else min(rows, cap)
        return ArrayParams(
            family.array,
            self.lanes,
            measured,
            max_k=max_k,
            pipeline=self.pipeline,
            dataflow=dataflow,
            **family.options,
        )


#: The issue's study: N = 64, M in {1, 8, 32}, both dataflows, every family.
FULL = EngineStudyConfig()
#: The run CI and the notebook take: N = 6 (the LUT's groups do not divide it for G = 4), M in {1, 4},
#: the stream dataflow, the ternary families (the notebook measures int8 and FP16 elsewhere).
SMALL = EngineStudyConfig(lanes=6, rows=(1, 4), dataflows=("stream",), beats=24, families=TERNARY_FAMILIES)


def flow_units(primitives: pd.DataFrame | None = None, *, pdk: str | Path | None = None) -> dict[str, float]:
    """The energy units of the study (pJ), by the column they name: the paper's INT8 add
    (``table_int8_adds``), the flow's own INT8 add, its logic (``flow_int8_adds``) and the whole registered
    unit (``flow_registered_int8_adds``), from a table of :func:`energy.gates.primitives.primitive_table`
    or measured now."""
    if primitives is None:
        row = primitive_row("int8_add", measure_primitive("int8_add", pdk=pdk))
    else:
        row = primitives.set_index("primitive").loc["int8_add"]
    return {
        "table_int8_adds": default_tables().op(TABLE_NODE, "add", "int8").value_pJ,
        "flow_int8_adds": row["flow_logic_pJ"],
        "flow_registered_int8_adds": row["flow_total_pJ"],
    }


def engine_record(measurement, family: Family, rows: int, units: dict[str, float]) -> dict:
    """One record: :func:`~energy.gates.study.measurement_row` and its activity columns, the family, the
    throughput and the energy per MAC in every unit of ``units``."""
    record = measurement_row(measurement, rows) | activity_columns(measurement)
    energy, path_ns = record["energy_per_mac_pJ"], record["critical_path_ps"] / 1000
    record |= {
        "family": family.label,
        "group": measurement.params.get("group"),
        "throughput_macs_per_ns": measurement.params["lanes"] * rows / path_ns,
    }
    record |= {column: energy / unit for column, unit in units.items()}
    return record


def engine_study(
    config: EngineStudyConfig = FULL,
    *,
    source: ModelSource | None = None,
    pdk: str | Path | None = None,
    units: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Every family x rows x dataflow of ``config`` on the model's operands (see the module docstring);
    one record each, in that order. Prints a line per point."""
    source = replace(source or ModelSource(), projection=config.projection)
    # the arrays a user generates by default (the headline's max_k), long enough for any projection input
    max_k = max(DEFAULT_MAX_K, load_model(source.checkpoint).config.intermediate_size)
    units = units or flow_units(pdk=pdk)
    records, measured = [], {}
    points = [(f, r, d) for f in config.families for r in config.rows for d in config.dataflows]
    for index, (family, rows, dataflow) in enumerate(points, 1):
        params = config.params(family, rows, dataflow, max_k)
        if params not in measured:  # a capped family measures the same array for several row counts
            measured[params] = measure_array(
                params, pdk=pdk, beats=config.beats, seed=config.seed, operands=source
            )
        measurement = measured[params]
        record = engine_record(measurement, family, rows, units)
        records.append(record)
        print(
            f"[{index}/{len(points)}] {family.label:14} M={rows:<3} {dataflow:10} "
            f"{record['energy_per_mac_pJ']:.5f} pJ/MAC, {record['area_per_lane_um2']:.2f} um^2/lane "
            f"({sum(measurement.seconds.values()):.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return pd.DataFrame(records)


def best_ternary(frame: pd.DataFrame) -> pd.Series:
    """The ternary record (adder tree or LUT) with the lowest energy per MAC."""
    ternary = frame[frame["array"].isin(("ternary", "ternary-lut"))]
    return ternary.loc[ternary["energy_per_mac_pJ"].idxmin()]


#: The columns of the study's summary table.
SUMMARY_COLUMNS = (
    "family",
    "rows",
    "dataflow",
    "energy_per_mac_pJ",
    "combinational_pJ",
    "sequential_pJ",
    "table_int8_adds",
    "flow_int8_adds",
    "area_per_lane_um2",
    "critical_path_ps",
    "throughput_macs_per_ns",
)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m energy.gates.engines",
        description="Ternary adder trees and LUT engines beside int8 and FP16 on ASAP7, on a trained model's "
        "operands, in pJ and in INT8 adds (the paper's and the flow's own).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--full", action="store_true", help="N = 64, M in {1, 8, 32} (default: the CI config)"
    )
    parser.add_argument("--pdk", help="ASAP7 folder (default $BITNET_ASAP7_DIR or shared/pdk/asap7)")
    parser.add_argument("--out", type=Path, default=None, help="CSV to write (default: print only)")
    args = parser.parse_args(argv)
    try:
        frame = engine_study(FULL if args.full else SMALL, pdk=args.pdk)
    except (TypeError, ValueError, RuntimeError, AssertionError) as error:
        fail(parser.prog, str(error))
    print(markdown(frame[list(SUMMARY_COLUMNS)]))
    best = best_ternary(frame)
    print(
        f"best ternary: {best['family']} M={best['rows']} {best['dataflow']}: "
        f"{best['energy_per_mac_pJ']:.5f} pJ per MAC = {best['table_int8_adds']:.2f} table INT8 adds = "
        f"{best['flow_int8_adds']:.2f} of the flow's INT8 add logic"
    )
    if args.out is not None:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            write_table(args.out, frame)
        except OSError as error:
            fail(parser.prog, f"--out: cannot write {args.out}: {error.strerror or error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --- where the energy of a ternary MAC goes ------------------------------------------------------------


def clock_fj_per_flop_cycle(library: Library, slew_ps: float) -> float:
    """The clock's share of one flip-flop per cycle (fJ), data or not: the internal energy of its clock
    pin and the switching of the pin's capacitance, two clock toggles per cycle, as :mod:`energy.gates.power`
    prices them; for the library's one flip-flop (the flow maps every register to it)."""
    (cell,) = (cell for cell in library.cells.values() if cell.sequential)
    pin = next(name for name, info in cell.pins.items() if info.clock)
    switching = 0.5 * cell.pins[pin].capacitance * nominal_voltage(library) ** 2
    return 2 * (input_internal_fj(cell, pin, slew_ps) + switching)


def flip_flop_roles(params: ArrayParams, flip_flops: int) -> dict[str, int]:
    """The flip-flops of an array by role: the stationary weight tile, the accumulators, the output
    register, and the rest (pipeline registers and the handshake control)."""
    roles = {
        "tile": params.tile_bits if params.dataflow == "stationary" else 0,
        "accumulators": params.rows * params.acc_width,
        "output register": params.rows * params.acc_width,
    }
    roles["pipeline and control"] = flip_flops - sum(roles.values())
    return roles


def energy_breakdown(
    measurement: GateMeasurement, library: Library, slew_ps: float = DEFAULT_SLEW_PS
) -> dict:
    """Where one measured array's energy per MAC goes (pJ): the clock of each flip-flop role (paid every
    cycle whatever the data), the registers' data-dependent rest, the logic (cells and the nets they drive),
    the switching of the input ports, leakage; and the five cell types with the most internal energy."""
    params = ArrayParams(**measurement.params)
    per_mac = measurement.energy.per_mac_pj()
    cycles, macs = measurement.activity["cycles"], measurement.activity["macs"]
    flops = sum(count for cell, count in measurement.synth.cells.items() if cell.startswith(FLIP_FLOP_PREFIX))
    clock = clock_fj_per_flop_cycle(library, slew_ps) * cycles / macs * 1e-3  # pJ per MAC per flip-flop
    roles = {f"clock: {role}": count * clock for role, count in flip_flop_roles(params, flops).items()}
    ports = measurement.energy.details.get("input_ports", 0.0) * 1e-3 / macs
    breakdown = {
        **roles,
        "registers, data": per_mac["sequential"] - sum(roles.values()),
        "logic": per_mac["combinational"] - ports,
        "input ports": ports,
        "leakage": per_mac["leakage"],
    }
    top = sorted(measurement.energy.by_cell.items(), key=lambda item: -item[1])[:5]
    cells = {f"cell {name.removesuffix('_ASAP7_75t_R')}": fj * 1e-3 / macs for name, fj in top}
    return {"total": per_mac["total"], **breakdown, **cells}
