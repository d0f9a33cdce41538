"""The FP16 baseline array and its binary16 units in Amaranth's simulator, bit-exact against ``model.fp16``.

The units (multiplier, adder) are checked on every pair of edge values and on random pairs built to cancel,
share exponents and underflow; the array with the cycle-level testbench of test_hw_arrays.py (stream rules,
gaps, backpressure, resets) on random binary16 data and on directed special values whose expected bit
patterns are also written out here, independently of the model. A deliberately wrong rounding must fail.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from test_hw_arrays import Beat, Load, Reset, check, random_ops, reference, run_bench

import hw.fp16
from hw.arrays import Fp16MacArray, build_array
from hw.fp16 import Fp16Adder, Fp16Multiplier
from hw.generate import generate_verilog, main, verilog_for
from hw.layout import pack_input, port_fields, unpack_output
from hw.params import ArrayParams
from model.fp16 import (
    CANONICAL_NAN,
    MAX_FINITE,
    NEGATIVE_ZERO,
    POSITIVE_INFINITY,
    SIGN_BIT,
    fp16_add,
    fp16_mul,
    to_bits,
)
from sim.lint import WAIVERS, lint_verilog
from sim.stimulus import random_activations, random_weights

ONE, TWO, HALF = 0x3C00, 0x4000, 0x3800
NEGATIVE_INFINITY = SIGN_BIT | POSITIVE_INFINITY

#: Edge values: zeros, subnormal and normal boundaries, one, the overflow edge, infinities and NaNs of every
#: kind, with both signs.
EDGES = [
    sign | bits
    for sign in (0, SIGN_BIT)
    for bits in (
        0x0000, 0x0001, 0x0003, 0x0200, 0x03FF, 0x0400, 0x0401, 0x1000, 0x2C00, 0x3555, HALF, 0x3BFF,
        ONE, 0x3C01, TWO, 0x5800, 0x5BFF, 0x6800, 0x6801, 0x7BFE, MAX_FINITE, POSITIVE_INFINITY, 0x7C01,
        0x7E00, 0x7FFF,
    )
]  # fmt: skip

# --- the units --------------------------------------------------------------------------------------------


def unit_outputs(unit: Fp16Multiplier | Fp16Adder, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sim = Simulator(unit)
    out: list[int] = []

    async def bench(ctx) -> None:
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            ctx.set(unit.a, x)
            ctx.set(unit.b, y)
            out.append(ctx.get(unit.y))

    sim.add_testbench(bench)
    sim.run()
    return np.array(out, np.uint16)


def unit_operands(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of edge values, then random pairs: uniform, nearly cancelling (``b = -a`` +- 3 ulps),
    sharing an exponent, and small (products below the normal range)."""
    grid_a, grid_b = (g.ravel() for g in np.meshgrid(EDGES, EDGES))
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 16, count)
    b = rng.integers(0, 1 << 16, count)
    quarter = count // 4
    b[:quarter] = ((a[:quarter] ^ SIGN_BIT) + rng.integers(-3, 4, quarter)) & 0xFFFF
    b[quarter : 2 * quarter] = (a[quarter : 2 * quarter] & 0xFC00) | rng.integers(0, 1024, quarter)
    a[2 * quarter : 3 * quarter] &= 0x9FFF  # exponents below 8
    b[2 * quarter : 3 * quarter] &= 0xA3FF
    return np.concatenate([grid_a, a]).astype(np.uint16), np.concatenate([grid_b, b]).astype(np.uint16)


@pytest.mark.parametrize(("unit", "model"), [(Fp16Multiplier, fp16_mul), (Fp16Adder, fp16_add)])
def test_units_are_bit_exact(unit, model):
    a, b = unit_operands(seed=len(unit.__name__), count=2400)
    got = unit_outputs(unit(), a, b)
    bad = np.flatnonzero(got != model(a, b))
    assert not bad.size, [f"{a[i]:#06x}, {b[i]:#06x} -> {got[i]:#06x}" for i in bad[:5]]


# --- the array --------------------------------------------------------------------------------------------


