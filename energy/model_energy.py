"""``python -m energy.model_energy``: energy per token of a BitNet model's matmuls on the generated arrays.

The linear layers' energy per token is measured, not assumed: each projection type's MACs per token
(:func:`energy.opcount.matmul_counts`) times the energy per MAC that the gate-level flow measured for that
projection type on the model's own operands (:func:`energy.gates.study.model_operand_study`, the table
``benchmarks/results/gate_level_model.csv`` that ``python benchmarks/gate_level_model.py`` writes). Decode
(batch 1) runs on the ``stream`` dataflow (a weight tile per beat), prefill on ``stationary`` (a tile
loaded once, every token streamed against it). The ternary array prices the b1.58 model, the FP16 array the
FP16 baseline and the int8 array an int8 baseline; beside each, the paper's per-op table (INT8 add for a
ternary MAC; FP16 mul + add; int8 mul + add).

:func:`waterfall` then puts the measured linear term into :func:`energy.system.system_ledger`'s ledger in
place of the table's (``linear`` for both precisions), keeping its other terms (attention and output head
in FP16, rescale and activation quantization, weight, activation and KV-cache traffic), so the same
waterfall as ``python -m energy.report`` shows what the measured MACs change. The per-projection figures
extrapolate to other shapes by projection type (:data:`EXTRAPOLATED`: bitnet-b1.58-2B-4T, BitNet b1.58 3B
and 70B); the model's own shape comes from its checkpoint. :func:`explain` names every term where measured
and table disagree by more than :data:`DISAGREEMENT` and says why, from the measured split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from energy.architecture import ModelConfig, resolve_model
from energy.ledger import J_PER_PJ
from energy.opcount import PHASES, matmul_counts
from energy.system import SystemConfig, system_ledger
from energy.tables import EnergyTables, resolve_tables
from model.atomic import write_figure, write_table
from model.bitnet_config import BitNetLMConfig
from model.cli import OneLineErrorParser, fail, positive_int
from model.data import REPO_ROOT
from model.infer import BUNDLED_CHECKPOINT, load_model
from model.operands import PROJECTION_TYPES

#: The measured table ``python benchmarks/gate_level_model.py`` writes.
DEFAULT_MEASURED = REPO_ROOT / "benchmarks" / "results" / "gate_level_model.csv"
#: The dataflow of each phase.
PHASE_DATAFLOW = {"decode": "stream", "prefill": "stationary"}
#: The arrays, the precision of the system ledger each prices, and the ops of one MAC in the paper's table.
ARRAYS = {
    "ternary": ("b1.58", (("add", "int8"),)),
    "int8": (None, (("mul", "int8"), ("add", "int8"))),
    "fp16": ("fp16", (("mul", "fp16"), ("add", "fp16"))),
}
#: Measured and table figures that differ by more than this share are explained.
DISAGREEMENT = 20 / 100  # a ratio (the energy tests flag literals equal to table energies)
#: Shapes the measured per-projection energies extrapolate to: name -> row of ``energy/data/models.csv``.
EXTRAPOLATED = {
    "bitnet-b1.58-2B-4T": "bitnet-b1.58-2B-4T",
    "b1.58-3B": "b1.58-3B",
    "b1.58-70B": "llama2-70B",  # the paper's 70B is LLaMA 2's shape
}
_MEASURED_COLUMNS = (
    "dataflow",
    "array",
    "projection",
    "energy_per_mac_pJ",
    "combinational_pJ",
    "sequential_pJ",
)


def load_measured(path: str | Path = DEFAULT_MEASURED) -> pd.DataFrame:
    """The measured table (see the module docstring), checked."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"measured: no {path}; run python benchmarks/gate_level_model.py first")
    frame = pd.read_csv(path, keep_default_na=False)
    missing = [column for column in _MEASURED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"measured: {path} lacks the columns {', '.join(missing)}")
    return frame


def per_mac(measured: pd.DataFrame, dataflow: str) -> pd.DataFrame:
    """Measured energy per MAC ``(projection type x array)`` in one dataflow, on the model's operands."""
    rows = measured[(measured.dataflow == dataflow) & (measured.projection != "")]
    table = rows.pivot(index="projection", columns="array", values="energy_per_mac_pJ")
    missing = [kind for kind in PROJECTION_TYPES if kind not in table.index]
    if missing or not set(ARRAYS) <= set(table.columns):
        raise ValueError(
            f"measured: the {dataflow} rows lack projections {missing} or arrays {sorted(ARRAYS)}"
        )
    return table.loc[list(PROJECTION_TYPES), list(ARRAYS)]


