"""energy.gates.model_operands and ``--operands model``: a trained model's operands of one projection type
for each array (ternary: the b1.58 model's; int8: the same activations and the twin's per-channel int8
weights; FP16: the twin's own activations and weights), and a gate-level measurement on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from text_data import synthetic_text

from energy.gates.measure import measure_array
from energy.gates.model_operands import (
    DEFAULT_PROJECTION,
    WINDOW,
    ModelSource,
    model_operands,
    parse_operands,
)
from energy.gates.study import ARRAY_ORDER, SMALL, model_operand_study
from hw.params import ArrayParams
from model.bitnet_config import preset
from model.bitnet_torch import BitNetLM
from model.export import export
from model.fp16 import to_bits
from model.infer import BUNDLED_CHECKPOINT, BUNDLED_TWIN, load_model
from model.operands import PROJECTION_TYPES, heldout_windows, record_float_inputs, record_operands

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("operands")
    data = folder / "text.txt"
    data.write_text(synthetic_text(3000))
    twin = export(BitNetLM(preset("small", "fp"), seed=3), folder / "twin")
    return ModelSource(twin=twin, projection="gate_proj", layer=1, data=data)


def test_the_operands_option_is_parsed():
    assert parse_operands("gaussian") == "gaussian"
    assert parse_operands("model") == ModelSource()
    assert parse_operands("model:/a,/b", "o_proj", 2) == ModelSource(Path("/a"), Path("/b"), "o_proj", 2)
    assert parse_operands("model:/a").twin == BUNDLED_TWIN and ModelSource().projection == DEFAULT_PROJECTION
    with pytest.raises(ValueError, match="operands must be 'gaussian'"):
        parse_operands("uniform")
    with pytest.raises(ValueError, match="projection must be one of"):
        ModelSource(projection="lm_head")
    with pytest.raises(ValueError, match="layer must be a non-negative"):
        ModelSource(layer=-1)


def test_ternary_operands_are_the_models_own(source):
    params = ArrayParams(lanes=16, rows=4)
    x, w = model_operands(params, source, np.random.default_rng(0), beats_total=40)
    model = load_model(BUNDLED_CHECKPOINT)
    k = model.config.hidden_size
    tokens = -(-40 // (k // 16))
    assert x.shape == (tokens, k) and w.shape == (4, k)
    recorded = record_operands(model, heldout_windows(source.data, WINDOW, -(-tokens // WINDOW)))
    np.testing.assert_array_equal(x, recorded.activations["gate_proj"][1][:tokens])
    full = recorded.weights["gate_proj"][1]
    assert all(any(np.array_equal(row, other) for other in full) for row in w)


def test_int8_and_fp16_operands_come_from_the_twin(source):
    int8 = ArrayParams("int8", 8, 3)
    x, w = model_operands(int8, source, np.random.default_rng(1), beats_total=20)
    ternary_x, _ = model_operands(ArrayParams(lanes=8, rows=3), source, np.random.default_rng(1), 20)
    np.testing.assert_array_equal(x, ternary_x)  # the same int8 activations
    assert (np.abs(w).max(axis=1) == 127).all() and w.min() >= -128
    twin = load_model(source.twin)
    fp16 = ArrayParams("fp16", 8, 3)
    x16, w16 = model_operands(fp16, source, np.random.default_rng(1), beats_total=20)
    inputs = record_float_inputs(twin, heldout_windows(source.data, WINDOW, 1))["gate_proj"][1]
    np.testing.assert_array_equal(x16, to_bits(inputs[: len(x16)]))
    rows = [
        i for i, row in enumerate(twin.layers[1].projections["gate_proj"].w) if (to_bits(row) == w16[0]).all()
    ]
    assert len(rows) == 1
    int8_row = np.rint(
        twin.layers[1].projections["gate_proj"].w[rows[0]]
        * 127
        / np.abs(twin.layers[1].projections["gate_proj"].w[rows[0]]).max()
    )
    np.testing.assert_array_equal(w[0], int8_row)


def test_bad_sources_are_named(source, tmp_path):
    with pytest.raises(ValueError, match="not a full-precision twin"):
        model_operands(
            ArrayParams("int8", 4, 2),
            ModelSource(twin=BUNDLED_CHECKPOINT, data=source.data),
            np.random.default_rng(0),
            8,
        )
    with pytest.raises(ValueError, match="layer must be below"):
        model_operands(
            ArrayParams(lanes=4, rows=2), ModelSource(layer=9, data=source.data), np.random.default_rng(0), 8
        )
    with pytest.raises(ValueError, match="exceeds the 64 output channels"):
        model_operands(
            ArrayParams(lanes=4, rows=65),
            ModelSource(projection="k_proj", data=source.data),
            np.random.default_rng(0),
            8,
        )


def test_a_gate_level_measurement_on_model_operands(source):
    params = ArrayParams(lanes=4, rows=2, max_k=512)
    measured = measure_array(params, beats=64, operands=ModelSource(projection="down_proj", data=source.data))
    window = measured.activity
    assert window["operands"] == "model down_proj layer middle"
    assert window["activation_zero_fraction"] > 0.4  # squared ReLU zeros
    assert 0 < window["toggle_rate"] < 1 and measured.energy.per_mac_pj()["total"] > 0
    with pytest.raises(ValueError, match="numpy engine only"):
        measure_array(params, beats=8, engine="cocotb", operands=ModelSource(data=source.data))
    with pytest.raises(ValueError, match="applies to Gaussian operands"):
        measure_array(params, beats=8, zero="0.5", operands=ModelSource(data=source.data))


def test_the_command_refuses_bad_operands_in_one_line():
    run = subprocess.run(
        [sys.executable, "-m", "energy.gates", "--lanes", "4", "--rows", "2", "--operands", "uniform"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "operands must be" in run.stderr


def test_the_study_measures_every_projection_beside_the_gaussian_operands(source):
    frame = model_operand_study(SMALL, source=source, dataflows=("stream",))
    assert list(frame.array.unique()) == list(ARRAY_ORDER)
    for array in ARRAY_ORDER:
        rows = frame[frame.array == array]
        assert rows.projection.tolist() == ["", *PROJECTION_TYPES]
        assert rows.operands.iloc[0].startswith("gaussian") and rows.operands.iloc[1].startswith(
            "model q_proj"
        )
        assert (rows.energy_per_mac_pJ > 0).all() and (rows.outputs_checked > 0).all()
    down = frame[(frame.array == "ternary") & (frame.projection == "down_proj")].iloc[0]
    query = frame[(frame.array == "ternary") & (frame.projection == "q_proj")].iloc[0]
    assert down.activation_zero_fraction > query.activation_zero_fraction
