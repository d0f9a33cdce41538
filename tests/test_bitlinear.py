"""The golden integer BitLinear: exactness, the int32 bound, the float path, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from model.bitlinear import (
    MAX_IN_FEATURES_FLOAT32_EXACT,
    MAX_IN_FEATURES_INT32,
    bitlinear,
    bitlinear_from_quantized,
    bitlinear_int,
)
from model.quant import quantize_activations, quantize_weights


def int64_reference(x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """The straightforward definition: sum over k of x[..., k] * w[n, k] in int64."""
    return (x_q.astype(np.int64)[..., None, :] * w_q.astype(np.int64)).sum(axis=-1)


@st.composite
def int_operands(draw):
    k = draw(st.integers(1, 64))
    n = draw(st.integers(1, 16))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=5))
    x_q = draw(hnp.arrays(np.int8, (*batch, k)))
    w_q = draw(hnp.arrays(np.int8, (n, k), elements=st.integers(-1, 1)))
    return x_q, w_q


@given(int_operands())
@settings(max_examples=300, deadline=None)
def test_integer_path_equals_int64_reference(operands):
    x_q, w_q = operands
    acc = bitlinear_int(x_q, w_q)
    assert acc.dtype == np.int32
    assert acc.shape == (*x_q.shape[:-1], w_q.shape[0])
    assert np.array_equal(acc, int64_reference(x_q, w_q))


def test_integer_path_on_a_large_random_layer():
    rng = np.random.default_rng(0)
    x_q = rng.integers(-128, 128, (16, 4096), dtype=np.int8)
    w_q = rng.integers(-1, 2, (256, 4096)).astype(np.int8)
    assert np.array_equal(bitlinear_int(x_q, w_q), x_q.astype(np.int64) @ w_q.astype(np.int64).T)


@pytest.mark.parametrize("k", [MAX_IN_FEATURES_FLOAT32_EXACT, MAX_IN_FEATURES_FLOAT32_EXACT + 1, 1_000_003])
def test_extreme_sums_are_exact_on_both_sides_of_the_float32_limit(k):
    x_q = np.full((2, k), -128, np.int8)
    x_q[1, :] = 127
    w_q = np.stack([np.full(k, -1, np.int8), np.full(k, 1, np.int8)])
    w_q[1, ::3] = -1
    acc = bitlinear_int(x_q, w_q)
    assert np.array_equal(acc, int64_reference(x_q, w_q))
    assert acc[0, 0] == 128 * k


def test_int32_bound_is_exact_and_enforced():
    assert 128 * MAX_IN_FEATURES_INT32 <= 2**31 - 1 < 128 * (MAX_IN_FEATURES_INT32 + 1)
    k = MAX_IN_FEATURES_INT32 + 1
    with pytest.raises(ValueError, match="in_features=16777216 exceeds 16777215"):
        bitlinear_int(np.zeros((1, k), np.int8), np.zeros((1, k), np.int8))


def test_the_largest_int32_reduction_is_exact():
    k = MAX_IN_FEATURES_INT32
    acc = bitlinear_int(np.full((1, k), -128, np.int8), np.full((1, k), -1, np.int8))
    assert acc[0, 0] == 2**31 - 128


def test_float_path_is_acc_over_product_of_scales_plus_bias():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 96)).astype(np.float32)
    w = rng.standard_normal((40, 96)).astype(np.float32)
    bias = rng.standard_normal(40).astype(np.float32)
    w_q, s_w = quantize_weights(w)
    x_q, s_x = quantize_activations(x)
    acc = (x_q.astype(np.int64) @ w_q.astype(np.int64).T).astype(np.float32)
    expected = acc / (s_x * s_w) + bias
    assert np.array_equal(bitlinear_from_quantized(x, w_q, s_w, bias), expected)
    assert np.array_equal(bitlinear(x, w, bias), expected)
    assert bitlinear(x, w).dtype == np.float32


def test_bitlinear_approximates_the_float_layer():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 512)).astype(np.float32)
    w = rng.standard_normal((64, 512)).astype(np.float32)
    y = bitlinear(x, w)
    reference = x @ w.T
    # absmean ternarization of a Gaussian matrix keeps a correlation of about 0.88 with it
    correlation = np.corrcoef(y.ravel(), reference.ravel())[0, 1]
    assert 0.85 < correlation < 0.95
    # and the output is the product of the dequantized operands, up to float rounding
    w_q, s_w = quantize_weights(w)
    x_q, s_x = quantize_activations(x)
    dequantized = (x_q / s_x).astype(np.float64) @ (w_q / s_w).astype(np.float64).T
    np.testing.assert_allclose(y, dequantized, rtol=1e-5, atol=1e-5 * np.abs(dequantized).max())


def test_all_zero_weights_and_tokens_are_valid():
    x = np.zeros((2, 8), np.float32)
    x[1] = 1.0
    y = bitlinear(x, np.zeros((3, 8), np.float32), bias=np.arange(3, dtype=np.float32))
    assert np.array_equal(y, np.tile(np.arange(3, dtype=np.float32), (2, 1)))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (
            (np.zeros((2, 4), np.float32), np.zeros((3, 4), np.int8)),
            TypeError,
            "x_q must have an integer dtype",
        ),
        (
            (np.zeros((2, 4), np.int8), np.zeros((3, 4), np.float32)),
            TypeError,
            "w_q must have an integer dtype",
        ),
        (
            (np.zeros((2, 4), np.int8), np.full((3, 4), 2, np.int8)),
            ValueError,
            "w_q must hold only -1, 0 and",
        ),
        (
            (np.zeros((2, 4), np.int8), np.full((3, 4), -2, np.int16)),
            ValueError,
            "w_q must hold only -1, 0 and",
        ),
        (
            (np.zeros((2, 4), np.int8), np.zeros((3, 5), np.int8)),
            ValueError,
            "x_q has 4 features .* in_features=5",
        ),
        (
            (np.zeros((2, 4), np.int8), np.zeros(4, np.int8)),
            ValueError,
            r"w_q must be a non-empty \(out_features",
        ),
        (
            (np.full((2, 4), 200, np.int16), np.zeros((3, 4), np.int8)),
            ValueError,
            "x_q must hold int8 values",
        ),
        ((np.zeros((0,), np.int8), np.zeros((3, 4), np.int8)), ValueError, "x_q must be a non-empty array"),
        (([1, 2], np.zeros((3, 2), np.int8)), TypeError, "x_q must be a numpy integer array"),
    ],
)
def test_integer_path_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        bitlinear_int(*args)


W_Q = np.ones((3, 4), np.int8)
X = np.ones((2, 4), np.float32)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((X, W_Q, -1.0), ValueError, "s_w must be finite and positive"),
        ((X, W_Q, float("nan")), ValueError, "s_w must be finite and positive"),
        ((X, W_Q, "1"), TypeError, "s_w must be a float scale"),
        ((X, W_Q, np.ones(2, np.float32)), TypeError, "s_w must be a single float scale"),
        ((X, W_Q, 1.0, np.ones(4, np.float32)), ValueError, r"bias must have shape \(3,\)"),
        ((X, W_Q, 1.0, np.array([np.nan] * 3, np.float32)), ValueError, "bias contains NaN"),
        ((X.astype(np.int32), W_Q, 1.0), TypeError, "x must have a floating dtype"),
        ((np.full((2, 4), np.inf, np.float32), W_Q, 1.0), ValueError, "x contains NaN or Inf"),
        ((np.ones((2, 5), np.float32), W_Q, 1.0), ValueError, "x_q has 5 features"),
        ((X, W_Q * 3, 1.0), ValueError, "w_q must hold only"),
    ],
)
def test_float_path_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        bitlinear_from_quantized(*args)


def test_bitlinear_rejects_a_weight_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"w must be an \(out_features, in_features\) matrix"):
        bitlinear(X, np.ones((2, 3, 4), np.float32))
    with pytest.raises(TypeError, match="w must have a floating dtype"):
        bitlinear(X, W_Q)
