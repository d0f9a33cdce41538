"""Ternary packings: layouts bit by bit, round trips, the transformers checkpoint layout, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from transformers.integrations.bitnet import pack_weights, unpack_weights

from model.encoding import (
    CODE_INVALID,
    CODE_MINUS_ONE,
    CODE_PLUS_ONE,
    CODE_ZERO,
    codes_to_int,
    decode_ternary,
    encode_ternary,
    int_to_codes,
)
from model.packing import from_hf_packed, pack_2bit, pack_base3, to_hf_packed, unpack_2bit, unpack_base3

ternary_arrays = hnp.arrays(
    np.int8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=23), elements=st.integers(-1, 1)
)


def test_ternary_codes_bit_by_bit():
    assert (CODE_PLUS_ONE, CODE_ZERO, CODE_MINUS_ONE, CODE_INVALID) == (0b01, 0b00, 0b11, 0b10)
    assert encode_ternary(np.array([1, 0, -1], np.int8)).tolist() == [0b01, 0b00, 0b11]
    assert decode_ternary(np.array([0b01, 0b00, 0b11], np.uint8)).tolist() == [1, 0, -1]
    with pytest.raises(ValueError, match="invalid ternary code 0b10"):
        decode_ternary(np.array([0b10], np.uint8))


def test_lane_vector_packing_is_little_endian():
    codes = encode_ternary(np.array([1, 0, -1, 1, -1], np.int8))
    value = codes_to_int(codes)
    assert value == 0b11_01_11_00_01
    assert int_to_codes(value, 5).tolist() == codes.tolist()
    with pytest.raises(ValueError, match="does not fit"):
        int_to_codes(1 << 10, 5)


def test_2bit_layout_bit_by_bit():
    w = np.array([[1, 0, -1, 1, -1]], np.int8)
    packed = pack_2bit(w)
    # byte 0: k=0 bits 1:0 = 01, k=1 bits 3:2 = 00, k=2 bits 5:4 = 11, k=3 bits 7:6 = 01
    # byte 1: k=4 bits 1:0 = 11, padding zero codes
    assert packed.tolist() == [[0b01_11_00_01, 0b00_00_00_11]]
    # a row read as one little-endian integer is the RTL lane vector
    assert int.from_bytes(packed[0].tobytes(), "little") == codes_to_int(encode_ternary(w[0]))


def test_base3_layout_bit_by_bit():
    w = np.array([1, 0, -1, 1, -1, 1], np.int8)
    # group 0: trits (w+1) = 2,1,0,2,0 -> 2 + 1*3 + 0*9 + 2*27 + 0*81 = 59; group 1: 2 then padding 1s
    assert pack_base3(w).tolist() == [59, 2 + 1 * 3 + 1 * 9 + 1 * 27 + 1 * 81]
    assert pack_base3(np.ones(5, np.int8)).tolist() == [242]


@given(ternary_arrays)
@settings(max_examples=300, deadline=None)
def test_every_packing_round_trips(w):
    k = w.shape[-1]
    packed = pack_2bit(w)
    assert packed.dtype == np.uint8 and packed.shape == (*w.shape[:-1], -(-k // 4))
    assert np.array_equal(unpack_2bit(packed, k), w)
    packed3 = pack_base3(w)
    assert packed3.shape == (*w.shape[:-1], -(-k // 5))
    assert np.array_equal(unpack_base3(packed3, k), w)
    hf = to_hf_packed(w)
    assert hf.shape == (-(-w.shape[0] // 4), *w.shape[1:])
    assert np.array_equal(from_hf_packed(hf, w.shape[0]), w)


def test_base3_is_1_6_bits_per_weight():
    w = np.zeros((10, 1000), np.int8)
    assert pack_base3(w).nbytes * 8 / w.size == 1.6
    assert pack_2bit(w).nbytes * 8 / w.size == 2.0


@pytest.mark.parametrize("out_features", [*range(1, 14), 64, 130])
def test_hf_layout_is_bit_identical_to_transformers(out_features):
    rng = np.random.default_rng(out_features)
    w = rng.integers(-1, 2, (out_features, 7)).astype(np.int8)
    reference = pack_weights(torch.from_numpy(w.copy())).numpy()
    assert np.array_equal(to_hf_packed(w), reference)
    if out_features % 4 == 0:  # transformers' unpack restores 4 * rows outputs
        assert np.array_equal(
            from_hf_packed(reference, out_features),
            unpack_weights(torch.from_numpy(reference), torch.int8).numpy(),
        )


def test_hf_layout_one_dimensional():
    w = np.array([1, -1, 0, 1, 1], np.int8)
    assert np.array_equal(to_hf_packed(w), pack_weights(torch.from_numpy(w.copy())).numpy())


@pytest.mark.parametrize(
    ("call", "args", "error", "match"),
    [
        (unpack_2bit, (np.zeros(2, np.uint8), 4), ValueError, "k=4 needs 1 bytes"),
        (unpack_2bit, (np.zeros(1, np.int8), 4), TypeError, "packed must have dtype uint8"),
        (unpack_2bit, ([0], 4), TypeError, "packed must be a numpy uint8 array"),
        (unpack_2bit, (np.array([0b10], np.uint8), 1), ValueError, "invalid ternary code"),
        (unpack_2bit, (np.array([0b0100], np.uint8), 1), ValueError, "padding past k"),
        (unpack_2bit, (np.zeros(1, np.uint8), 0), ValueError, "k must be >= 1"),
        (unpack_2bit, (np.zeros(1, np.uint8), 1.0), TypeError, "k must be an int"),
        (unpack_base3, (np.array([243], np.uint8), 5), ValueError, "byte above 242"),
        (unpack_base3, (np.array([0], np.uint8), 2), ValueError, "padding past k"),
        (unpack_base3, (np.zeros(2, np.uint8), 5), ValueError, "k=5 needs 1 bytes"),
        (from_hf_packed, (np.zeros((2, 3), np.uint8), 4), ValueError, "out_features=4 needs 1 rows"),
        (from_hf_packed, (np.full((1, 3), 0b11, np.uint8), 4), ValueError, "field value 3"),
        (from_hf_packed, (np.full((1, 3), 0b01_01_01_01, np.uint8), 3), ValueError, "past out_features"),
        (pack_2bit, (np.array([2], np.int8),), ValueError, "w_q must hold only -1, 0 and"),
        (pack_base3, (np.array([0.5]),), TypeError, "w_q must have an integer dtype"),
        (to_hf_packed, (np.zeros((0, 3), np.int8),), ValueError, "w_q must be a non-empty array"),
    ],
)
def test_bad_input(call, args, error, match):
    with pytest.raises(error, match=match):
        call(*args)