def fp16_ops(p: ArrayParams, rng: np.random.Generator, beats: int, *, max_reduction: int = 4) -> list:
    """``beats`` random binary16 beats (:func:`sim.stimulus.random_activations` / ``random_weights``) in
    reductions of 1..``max_reduction`` beats; stationary tiles reloaded at random, also mid-reduction."""
    acts = random_activations(p, rng, (beats, p.lanes))
    tiles = random_weights(p, rng, (beats, p.rows, p.lanes))
    return random_ops(p, rng, beats, max_reduction=max_reduction, acts=acts, tiles=tiles)


@pytest.mark.parametrize("dataflow", ["stream", "stationary"])
@pytest.mark.parametrize(
    ("lanes", "rows", "pipeline"), [(1, 1, 0), (1, 1, "full"), (3, 2, 0), (3, 2, "full"), (8, 2, "full")]
)
def test_random_binary16(lanes, rows, pipeline, dataflow):
    """Random normals, signed zeros, subnormals, wide exponents, infinities and NaNs; gaps, backpressure."""
    dut = Fp16MacArray(lanes, rows, pipeline=pipeline, dataflow=dataflow, max_k=lanes * 6)
    rng = np.random.default_rng(lanes * 10 + rows)
    check(dut, fp16_ops(dut.params, rng, 50), seed=lanes, valid_prob=0.7, ready_prob=0.6)


@pytest.mark.parametrize("pipeline", [0, "full"])
def test_unit_modules_are_the_same_logic(pipeline):
    """``unit_modules=True`` (each multiplier and adder a submodule, for synthesis) computes the same."""
    dut = Fp16MacArray(3, 2, pipeline=pipeline, max_k=18, unit_modules=True)
    check(dut, fp16_ops(dut.params, np.random.default_rng(7), 50), seed=7, valid_prob=0.7, ready_prob=0.6)
    p = dut.params
    flat, units = verilog_for(p), verilog_for(p, unit_modules=True)
    assert flat.count("\nmodule ") == 1
    assert units.count("\nmodule ") == 1 + p.rows * (p.lanes + (p.lanes - 1) + 1)  # multipliers, adders
    with pytest.raises(TypeError, match="unit_modules"):
        Fp16MacArray(3, 2, unit_modules=1)


def test_partial_pipeline_and_odd_lanes():
    dut = Fp16MacArray(5, 2, pipeline=2, dataflow="stationary", max_k=30)
    check(dut, fp16_ops(dut.params, np.random.default_rng(5), 40), seed=5, valid_prob=0.6, ready_prob=0.6)


def beat(p: ArrayParams, act: list[int], weights: list[list[int]] | None, last: bool = True) -> list:
    """One beat (stream: with its tile; stationary: preceded by the tile's load)."""
    act = np.array(act, np.int64)
    tile = np.array(weights, np.int64)
    if p.dataflow == "stream":
        return [Beat(act, last, tile)]
    return [Load(tile), Beat(act, last)]


