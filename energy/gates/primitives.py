"""The flow's own per-op table: the primitives the paper's table prices, measured on this ASAP7 flow.

``python -m energy.gates.primitives`` synthesizes each :class:`hw.primitives.RegisteredPrimitive` (INT8
add, INT8 multiply, INT32 add, FP16 add, FP16 multiply: registered operands and result), simulates it on
uniform random operands (:func:`energy.gates.module.measure_module`), checks every result against the
reference (NumPy integers, :mod:`model.fp16` for binary16), and prints, beside the table's value (Jouppi et
al., 7nm, :mod:`energy.tables`), the energy per operation split into the datapath (``logic``: every cell that
is not a flip-flop and the nets it drives) and the registers (flip-flops, clock and the nets they drive), and
the 71.4x recomputed from the flow's own numbers: ``(FP16 mul + FP16 add) / INT8 add``, on the logic alone
(the table's convention) and with the registers. Writes the table as CSV (``--out``, default
``build/gates/primitives.csv``).

Uniform random binary16 operands are random bit patterns: every exponent equally likely, NaN and infinity
included (about 3% of the operands), as a per-op table would measure a unit in isolation; the arrays'
studies use realistic operands instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from amaranth.back import verilog

from energy.gates.module import ModuleMeasurement, measure_module
from energy.gates.power import EnergySettings
from energy.tables import default_tables
from hw.primitives import PRIMITIVES, RegisteredPrimitive
from model.atomic import write_table
from model.cli import OneLineErrorParser, fail, positive_int
from model.fp16 import fp16_add, fp16_mul

#: The technology node of the table the primitives are compared with.
TABLE_NODE = "7nm"
#: Cycles priced per primitive unless told otherwise.
PRIMITIVE_CYCLES = 2000
DEFAULT_OUT = Path("build") / "gates" / "primitives.csv"


def primitive_verilog(name: str) -> str:
    """The Verilog of primitive ``name`` as module ``prim_<name>``."""
    return verilog.convert(
        RegisteredPrimitive(name), name=f"prim_{name}", emit_src=False, strip_internal_attrs=True
    )


def _signed(values: np.ndarray, width: int) -> np.ndarray:
    values = values.astype(np.int64)
    return np.where(values >= 1 << (width - 1), values - (1 << width), values)


def reference(name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The result ``y`` (unsigned bit pattern) of primitive ``name`` on operand bit patterns ``a``, ``b``."""
    spec = PRIMITIVES[name]
    if spec.is_float:
        operation = fp16_add if spec.op == "add" else fp16_mul
        return operation(a.astype(np.uint16), b.astype(np.uint16)).astype(np.int64)
    x, y = _signed(a, spec.operand_bits), _signed(b, spec.operand_bits)
    exact = x + y if spec.op == "add" else x * y
    return exact & ((1 << spec.result_bits) - 1)


def check_outputs(name: str, measurement: ModuleMeasurement) -> None:
    """``y`` two cycles after each operand pair equals the reference (``AssertionError`` on the first
    mismatch)."""
    a, b = measurement.values["a"].astype(np.int64), measurement.values["b"].astype(np.int64)
    got = measurement.values["y"][2:].astype(np.int64)
    want = reference(name, a[:-2], b[:-2])
    wrong = np.flatnonzero(got != want)
    if wrong.size:
        i = int(wrong[0])
        raise AssertionError(
            f"{name}: cycle {i}: {a[i]:#x} op {b[i]:#x} gave {got[i]:#x}, expected {want[i]:#x}"
        )


def measure_primitive(
    name: str, *, cycles: int = PRIMITIVE_CYCLES, seed: int = 1, pdk: str | Path | None = None
) -> ModuleMeasurement:
    """Synthesize, simulate (results checked) and price primitive ``name``."""
    measurement = measure_module(
        primitive_verilog(name), f"prim_{name}", cycles=cycles, seed=seed, pdk=pdk, settings=EnergySettings()
    )
    check_outputs(name, measurement)
    return measurement


