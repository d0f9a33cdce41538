"""The compiled harness (sim.fastsim) and the model on the RTL (sim.model_run, python -m sim.run_model):
random layers bit-exact in both dataflows, a deliberate fault caught, the bundled model's text through the
RTL identical to the golden model's, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw.params import ArrayParams
from model.bitlinear import bitlinear_int
from model.infer import BUNDLED_CHECKPOINT, load_model
from sim import run_model
from sim.fastsim import FastArray
from sim.faults import sign_error_verilog, silent_verilog
from sim.model_run import RtlMatmul, generate_on_rtl
from sim.scheduler import assemble, program_sums, schedule_layer
from sim.stimulus import beats, concat, reset

CONFIGS = {
    "t_n4_m2_p0_stream": ArrayParams("ternary", 4, 2, max_k=256),
    "t_n5_m3_split_full_stationary": ArrayParams(
        "ternary", 5, 3, max_k=256, pipeline="full", tree="split", dataflow="stationary"
    ),
    "t_n8_m4_p2_stream": ArrayParams("ternary", 8, 4, max_k=512, pipeline=2),
    "i8_n3_m2_stationary": ArrayParams("int8", 3, 2, max_k=256, dataflow="stationary"),
    "lut_g3_n8_m4_p1_stream": ArrayParams("ternary-lut", 8, 4, max_k=512, pipeline=1, group=3),
    "lut_g2_n5_m3_full_stationary": ArrayParams(
        "ternary-lut", 5, 3, max_k=256, pipeline="full", dataflow="stationary", group=2
    ),
}
#: The small array of the model runs (both dataflows).
MODEL_ARRAY = {"lanes": 8, "rows": 4, "max_k": 512}


def random_layer(params: ArrayParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    tokens, k, out = int(rng.integers(1, 6)), int(rng.integers(1, 41)), int(rng.integers(1, 12))
    x = rng.integers(-128, 128, (tokens, k)).astype(np.int8)
    low, high = (-1, 2) if params.is_ternary else (-128, 128)
    return x, rng.integers(low, high, (out, k)).astype(np.int8)


@pytest.mark.parametrize("name", CONFIGS)
def test_random_layers_are_bit_exact(name):
    params = CONFIGS[name]
    rng = np.random.default_rng(len(name))
    with FastArray(params) as array:
        for _ in range(20):
            x, w = random_layer(params, rng)
            program = schedule_layer(params, x, w)
            run = array.run(program.stimulus)
            assert not run.timed_out
            np.testing.assert_array_equal(run.sums, program_sums(params, x, w))
            golden = x.astype(np.int64) @ w.astype(np.int64).T
            np.testing.assert_array_equal(assemble(params, program, run.sums), golden)
            assert run.cycles >= program.stimulus.beats and run.simulated_seconds <= run.seconds
        corner = (
            np.full((2, 9), -128, np.int8),
            np.full((3, 9), -1 if params.is_ternary else -128, np.int8),
        )
        program = schedule_layer(params, *corner)
        np.testing.assert_array_equal(array.run(program.stimulus).sums, program_sums(params, *corner))


def test_a_sign_error_in_one_lane_is_caught():
    params = CONFIGS["t_n4_m2_p0_stream"]
    rng = np.random.default_rng(0)
    x, w = rng.integers(-128, 128, (3, 16)).astype(np.int8), rng.integers(-1, 2, (4, 16)).astype(np.int8)
    with FastArray(params, verilog=sign_error_verilog(params, lane=1)) as array:
        hook = RtlMatmul(array)
        acc = hook("model.layers.0.mlp.up_proj", x, w)
    assert hook.counts.mismatched_sums > 0 and hook.counts.mismatched_accumulators > 0
    assert not np.array_equal(acc, bitlinear_int(x, w))


def test_an_array_that_never_answers_times_out_and_the_call_counts_as_failed():
    params = CONFIGS["t_n4_m2_p0_stream"]
    x, w = np.ones((2, 8), np.int8), np.ones((3, 8), np.int8)
    with FastArray(params, verilog=silent_verilog(params)) as array:
        run = array.run(schedule_layer(params, x, w).stimulus)
        assert run.timed_out and run.sums.shape == (0, params.rows)
        hook = RtlMatmul(array)
        np.testing.assert_array_equal(hook("model.layers.0.self_attn.q_proj", x, w), bitlinear_int(x, w))
    assert hook.counts.failed_calls == 1 and hook.counts.mismatches > 0


def test_the_harness_refuses_resets_and_loads_it_cannot_take():
    params = CONFIGS["t_n4_m2_p0_stream"]
    tile = np.zeros((1, 2, 4), np.int64)
    with FastArray(params) as array:
        with pytest.raises(ValueError, match="no resets"):
            array.run(concat([beats(params, np.zeros((1, 4)), tile, True), reset(params, drain=True)]))
        with pytest.raises(TypeError, match="Stimulus"):
            array.run([1, 2])
        with pytest.raises(ValueError, match="beat_words must have shape"):
            array.run_words(np.zeros(2, np.uint8), np.zeros((1, 1), "<u4"), None, 0)
        with pytest.raises(ValueError, match="kind must be"):
            array.run_words(np.array([3]), np.zeros((0, 1), "<u4"), None, 0)


@pytest.fixture(scope="module")
def bundled():
    return load_model(BUNDLED_CHECKPOINT)


@pytest.mark.parametrize(
    ("array", "dataflow"), [("ternary", "stream"), ("ternary", "stationary"), ("ternary-lut", "stream")]
)
def test_the_bundled_model_generates_the_golden_text_through_the_rtl(bundled, array, dataflow):
    params = ArrayParams(array, dataflow=dataflow, **MODEL_ARRAY)
    with FastArray(params) as array:
        report = generate_on_rtl(bundled, array, "ROMEO:", 6)
    assert report.ok and report.identical and report.counts.mismatches == 0
    assert report.ids == bundled.generate(report.prompt_ids, 6)[len(report.prompt_ids) :]
    config = bundled.config
    per_token = sum(out * inp for out, inp in config.projection_shapes().values()) * config.num_hidden_layers
    positions = len(report.prompt_ids) + len(report.ids) - 1  # the last token is never fed back
    assert report.counts.macs == per_token * positions
    assert report.counts.calls == 7 * config.num_hidden_layers * len(report.ids)
    assert (report.counts.loads > 0) == (dataflow == "stationary")
    assert sum(report.counts.macs_by_type.values()) == report.counts.macs


def test_the_command_prints_writes_its_report_and_exits_0(tmp_path, capsys):
    path = tmp_path / "report.json"
    options = ["--lanes", "8", "--rows", "4", "--max-k", "512", "--tokens", "3", "--report", str(path)]
    assert run_model.main(options) == 0
    out = capsys.readouterr().out
    assert out.startswith("ROMEO:") and "mismatches: 0 " in out and "verified MACs/s" in out
    report = json.loads(path.read_text())
    assert report["ok"] and report["identical"] and len(report["ids"]) == 3
    assert report["array"]["lanes"] == 8 and report["counts"]["mismatches"] == 0
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--lanes", "0"], "lanes must be >= 1"),
        (["--array", "fp16"], "integer array"),
        (["--checkpoint", "/nonexistent/folder"], "nonexistent"),
        (["--tokens", "0"], "--tokens"),
        (["--prompt", "x" * 300], "context"),
    ],
)
def test_bad_input_exits_2_with_one_line(options, message, capsys):
    with pytest.raises(SystemExit) as stop:
        run_model.main(["--lanes", "4", "--rows", "2", "--max-k", "512", *options])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and "Traceback" not in error
