"""Benchmark: proof times of the arrays' properties (sim.prove) by configuration, into RESULTS.md.

Runs :func:`sim.prove.prove` (function and stream properties of :mod:`sim.formal`, base case and
k-induction by sby with Yices) for each configuration of :data:`CONFIGS`, ternary, int8 and fp16, both
trees, pipeline 0 and full, both dataflows, within ``--timeout-s`` each (default 120 s), and writes the
``proofs`` section of ``benchmarks/RESULTS.md``: verdict, depth and wall time per configuration. A
time-out is reported as TIMEOUT, never as proven.

    python benchmarks/proofs.py [--timeout-s 120]
"""

from __future__ import annotations

import argparse

import pandas as pd

from energy.gates.study import markdown
from hw.params import ArrayParams
from model.cli import positive_float
from sim.prove import ProofSettings, prove

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

#: The small configurations pytest proves, then wider ones, up to where the solver stops in the budget.
CONFIGS = (
    ArrayParams("ternary", 2, 1, max_k=16, pipeline="full"),
    ArrayParams("ternary", 4, 2, max_k=16),
    ArrayParams("ternary", 4, 2, max_k=16, pipeline="full"),
    ArrayParams("ternary", 4, 2, max_k=16, dataflow="stationary"),
    ArrayParams("ternary", 2, 1, max_k=16, tree="split", pipeline="full", dataflow="stationary"),
    ArrayParams("ternary", 8, 2, max_k=16),
    ArrayParams("ternary", 16, 1, max_k=16),
    ArrayParams("int8", 4, 2, max_k=16),
    ArrayParams("int8", 2, 2, max_k=16, dataflow="stationary"),
    ArrayParams("int8", 8, 1, max_k=16),
    ArrayParams("int8", 1, 1, max_k=16, pipeline="full"),
    ArrayParams("int8", 1, 1, act_width=4, max_k=16, pipeline="full"),
    ArrayParams("int8", 1, 1, pipeline="full"),  # max_k 16384
    ArrayParams("fp16", 1, 1, max_k=16),
    ArrayParams("fp16", 2, 1, max_k=16),
    ArrayParams("fp16", 2, 2, max_k=16),
    ArrayParams("fp16", 4, 1, max_k=16),
    ArrayParams("fp16", 1, 1, max_k=16, dataflow="stationary"),
    ArrayParams("fp16", 2, 1, max_k=16, dataflow="stationary"),
    ArrayParams("fp16", 1, 1, max_k=16, pipeline="full"),
    ArrayParams("fp16", 2, 1, max_k=16, pipeline="full"),
)


def measure(params: ArrayParams, settings: ProofSettings) -> dict:
    result = prove(params, settings)
    print(f"{params.default_name()}: {result.describe()}", flush=True)
    return {
        "array": params.array,
        "lanes": params.lanes,
        "rows": params.rows,
        "act_bits": params.act_width,
        "max_k": params.max_k,
        "tree": params.tree,
        "pipeline": params.pipeline,
        "dataflow": params.dataflow,
        "verdict": result.status,
        "depth": result.depth,
        "seconds": result.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=positive_float, default=120.0, help="budget of each proof")
    args = parser.parse_args()
    settings = ProofSettings(timeout_s=args.timeout_s)
    frame = pd.DataFrame([measure(params, settings) for params in CONFIGS])
    body = "\n".join(
        [
            "Properties of the arrays (`sim.prove`: function against an unbounded reference sum, no wrap up "
            "to max_k, stream rules, stage invariants; fp16: function against a reference of the same "
            "binary16 operations, see `sim.formal`), base case and k-induction by sby + Yices, budget "
            f"{args.timeout_s:g} s per configuration.",
            "",
            markdown(frame),
        ]
    )
    suffix = f" --timeout-s {args.timeout_s:g}" if args.timeout_s != 120.0 else ""
    write_section("proofs", body, "python benchmarks/proofs.py" + suffix)


if __name__ == "__main__":
    main()
