"""What a designer integrating a generated array must know, as lines of the Verilog header.

:func:`integration_notes` states, for one :class:`~hw.params.ArrayParams`, the weight codes, what reset
does, how ``i_stream__ready`` is formed, how many finished reductions can wait under backpressure, how the
latency is counted, the longest reduction and how to pad its last beat, and that a reset is required after
power-up. Every statement is a property of the RTL of :mod:`hw.arrays` (see its module docstring) and is
checked in Amaranth's simulator or on the generated Verilog by ``tests/test_hw_header.py``; the numbers
come from :class:`~hw.params.ArrayParams` and the codes from :mod:`model.encoding`, never retyped.
"""

from __future__ import annotations

from hw.params import ArrayParams
from model.encoding import CODE_BITS, CODE_INVALID, CODE_MINUS_ONE, CODE_PLUS_ONE, CODE_ZERO, NONZERO_BIT
from model.fp16 import NEGATIVE_ZERO
from model.group_code import group_entries, sign_bit

#: What a weight tile cleared by reset holds, per array kind.
_ZERO_WEIGHT = {
    "ternary": f"code {CODE_ZERO:#0{CODE_BITS + 2}b}",
    "ternary-lut": "group code 0, the all-zero group",
    "int8": "0",
    "fp16": "+0 = 0x0000",
}


def _code(code: int) -> str:
    return f"{code:#0{CODE_BITS + 2}b}"


def weight_code_notes(params: ArrayParams) -> list[str]:
    """The ternary weight codes and what the RTL does with the invalid one (no line for other arrays)."""
    if params.array == "ternary-lut":
        return _group_code_notes(params.group)
    if params.array != "ternary":
        return []
    return [
        f"weight codes (model.encoding): +1 = {_code(CODE_PLUS_ONE)}, 0 = {_code(CODE_ZERO)}, "
        f"-1 = {_code(CODE_MINUS_ONE)}; the invalid {_code(CODE_INVALID)} has bit {NONZERO_BIT} (nonzero) "
        "clear,",
        f"  so the RTL reads it as 0: the lane is gated off, exactly like {_code(CODE_ZERO)}",
    ]


def _group_code_notes(group: int) -> list[str]:
    entries, sign = group_entries(group), sign_bit(group)
    return [
        f"weight codes (model.group_code): {group} ternary weights w_0..w_{group - 1} per code, "
        f"v = sum_l w_l * 3^l in [-{entries}, {entries}]: index = |v| at bits [{sign - 1}:0], sign = "
        f"(v < 0) at bit {sign};",
        "  re-encoded on the host (model.group_code.encode_groups), offline; index k selects table entry "
        "T[k] = sum_l d_l(k) * act_l, d(k) the balanced-ternary digits of k;",
        f"  the RTL reads every invalid code (index > {entries}, the sign set on index 0, or in a last "
        "group shorter than G a digit past lane N-1) as a zero group, like code 0",
    ]


def reduction_notes(params: ArrayParams) -> list[str]:
    """The longest reduction in beats and elements, and how to pad a last beat."""
    p, beats = params, params.max_beats
    lines = [
        f"longest reduction: {beats} beats = {beats * p.lanes} elements (ceil(max_k/N) beats of N = "
        f"{p.lanes} lanes); K elements take ceil(K/N) beats, `last` on the final one;"
    ]
    if p.is_float:
        lines.append(
            "  a host-side limit: the fp16 logic takes any number of beats (a binary16 sum overflows to "
            "+-inf, it never wraps)"
        )
    else:
        lines.append(
            f"  the accumulator cannot overflow within {beats} beats, whatever the lanes carry; longer "
            f"reductions wrap modulo 2^{p.acc_width}, undetected"
        )
    if p.lanes > 1:
        lines += _padding_notes(p)
    return lines