# name: (activations, weights of the two rows, expected sums written out by hand). With 4 lanes, row r sums
# its products p_i = a_i * w_ri as (p0 + p1) + (p2 + p3), then adds that to acc = -0.
DIRECTED = {
    # -0 * 1 = -0 (four times): -0 + -0 = -0; -0 * -1 = +0
    "all products -0 give -0": ([NEGATIVE_ZERO] * 4, [[ONE] * 4, [SIGN_BIT | ONE] * 4], [NEGATIVE_ZERO, 0]),
    # -1 * +0 = -0; (-0 + -0) + (-0 + +0) = -0 + +0 = +0
    "zero weights: -x * +0 = -0": (
        [SIGN_BIT | ONE] * 4,
        [[0] * 4, [0, 0, 0, NEGATIVE_ZERO]],
        [NEGATIVE_ZERO, 0],
    ),
    # (1 + -1) + (1 + -1) = +0 + +0
    "x + -x = +0": ([ONE, ONE, TWO, TWO], [[ONE, SIGN_BIT | ONE, HALF, SIGN_BIT | HALF]] * 2, [0, 0]),
    # 65504 * 2 = inf; 65504 * -2 = -inf
    "products overflow to inf": (
        [MAX_FINITE] * 4,
        [[TWO, 0, 0, 0], [0, 0, 0, SIGN_BIT | TWO]],
        [POSITIVE_INFINITY, NEGATIVE_INFINITY],
    ),
    # 65504 + 65504 = inf
    "a finite sum overflows to inf": (
        [MAX_FINITE] * 4,
        [[ONE] * 4, [SIGN_BIT | ONE] * 4],
        [POSITIVE_INFINITY, NEGATIVE_INFINITY],
    ),
    # (inf + 0) + (-inf + 0) = NaN; (inf + 1) + (inf + 0) = inf
    "inf + -inf = NaN": (
        [POSITIVE_INFINITY, ONE, NEGATIVE_INFINITY, ONE],
        [[ONE, 0, ONE, 0], [ONE, ONE, SIGN_BIT | ONE, 0]],
        [CANONICAL_NAN, POSITIVE_INFINITY],
    ),
    "inf * 0 = NaN": (
        [POSITIVE_INFINITY, ONE, ONE, ONE],
        [[0, ONE, ONE, ONE], [TWO, 0, 0, 0]],
        [CANONICAL_NAN, POSITIVE_INFINITY],
    ),
    # signalling, negative and payload NaNs: the canonical NaN, also for NaN * 0
    "NaN payloads propagate as 0x7E00": (
        [0x7C01, 0xFE00, ONE, 0xFFFF],
        [[ONE] * 4, [0, 0, ONE, 0]],
        [CANONICAL_NAN, CANONICAL_NAN],
    ),
    # row 0: 2**-7 * 2**-9 = 2**-16 (0x0100); 2**-24 * 0.5 = 2**-25, a tie, to even: +0; 3 * 2**-24 * 0.5, a
    # tie, to even: 2 * 2**-24; 2**-14 * 0.5 = 2**-15 (0x0200); (0x0100 + 0) + (0x0002 + 0x0200) = 0x0302.
    # row 1: 2**-7 * 2**-24 and 2**-24 * 2**-24 round to +0; (+0 + +0) + (-3 * 2**-24 + 2**-14) = 0x03FD
    "subnormal products and sums": (
        [0x2000, 0x0001, 0x0003, 0x0400],
        [[0x1800, HALF, HALF, HALF], [0x0001, 0x0001, SIGN_BIT | ONE, ONE]],
        [0x0302, 0x03FD],
    ),
    # row 0: (2048 + 1 = 2049, a tie: 2048) + (1 + 2) = 2051, a tie: to even, 2052 (0x6802)
    # row 1: (2048 + 0) + (1 + 0) = 2049, a tie: to even, 2048 (0x6800)
    "ties to even in the tree": ([0x6800, ONE, ONE, TWO], [[ONE] * 4, [ONE, 0, ONE, 0]], [0x6802, 0x6800]),
}


@pytest.mark.parametrize("dataflow", ["stream", "stationary"])
@pytest.mark.parametrize("pipeline", [0, "full"])
def test_directed_special_values(pipeline, dataflow):
    """Signed zeros, overflow, infinities, NaN propagation, subnormals and ties: the sums equal both the model
    and the bit patterns written out above."""
    dut = Fp16MacArray(4, 2, pipeline=pipeline, dataflow=dataflow, max_k=64)
    ops = []
    for act, weights, _ in DIRECTED.values():
        ops += beat(dut.params, act, weights)
    result = check(dut, ops, seed=2, valid_prob=0.8, ready_prob=0.7)
    for (name, (_, _, sums)), got in zip(DIRECTED.items(), result.outputs, strict=True):
        assert [int(v) for v in got] == sums, name


def test_accumulation_order_and_negative_zero_start():
    """acc starts at -0 after reset and after every `last`: a reduction of -0 products gives -0 (a +0 start
    would give +0), also after a reset in the middle of a reduction; 2048 + 1 + 1 accumulated stays 2048."""
    dut = Fp16MacArray(1, 1, pipeline="full", max_k=16)
    p = dut.params
    neg_zero = beat(p, [NEGATIVE_ZERO], [[ONE]])
    ops = neg_zero + beat(p, [0x6800], [[ONE]], last=False) + beat(p, [ONE], [[ONE]], last=False)
    ops += beat(p, [ONE], [[ONE]]) + neg_zero
    result = check(dut, ops, seed=1, ready_prob=0.5)
    assert [int(s[0]) for s in result.outputs] == [NEGATIVE_ZERO, 0x6800, NEGATIVE_ZERO]
    cut = beat(p, [ONE], [[ONE]], last=False) + [Reset(2)] + neg_zero
    result = run_bench(Fp16MacArray(1, 1, pipeline="full", max_k=16), cut)
    assert [int(s[0]) for s in result.outputs] == [NEGATIVE_ZERO]