def primitive_row(name: str, m: ModuleMeasurement) -> dict:
    """One row of the flow's per-op table: energy per operation (total, logic, registers, leakage), the
    table's value, area, flip-flops, critical path."""
    spec, per_op = PRIMITIVES[name], m.energy.per_mac_pj()
    table = default_tables().op(TABLE_NODE, spec.op, spec.dtype).value_pJ
    ports = m.energy.details.get("input_ports", 0.0) * 1e-3 / m.cycles
    logic = per_op["combinational"] - ports
    return {
        "primitive": name,
        "op": spec.op,
        "dtype": spec.dtype,
        "table_pJ": table,
        "flow_total_pJ": per_op["total"],
        "flow_logic_pJ": logic,
        "flow_registers_pJ": per_op["sequential"],
        "flow_input_ports_pJ": ports,
        "flow_logic_cells_pJ": m.logic_cells_pj(),
        "flow_leakage_pJ": per_op["leakage"],
        "logic / table": logic / table,
        "logic cells / table": m.logic_cells_pj() / table,
        "registers share": per_op["sequential"] / per_op["total"],
        "area_um2": m.synth.area_um2,
        "flip_flops": m.flip_flops,
        "cells": m.synth.cell_count,
        "critical_path_ps": m.critical_path_ps,
        "cycles": m.cycles,
        "toggle_rate": m.toggle_rate,
    }


def primitive_table(
    *, cycles: int = PRIMITIVE_CYCLES, seed: int = 1, pdk: str | Path | None = None
) -> pd.DataFrame:
    """Every primitive of :data:`hw.primitives.PRIMITIVES`, measured (one row each, in that order)."""
    rows = []
    for name in PRIMITIVES:
        print(f"primitive {name}: synthesize, simulate {cycles} cycles, price", file=sys.stderr, flush=True)
        rows.append(primitive_row(name, measure_primitive(name, cycles=cycles, seed=seed, pdk=pdk)))
    return pd.DataFrame(rows)


def paper_ratio(table: pd.DataFrame, column: str) -> float:
    """``(FP16 mul + FP16 add) / INT8 add`` from ``column`` of a primitive table: the paper's 71.4x with the
    table's values (``table_pJ``), or recomputed from the flow's (``flow_logic_pJ``, ``flow_total_pJ``)."""
    energy = table.set_index("primitive")[column]
    return float((energy["fp16_mul"] + energy["fp16_add"]) / energy["int8_add"])


def format_table(table: pd.DataFrame) -> str:
    lines = [
        "energy per operation (pJ): total = logic (cells + the nets they drive) + registers (flip-flops, "
        "clock, "
        "the nets they drive) + input ports + leakage; logic cells: the cells' internal energy alone",
        f"{'primitive':10} {'table':>7} {'total':>8} {'logic':>8} {'cells':>8} {'registers':>9} "
        f"{'logic/table':>11} {'FFs':>4} {'area um2':>9} {'path ps':>8}",
    ]
    for row in table.itertuples(index=False):
        lines.append(
            f"{row.primitive:10} {row.table_pJ:7.3f} {row.flow_total_pJ:8.5f} {row.flow_logic_pJ:8.5f} "
            f"{row.flow_logic_cells_pJ:8.5f} {row.flow_registers_pJ:9.5f} "
            f"{row.flow_logic_pJ / row.table_pJ:11.2f} "
            f"{row.flip_flops:4d} {row.area_um2:9.2f} {row.critical_path_ps:8.0f}"
        )
    lines.append(
        "(FP16 mul + FP16 add) / INT8 add: "
        f"table {paper_ratio(table, 'table_pJ'):.1f}x, "
        f"flow logic {paper_ratio(table, 'flow_logic_pJ'):.1f}x, "
        f"flow logic cells {paper_ratio(table, 'flow_logic_cells_pJ'):.1f}x, "
        f"flow with registers {paper_ratio(table, 'flow_total_pJ'):.1f}x"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m energy.gates.primitives",
        description="The per-op energy table measured on the ASAP7 gate-level flow, beside the paper's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--cycles", type=positive_int, default=PRIMITIVE_CYCLES, help="priced cycles each")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the operands")
    parser.add_argument("--pdk", help="ASAP7 folder (default $BITNET_ASAP7_DIR or shared/pdk/asap7)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write")
    args = parser.parse_args(argv)
    try:
        table = primitive_table(cycles=args.cycles, seed=args.seed, pdk=args.pdk)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_table(args.out, table)
    except (TypeError, ValueError, RuntimeError, AssertionError, OSError) as error:
        fail(parser.prog, str(error))
    print(format_table(table))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