def model_shape(config: BitNetLMConfig, name: str) -> ModelConfig:
    """The shape of a checkpoint's model for :mod:`energy.opcount`."""
    return ModelConfig(
        config.hidden_size,
        config.intermediate_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.vocab_size,
        kv_heads=config.num_key_value_heads,
        name=name,
        source="checkpoint config.json",
    )


def table_per_mac(array: str, node: str, tables: EnergyTables) -> float:
    """The paper's table's energy of one MAC on ``array``."""
    return sum(tables.op(node, op, dtype).value_pJ for op, dtype in ARRAYS[array][1])


def matmul_energy(
    shape: ModelConfig,
    measured: pd.DataFrame,
    phase: str,
    tokens: int,
    tables: EnergyTables,
    node: str = "7nm",
) -> pd.DataFrame:
    """Per projection type: MACs per token, and for every array the measured and table pJ per MAC and pJ
    per token."""
    figures = per_mac(measured, PHASE_DATAFLOW[phase])
    counts = matmul_counts(shape, tokens, phase, attention="none", tables=tables).set_index("matmul")
    frame = pd.DataFrame({"macs_per_token": counts.loc[list(PROJECTION_TYPES), "macs_per_token"]})
    for array in ARRAYS:
        frame[f"{array}_measured_pJ_per_mac"] = figures[array]
        frame[f"{array}_table_pJ_per_mac"] = table_per_mac(array, node, tables)
        frame[f"{array}_measured_pJ"] = frame.macs_per_token * figures[array]
        frame[f"{array}_table_pJ"] = frame.macs_per_token * table_per_mac(array, node, tables)
    return frame.rename_axis("projection").reset_index()


def waterfall(
    shape: ModelConfig,
    measured: pd.DataFrame,
    phase: str,
    tokens: int,
    config: SystemConfig | None = None,
    tables: EnergyTables | None = None,
) -> pd.DataFrame:
    """Energy per token by term for b1.58 and FP16, from the table and with the measured linear term:
    columns ``precision``, ``term``, ``table_pJ``, ``measured_pJ``."""
    tables = resolve_tables(tables)
    config = config or SystemConfig()
    ledger = system_ledger(shape, tokens, phase, config, tables=tables)
    produced = tokens if phase == "prefill" else 1
    terms = ledger.groupby(["precision", "term"], sort=False).energy_J.sum() / J_PER_PJ / produced
    linear = matmul_energy(shape, measured, phase, tokens, tables, config.node)
    frame = terms.rename("table_pJ").reset_index()
    frame["measured_pJ"] = frame.table_pJ
    for array, (precision, _) in ARRAYS.items():
        if precision is not None:
            rows = (frame.precision == precision) & (frame.term == "linear")
            frame.loc[rows, "measured_pJ"] = linear[f"{array}_measured_pJ"].sum()
    return frame


def explain(linear: pd.DataFrame, measured: pd.DataFrame, phase: str) -> list[str]:
    """A sentence per array whose measured linear energy differs from the table's by more than
    :data:`DISAGREEMENT`, with the measured split (combinational, sequential, leakage), weighted by each
    projection type's MACs."""
    rows = measured[(measured.dataflow == PHASE_DATAFLOW[phase]) & (measured.projection != "")]
    macs = linear.set_index("projection").macs_per_token
    lines = []
    for array in ARRAYS:
        ratio = linear[f"{array}_measured_pJ"].sum() / linear[f"{array}_table_pJ"].sum()
        if abs(ratio - 1) <= DISAGREEMENT:
            continue
        part = rows[rows.array == array].set_index("projection")
        weights = macs.loc[part.index]
        total = (part.energy_per_mac_pJ * weights).sum()
        split = {
            kind: (part[f"{kind}_pJ"] * weights).sum() / total
            for kind in ("combinational", "sequential", "leakage")
        }
        shares = ", ".join(f"{kind} {share:.0%}" for kind, share in split.items())
        ops = " + ".join(f"{dtype} {op}" for op, dtype in ARRAYS[array][1])
        why = (
            "the table prices the arithmetic alone; the array also pays its adder tree or multipliers, its "
            "accumulator (combinational) and its operand and accumulator registers (sequential)"
            if ratio > 1
            else "the measured datapath (ASAP7 RVT cells at 0.7 V, zero-delay activity: no glitches, "
            "wires or clock tree) costs less than the table's 7nm figure"
        )
        lines.append(f"{array} ({phase}): measured {ratio:.2f}x the table's {ops} per MAC ({shares}): {why}")
    return lines


def model_shapes(checkpoint: str | Path, tables: EnergyTables) -> dict[str, ModelConfig]:
    """The checkpoint's own shape, then :data:`EXTRAPOLATED`."""
    own = model_shape(load_model(checkpoint).config, f"{Path(checkpoint).name} (measured model)")
    extrapolated = {name: resolve_model(row, tables).replace(name=name) for name, row in EXTRAPOLATED.items()}
    return {own.name: own, **extrapolated}


