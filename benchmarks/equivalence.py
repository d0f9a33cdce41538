"""Benchmark: proof times of the netlist-to-RTL equivalence (energy.gates.equivalence) against array size.

Synthesizes each configuration with the flow of :mod:`energy.gates.synth` and proves its mapped ASAP7
netlist equivalent to the RTL within a budget (``--timeout-s``, default 60 s), then writes the verdicts and
times to the ``equivalence`` section of ``benchmarks/RESULTS.md`` (a time-out is reported as such, never as
proven).

    python benchmarks/equivalence.py [--timeout-s 60]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from energy.gates.equivalence import EquivalenceSettings, check_equivalence
from energy.gates.study import markdown
from energy.gates.synth import synthesize
from hw.generate import verilog_for
from hw.params import ArrayParams

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

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
    ArrayParams("fp16", 1, 1, max_k=16),
)


def measure(params: ArrayParams, settings: EquivalenceSettings) -> dict:
    top = params.default_name()
    result = synthesize(verilog_for(params, name=top, unit_modules=True), top)
    started = time.perf_counter()
    verdict = check_equivalence(result, settings, use_cache=False)
    record = {
        "array": params.array,
        "lanes": params.lanes,
        "rows": params.rows,
        "max_k": params.max_k,
        "acc_bits": params.acc_width,
        "pipeline": params.pipeline,
        "cells": result.cell_count,
        "verdict": verdict.summary(),
        "proof_s": time.perf_counter() - started,
    }
    print(f"{top}: {verdict.line()}", flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=float, default=60.0, help="budget of each proof")
    args = parser.parse_args()
    settings = EquivalenceSettings(timeout_s=args.timeout_s)
    frame = pd.DataFrame([measure(params, settings) for params in CONFIGS])
    body = "\n".join(
        [
            "Netlist-to-RTL equivalence (`energy.gates.equivalence`: flip-flops paired with register bits, "
            f"one induction step by smtbmc + Yices), budget {args.timeout_s:g} s per netlist, one row, "
            "signed tree, stream dataflow. `proof_s` is the whole check (two Yosys runs and the solver).",
            "",
            markdown(frame),
        ]
    )
    command = "python benchmarks/equivalence.py" + (
        f" --timeout-s {args.timeout_s:g}" if args.timeout_s != 60.0 else ""
    )
    write_section("equivalence", body, command)


if __name__ == "__main__":
    main()
