"""Quantization rules of model.quant: semantics, edge cases, bad input, agreement with transformers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from model.quant import (
    EPS,
    absmean,
    quantize_activations,
    quantize_weights,
    round_activations,
    ternarize,
)

finite_f32 = st.floats(-1e4, 1e4, allow_nan=False, width=32)
float_matrices = hnp.arrays(
    np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=24), elements=finite_f32
)


def test_weight_rule_on_a_worked_example():
    w = np.array([[0.5, -0.25, 0.0, 1.0], [-1.0, 0.1, 0.3, -0.6]], dtype=np.float32)
    w_q, s_w = quantize_weights(w)
    gamma = np.float32(np.abs(w.astype(np.float64)).mean())
    assert s_w.dtype == np.float32 and s_w == np.float32(1) / gamma
    # w * s_w = [1.06, -0.53, 0, 2.13], [-2.13, 0.21, 0.64, -1.28]
    assert w_q.dtype == np.int8
    assert w_q.tolist() == [[1, -1, 0, 1], [-1, 0, 1, -1]]


def test_activation_rule_on_a_worked_example():
    x = np.array([[127.0, 2.5, -2.5, 3.5, 0.49], [-0.5, 0.25, 0.0, 0.1, -0.3]], dtype=np.float32)
    x_q, s_x = quantize_activations(x)
    assert s_x.shape == (2, 1) and s_x.dtype == np.float32
    assert s_x[0, 0] == 1 and s_x[1, 0] == (np.float32(1) / np.float32(0.5)) * np.float32(127)
    # round half to even: 2.5 -> 2, -2.5 -> -2, 3.5 -> 4
    assert x_q[0].tolist() == [127, 2, -2, 4, 0]
    assert x_q[1].tolist() == [-127, 64, 0, 25, -76]


def test_activation_clip_reaches_minus_128_only_through_rounding_of_the_range():
    # absmax maps to +-127, so -128 is never produced by the rule itself: the clip is a guard
    x = np.linspace(-3, 3, 1001, dtype=np.float32)[None]
    x_q, _ = quantize_activations(x)
    assert x_q.min() == -127 and x_q.max() == 127


def test_all_zero_weights_and_tokens_are_valid():
    w_q, s_w = quantize_weights(np.zeros((4, 8), np.float32))
    assert not w_q.any() and s_w == np.float32(1) / EPS
    x_q, s_x = quantize_activations(np.zeros((3, 8), np.float32))
    assert not x_q.any() and (s_x == np.float32(127) / EPS).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_dtypes_are_cast_to_float32_first(dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 32)).astype(dtype)
    w_q, s_w = quantize_weights(w)
    expected_q, expected_s = quantize_weights(w.astype(np.float32))
    assert (w_q == expected_q).all() and s_w == expected_s
    x_q, s_x = quantize_activations(w)
    expected_xq, expected_sx = quantize_activations(w.astype(np.float32))
    assert (x_q == expected_xq).all() and (s_x == expected_sx).all()


def test_absmean_is_the_correctly_rounded_mean():
    rng = np.random.default_rng(1)
    import math

    for size in [1, 7, 1000, 100_003]:
        w = (rng.standard_normal(size) * 0.02).astype(np.float32)
        exact = math.fsum(abs(float(v)) for v in w) / size
        assert absmean(w) == np.float32(exact)


@given(float_matrices)
@settings(max_examples=200, deadline=None)
def test_quantized_values_are_in_range_and_reconstruct(w):
    w_q, s_w = quantize_weights(w)
    assert set(np.unique(w_q)) <= {-1, 0, 1}
    x_q, s_x = quantize_activations(w)
    assert x_q.min() >= -128 and x_q.max() <= 127
    # per token the largest magnitude maps to 127 (unless the token is below EPS)
    big = np.abs(w).max(axis=-1) >= EPS
    assert (np.abs(x_q[big]).max(axis=-1) == 127).all()
    # reconstruction error of activations is at most half a step
    assert (np.abs(x_q / s_x - w) <= 0.5 / s_x * (1 + 1e-5) + 1e-30).all()


@pytest.mark.parametrize(
    ("call", "value", "error", "match"),
    [
        (quantize_weights, [[1.0, 2.0]], TypeError, "w must be a numpy array"),
        (quantize_weights, np.ones((2, 2), np.int32), TypeError, "w must have a floating dtype"),
        (quantize_weights, np.array([[1.0, np.nan]], np.float32), ValueError, "w contains NaN or Inf"),
        (quantize_weights, np.array([[1.0, np.inf]], np.float32), ValueError, "w contains NaN or Inf"),
        (quantize_weights, np.zeros((0, 3), np.float32), ValueError, "w must not be empty"),
        (quantize_weights, np.float32(1.0), ValueError, "w must have at least 1 dimension"),
        (quantize_activations, np.ones((2, 2), np.int8), TypeError, "x must have a floating dtype"),
        (quantize_activations, np.array([np.nan], np.float32), ValueError, "x contains NaN or Inf"),
        (quantize_activations, "abc", TypeError, "x must be a numpy array"),
    ],
)
def test_bad_input_names_the_argument(call, value, error, match):
    with pytest.raises(error, match=match):
        call(value)


# --- agreement with the reference implementation users run (transformers.integrations.bitnet) ---------

import torch  # noqa: E402
from transformers.integrations.bitnet import ActQuant, BitLinear, WeightQuant  # noqa: E402


def _ulp_distance(a: np.float32, b: np.float32) -> int:
    return abs(int(np.array(a, np.float32).view(np.int32)) - int(np.array(b, np.float32).view(np.int32)))


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=40), elements=finite_f32))
@settings(max_examples=300, deadline=None)
def test_activation_integers_and_scales_are_bit_identical_to_transformers(x):
    x_q, s_x = quantize_activations(x)
    ref_q, ref_s = BitLinear.activation_quant(None, torch.from_numpy(x))
    assert np.array_equal(x_q, ref_q.numpy())
    assert np.array_equal(s_x, ref_s.numpy())
    # ActQuant (the QAT path) dequantizes with the same integers and scale
    assert np.array_equal(x_q / s_x, ActQuant.apply(torch.from_numpy(x)).numpy())


def test_weight_scale_within_a_few_ulps_of_transformers_and_integers_identical_for_its_scale():
    # torch's float32 mean is not reproducible (it moves by up to 4 ulps between 1 and 2 threads), so the
    # golden scale (the correctly rounded mean) is compared within that band; the rounding rule exactly.
    rng = np.random.default_rng(2)
    exact_scale = 0
    for trial in range(200):
        shape = (int(rng.integers(1, 300)), int(rng.integers(1, 300)))
        w = (rng.standard_normal(shape) * rng.uniform(1e-3, 1.0)).astype(np.float32)
        if trial % 10 == 0:
            w[rng.random(shape) < 0.3] = 0  # sparse weights too
        w_q, s_w = quantize_weights(w)
        tw = torch.from_numpy(w)
        torch_scale = np.float32((1.0 / tw.abs().mean().clamp(min=1e-5)).item())
        assert _ulp_distance(s_w, torch_scale) <= 4
        exact_scale += s_w == torch_scale
        # the integer rule applied with torch's own scale reproduces WeightQuant exactly
        assert np.array_equal(ternarize(w, torch_scale) / torch_scale, WeightQuant.apply(tw).numpy())
        if s_w == torch_scale:
            assert np.array_equal(w_q / s_w, WeightQuant.apply(tw).numpy())
    assert exact_scale > 100  # most scales agree to the bit


def test_round_activations_is_the_rule_used_by_quantize_activations():
    x = np.array([[0.3, -1.7, 2.0]], np.float32)
    x_q, s_x = quantize_activations(x)
    assert np.array_equal(round_activations(x, s_x), x_q)
