"""Benchmark: decode speed of the NumPy golden inference against transformers and the torch model.

One b1.58 checkpoint of a size preset (``model.bitnet_config.preset``, untrained weights from a fixed seed:
the speed does not depend on the values) is exported once (``model.export``) and decoded greedily from
the same prompt by three engines in one run:

- ``model.infer`` (NumPy, exact int32 projections, KV cache);
- transformers' ``BitNetForCausalLM`` loaded from the folder (unpacks the ternary weights on every
  forward; its ``BitLinear`` is ``torch.compile``-d on first use, which the warm-up call pays);
- the torch training model ``model.bitnet_torch.BitNetLM`` (fake-quantized BitLinear, no KV cache).

Each engine first generates once to warm up, then the median of ``--repeats`` timed runs of
``--tokens`` new tokens is taken; torch runs on ``--threads`` threads. Writes RESULTS.md.

    python benchmarks/infer_speed.py [--size small] [--prompt-tokens 32] [--tokens 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from transformers import BitNetForCausalLM

from model.bitnet_config import SIZES, preset
from model.bitnet_torch import BitNetLM
from model.export import export
from model.infer import load_model
from model.tokenizer import EOS_ID

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section


def _median_seconds(run: Callable[[], list[int]], repeats: int) -> tuple[float, list[int]]:
    tokens = run()  # warm-up (torch.compile, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), tokens


def engines(model: BitNetLM, folder: Path, prompt: list[int], new: int) -> dict[str, Callable[[], list[int]]]:
    golden = load_model(folder)
    hf = BitNetForCausalLM.from_pretrained(folder).eval()
    ids = torch.tensor([prompt])

    def transformers_run() -> list[int]:
        with torch.no_grad():
            out = hf.generate(
                ids,
                attention_mask=torch.ones_like(ids),  # a prompt byte equal to the pad id must not be masked
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                pad_token_id=EOS_ID,
            )
        return out[0].tolist()

    def torch_run() -> list[int]:
        with torch.no_grad():
            return prompt + model.generate(prompt, new)  # it returns the new ids only

    return {
        "model.infer (NumPy, KV cache)": lambda: golden.generate(prompt, new),
        "transformers BitNetForCausalLM (KV cache)": transformers_run,
        "torch BitNetLM (training model, no KV cache)": torch_run,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # weights drawn with std 0.3 (as in tests/test_export.py): spread-out logits, so greedy choices are
    # far from ties and the three engines must agree on them
    config = preset(args.size, "b1.58").replace(eos_token_id=None, initializer_range=0.3)
    model = BitNetLM(config, seed=0).eval()
    prompt = np.random.default_rng(0).integers(0, 256, args.prompt_tokens).tolist()
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory() as folder:
        path = export(model, Path(folder) / "bitnet")
        for name, run in engines(model, path, prompt, args.tokens).items():
            seconds, outputs[name] = _median_seconds(run, args.repeats)
            rows.append((name, seconds))
    same = len({tuple(tokens) for tokens in outputs.values()}) == 1
    golden_rate = args.tokens / rows[0][1]
    lines = [
        f"Preset `{args.size}` b1.58 ({config.non_embedding_parameters():,} non-embedding parameters, "
        "weights drawn with std 0.3, "
        f"untrained, seed 0), prompt {args.prompt_tokens} tokens, {args.tokens} new tokens greedy, "
        f"median of {args.repeats} runs after a warm-up, torch on {args.threads} threads.",
        "",
        "| engine | s per run | decode tokens/s | model.infer / engine |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in rows:
        rate = args.tokens / seconds
        lines.append(f"| {name} | {seconds:.3f} | {rate:.1f} | {golden_rate / rate:.2f}x |")
    lines += ["", f"Greedy tokens identical across the three engines: {'yes' if same else 'NO'}."]
    body = "\n".join(lines)
    command = "python benchmarks/infer_speed.py" + ("" if argv is None else " " + " ".join(argv))
    write_section("infer_speed", body, command)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
