"""Energy report: FP16 vs BitNet b1.58, arithmetic-only (the paper) and with the system effects.

    python -m energy.report [--node 7nm] [--tokens 512] [--model 7B --model 70B] [--out build/energy]
                            [--ops FILE] [--memory FILE] [--models FILE] [system options]

Prints the per-MAC saving, the arithmetic matmul energy per model, BitNet's Table 1 regenerated with its
residuals, the system waterfall (decode at batch 1 and prefill) with the dominant term, and the table rows
(with sources) behind every printed number. Writes CSV files and PNG plots to ``--out``. Bad input ends
with one line on stderr and exit status 2.

In Python: :func:`compute_report` computes every table (a :class:`Report`, nothing printed),
:func:`print_report` prints it, :func:`write_outputs` writes the CSV files and plots.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from energy.accumulator import ACCUMULATORS
from energy.architecture import ModelConfig, resolve_model
from energy.arithmetic import (
    FIGURE3_MODELS,
    HIGH_PRECISION,
    PAPER_COUNTING,
    PRECISIONS,
    TERNARY_ADD,
    arithmetic_ledger,
    energy_by_model,
    matmul_saving,
    per_mac_energy,
)
from energy.checks import check_fraction
from energy.formats import WEIGHT_FORMATS
from energy.ledger import used_rows
from energy.plots import figure3_left, figure3_right, phase_waterfall_figure, save_figure
from energy.system import SystemConfig, system_ledger, term_shares, waterfall
from energy.table1 import counting_hypotheses, regenerate_table1
from energy.tables import DATA_ORIGIN, MEMORY_ESTIMATES, EnergyTables, load_tables
from model.cli import OneLineErrorParser, fail, positive_int

PROG = "python -m energy.report"
DEFAULT_OUT = Path("build") / "energy"


def _zero_fraction(text: str) -> float:
    try:
        return check_fraction(float(text), "--zero-fraction")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--node", default="7nm", help="process node of the ops table (default 7nm; 45nm)")
    parser.add_argument(
        "--tokens", type=positive_int, default=512, help="prefill length and decode context (default 512)"
    )
    parser.add_argument(
        "--model",
        action="append",
        help="model size or name, repeatable or comma-separated (default: the b1.58 Figure 3 sizes)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument("--ops", type=Path, action="append", help="CSV/TOML rows overriding the ops table")
    parser.add_argument(
        "--memory", type=Path, action="append", help="CSV/TOML rows overriding the memory table"
    )
    parser.add_argument("--models", type=Path, action="append", help="CSV/TOML rows adding models")
    system = parser.add_argument_group("system model")
    system.add_argument("--weight-format", default="ternary", choices=tuple(WEIGHT_FORMATS))
    system.add_argument(
        "--weight-tier", help="memory tier of the weights (default: the node's cheapest DRAM)"
    )
    system.add_argument("--activation-tier", help="memory tier of the activations (default: largest SRAM)")
    system.add_argument("--kv-tier", help="memory tier of the KV cache (default: the weight tier)")
    system.add_argument("--memory-estimate", default="low", choices=MEMORY_ESTIMATES)
    system.add_argument("--accumulator", default="int32", choices=ACCUMULATORS)
    system.add_argument("--fp16-accumulator", default="fp16", choices=("fp16", "fp32"))
    system.add_argument(
        "--zero-fraction", type=_zero_fraction, help="zero-weight fraction (default: measured, Gaussian)"
    )
    return parser.parse_args(argv)


def _models(args: argparse.Namespace) -> list[str]:
    if not args.model:
        return list(FIGURE3_MODELS)
    names = [name.strip() for value in args.model for name in value.split(",")]
    if any(not name for name in names):
        raise ValueError("--model: empty model name")
    return names


def _fmt(frame: pd.DataFrame, digits: int = 4) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}")


def _section(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


# --- computing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Every number of the report, computed (nothing printed yet).

    Parameters
    ----------
    node : str
        Process node of the tables.
    tokens : int
        Prefill length and decode context.
    origin : str
        The data files the tables come from (packaged tables plus the user's files).
    models : tuple of ModelConfig
        The reported models, in the order given.
    saving : float
        The per-MAC arithmetic saving (:func:`energy.arithmetic.matmul_saving`).
    frames : dict of str to pandas.DataFrame
        The tables written as CSV files, by file stem: ``per_mac``, ``arithmetic``, ``table1``,
        ``table1_hypotheses``, ``waterfall``, ``terms``, ``ledger``, ``sources``.
    """

    node: str
    tokens: int
    origin: str
    models: tuple[ModelConfig, ...]
    saving: float
    frames: dict[str, pd.DataFrame]


