"""model.operands: recording a b1.58 model's int8 activations and ternary weights per projection type, and
their statistics (zero shares, histogram, outlier channels), on the bundled checkpoint and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from text_data import synthetic_text

from model.bitnet_config import preset
from model.bitnet_torch import BitNetLM
from model.data import load_corpus
from model.export import export
from model.infer import BUNDLED_CHECKPOINT, default_matmul, load_model
from model.operands import (
    OUTLIER_FACTOR,
    PROJECTION_TYPES,
    ModelOperands,
    activation_histogram,
    heldout_windows,
    operand_figure,
    operand_statistics,
    projection_type,
    record_float_inputs,
    record_operands,
)
from model.quant import quantize_activations
from model.tokenizer import BOS_ID


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "text.txt"
    path.write_text(synthetic_text())
    return path


@pytest.fixture(scope="module")
def bundled():
    return load_model(BUNDLED_CHECKPOINT)


@pytest.fixture(scope="module")
def recorded(bundled, text_file):
    return record_operands(bundled, heldout_windows(text_file, 24, 3))


def test_heldout_windows_are_the_validation_windows(text_file):
    validation = load_corpus(text_file).validation
    windows = heldout_windows(text_file, 16, 4)
    assert len(windows) == 4
    for index, window in enumerate(windows):
        assert window[0] == BOS_ID
        assert window[1:].tolist() == validation[16 * index : 16 * index + 15].tolist()
    with pytest.raises(ValueError, match="count: the held-out split holds"):
        heldout_windows(text_file, 16, 10**6)
    with pytest.raises(ValueError, match="seq_len must be >= 2"):
        heldout_windows(text_file, 1, 1)


def test_every_projection_is_recorded_per_layer_and_the_hook_restored(bundled, recorded):
    config = bundled.config
    shapes = {name.split(".")[-1]: shape for name, shape in config.projection_shapes().items()}
    assert recorded.tokens == 3 * 24
    assert bundled.matmul is default_matmul
    for kind in PROJECTION_TYPES:
        assert len(recorded.activations[kind]) == len(recorded.weights[kind]) == config.num_hidden_layers
        for layer, (x_q, w_q) in enumerate(
            zip(recorded.activations[kind], recorded.weights[kind], strict=True)
        ):
            assert x_q.dtype == np.int8 and x_q.shape == (recorded.tokens, w_q.shape[1])
            assert set(np.unique(w_q)) <= {-1, 0, 1}
            assert w_q.shape == shapes[kind]
            assert np.array_equal(w_q, bundled.layers[layer].projections[kind].w_q)


def test_projections_that_share_an_input_record_the_same_activations(recorded):
    for first, second in (("q_proj", "k_proj"), ("q_proj", "v_proj"), ("gate_proj", "up_proj")):
        for a, b in zip(recorded.activations[first], recorded.activations[second], strict=True):
            assert np.array_equal(a, b)


def test_the_down_projection_sees_squared_relu_zeros(recorded):
    table = operand_statistics(recorded).set_index("projection")
    assert table.loc["down_proj"].activation_zero_share > 0.5 > table.loc["q_proj"].activation_zero_share
    assert (
        (table.weight_zero_share + table.weight_plus_share + table.weight_minus_share).round(12).eq(1).all()
    )


def test_recording_does_not_change_the_logits(bundled, text_file):
    window = heldout_windows(text_file, 24, 1)[0]
    plain = bundled.logits(window)
    record_operands(bundled, [window])
    assert np.array_equal(bundled.logits(window), plain)


def test_statistics_by_hand():
    ordinary = np.tile(np.array([[2, -2, 2, 2, -2, 2, 2, 40]], dtype=np.int8), (3, 1))
    ordinary[0, 7], ordinary[0, 0] = 1, 127  # token 0's absmax is channel 0, the others' is channel 7
    weights = np.array([[0, 1, -1, 0, 0, 0, 1, 1]], dtype=np.int8)
    operands = ModelOperands(
        {k: [ordinary] for k in PROJECTION_TYPES}, {k: [weights] for k in PROJECTION_TYPES}, 3
    )
    row = operand_statistics(operands).iloc[0]
    assert (row.weight_zero_share, row.weight_plus_share, row.weight_minus_share) == (0.5, 0.375, 0.125)
    assert row.activation_zero_share == 0 and row.activation_saturated_share == pytest.approx(1 / 24)
    channel_means = np.abs(ordinary.astype(float)).mean(axis=0)
    assert row.max_channel_ratio == pytest.approx(channel_means.max() / channel_means.mean())
    outliers = channel_means >= OUTLIER_FACTOR * channel_means.mean()
    assert row.outlier_channels == outliers.sum() == 1  # channel 0 (mean 131/3, 4.2x the average 31/3)
    assert row.outlier_scaled_share == pytest.approx(1 / 3)  # token 0's absmax is channel 0
    histogram = activation_histogram(operands)
    assert histogram.value.iloc[0] == -128 and histogram.value.iloc[-1] == 127
    assert np.allclose(histogram[list(PROJECTION_TYPES)].sum(), 1)
    assert histogram.set_index("value").loc[2, "q_proj"] == pytest.approx(14 / 24)


def test_bad_input_is_named(text_file, tmp_path):
    with pytest.raises(TypeError, match="model must be a GoldenLM"):
        record_operands(object(), [])
    folder = export(BitNetLM(preset("small", "fp"), seed=0), tmp_path / "fp")
    with pytest.raises(ValueError, match="full-precision model has no int8"):
        record_operands(load_model(folder), [])
    with pytest.raises(ValueError, match="not a decoder projection"):
        projection_type("lm_head")
    assert projection_type("model.layers.2.mlp.down_proj") == ("down_proj", 2)


def test_the_figure_has_a_histogram_and_the_zero_shares(recorded):
    figure = operand_figure(operand_statistics(recorded), activation_histogram(recorded))
    values, zeros = figure.axes
    assert len(values.lines) == len(PROJECTION_TYPES) and len(zeros.patches) == 2 * len(PROJECTION_TYPES)


def test_float_inputs_quantize_to_the_recorded_int8_activations(bundled, text_file, recorded):
    inputs = record_float_inputs(bundled, heldout_windows(text_file, 24, 3))
    assert bundled.observe is None
    for kind in PROJECTION_TYPES:
        for x, x_q in zip(inputs[kind], recorded.activations[kind], strict=True):
            assert x.dtype == np.float32
            np.testing.assert_array_equal(quantize_activations(x)[0], x_q)


def test_float_inputs_of_a_full_precision_model(tmp_path, text_file):
    model = load_model(export(BitNetLM(preset("small", "fp"), seed=0), tmp_path / "fp"))
    inputs = record_float_inputs(model, heldout_windows(text_file, 16, 2))
    assert inputs["down_proj"][0].shape == (32, model.config.intermediate_size)
    with pytest.raises(TypeError, match="GoldenLM"):
        record_float_inputs("model", [])
