"""The proofs (sim.formal, sim.prove): small configurations of every array proved by k-induction, each
mutant refuted with a counterexample trace from reset, and the CLI's verdicts and one-line errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from hw.params import ArrayParams
from sim.faults import narrow_accumulator, ready_ignores_backpressure, sign_error_in_one_lane
from sim.formal import ProofHarness
from sim.prove import INDUCTION_DEPTH, ProofSettings, default_depth, harness_rtlil, property_names, prove

#: Proved in pytest (seconds each); the trees, dataflows and arrays of the pipeline-free harness.
PROOFS = {
    "t_n2_m2_signed_stream": ArrayParams("ternary", 2, 2, max_k=8),
    "t_n2_m1_split_stationary": ArrayParams("ternary", 2, 1, max_k=8, tree="split", dataflow="stationary"),
    "t_n3_m1_deferred_stream": ArrayParams("ternary", 3, 1, max_k=12, tree="deferred"),
    "t_n2_m1_csa_stationary": ArrayParams("ternary", 2, 1, max_k=8, tree="csa", dataflow="stationary"),
    "lut_g2_n3_m1_stream": ArrayParams("ternary-lut", 3, 1, max_k=12, group=2),
    "i8_n2_m2_signed_stationary": ArrayParams("int8", 2, 2, max_k=8, dataflow="stationary"),
    "i8_n2_m1_csa_stream": ArrayParams("int8", 2, 1, max_k=8, tree="csa"),
}
#: Pipelined arrays proved in pytest: every stage invariant against a pipeline-free twin (sim.formal).
PIPELINED = {
    "t_n2_m1_signed_full_stream": ArrayParams("ternary", 2, 1, max_k=8, pipeline="full"),
    "t_n2_m1_split_full_stationary": ArrayParams(
        "ternary", 2, 1, max_k=8, tree="split", pipeline="full", dataflow="stationary"
    ),
    "t_n2_m1_csa_full_stationary": ArrayParams(
        "ternary", 2, 1, max_k=8, tree="csa", pipeline="full", dataflow="stationary"
    ),
    "lut_g2_n3_m1_full_stream": ArrayParams("ternary-lut", 3, 1, max_k=12, group=2, pipeline="full"),
}
PROOFS.update(PIPELINED)
#: Binary16: the array's control, accumulation and stream rules against a reference of the same binary16
#: operations (sim.formal); the one-lane array proves in about 10 s.
FP16_ARRAY = ArrayParams("fp16", 1, 1, max_k=8)
#: Cycles of the bounded check in pytest: reset, a reduction of 4 beats, its output.
BOUNDED_DEPTH = 6
PROOFS["fp16_n1_m1_stream"] = FP16_ARRAY
#: The array the mutants are built from: 4 beats per reduction at most, so a base case of
#: max_beats + 3 cycles can fill the accumulator to its bound.
MUTANT_ARRAY = ArrayParams("ternary", 2, 1, max_k=8)
#: Each mutant and the properties its counterexample may break first: a wrong sum shows in the output
#: (``function``, or ``state_output`` when the trace holds reset in that cycle) or already in the accumulator
#: or, pipelined, in a stage register.
WRONG_SUM = {"function", "state_output", "state_accumulator", "state_stage"}
MUTANTS = {
    "sign": (sign_error_in_one_lane, WRONG_SUM),
    "narrow": (narrow_accumulator, WRONG_SUM),
    "ready": (ready_ignores_backpressure, WRONG_SUM | {"no_overrun", "no_lost_beat"}),
}


@pytest.fixture
def prove_root(tmp_path, monkeypatch):
    monkeypatch.setenv("BITNET_PROVE_BUILD", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", PROOFS)
def test_small_configurations_are_proved_by_induction(name, prove_root):
    params = PROOFS[name]
    result = prove(params, ProofSettings(depth=INDUCTION_DEPTH, timeout_s=240))
    assert result.status == "PASS", (result.describe(), (result.folder / "sby.log").read_text()[-3000:])
    assert result.failed == () and result.trace is None
    log = (result.folder / "sby.log").read_text()
    assert "successful proof by k-induction" in log  # not only a bounded check
    assert str(prove_root) in str(result.folder)


@pytest.mark.parametrize("pipeline", [0, "full"])
@pytest.mark.parametrize("mutant", MUTANTS)
def test_every_mutant_fails_with_a_trace_from_reset(mutant, pipeline, prove_root):
    build, expected = MUTANTS[mutant]
    params = dataclasses.replace(MUTANT_ARRAY, pipeline=pipeline)
    result = prove(params, ProofSettings(timeout_s=240), dut=build(params))
    assert result.status == "FAIL", result.describe()
    assert set(result.failed) & expected, result.describe()
    assert result.trace is not None and result.trace.name == "trace.vcd"  # the base case's: from reset
    assert "$enddefinitions" in result.trace.read_text()


@pytest.mark.parametrize("mutant", ["sign", "ready"])
def test_the_fp16_mutants_fail_with_a_trace_from_reset(mutant, prove_root):
    build, expected = MUTANTS[mutant]
    params = dataclasses.replace(FP16_ARRAY, max_k=4)
    result = prove(params, ProofSettings(timeout_s=240), dut=build(params))
    assert result.status == "FAIL", result.describe()
    assert set(result.failed) & expected, result.describe()
    assert result.trace is not None and "$enddefinitions" in result.trace.read_text()


def test_a_bounded_check_is_reported_bounded_never_proven(prove_root):
    """``mode="bmc"``: no failure within the depth is BOUNDED (not proven); a mutant still FAILs."""
    params = dataclasses.replace(FP16_ARRAY, max_k=4)
    bounded = prove(params, ProofSettings(depth=BOUNDED_DEPTH, timeout_s=240, mode="bmc"))
    assert bounded.status == "BOUNDED" and not bounded.proven, bounded.describe()
    assert bounded.describe().startswith(f"BOUNDED: depth {BOUNDED_DEPTH}, ")
    mutant = prove(
        params,
        ProofSettings(depth=BOUNDED_DEPTH, timeout_s=240, mode="bmc"),
        dut=sign_error_in_one_lane(params),
    )
    assert mutant.status == "FAIL" and mutant.trace is not None, mutant.describe()


def test_the_fp16_harness_has_no_integer_bounds():
    names = set(property_names(harness_rtlil(FP16_ARRAY)).values())
    assert {"function", "no_spurious_output", "no_overrun", "valid_held", "payload_held"} <= names
    assert {"state_accumulator", "state_pending", "state_output"} <= names
    assert not names & {"no_wrap", "state_bound"}  # binary16 sums round instead of wrapping


def test_the_default_depth_fills_a_short_reduction_and_stays_small_for_long_ones():
    assert default_depth(MUTANT_ARRAY) == MUTANT_ARRAY.max_beats + INDUCTION_DEPTH == 7
    assert default_depth(ArrayParams("ternary", 4, 2)) == INDUCTION_DEPTH  # max_k 16384: 4096 beats


def test_every_property_is_named_and_the_rtlil_holds_no_machine_path():
    text = harness_rtlil(PROOFS["t_n2_m1_split_stationary"])
    names = set(property_names(text).values())
    assert {"function", "no_wrap", "no_spurious_output", "no_overrun", "valid_held", "payload_held"} <= names
    assert {"state_accumulator", "state_bound", "state_beats", "state_pending", "state_tile"} <= names
    assert "/work/" not in text and "sim/formal.py:" in text


def test_the_harness_refuses_what_it_cannot_prove():
    with pytest.raises(TypeError, match="params"):
        ProofHarness("ternary")
    with pytest.raises(ValueError, match="depth"):
        ProofSettings(depth=1)
    with pytest.raises(ValueError, match="timeout_s"):
        ProofSettings(timeout_s=0)


def _cli(*args: str, root) -> subprocess.CompletedProcess:
    environment = {"BITNET_PROVE_BUILD": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "sim.prove", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | environment,
    )


def test_the_cli_prints_pass_and_fail_with_the_trace(prove_root):
    small = ["--array", "ternary", "--lanes", "2", "--rows", "1", "--max-k", "8"]
    passed = _cli(*small, root=prove_root)
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("ternary_mac_n2_m1_a8_k8_p0_signed_stream: PASS: depth 7, ")
    failed = _cli(*small, "--mutant", "sign", root=prove_root)
    assert failed.returncode == 1, failed.stderr
    assert "(mutant sign): FAIL: depth 7" in failed.stdout and "failed: " in failed.stdout
    assert failed.stdout.rstrip().endswith("engine_0/trace.vcd")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--array", "ternary", "--lanes", "2", "--pipeline", "3"], "pipeline"),
        (["--depth", "1"], "depth"),
        (["--timeout-s", "-3"], "timeout"),
        (["--mode", "other"], "mode"),
        (["--mutant", "other"], "--mutant"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, prove_root):
    result = _cli(*args, root=prove_root)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