def test_reset_mid_reduction_and_full_throughput():
    p = ArrayParams("fp16", 3, 2, pipeline="full", dataflow="stationary", max_k=30)
    rng = np.random.default_rng(9)
    before = fp16_ops(p, rng, 7, max_reduction=3)
    before[-1].last = False
    after = fp16_ops(p, rng, 10, max_reduction=3)
    result = run_bench(build_array(p), before + [Reset(2)] + after, seed=4, ready_prob=0.5)
    pre, post = reference(p, before), reference(p, after)
    assert len(post) <= len(result.outputs) <= len(pre) + len(post)
    for got, want in zip(result.outputs[len(result.outputs) - len(post) :], post, strict=True):
        np.testing.assert_array_equal(got, want)
    # no gaps, no backpressure: a beat per cycle, sums `latency` cycles after each last beat
    dut = Fp16MacArray(4, 2, pipeline="full", max_k=64)
    ops = fp16_ops(dut.params, rng, 24, max_reduction=2)
    result = check(dut, ops)
    first = result.beat_edges[0]
    assert result.beat_edges == list(range(first, first + len(result.beat_edges)))
    last_edges = [edge for edge, op in zip(result.beat_edges, ops, strict=True) if op.last]
    latencies = [out - last for out, last in zip(result.out_edges, last_edges, strict=True)]
    assert latencies == [dut.params.latency] * len(last_edges)


def test_wrong_rounding_is_caught(monkeypatch):
    """Round half away from zero instead of half to even: the directed ties (and random data) fail."""
    monkeypatch.setattr(hw.fp16, "round_increment", lambda lsb, guard, sticky: guard)
    dut = Fp16MacArray(4, 2, max_k=64)
    act, weights, _ = DIRECTED["ties to even in the tree"]
    with pytest.raises(AssertionError, match="reduction 0"):
        check(dut, beat(dut.params, act, weights))
    dut = Fp16MacArray(3, 1, max_k=60)
    with pytest.raises(AssertionError, match="reduction"):
        check(dut, fp16_ops(dut.params, np.random.default_rng(1), 30))


# --- parameters, layouts, Verilog -------------------------------------------------------------------------


def test_parameters():
    p = ArrayParams(array="fp16", lanes=3, rows=2, max_k=100)
    assert (p.act_width, p.acc_width, p.tree_sum_width, p.weight_bits, p.max_beats) == (16, 16, 16, 16, 34)
    assert p.is_float and p.levels == 3 and p.default_name() == "fp16_mac_n3_m2_a16_k100_p0_signed_stream"
    assert ArrayParams(array="fp16", act_width=16) == ArrayParams(array="fp16")
    assert ArrayParams().act_width == ArrayParams(array="int8").act_width == 8
    for name in ("act_min", "act_max", "weight_min", "weight_max", "product_range", "product_max_magnitude"):
        with pytest.raises(ValueError, match=name):
            getattr(p, name)
    with pytest.raises(ValueError, match="act_width"):
        ArrayParams(array="fp16", act_width=8)
    with pytest.raises(ValueError, match="act_width"):
        Fp16MacArray(4, 1, act_width=12)
    with pytest.raises(ValueError, match="tree"):
        Fp16MacArray(4, 1, tree="split")
    dut = Fp16MacArray(4, 2, pipeline="full", dataflow="stationary", max_k=100)
    Fragment.get(dut, None)
    built = build_array(dut.params)
    assert isinstance(built, Fp16MacArray) and built.params == dut.params
    Fragment.get(built, None)
    assert {"r0_l0_3", "r1_l1_1", "r0_l2_0", "r0_l2_0_q", "r1_acc"} <= set(dut.nodes)
    assert len(dut.i_stream.payload.as_value()) == 4 * 16 + 1
    assert len(dut.w_stream.payload.as_value()) == 2 * 4 * 16
    assert len(dut.o_stream.payload.as_value()) == 2 * 16


