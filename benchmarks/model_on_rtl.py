"""Benchmark: the compiled harness against the bare Verilator rate, and the bundled model on the RTL.

For the default array (``hw.params`` defaults: ternary, N=64, M=8) in both dataflows, in one run:

1. the limit: the bare Verilator model with a minimal C++ testbench (``benchmarks/sim_throughput.py``'s: a
   random payload every cycle, no checking), and cocotb on the same Verilog (``test_full_throughput``:
   random reductions, every output checked);
2. the compiled harness (``sim.fastsim``) on one random ternary layer of ``--layer-tokens`` tokens x
   ``--layer-size`` x ``--layer-size`` (``sim.model_run.RtlMatmul``: schedule, pack, simulate, decode,
   check every output sum and accumulator), as verified MACs/s over the whole call;
3. the bundled model generating ``--tokens`` greedy tokens with every projection on the array
   (``sim.model_run.generate_on_rtl``), its text checked against the golden model's.

Writes the section ``model_on_rtl`` of RESULTS.md.

    python benchmarks/model_on_rtl.py [--tokens 200] [--layer-tokens 64] [--layer-size 1024]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from hw.params import DATAFLOWS, ArrayParams
from model.cli import OneLineErrorParser, positive_int
from model.infer import BUNDLED_CHECKPOINT, load_model
from sim.fastsim import FastArray
from sim.model_run import RtlMatmul, RtlReport, generate_on_rtl
from sim.settings import CFLAGS_VARIABLE, VERILATOR_CFLAGS

try:
    from benchmarks.results import write_section
    from benchmarks.sim_throughput import cocotb_throughput, cpp_limit
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section
    from sim_throughput import cocotb_throughput, cpp_limit

PROMPT = "ROMEO:"


def layer_rate(array: FastArray, tokens: int, size: int, seed: int = 0) -> tuple[float, float, int]:
    """Verified MACs/s over whole calls, simulated cycles/s inside the harness, and mismatches, of one
    random ternary layer (the call repeated until it has run for about two seconds)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (tokens, size)).astype(np.int8)
    w = rng.integers(-1, 2, (size, size)).astype(np.int8)
    hook = RtlMatmul(array)
    start = time.perf_counter()
    while time.perf_counter() - start < 2 or hook.counts.calls < 2:
        hook("model.layers.0.mlp.up_proj", x, w)
    counts = hook.counts
    return counts.macs / counts.seconds, counts.cycles / counts.simulated_seconds, counts.mismatches


def model_row(report: RtlReport) -> str:
    counts = report.counts
    data = report.as_dict()
    return (
        f"| model: bundled checkpoint, {len(report.ids)} tokens after {PROMPT!r} | {counts.macs:,} "
        f"| {data['verified_macs_per_s']:,.0f} | {counts.cycles / counts.simulated_seconds:,.0f} "
        f"| {data['seconds_per_token'] * 1e3:.1f} ms/token, {counts.mismatches} mismatches, text "
        f"{'identical' if report.identical else 'DIFFERENT'} |"
    )


def dataflow_section(params: ArrayParams, args: argparse.Namespace, limit: tuple[float, float]) -> str:
    """One dataflow's table: the limit, the harness on a layer, the model."""
    model = load_model(BUNDLED_CHECKPOINT)
    with FastArray(params) as array:
        layer_macs_s, layer_cycles_s, layer_mismatches = layer_rate(array, args.layer_tokens, args.layer_size)
        report = generate_on_rtl(model, array, PROMPT, args.tokens)
    model_macs_s = report.as_dict()["verified_macs_per_s"]
    limit_cycles, limit_macs = limit
    cocotb, _ = cocotb_throughput(params, args.cocotb_macs)
    cocotb_macs_s = cocotb["macs"] / cocotb["seconds"]
    lines = [
        f"`{params.default_name()}` ({params.macs_per_beat} MACs per beat):",
        "",
        "| harness | MACs | verified MACs/s | simulated cycles/s | notes |",
        "|---|---:|---:|---:|---|",
        f"| bare Verilator C++ testbench, no checking (the limit) | | {limit_macs:,.0f} (simulated) "
        f"| {limit_cycles:,.0f} | random payload every cycle |",
        f"| cocotb + Verilator, random reductions | {cocotb['macs']:,} | {cocotb_macs_s:,.0f} "
        f"| {cocotb['beats'] / cocotb['seconds']:,.0f} | every output checked |",
        f"| compiled harness, random layer {args.layer_tokens} x {args.layer_size} x {args.layer_size} | "
        f"| {layer_macs_s:,.0f} | {layer_cycles_s:,.0f} | {layer_mismatches} mismatches |",
        model_row(report),
        "",
        f"Harness / limit: layer {layer_macs_s / limit_macs:.0%}, model {model_macs_s / limit_macs:.0%} "
        f"(goal >= 40%); cocotb / limit {cocotb_macs_s / limit_macs:.0%}. Model wall time "
        f"{report.wall_seconds:.1f} s.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=positive_int, default=200, help="tokens the model generates")
    parser.add_argument("--layer-tokens", type=positive_int, default=64, help="tokens of the random layer")
    parser.add_argument("--layer-size", type=positive_int, default=1024, help="K = O of the random layer")
    parser.add_argument("--cycles", type=positive_int, default=2_000_000, help="cycles of the bare C++ run")
    parser.add_argument("--cocotb-macs", type=positive_int, default=2_000_000, help="MACs of the cocotb run")
    return parser


def main(argv: list[str] | None = None) -> int:
    # the cocotb builds at Verilator's own C++ optimization, as the recorded rates were measured
    os.environ.setdefault(CFLAGS_VARIABLE, VERILATOR_CFLAGS)
    args = build_parser().parse_args(argv)
    sections = []
    for dataflow in DATAFLOWS:
        params = ArrayParams(dataflow=dataflow)
        sections.append(dataflow_section(params, args, cpp_limit(params, args.cycles)))
        print(sections[-1], flush=True)
    body = (
        "Verified MACs/s count useful multiply-accumulates (padding excluded) over the whole call: "
        "scheduling, packing, simulation, decoding and checking every output sum against the schedule's "
        "sums and every accumulator against `model.bitlinear.bitlinear_int`. Simulated cycles/s: inside "
        "the harness's C++ loop only.\n\n" + "\n\n".join(sections)
    )
    options = " ".join(argv if argv is not None else sys.argv[1:])
    write_section("model_on_rtl", body, f"python benchmarks/model_on_rtl.py {options}".strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
