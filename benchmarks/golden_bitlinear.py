"""Benchmark: the golden BitLinear inference path against a float32 matmul of the same shape.

Times ``model.bitlinear.bitlinear_from_quantized`` (activation quantization + exact integer matmul +
rescale) for a 4096 x 4096 layer at 1, 64 and 512 tokens next to a float32 ``x @ W.T``, measured in the
same run with the two interleaved, and the one-off cost of ``quantize_weights``. Writes the ratios to
``benchmarks/RESULTS.md``.

    python benchmarks/golden_bitlinear.py [--features 4096] [--tokens 1 64 512] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from model.bitlinear import bitlinear_from_quantized
from model.quant import quantize_weights

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each call, the calls alternating so that machine noise hits them alike."""
    for call in calls.values():  # warm-up
        call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            samples[name].append(_seconds(call))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--features", type=int, default=4096, help="in_features = out_features (default 4096)"
    )
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 64, 512], help="token counts")
    parser.add_argument("--repeats", type=int, default=15, help="timed repetitions per case (default 15)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.features < 1 or args.repeats < 1 or min(args.tokens) < 1:
        parser.error("--features, --tokens and --repeats must be positive")

    rng = np.random.default_rng(0)
    w = rng.standard_normal((args.features, args.features)).astype(np.float32)
    quantize_seconds = statistics.median(_seconds(lambda: quantize_weights(w)) for _ in range(5))
    w_q, s_w = quantize_weights(w)

    rows = []
    for tokens in args.tokens:
        x = rng.standard_normal((tokens, args.features)).astype(np.float32)
        times = interleaved_medians(
            {
                "golden": lambda x=x: bitlinear_from_quantized(x, w_q, s_w),
                "float32": lambda x=x: x @ w.T,
            },
            args.repeats,
        )
        rows.append((tokens, times["golden"], times["float32"]))

    # context: the naive exact alternative, numpy's integer matmul (no BLAS), at the middle token count
    naive_tokens = args.tokens[len(args.tokens) // 2]
    x_q = rng.integers(-128, 128, (naive_tokens, args.features), dtype=np.int32)
    w_q32 = w_q.astype(np.int32)
    naive_seconds = _seconds(lambda: x_q @ w_q32.T)
    naive_float = next(f for t, _, f in rows if t == naive_tokens)

    shape = f"{args.features} x {args.features}"
    lines = [
        f"Golden BitLinear `bitlinear_from_quantized` vs float32 `x @ W.T`, layer {shape}, "
        f"median of {args.repeats} interleaved runs. Goal: ratio <= 2 at 64 and 512 tokens.",
        "",
        "| tokens | golden (ms) | float32 matmul (ms) | ratio golden / float32 |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {t} | {g * 1e3:.2f} | {f * 1e3:.2f} | {g / f:.2f} |" for t, g, f in rows]
    lines += [
        "",
        f"One-off `quantize_weights` of the {shape} matrix: {quantize_seconds * 1e3:.1f} ms "
        f"({quantize_seconds / rows[0][2]:.1f}x one {rows[0][0]}-token float32 matmul).",
        f"For context, a naive numpy int32 matmul at {naive_tokens} tokens: {naive_seconds * 1e3:.0f} ms, "
        f"{naive_seconds / naive_float:.0f}x the float32 matmul (one run).",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        command = "python benchmarks/golden_bitlinear.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        write_section("golden_bitlinear", body, command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