def test_packing_of_binary16_operands():
    p = ArrayParams(array="fp16", lanes=2, rows=1, max_k=8)
    values = np.float16([[1.5, -0.0]])
    bits = to_bits(values).astype(np.int64)
    assert pack_input(p, values[0], values, True) == pack_input(p, bits[0], bits, True)
    payload = pack_input(p, bits[0], bits, True)
    assert payload == 0x3E00 | (NEGATIVE_ZERO << 16) | (0x3E00 << 32) | (NEGATIVE_ZERO << 48) | (1 << 64)
    assert port_fields(p)["i_stream__payload"] == {"act": (31, 0), "weight": (63, 32), "last": (64, 64)}
    assert unpack_output(p, NEGATIVE_ZERO).tolist() == [NEGATIVE_ZERO]  # unsigned bit patterns
    with pytest.raises(TypeError, match="act"):
        pack_input(p, np.array([1.0, 2.0]), bits)
    with pytest.raises(ValueError, match="act"):
        pack_input(p, np.array([0, 1 << 16]), bits)
    with pytest.raises(TypeError, match="weights"):
        pack_input(p, bits[0], np.ones((1, 2)))
    with pytest.raises(ValueError, match="codes"):
        pack_input(p, bits[0], bits, codes=True)


def test_max_k_changes_no_logic():
    small, large = (ArrayParams("fp16", 3, 2, max_k=k, pipeline=2) for k in (3, 16384))
    body = [verilog_for(p, name="top").partition("\n\n")[2] for p in (small, large)]
    assert body[0] == body[1]


@pytest.mark.parametrize(
    ("lanes", "rows", "pipeline", "dataflow"),
    [(1, 1, 0, "stream"), (3, 2, "full", "stationary"), (8, 1, 2, "stream"), (5, 2, 1, "stationary")],
)
def test_verilog_is_deterministic_path_free_and_lint_clean(lanes, rows, pipeline, dataflow):
    """Lint clean with the waivers, needing no rule beyond them, and free of machine paths and Yosys'
    source-located names."""
    p = ArrayParams("fp16", lanes, rows, pipeline=pipeline, dataflow=dataflow, max_k=64)
    text = verilog_for(p)
    assert text == verilog_for(p)
    for fragment in (".cc:", "src =", ".py", "site-packages"):
        assert fragment not in text, fragment
    assert re.findall(r"^module (\w+)\(", text, flags=re.M) == [p.default_name()]
    assert lint_verilog(text, p.default_name()).ok
    unwaived = lint_verilog(text, p.default_name(), waivers=False).output
    assert set(re.findall(r"%Warning-(\w+):", unwaived)) <= {w.rule for w in WAIVERS}


def test_generate_cli_for_fp16(tmp_path, capsys):
    assert (
        main(["--array", "fp16", "--lanes", "3", "--rows", "2", "--pipeline", "full", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    p = ArrayParams("fp16", 3, 2, pipeline="full")
    assert (tmp_path / f"{p.default_name()}.v").read_text() == generate_verilog("fp16", 3, 2, pipeline="full")
    for fragment in (
        "Fp16MacArray",
        "IEEE 754 binary16",
        "nearest even",
        "subnormals kept",
        "0x7E00",
        "acc = -0",
    ):
        assert fragment in out, fragment
    assert all(len(line) <= 160 for line in out.splitlines())
    completed = subprocess.run(
        [sys.executable, "-m", "hw.generate", "--array", "fp16", "--act-width", "8", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and "act_width" in completed.stderr


@pytest.mark.parametrize("pipeline", [1, 2, "full"])
def test_fp16_trees_pair_and_register_like_the_integer_trees(pipeline):
    """The binary16 trees reuse the integer trees' pairing loop and register placement: the same
    registered nodes (names carry level and position) for the same parameters."""
    fp16 = Fp16MacArray(5, 2, pipeline=pipeline, max_k=20)
    int8 = build_array(ArrayParams("int8", 5, 2, pipeline=pipeline, max_k=20))
    Fragment.get(fp16, None), Fragment.get(int8, None)
    registered = [{n for n in dut.nodes if n.endswith("_q")} for dut in (fp16, int8)]
    assert registered[0] == registered[1] and registered[0]
    assert all(len(fp16.nodes[n]) == 16 for n in registered[0] if n.startswith("r"))