def system_config(args: argparse.Namespace, node: str) -> SystemConfig:
    """The system model's assumptions from the command-line options."""
    return SystemConfig(
        node=node,
        weight_format=args.weight_format,
        weight_tier=args.weight_tier,
        activation_tier=args.activation_tier,
        kv_tier=args.kv_tier,
        memory_estimate=args.memory_estimate,
        accumulator=args.accumulator,
        fp16_accumulator=args.fp16_accumulator,
        zero_fraction=args.zero_fraction,
    )


def data_origin(args: argparse.Namespace) -> str:
    """The packaged data files, followed by the names of the user's ``--ops/--memory/--models`` files."""
    user_files = [path.name for option in (args.ops, args.memory, args.models) for path in option or ()]
    return DATA_ORIGIN + (f" + {', '.join(user_files)}" if user_files else "")


def arithmetic_ledgers(
    configs: list[ModelConfig], tokens: int, node: str, tables: EnergyTables
) -> list[pd.DataFrame]:
    """The arithmetic-only ledger of every model and precision (prefill), labelled by model."""
    ledgers = []
    for config in configs:
        for precision in PRECISIONS:
            ledger = arithmetic_ledger(config, tokens, node, precision, tables=tables)
            ledger.insert(0, "model", config.name)
            ledgers.append(ledger.assign(analysis="arithmetic", phase="prefill"))
    return ledgers