def projection_figure(linear: pd.DataFrame, title: str) -> Figure:
    """Energy per token of each projection type on each array, measured (solid) and table (hatched)."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots()
    width = 0.13
    for index, array in enumerate(ARRAYS):
        for offset, source in ((0, "measured"), (1, "table")):
            x = [i + (2 * index + offset - 2.5) * width for i in range(len(linear))]
            style = {"hatch": "//", "alpha": 0.5} if source == "table" else {}
            axes.bar(
                x,
                linear[f"{array}_{source}_pJ"],
                width,
                label=f"{array} {source}",
                color=f"C{index}",
                **style,
            )
    axes.set_xticks(range(len(linear)), linear.projection)
    axes.set(yscale="log", ylabel="energy per token (pJ, log)", title=title)
    axes.legend(fontsize=7, ncol=3)
    return figure


def waterfall_figure(frame: pd.DataFrame, title: str) -> Figure:
    """Stacked energy per token by term: b1.58 and FP16, table and measured."""
    figure = Figure(figsize=(8, 4.2), layout="constrained")
    axes = figure.subplots()
    bars = [(p, s) for p in ("b1.58", "fp16") for s in ("table_pJ", "measured_pJ")]
    terms = list(dict.fromkeys(frame.term))
    bottom = [0.0] * len(bars)
    for index, term in enumerate(terms):
        values = [frame[(frame.precision == p) & (frame.term == term)][s].sum() for p, s in bars]
        axes.bar(range(len(bars)), values, bottom=bottom, label=term, color=f"C{index}")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(range(len(bars)), [f"{p}\n{s.removesuffix('_pJ')}" for p, s in bars])
    axes.set(ylabel="energy per token (pJ)", title=title)
    axes.legend(fontsize=7)
    return figure


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m energy.model_energy",
        description="Energy per token of a BitNet model's matmuls on the generated arrays, from the energy "
        "per MAC measured at gate level on the model's own operands.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", default=str(BUNDLED_CHECKPOINT), help="the model measured")
    parser.add_argument(
        "--measured", default=str(DEFAULT_MEASURED), help="benchmarks/gate_level_model.py's CSV"
    )
    parser.add_argument("--tokens", type=positive_int, default=128, help="prefill length and decode context")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "energy" / "model_energy")
    return parser


def report(args: argparse.Namespace) -> tuple[dict[str, pd.DataFrame], dict[str, Figure], list[str]]:
    """Every table, figure and printed line of a run."""
    tables = resolve_tables(None)
    measured = load_measured(args.measured)
    frames, figures, lines = {}, {}, []
    for name, shape in model_shapes(args.checkpoint, tables).items():
        for phase in PHASES:
            key = f"{name.split()[0]}_{phase}"
            linear = matmul_energy(shape, measured, phase, args.tokens, tables)
            steps = waterfall(shape, measured, phase, args.tokens, tables=tables)
            frames[f"{key}_matmuls.csv"], frames[f"{key}_waterfall.csv"] = linear, steps
            figures[f"{key}_projections.png"] = projection_figure(linear, f"{name}, {phase}")
            figures[f"{key}_waterfall.png"] = waterfall_figure(steps, f"{name}, {phase}")
            lines.append(f"{name}, {phase} ({args.tokens} tokens): " + totals_line(steps))
            lines += ["  " + line for line in explain(linear, measured, phase)]
    return frames, figures, lines


def totals_line(steps: pd.DataFrame) -> str:
    """Energy per token of both precisions, measured and table, and their ratios."""
    totals = steps.groupby("precision")[["table_pJ", "measured_pJ"]].sum()
    b158, fp16 = totals.loc["b1.58"], totals.loc["fp16"]
    return (
        f"per token b1.58 {b158.measured_pJ:.4g} pJ (table {b158.table_pJ:.4g}), fp16 "
        f"{fp16.measured_pJ:.4g} pJ (table {fp16.table_pJ:.4g}); fp16 / b1.58 measured "
        f"{fp16.measured_pJ / b158.measured_pJ:.2f}x, table {fp16.table_pJ / b158.table_pJ:.2f}x"
    )


def write_outputs(frames: dict[str, pd.DataFrame], figures: dict[str, Figure], out: Path) -> None:
    """Every table as CSV and figure as PNG in ``out``, each written whole."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_table(out / name, frame)
    for name, figure in figures.items():
        write_figure(out / name, figure, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        frames, figures, lines = report(args)
    except (TypeError, ValueError) as error:
        fail(parser.prog, str(error))
    write_outputs(frames, figures, args.out)
    print("\n".join(lines))
    print(f"tables and figures: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
