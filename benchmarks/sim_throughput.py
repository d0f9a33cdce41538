"""Benchmark: MACs verified per second through cocotb + Verilator, next to the practical limit.

For the default array (``hw.params`` defaults: ternary, N=64, M=8), measures

1. cocotb: ``test_full_throughput`` of ``sim/tb_mac_array.py`` (random reductions, one beat per cycle,
   every output checked against ``model.bitlinear.bitlinear_int``), timed inside the simulation;
2. the limit: the same Verilog built by Verilator with a minimal C++ testbench (no cocotb, no checking)
   that writes a random payload into ``i_stream__payload`` every cycle and toggles the clock.

and writes both and their ratio to ``benchmarks/RESULTS.md``.

    python benchmarks/sim_throughput.py [--macs 4000000] [--cycles 2000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from hw.generate import verilog_for
from hw.params import ArrayParams
from sim.build import build_root
from sim.fastsim import verilate_cpp
from sim.runner import run_array
from sim.settings import CFLAGS_VARIABLE, THROUGHPUT_DIVISOR, THROUGHPUT_REPORT, VERILATOR_CFLAGS

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

# Verilator escapes the double underscore of the port names (i_stream__payload) as ___05F in C++.
CPP_TESTBENCH = r"""
#include "Vtop.h"
#include "verilated.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstdint>

int main(int argc, char** argv) {
    const uint64_t cycles = std::strtoull(argv[1], nullptr, 10);
    VerilatedContext context;
    Vtop top{&context};
    uint64_t state = 88172645463325252ull, outputs = 0, checksum = 0;
    top.rst = 1; top.clk = 0; top.eval(); top.clk = 1; top.eval(); top.clk = 0; top.rst = 0; top.eval();
    top.o_stream___05Fready = 1;
    top.i_stream___05Fvalid = 1;
    const size_t words = sizeof(top.i_stream___05Fpayload) / sizeof(uint32_t);
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t c = 0; c < cycles; ++c) {
        for (size_t w = 0; w < words; ++w) {  // xorshift random payload, one write per 32-bit word
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            top.i_stream___05Fpayload[w] = static_cast<uint32_t>(state);
        }
        top.clk = 1; top.eval();
        if (top.o_stream___05Fvalid) { ++outputs; checksum += top.o_stream___05Fpayload[0]; }
        top.clk = 0; top.eval();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%llu %.6f %llu %llu\n", (unsigned long long)cycles, seconds,
                (unsigned long long)outputs, (unsigned long long)checksum);
    return 0;
}
"""


def cpp_limit(params: ArrayParams, cycles: int) -> tuple[float, float]:
    """Cycles per second and MACs per second of the bare Verilator model of ``params``."""
    top = params.default_name()
    folder = build_root() / f"cpp-{top}"
    executable = verilate_cpp(folder, verilog_for(params, name=top), top, CPP_TESTBENCH, "bench")
    output = subprocess.run([str(executable), str(cycles)], check=True, capture_output=True, text=True)
    ran, seconds = int(output.stdout.split()[0]), float(output.stdout.split()[1])
    return ran / seconds, ran * params.macs_per_beat / seconds


def cocotb_throughput(params: ArrayParams, macs: int) -> tuple[dict, float]:
    """``test_full_throughput``'s report (``macs``, ``seconds``, ``beats``) for about ``macs`` MACs, and the
    wall seconds of the whole cocotb run."""
    start = time.perf_counter()
    # test_full_throughput drives 1 / THROUGHPUT_DIVISOR of the run's MACs (the short test of `pytest sim/`)
    run_macs = THROUGHPUT_DIVISOR * macs
    report = run_array(params, tests=["test_full_throughput"], macs=run_macs, run_name="benchmark")
    return report.reports[THROUGHPUT_REPORT], time.perf_counter() - start


def results_body(
    params: ArrayParams, measured: dict, wall: float, cycles: int, limit: tuple[float, float]
) -> str:
    """The RESULTS.md section: both harnesses, their ratio, and the goal."""
    cycles_rate, cpp_rate = limit
    cocotb_rate = measured["macs"] / measured["seconds"]
    return "\n".join(
        [
            f"Default array `{params.default_name()}` ({params.macs_per_beat} MACs per beat).",
            "",
            "| harness | MACs | verified MACs/s | cycles/s |",
            "|---|---:|---:|---:|",
            f"| cocotb + Verilator, every output checked against the golden model | {measured['macs']:,} | "
            f"{cocotb_rate:,.0f} | {measured['beats'] / measured['seconds']:,.0f} |",
            f"| Verilator C++ testbench, no cocotb, no checking (the limit) | "
            f"{cycles * params.macs_per_beat:,} | {cpp_rate:,.0f} (simulated) | {cycles_rate:,.0f} |",
            "",
            f"Ratio limit / cocotb: {cpp_rate / cocotb_rate:.1f}x. Goal: >= 2,000,000 verified MACs/s "
            "through "
            f"cocotb: {'met' if cocotb_rate >= 2e6 else 'NOT met'}. The cocotb rate counts everything from "
            "packing the stimulus and computing the model's sums to the last check; the whole cocotb run "
            f"(simulator start, stimulus generation) took {wall:.0f} s.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    # the cocotb builds at Verilator's own C++ optimization, as the recorded rates were measured
    os.environ.setdefault(CFLAGS_VARIABLE, VERILATOR_CFLAGS)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--macs", type=int, default=4_000_000, help="MACs in the cocotb run (default 4e6)")
    parser.add_argument("--cycles", type=int, default=2_000_000, help="cycles of the C++ run (default 2e6)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.macs < 1 or args.cycles < 1:
        parser.error("--macs and --cycles must be positive")
    params = ArrayParams()
    measured, wall = cocotb_throughput(params, args.macs)
    body = results_body(params, measured, wall, args.cycles, cpp_limit(params, args.cycles))
    print(body)
    if not args.no_write:
        write_section(
            "sim_throughput", body, "python benchmarks/sim_throughput.py " + " ".join(argv or sys.argv[1:])
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