def system_frames(
    configs: list[ModelConfig], tokens: int, config: SystemConfig, tables: EnergyTables
) -> tuple[pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """Per model and phase (decode, prefill): the waterfall, the term shares and the system ledger.

    Returns
    -------
    tuple
        The waterfalls and the term shares (one frame each, with ``model`` and ``phase`` columns) and
        the system ledgers (one per model and phase).
    """
    rows, shares, ledgers = [], [], []
    for model in configs:
        for phase in ("decode", "prefill"):
            frame = waterfall(model, tokens, phase, config, tables=tables)
            rows.append(frame.assign(model=model.name, phase=phase))
            ledger = system_ledger(model, tokens, phase, config, tables=tables)
            ledger.insert(0, "model", model.name)
            ledgers.append(ledger.assign(analysis="system", phase=phase))
            share = term_shares(ledger)
            shares.append(share.assign(model=model.name, phase=phase))
    return pd.concat(rows, ignore_index=True), pd.concat(shares, ignore_index=True), ledgers


def source_table(
    ledger: pd.DataFrame, table1: pd.DataFrame, configs: list[ModelConfig], tables: EnergyTables
) -> pd.DataFrame:
    """The table rows behind every number (ledger rows, Table 1 rows, user models), with their sources."""
    row_ids = used_rows([ledger]) + list(dict.fromkeys(table1["row"]))
    row_ids += [f"models:{c.name}" for c in configs if c.source.startswith("models:")]
    return tables.describe_rows(dict.fromkeys(row_ids))


def compute_report(args: argparse.Namespace, tables: EnergyTables) -> Report:
    """Compute every table of the report from the parsed options (see :func:`parse_args`) and ``tables``."""
    if not isinstance(tables, EnergyTables):
        raise TypeError(f"tables must be EnergyTables, not {type(tables).__name__}")
    node = tables.check_node(args.node)
    configs = [resolve_model(name, tables) for name in _models(args)]
    tokens = args.tokens
    arithmetic = energy_by_model(tuple(configs), tokens, node, counting=PAPER_COUNTING, tables=tables)
    ledgers = arithmetic_ledgers(configs, tokens, node, tables)
    table1 = regenerate_table1(tables=tables)
    hypotheses = counting_hypotheses(tables=tables)
    waterfalls, terms, system = system_frames(configs, tokens, system_config(args, node), tables)
    ledger_all = pd.concat(ledgers + system, ignore_index=True)
    frames = {
        "per_mac": per_mac_energy(node, tables),
        "arithmetic": arithmetic,
        "table1": table1,
        "table1_hypotheses": hypotheses,
        "waterfall": waterfalls[["model", "phase", "step", "label", "fp16_J", "b1.58_J", "ratio", "change"]],
        "terms": terms[["model", "phase", "precision", "term", "energy_J", "share"]],
        "ledger": ledger_all,
        "sources": source_table(ledger_all, table1, configs, tables),
    }
    saving = matmul_saving(node, tables)
    return Report(node, tokens, data_origin(args), tuple(configs), saving, frames)


# --- printing -----------------------------------------------------------------------------------------


def print_header(report: Report) -> None:
    """The report's first lines: node, tokens, data files and models."""
    node, tokens = report.node, report.tokens
    print(f"bitnet-codesign energy report: node {node}, {tokens} tokens, tables from {report.origin}")
    print("models: " + ", ".join(c.name for c in report.models) + " (shapes and sources at the end)")


def print_per_mac(per_mac: pd.DataFrame, saving: float) -> None:
    """The per-MAC saving as the quotient of its table rows."""
    _section("Per-MAC arithmetic saving")
    parts = [f"{r.dtype.upper()} {r.op} {r.energy_pJ:g} pJ [{r.row}]" for r in per_mac.itertuples()]
    print(f"({parts[0]} + {parts[1]}) / {parts[2]} = {saving:.2f}x (rounded: {saving:.1f}x)")


def print_arithmetic(arithmetic: pd.DataFrame, node: str, tokens: int) -> None:
    """The arithmetic-only matmul energy per model, with the counting convention and its table rows."""
    _section(f"Arithmetic-only matmul energy (J), {tokens}-token prefill, {node}")
    print(
        f"counting: linear layers + attention score/context matmuls over the full square in "
        f"{HIGH_PRECISION.upper()}, no output head (BitNet Table 1's convention); b1.58 adds are "
        f"{TERNARY_ADD.upper()} adds [ops:{node}/add/{TERNARY_ADD}], rescales {HIGH_PRECISION.upper()} "
        f"multiplies [ops:{node}/mul/{HIGH_PRECISION}]; FP16 [ops:{node}/mul/fp16], [ops:{node}/add/fp16]"
    )
    print(_fmt(arithmetic.drop(columns=["model"]).rename(columns={"label": "model"})))


def print_table1(table1: pd.DataFrame, hypotheses: pd.DataFrame) -> None:
    """BitNet's Table 1 regenerated, its residuals, and the best counting hypothesis."""
    _section("BitNet (arXiv 2310.11453) Table 1 regenerated from GPT-3 shapes")
    cells = table1[["label", "precision", "op", "published_J", "regenerated_J", "residual_J", "residual_pct"]]
    print(_fmt(cells.assign(within_rounding=table1["within_rounding"]), 3))
    best = hypotheses.iloc[0]
    print(
        f"{int(table1['within_rounding'].sum())} of {len(table1)} cells within the published rounding. "
        f"Best of {len(hypotheses)} counting hypotheses: attention={best.attention}, lm_head={best.lm_head}, "
        f"ffn={best.ffn}, attention dtype={best.attention_dtype} ({best.cells_within_rounding}/{best.cells})"
    )


def waterfall_block(waterfalls: pd.DataFrame, model: str) -> pd.DataFrame:
    """One model's waterfall as a table: the step label and the decode and prefill ratios side by side."""
    mine = waterfalls[waterfalls["model"] == model]
    decode, prefill = mine[mine["phase"] == "decode"], mine[mine["phase"] == "prefill"]
    return pd.DataFrame(
        {
            "step": decode["label"].to_numpy(),
            "decode": decode["ratio"].to_numpy(),
            "prefill": prefill["ratio"].to_numpy(),
        }
    )


def dominant_terms(terms: pd.DataFrame, model: str, phase: str) -> str:
    """The largest term of each precision for one model and phase, e.g. ``fp16: weights 97%; ...``."""
    group = terms[(terms["model"] == model) & (terms["phase"] == phase)]
    tops = []
    for precision in PRECISIONS:
        top = group[group["precision"] == precision].iloc[0]
        tops.append(f"{precision}: {top['term']} {top['share']:.0%}")
    return "; ".join(tops)


def print_system(waterfalls: pd.DataFrame, terms: pd.DataFrame, report: Report) -> None:
    """Per model: the waterfall of the FP16 / b1.58 ratio and the dominant term of each phase."""
    node, tokens = report.node, report.tokens
    _section(f"System model: FP16 / b1.58 ratio step by step ({node}; decode batch 1 at context {tokens})")
    for config in report.models:
        print(f"{config.name}:")
        block = waterfall_block(waterfalls, config.name)
        print(block.to_string(index=False, float_format=lambda v: f"{v:.1f}x"))
        for phase in ("decode", "prefill"):
            print(f"  dominant term, {phase}: " + dominant_terms(terms, config.name, phase))


def print_sources(sources: pd.DataFrame) -> None:
    """Every table row used, with its value, source and file."""
    _section("Sources of every number above (table row, value, source, file)")
    for line in sources.itertuples():
        print(f"  {line.row}: {line.value} -- {line.source} [{line.origin}]")


def print_report(report: Report) -> None:
    """Print every section of ``report`` in order."""
    frames = report.frames
    print_header(report)
    print_per_mac(frames["per_mac"], report.saving)
    print_arithmetic(frames["arithmetic"], report.node, report.tokens)
    print_table1(frames["table1"], frames["table1_hypotheses"])
    print_system(frames["waterfall"], frames["terms"], report)
    print_sources(frames["sources"])


def build_report(args: argparse.Namespace, tables: EnergyTables) -> dict[str, pd.DataFrame]:
    """Compute every table of the report, print it, and return the frames to write (by file stem)."""
    report = compute_report(args, tables)
    print_report(report)
    return report.frames


# --- writing ------------------------------------------------------------------------------------------


def report_figures(frames: dict[str, pd.DataFrame], node: str, tokens: int) -> dict[str, Figure]:
    """The report's figures by file stem: Figure 3 left and right, and one waterfall per model."""
    figures = {
        "figure3_left": figure3_left(frames["per_mac"], node),
        "figure3_right": figure3_right(frames["arithmetic"], node, tokens),
    }
    for model, group in frames["waterfall"].groupby("model", sort=False):
        decode, prefill = group[group["phase"] == "decode"], group[group["phase"] == "prefill"]
        figures[f"waterfall_{model}"] = phase_waterfall_figure(decode, prefill, model, node, tokens)
    return figures


def write_outputs(frames: dict[str, pd.DataFrame], args: argparse.Namespace, node: str) -> list[Path]:
    """Write the CSV files and PNG plots to ``args.out``; return the written paths."""
    out: Path = args.out
    written = []
    for name, frame in frames.items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    for name, figure in report_figures(frames, node, args.tokens).items():
        path = out / f"{name}.png"
        save_figure(figure, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tables = load_tables(ops=args.ops, memory=args.memory, models=args.models)
        tables.check_node(args.node)
        for name in _models(args):
            resolve_model(name, tables)
        args.out.mkdir(parents=True, exist_ok=True)
        frames = build_report(args, tables)
        written = write_outputs(frames, args, args.node)
    except (ValueError, TypeError) as error:
        fail(PROG, str(error))
    except OSError as error:
        fail(PROG, f"cannot write to {args.out}: {error.strerror or error}")
    _section(f"Wrote {len(written)} files to {args.out}")
    print("  " + ", ".join(path.name for path in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
