"""Benchmark: energy per token of the bundled model (and larger shapes) from the measured energy per MAC.

Runs ``python -m energy.model_energy``'s report on the table of ``benchmarks/gate_level_model.py``
(``benchmarks/results/gate_level_model.csv``) and writes the headline figures to the section
``model-energy`` of RESULTS.md: per model shape and phase, the energy per token of b1.58 and FP16 with the
measured linear term and with the table's, and the ratios; then the explanations of every array whose
measured energy per MAC is more than 20% off the table's.

    python benchmarks/model_energy.py [--tokens 128]
"""

from __future__ import annotations

import sys

from energy.model_energy import DEFAULT_MEASURED, build_parser, explain, load_measured, report
from energy.opcount import PHASES

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section


def headline_rows(frames: dict) -> list[str]:
    """One Markdown row per ``<shape>_<phase>_waterfall.csv`` frame of the report."""
    rows = []
    for name, frame in frames.items():
        if not name.endswith("_waterfall.csv"):
            continue
        shape, phase = name.removesuffix("_waterfall.csv").rsplit("_", 1)
        totals = frame.groupby("precision")[["table_pJ", "measured_pJ"]].sum() * 1e-6  # uJ
        b158, fp16 = totals.loc["b1.58"], totals.loc["fp16"]
        linear = frame[frame.term == "linear"].set_index("precision")
        rows.append(
            f"| {shape} | {phase} | {linear.loc['b1.58', 'measured_pJ'] * 1e-6:.4g} "
            f"({linear.loc['b1.58', 'table_pJ'] * 1e-6:.4g}) "
            f"| {linear.loc['fp16', 'measured_pJ'] * 1e-6:.4g} "
            f"({linear.loc['fp16', 'table_pJ'] * 1e-6:.4g}) | {b158.measured_pJ:.4g} ({b158.table_pJ:.4g}) "
            f"| {fp16.measured_pJ:.4g} ({fp16.table_pJ:.4g}) | {fp16.measured_pJ / b158.measured_pJ:.2f}x "
            f"({fp16.table_pJ / b158.table_pJ:.2f}x) |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    frames, _, _ = report(args)
    measured = load_measured(args.measured)
    own = next(iter(frames)).rsplit("_", 2)[0]
    notes = [
        line for phase in PHASES for line in explain(frames[f"{own}_{phase}_matmuls.csv"], measured, phase)
    ]
    header = (
        "| shape | phase | b1.58 linear uJ/token measured (table) | FP16 linear measured (table) "
        "| b1.58 total measured (table) | FP16 total measured (table) | FP16 / b1.58 measured (table) |"
    )
    body = "\n".join(
        [
            f"Energy per produced token at a context (decode) or prompt (prefill) of {args.tokens} tokens, "
            "in uJ. Linear: each projection's MACs times the energy per MAC measured on the bundled model's "
            "operands (`benchmarks/results/gate_level_model.csv`; decode on the stream dataflow, prefill "
            "on stationary); the table column is `energy.system`'s linear term (b1.58: INT8 adds into an "
            "int32 accumulator, zero weights skipped; FP16: mul + add). Totals add `energy.system`'s other "
            "terms (attention and head in FP16, rescale and quantization, weight, activation and KV "
            "traffic; decode is dominated by reading the weights from DRAM). Larger shapes reuse the "
            "small model's per-projection figures (measured at N = 16).",
            "",
            header,
            "|---|---|---|---|---|---|---|",
            *headline_rows(frames),
            "",
            "Per MAC against the paper's per-op table (the bundled model's shape; MAC-weighted split):",
            "",
            *[f"- {line}" for line in notes],
        ]
    )
    print(body)
    options = "" if args.measured == str(DEFAULT_MEASURED) else f" --measured {args.measured}"
    write_section("model-energy", body, f"python benchmarks/model_energy.py --tokens {args.tokens}{options}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
