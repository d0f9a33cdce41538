"""Benchmark: proof times of the netlist-to-RTL equivalence (energy.gates.equivalence) against array size.

Synthesizes each configuration with the flow of :mod:`energy.gates.synth` and proves its mapped ASAP7
netlist equivalent to the RTL by each engine within a budget (``--timeout-s``, default 60 s), then writes
the verdicts and times to the ``equivalence`` section of ``benchmarks/RESULTS.md`` (a time-out is reported
as such, never as proven).

    python benchmarks/equivalence.py [--timeout-s 60]
    python benchmarks/equivalence.py --study [--timeout-s 60] [--engine sweep]

``--study`` instead checks the netlists of the gate-level study (:data:`energy.gates.study.FULL`): the
compared arrays (the rows of ``benchmarks/results/gate_level.csv``) and the ternary tree and pipeline
variants. Each compared array is synthesized
again (the flow is deterministic; its cell count must match the CSV's, or the script stops) and its verdict
written to the CSV's ``netlist_equivalence`` column and to the ``equivalence-study`` section.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from energy.gates.equivalence import (
    DEFAULT_CLI_TIMEOUT_S,
    ENGINES,
    EquivalenceSettings,
    add_settings_arguments,
    check_equivalence,
    settings_from_arguments,
)
from energy.gates.study import FULL, markdown, micro_params
from energy.gates.synth import synthesize
from hw.generate import verilog_for
from hw.params import ArrayParams

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

MEASURED_CSV = Path(__file__).resolve().parent / "results" / "gate_level.csv"
#: From the sizes pytest proves up to the study's, ternary then int8 and FP16.
CONFIGS = (
    ArrayParams("ternary", 2, 1, max_k=16),
    ArrayParams("ternary", 4, 1, max_k=16),
    ArrayParams("ternary", 4, 1, max_k=16, pipeline="full"),
    ArrayParams("ternary", 4, 1),
    ArrayParams("ternary", 8, 1, max_k=16),
    ArrayParams("ternary", 8, 1, max_k=16, pipeline="full"),
    ArrayParams("ternary", 16, 1, max_k=16, pipeline="full"),
    ArrayParams("ternary", 16, 1),
    ArrayParams("int8", 1, 1, max_k=16),
    ArrayParams("int8", 4, 1),
    ArrayParams("fp16", 1, 1, max_k=16),
    ArrayParams("fp16", 4, 1),
)


def measure(params: ArrayParams, settings: EquivalenceSettings) -> dict:
    """One configuration checked by each engine (:data:`ENGINES`) within the budget of ``settings``."""
    top = params.default_name()
    result = synthesize(verilog_for(params, name=top, unit_modules=True), top)
    record = {
        "array": params.array,
        "lanes": params.lanes,
        "rows": params.rows,
        "max_k": params.max_k,
        "acc_bits": params.acc_width,
        "pipeline": params.pipeline,
        "cells": result.cell_count,
    }
    for engine in ENGINES:
        started = time.perf_counter()
        verdict = check_equivalence(result, replace(settings, engine=engine), use_cache=False)
        record[f"{engine}"] = verdict.summary()
        record[f"{engine}_s"] = time.perf_counter() - started
        print(f"{top}: {verdict.line()}", flush=True)
    return record


def check_study(settings: EquivalenceSettings, path: Path = MEASURED_CSV) -> pd.DataFrame:
    """The verdicts on the study's compared arrays, written into the CSV at ``path``."""
    frame = pd.read_csv(path)
    verdicts, records = [], []
    for row in frame.itertuples(index=False):
        params = FULL.params(row.array, int(row.lanes), tree=row.tree, dataflow=row.dataflow)
        top = params.default_name()
        result = synthesize(verilog_for(params, name=top, unit_modules=True), top)
        scaled = round(result.cell_count * row.rows / row.measured_rows)
        if scaled != row.cells:
            raise SystemExit(f"{top}: {scaled} cells now, {row.cells} in {path.name}: not the same netlist")
        verdict = check_equivalence(result, settings)
        print(f"{top}: {verdict.line()}", flush=True)
        verdicts.append(verdict.summary())
        records.append(
            {"array": row.array, "lanes": row.lanes, "cells": result.cell_count}
            | {"verdict": verdict.summary(), "proof_s": verdict.seconds}
        )
    frame["netlist_equivalence"] = verdicts
    frame.to_csv(path, index=False)
    return pd.DataFrame(records)


def check_micro(settings: EquivalenceSettings) -> pd.DataFrame:
    """The verdicts on the study's tree and pipeline variants (:func:`energy.gates.study.micro_params`)."""
    records = []
    for params in micro_params(FULL):
        top = params.default_name()
        result = synthesize(verilog_for(params, name=top, unit_modules=True), top)
        verdict = check_equivalence(result, settings)
        print(f"{top}: {verdict.line()}", flush=True)
        records.append(
            {
                "tree": params.tree,
                "pipeline": params.pipeline,
                "lanes": params.lanes,
                "cells": result.cell_count,
            }
            | {"verdict": verdict.summary(), "proof_s": verdict.seconds}
        )
    return pd.DataFrame(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_settings_arguments(parser, prefix="", timeout_s=DEFAULT_CLI_TIMEOUT_S, optional=False)
    parser.add_argument("--study", action="store_true", help="check the gate-level study's netlists")
    args = parser.parse_args()
    settings = settings_from_arguments(args, prefix="")
    suffix = f" --timeout-s {args.timeout_s:g}" if args.timeout_s != DEFAULT_CLI_TIMEOUT_S else ""
    if args.study:
        body = (
            "The netlists of the gate-level study's compared arrays (one row synthesized, "
            f"`benchmarks/results/gate_level.csv`), engine `{settings.engine}`, budget {args.timeout_s:g} s "
            "each (the FP16 rows unit by unit, `energy.gates.units`; a verdict already cached beside a "
            "netlist keeps the time of the run that made it).\n\n"
            + markdown(check_study(settings))
            + "\n\nThe study's ternary tree and pipeline variants (`micro_architectures`, one row):\n\n"
            + markdown(check_micro(settings))
        )
        write_section("equivalence-study", body, "python benchmarks/equivalence.py --study" + suffix)
        return
    frame = pd.DataFrame([measure(params, settings) for params in CONFIGS])
    body = "\n".join(
        [
            "Netlist-to-RTL equivalence (`energy.gates.equivalence`: flip-flops paired with register bits), "
            "by each engine: `sweep` (the flip-flops cut into shared inputs and next-state outputs, SAT "
            "sweeping in ABC, `energy.gates.sweep`) and `induction` (one induction step by smtbmc + "
            f"Yices). Budget {args.timeout_s:g} s per netlist and engine, one row, signed tree, stream "
            "dataflow. `<engine>_s` is the whole check (the Yosys runs and the solver).",
            "",
            markdown(frame),
        ]
    )
    write_section("equivalence", body, "python benchmarks/equivalence.py" + suffix)


if __name__ == "__main__":
    main()
