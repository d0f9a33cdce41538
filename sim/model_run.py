"""A BitNet model whose every projection runs on the generated RTL, each accumulator checked.

:class:`RtlMatmul` is a :attr:`model.infer.GoldenLM.matmul` hook: each ``q/k/v/o/gate/up/down`` integer
matmul of the forward pass (the prefill of the prompt and every decode step) becomes the program of
:func:`sim.scheduler.schedule_layer` in the array's dataflow, packed into payload words by
:func:`sim.scheduler.pack_layer`, and runs on a :class:`sim.fastsim.FastArray`. Its outputs are checked
twice: every output sum against :func:`sim.scheduler.program_sums` (the schedule's partial sums, in order),
and the assembled ``(T, O)`` accumulators against :func:`model.bitlinear.bitlinear_int`. The hook returns
the RTL's accumulators, so a wrong array changes the text; when the array did not finish (it timed out,
or produced the wrong number of outputs: nothing to assemble) it returns the golden ones and counts the
call as failed. Norms, RoPE,
attention, the MLP's elementwise work and the rescale stay in NumPy.

:func:`generate_on_rtl` runs :meth:`GoldenLM.generate` with the hook and, beside it, the golden model alone,
and returns an :class:`RtlReport` (texts, tokens, MACs, mismatches, speed).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from hw.params import ArrayParams
from model.bitlinear import bitlinear_int
from model.infer import GoldenLM
from model.operands import projection_type
from model.tokenizer import decode, encode
from sim.fastsim import FastArray
from sim.scheduler import assemble, pack_layer, program_sums
from sim.stimulus import Op


@dataclass
class RtlCounts:
    """What the RTL ran and how it compared (totals over every projection call).

    Members
    -------
    calls : int
        Projection calls (integer matmuls) run on the array.
    macs : int
        Useful multiply-accumulates (``T * O * K`` per call), each checked.
    array_macs : int
        Lane-MACs the array performed (``beats * N * M``, padding included).
    beats, loads, cycles : int
        Beats and tile loads sent, clock cycles simulated.
    mismatched_sums : int
        Output sums that differ from the schedule's expected sums (each missing output, and each extra
        one the harness kept, counted as ``M``).
    mismatched_accumulators : int
        ``(token, output)`` accumulators that differ from :func:`model.bitlinear.bitlinear_int`.
    failed_calls : int
        Calls whose output count was wrong or that timed out.
    seconds : float
        Wall time inside the hook (scheduling, packing, simulation, decoding, checking).
    simulated_seconds : float
        The part of it the compiled harness spent simulating.
    macs_by_type : Counter
        Useful MACs per projection type.
    """

    calls: int = 0
    macs: int = 0
    array_macs: int = 0
    beats: int = 0
    loads: int = 0
    cycles: int = 0
    mismatched_sums: int = 0
    mismatched_accumulators: int = 0
    failed_calls: int = 0
    seconds: float = 0.0
    simulated_seconds: float = 0.0
    macs_by_type: Counter = field(default_factory=Counter)

    @property
    def mismatches(self) -> int:
        """Every disagreement with the golden model."""
        return self.mismatched_sums + self.mismatched_accumulators + self.failed_calls


class RtlMatmul:
    """The integer matmul of every projection, computed on ``array`` (see the module docstring)."""

    def __init__(self, array: FastArray) -> None:
        if not isinstance(array, FastArray):
            raise TypeError(f"array must be a sim.fastsim.FastArray, not {type(array).__name__}")
        if array.params.is_float:
            raise ValueError("array: the model's integer matmuls need an integer array (ternary or int8)")
        self.array = array
        self.counts = RtlCounts()

    def __call__(self, name: str, x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        params, counts = self.array.params, self.counts
        program = pack_layer(params, x_q, w_q)
        run = self.array.run_packed(program)
        expected = program_sums(params, x_q, w_q)
        golden = bitlinear_int(x_q, w_q)
        kinds = program.kind
        counts.calls += 1
        counts.macs += x_q.shape[0] * w_q.shape[0] * w_q.shape[1]
        counts.macs_by_type[projection_type(name)[0]] += x_q.shape[0] * w_q.shape[0] * w_q.shape[1]
        counts.beats += int(np.count_nonzero(kinds == Op.BEAT))
        counts.loads += int(np.count_nonzero(kinds == Op.LOAD))
        counts.array_macs += int(np.count_nonzero(kinds == Op.BEAT)) * params.macs_per_beat
        counts.cycles += run.cycles
        counts.simulated_seconds += run.simulated_seconds
        if run.timed_out or run.sums.shape != expected.shape:
            counts.failed_calls += 1
            shared = min(len(run.sums), len(expected))
            counts.mismatched_sums += int(np.count_nonzero(run.sums[:shared] != expected[:shared]))
            counts.mismatched_sums += abs(len(run.sums) - len(expected)) * params.rows
            acc = golden
        else:
            counts.mismatched_sums += int(np.count_nonzero(run.sums != expected))
            acc = assemble(params, program, run.sums)
            counts.mismatched_accumulators += int(np.count_nonzero(acc != golden))
        counts.seconds += time.perf_counter() - start
        return acc.astype(np.int32)


@dataclass(frozen=True)
class RtlReport:
    """One generation through the RTL beside the golden model's.

    Members
    -------
    params : ArrayParams
    prompt, text, golden_text : str
        The prompt, and the continuations generated through the RTL and by the golden model alone.
    prompt_ids, ids, golden_ids : list of int
        Token ids: the prompt's (BOS first) and both continuations'.
    counts : RtlCounts
    wall_seconds : float
        Wall time of the generation through the RTL.
    """

    params: ArrayParams
    prompt: str
    text: str
    golden_text: str
    prompt_ids: list[int]
    ids: list[int]
    golden_ids: list[int]
    counts: RtlCounts
    wall_seconds: float

    @property
    def identical(self) -> bool:
        """The RTL's tokens equal the golden model's."""
        return self.ids == self.golden_ids

    @property
    def ok(self) -> bool:
        """Identical tokens and no mismatch at all."""
        return self.identical and self.counts.mismatches == 0

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data."""
        counts = dataclasses.asdict(self.counts) | {"mismatches": self.counts.mismatches}
        counts["macs_by_type"] = dict(self.counts.macs_by_type)
        new = len(self.ids)
        return {
            "array": dataclasses.asdict(self.params) | {"name": self.params.default_name()},
            "prompt": self.prompt,
            "text": self.text,
            "golden_text": self.golden_text,
            "prompt_ids": self.prompt_ids,
            "ids": self.ids,
            "golden_ids": self.golden_ids,
            "identical": self.identical,
            "ok": self.ok,
            "counts": counts,
            "wall_seconds": self.wall_seconds,
            "seconds_per_token": self.wall_seconds / new if new else None,
            "verified_macs_per_s": self.counts.macs / self.counts.seconds if self.counts.seconds else None,
        }


def generate_on_rtl(model: GoldenLM, array: FastArray, prompt: str, tokens: int) -> RtlReport:
    """Generate ``tokens`` greedy tokens after ``prompt`` through the RTL and by the golden model alone."""
    if not isinstance(model, GoldenLM):
        raise TypeError(f"model must be a GoldenLM (model.infer.load_model), not {type(model).__name__}")
    if model.config.precision != "b1.58":
        raise ValueError("model: a full-precision model has no integer matmuls to run on the array")
    prompt_ids = encode(prompt, bos=True)
    golden_ids = model.generate(prompt_ids, tokens)[len(prompt_ids) :]
    hook = RtlMatmul(array)
    previous, model.matmul = model.matmul, hook
    start = time.perf_counter()
    try:
        ids = model.generate(prompt_ids, tokens)[len(prompt_ids) :]
    finally:
        model.matmul = previous
    wall = time.perf_counter() - start
    return RtlReport(
        array.params, prompt, decode(ids), decode(golden_ids), prompt_ids, ids, golden_ids, hook.counts, wall
    )
