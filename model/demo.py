"""Golden-model demo: quantize a Gaussian layer, run it exactly in integers, and show what it costs.

    python -m model.demo [--in-features 4096] [--out-features 1024] [--tokens 16] [--seed 0]

Prints the ternary weight statistics, checks the integer path against a plain int64 matmul, compares the
BitLinear output with the float32 layer, and lists the storage of each weight packing with its round trip.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from model.bitlinear import MAX_IN_FEATURES_INT32, bitlinear_from_quantized, bitlinear_int
from model.cli import OneLineErrorParser, positive_int
from model.packing import from_hf_packed, pack_2bit, pack_base3, to_hf_packed, unpack_2bit, unpack_base3
from model.quant import quantize_activations, quantize_weights


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(prog="python -m model.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--in-features", type=positive_int, default=4096, help="reduction length K (default 4096)"
    )
    parser.add_argument(
        "--out-features", type=positive_int, default=1024, help="output channels (default 1024)"
    )
    parser.add_argument("--tokens", type=positive_int, default=16, help="activation vectors (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.in_features > MAX_IN_FEATURES_INT32:
        parser.error(f"--in-features must be <= {MAX_IN_FEATURES_INT32} (int32 accumulator bound)")
    if args.in_features * args.out_features > 2**28:
        parser.error("--in-features x --out-features must be <= 2**28 weights for this demo")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    k, n = args.in_features, args.out_features
    w = (rng.standard_normal((n, k)) * 0.02).astype(np.float32)
    x = rng.standard_normal((args.tokens, k)).astype(np.float32)

    w_q, s_w = quantize_weights(w)
    x_q, s_x = quantize_activations(x)
    fractions = {v: float(np.mean(w_q == v)) for v in (-1, 0, 1)}
    print(f"BitLinear {n} x {k}, {args.tokens} tokens (seed {args.seed})")
    print(f"  weights: s_w = {s_w:.6g}; -1 {fractions[-1]:.1%}, 0 {fractions[0]:.1%}, +1 {fractions[1]:.1%}")
    print(
        f"  activations: s_x from {s_x.min():.4g} to {s_x.max():.4g}, int8 range [{x_q.min()}, {x_q.max()}]"
    )

    acc = bitlinear_int(x_q, w_q)
    exact = np.array_equal(acc, x_q.astype(np.int64) @ w_q.astype(np.int64).T)
    print(f"  integer path: int32 acc in [{acc.min()}, {acc.max()}], equal to int64 matmul: {exact}")

    y = bitlinear_from_quantized(x, w_q, s_w)
    reference = x @ w.T
    error = np.linalg.norm(y - reference) / np.linalg.norm(reference)
    correlation = np.corrcoef(y.ravel(), reference.ravel())[0, 1]
    print(f"  vs float32 layer: relative L2 error {error:.3f}, correlation {correlation:.4f}")

    print("  weight storage:")
    round_trips = [
        ("2-bit codes (RTL layout)", pack_2bit(w_q), lambda p: unpack_2bit(p, k)),
        ("base-3, 5 trits/byte", pack_base3(w_q), lambda p: unpack_base3(p, k)),
        ("transformers checkpoint", to_hf_packed(w_q), lambda p: from_hf_packed(p, n)),
    ]
    print(f"    {'float32':26s} {w.nbytes:>12,d} bytes  32.00 bits/weight")
    for name, packed, unpack in round_trips:
        bits = packed.nbytes * 8 / w_q.size
        ok = np.array_equal(unpack(packed), w_q)
        print(f"    {name:26s} {packed.nbytes:>12,d} bytes  {bits:5.2f} bits/weight  round trip: {ok}")
    return 0 if exact and all(np.array_equal(u(p), w_q) for _, p, u in round_trips) else 1


if __name__ == "__main__":
    sys.exit(main())
