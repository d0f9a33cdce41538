"""The LUT engine's group weight code: bit by bit, round trips, the table identity, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from model.group_code import (
    GROUP_SIZES,
    code_bits,
    decode_groups,
    encode_groups,
    entry_digits,
    group_count,
    group_entries,
    group_sums,
    index_bits,
    sign_bit,
)


def test_sizes_per_group():
    assert [group_entries(g) for g in GROUP_SIZES] == [4, 13, 40, 121]
    assert [index_bits(g) for g in GROUP_SIZES] == [3, 4, 6, 7]
    assert [code_bits(g) for g in GROUP_SIZES] == [4, 5, 7, 8]  # TL2: 5 bits per 3 weights
    assert [sign_bit(g) for g in GROUP_SIZES] == [3, 4, 6, 7]
    assert group_count(64, 3) == 22 and group_count(63, 3) == 21


def test_codes_bit_by_bit_for_three_weights():
    # v = w0 + 3 w1 + 9 w2: (1, 0, 0) -> 1; (0, 1, 0) -> 3; (-1, -1, -1) -> -13; (1, -1, 0) -> -2
    weights = np.array([[1, 0, 0, 0, 1, 0, -1, -1, -1, 1, -1, 0, 0, 0, 0]], np.int8)
    codes = encode_groups(weights, 3)
    assert codes.tolist() == [[1, 3, 0b1_1101, 0b1_0010, 0]]
    assert decode_groups(codes, 3, 15).tolist() == weights.tolist()


def test_entry_digits_are_balanced_ternary_with_a_positive_leading_digit():
    for g in GROUP_SIZES:
        digits = entry_digits(g).astype(np.int64)
        assert (digits[0] == 0).all()
        assert (digits @ 3 ** np.arange(g) == np.arange(group_entries(g) + 1)).all()
        leading = [row[np.flatnonzero(row)[-1]] for row in digits[1:]]
        assert set(leading) == {1}


def test_every_group_has_one_code():
    for g in GROUP_SIZES:
        grid = np.array(np.meshgrid(*[[-1, 0, 1]] * g, indexing="ij")).reshape(g, -1).T.astype(np.int8)
        codes = encode_groups(grid, g)[:, 0]
        assert len(set(codes.tolist())) == 3**g
        assert (codes >> code_bits(g) == 0).all()
        assert decode_groups(codes[:, None], g, g).tolist() == grid.tolist()


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.int8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=17), elements=st.integers(-1, 1)),
    st.sampled_from(GROUP_SIZES),
)
def test_round_trip(weights, group):
    codes = encode_groups(weights, group)
    assert codes.shape == (*weights.shape[:-1], group_count(weights.shape[-1], group))
    assert (decode_groups(codes, group, weights.shape[-1]) == weights).all()


@settings(max_examples=200, deadline=None)
@given(st.data(), st.sampled_from(GROUP_SIZES), st.integers(1, 20))
def test_table_lookup_equals_the_dot_product_per_group(data, group, k):
    weights = data.draw(hnp.arrays(np.int8, (3, k), elements=st.integers(-1, 1)))
    act = data.draw(hnp.arrays(np.int64, (3, k), elements=st.integers(-128, 127)))
    sums = group_sums(act, encode_groups(weights, group), group)
    padded = np.zeros((3, group_count(k, group) * group), np.int64)
    padded[:, :k] = act * weights
    assert (sums == padded.reshape(3, -1, group).sum(-1)).all()


def test_invalid_codes_read_as_zero_groups_and_are_refused():
    g = 3
    bad = np.array([[14], [15], [1 << sign_bit(g)]], np.int64)
    assert (group_sums(np.full((3, 3), 100), bad, g) == 0).all()
    for code in bad:
        with pytest.raises(ValueError, match="index above 13|negative zero"):
            decode_groups(code, g, 3)
    with pytest.raises(ValueError, match="padding"):
        decode_groups(np.array([9]), g, 2)  # v = 9: w2 = 1 beyond k = 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="group must be one of 2, 3, 4, 5; got 6"):
        encode_groups(np.zeros(6, np.int8), 6)
    with pytest.raises(TypeError, match="group must be an integer"):
        group_entries(3.0)
    with pytest.raises(ValueError, match="w_q must hold only -1, 0 and \\+1, found 2"):
        encode_groups(np.array([2], np.int8), 3)
    with pytest.raises(ValueError, match="must have 2 groups"):
        decode_groups(np.zeros(3, np.int64), 3, 4)