def _padding_notes(params: ArrayParams) -> list[str]:
    lanes = f"lanes K mod {params.lanes} .. {params.lanes - 1} of the last beat"
    if params.is_float:
        return [
            f"padding (K not a multiple of N): fill {lanes} with -0 activations ({NEGATIVE_ZERO:#06x}) "
            "and +0 weights:",
            "  their products are -0 and x + -0 = x for every binary16 x, so the sums equal those of a tree "
            "over the K mod N real lanes",
            "  (+0 products instead can turn a -0 sum into +0, and 0 x inf = NaN)",
        ]
    return [
        f"padding (K not a multiple of N): fill {lanes} with zero activations or zero weights "
        f"({_ZERO_WEIGHT[params.array]}): their products are 0"
    ]


def handshake_notes(params: ArrayParams) -> list[str]:
    """How ``i_stream__ready`` is formed, and how many finished reductions wait under backpressure."""
    p, stage = params.pipeline, f"s{params.pipeline}"
    if p == 0:
        ready = ["handshake: i_stream__ready = ~rst & (~o_stream__valid | o_stream__ready):"]
        waiting = [
            "backpressure: 1 finished reduction waits, in the output register; while it waits "
            "(o_stream__valid & ~o_stream__ready) no beat enters"
        ]
    else:
        ready = [
            f"handshake: i_stream__ready = ~rst & ~({stage}_valid & {stage}_last & o_stream__valid & "
            f"~o_stream__ready), {stage}_valid & {stage}_last: the last pipeline stage holds a `last` beat;"
        ]
        waiting = [
            f"backpressure: up to pipeline + 1 = {p + 1} finished reductions wait inside, 1 in the output "
            "register and 1 per pipeline stage;",
            f"  the pipeline holds (i_stream__ready low) only while a `last` beat in stage {p} meets a "
            "waiting output; nothing is dropped or overwritten",
        ]
    return [
        *ready,
        "  combinational in o_stream__ready (so the logic driving o_stream__ready must not depend "
        "combinationally on i_stream__ready), never in i_stream__valid or a payload;",
        "  o_stream__valid is a register ANDed with ~rst: a valid output holds its payload until taken "
        "(or reset)",
        *waiting,
    ]


def latency_notes(params: ArrayParams) -> list[str]:
    """How the latency cycles are counted."""
    p, latency = params.pipeline, params.latency
    raised = f"edge c + {p}" if p else "edge c"
    return [
        "latency counting: a `last` beat transferred at rising edge c (i_stream__valid & i_stream__ready "
        f"high at c) sets o_stream__valid right after {raised};",
        f"  its sums transfer at edge c + {latency} at the earliest (later under backpressure); with "
        "o_stream__ready high, back-to-back reductions leave one per cycle",
    ]


def reset_notes(params: ArrayParams) -> list[str]:
    """What a reset drops and clears, and that one is needed after power-up."""
    start = "-0" if params.is_float else "0"
    tile = (
        f"; the stationary weight tile is cleared to all-zero weights ({_ZERO_WEIGHT[params.array]})"
        if params.dataflow == "stationary"
        else ""
    )
    gated = "i_stream__ready, " + ("w_stream__ready, " if params.dataflow == "stationary" else "")
    return [
        "reset: rst high at a rising clk edge clears every register: beats in the pipeline, partial sums and "
        "finished sums not yet taken are dropped;",
        f"  the accumulators restart from {start}{tile}",
        "power-up: every register's initial value in this Verilog (reg x = v) is its reset value; simulators "
        "and FPGAs load it, ASIC flip-flops do not:",
        "  hold rst high for at least one rising clk edge before the first transfer; while rst is high, "
        f"{gated}o_stream__valid are low",
        "  (gated by rst combinationally, whatever the registers hold)",
    ]


def integration_notes(params: ArrayParams) -> list[str]:
    """The header lines on integrating the array (see the module docstring)."""
    if not isinstance(params, ArrayParams):
        raise TypeError(f"params must be an ArrayParams, not {type(params).__name__}")
    return [
        *weight_code_notes(params),
        *reduction_notes(params),
        *handshake_notes(params),
        *latency_notes(params),
        *reset_notes(params),
    ]
