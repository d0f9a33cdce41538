"""``python -m model.generate``: text from a BitNet checkpoint folder, by the NumPy golden inference.

``python -m model.generate [--checkpoint DIR] [--prompt TEXT] [--tokens N] [--temperature T] [--seed S]``
loads the folder with :func:`model.infer.load_model` (default: :data:`model.infer.BUNDLED_CHECKPOINT`),
encodes the prompt with the byte-level tokenizer (:mod:`model.tokenizer`, BOS first), generates ``N``
tokens (greedy unless a temperature is given) and prints the prompt and its continuation. Bad input (a
folder that is not a BitNet checkpoint, a prompt longer than the context, ...) prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time

from model.cli import OneLineErrorParser, fail, non_negative_float, positive_int
from model.infer import BUNDLED_CHECKPOINT, load_model
from model.tokenizer import decode, encode


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m model.generate",
        description="Generate text from a BitNet checkpoint folder with the NumPy golden inference.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", default=str(BUNDLED_CHECKPOINT), help="transformers-layout folder")
    parser.add_argument("--prompt", default="ROMEO:", help="the text to continue")
    parser.add_argument("--tokens", type=positive_int, default=200, help="tokens to generate")
    parser.add_argument("--temperature", type=non_negative_float, default=0.0, help="0: greedy")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the sampling")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        model = load_model(args.checkpoint)
        prompt = encode(args.prompt, bos=True)
        started = time.perf_counter()
        ids = model.generate(prompt, args.tokens, temperature=args.temperature, seed=args.seed)
    except (TypeError, ValueError) as error:
        fail(parser.prog, str(error))
    seconds = time.perf_counter() - started
    print(args.prompt + decode(ids[len(prompt) :]))
    new = len(ids) - len(prompt)
    print(f"[{new} tokens in {seconds:.2f} s, {new / seconds:.1f} tokens/s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
