"""``python -m sim.run_model``: a trained BitNet model generating text with every projection on the RTL.

``python -m sim.run_model [--checkpoint DIR] [--prompt TEXT] [--tokens N] [--report FILE] [array options]``
loads the checkpoint (default :data:`model.infer.BUNDLED_CHECKPOINT`) with :func:`model.infer.load_model`,
generates the array the options of ``python -m hw.generate`` describe (derived from the same
:class:`hw.params.ArrayParams` fields), builds it with the compiled harness (:mod:`sim.fastsim`) and
generates ``N`` greedy tokens with every ``q/k/v/o/gate/up/down`` integer matmul on the array
(:func:`sim.model_run.generate_on_rtl`), beside the golden model alone. It prints the text, the tokens, the
MACs run on the RTL, the mismatches, the verified MACs/s and the wall time, writes the JSON report (default
``build/run_model/<array name>.json``, written whole), and exits 1 on any mismatch or differing token, 0
otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hw.generate import add_array_arguments, params_from_arguments
from model.atomic import write_text
from model.cli import OneLineErrorParser, fail, positive_int
from model.data import REPO_ROOT
from model.infer import BUNDLED_CHECKPOINT, load_model
from sim.fastsim import FastArray
from sim.model_run import RtlReport, generate_on_rtl

PROG = "python -m sim.run_model"
DEFAULT_REPORT_DIR = REPO_ROOT / "build" / "run_model"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        description="Generate text with a BitNet checkpoint, every projection on the generated RTL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", default=str(BUNDLED_CHECKPOINT), help="transformers-layout folder")
    parser.add_argument("--prompt", default="ROMEO:", help="the text to continue")
    parser.add_argument("--tokens", type=positive_int, default=20, help="tokens to generate (greedy)")
    parser.add_argument(
        "--report", type=Path, default=None, help="JSON report (default build/run_model/<array name>.json)"
    )
    add_array_arguments(parser)
    return parser


def summary(report: RtlReport) -> str:
    """The lines printed after a run."""
    counts, data = report.counts, report.as_dict()
    lines = [
        report.prompt + report.text,
        f"tokens: {report.ids}",
        f"golden: {'identical' if report.identical else 'DIFFERENT: ' + repr(report.golden_text)}",
        f"array {report.params.default_name()}: {counts.calls} projection calls, {counts.macs:,} MACs on the "
        f"RTL ({counts.array_macs:,} lane-MACs with padding), {counts.beats:,} beats, {counts.loads:,} tile "
        f"loads, {counts.cycles:,} cycles",
        f"mismatches: {counts.mismatches} ({counts.mismatched_sums} output sums, "
        f"{counts.mismatched_accumulators} accumulators, {counts.failed_calls} failed calls)",
        f"{data['verified_macs_per_s']:,.0f} verified MACs/s (whole projection calls), "
        f"{counts.cycles / counts.simulated_seconds:,.0f} simulated cycles/s; "
        f"wall {report.wall_seconds:.2f} s, "
        f"{data['seconds_per_token'] * 1e3:.1f} ms per token",
    ]
    return "\n".join(lines)


def write_report(report: RtlReport, path: Path) -> None:
    """The JSON report, through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(report.as_dict(), indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = params_from_arguments(args)
        model = load_model(args.checkpoint)
        with FastArray(params) as array:
            report = generate_on_rtl(model, array, args.prompt, args.tokens)
    except (TypeError, ValueError) as error:
        fail(PROG, str(error))
    path = args.report or DEFAULT_REPORT_DIR / f"{params.default_name()}.json"
    write_report(report, path)
    print(summary(report))
    print(f"report: {path}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
