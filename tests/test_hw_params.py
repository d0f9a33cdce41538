"""Array parameters, derived widths and the port bit layouts with their host-side pack/unpack helpers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hw.arrays import build_array
from hw.layout import (
    input_layout,
    pack_activations,
    pack_fields,
    pack_input,
    pack_tile,
    pack_weight_load,
    port_fields,
    ternary_code_layout,
    tile_elements,
    unpack_fields,
    unpack_output,
)
from hw.params import (
    DEFAULT_MAX_K,
    ArrayParams,
    signed_width,
    tree_depth,
)
from model.bitlinear import MAX_IN_FEATURES_INT32
from model.encoding import CODE_BITS, NEGATIVE_BIT, NONZERO_BIT, codes_to_int, encode_ternary
from model.quant import ACT_BITS

# --- parameters ---------------------------------------------------------------------------------------------


def test_defaults():
    p = ArrayParams()
    assert (p.array, p.lanes, p.rows, p.act_width, p.max_k) == ("ternary", 64, 8, ACT_BITS, DEFAULT_MAX_K)
    assert (p.pipeline, p.tree, p.dataflow) == (0, "signed", "stream")
    assert p.acc_width == (DEFAULT_MAX_K * 128).bit_length() + 1 == 23
    assert p.latency == 1 and p.levels == 7 and p.register_levels == ()


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"array": "fp32"}, ValueError, "array"),
        ({"array": 1}, TypeError, "array"),
        ({"lanes": 0}, ValueError, "lanes"),
        ({"lanes": True}, TypeError, "lanes"),
        ({"lanes": "4"}, TypeError, "lanes"),
        ({"rows": -1}, ValueError, "rows"),
        ({"rows": 2.0}, TypeError, "rows"),
        ({"act_width": 1}, ValueError, "act_width"),
        ({"act_width": 17}, ValueError, "act_width"),
        ({"max_k": 0}, ValueError, "max_k"),
        ({"max_k": MAX_IN_FEATURES_INT32 + 1}, ValueError, "max_k"),
        ({"tree": "wallace"}, ValueError, "tree"),
        ({"array": "int8", "tree": "split"}, ValueError, "tree"),
        ({"dataflow": "weight-stationary"}, ValueError, "dataflow"),
        ({"pipeline": -1}, ValueError, "pipeline"),
        ({"pipeline": 8}, ValueError, "pipeline"),  # 64 lanes, signed: 7 levels
        ({"pipeline": "half"}, ValueError, "pipeline"),
        ({"pipeline": 1.0}, TypeError, "pipeline"),
    ],
)
def test_bad_parameters_are_refused_naming_them(kwargs, error, name):
    with pytest.raises(error, match=name):
        ArrayParams(**kwargs)


def test_numpy_integers_and_full_pipeline_are_accepted():
    p = ArrayParams(lanes=np.int64(5), rows=np.uint8(3), pipeline="full", tree="split")
    assert (p.lanes, p.rows) == (5, 3) and type(p.lanes) is int
    assert p.pipeline == p.levels == 1 + 3 + 1


@pytest.mark.parametrize(
    ("lo", "hi", "width"), [(0, 0, 1), (-1, 0, 1), (0, 1, 2), (-128, 127, 8), (-128, 128, 9), (-129, 0, 9)]
)
def test_signed_width(lo, hi, width):
    assert signed_width(lo, hi) == width


@pytest.mark.parametrize("array", ["ternary", "int8"])
@pytest.mark.parametrize(
    ("lanes", "max_k", "act_width"), [(1, 1, 8), (3, 7, 8), (8, 64, 4), (5, 11, 12), (64, 100, 8)]
)
def test_accumulator_width_from_brute_force_products(array, lanes, max_k, act_width):
    """The smallest width holding every sum of max_beats full beats, from all products enumerated."""
    p = ArrayParams(array=array, lanes=lanes, max_k=max_k, act_width=act_width)
    acts = range(-(1 << (act_width - 1)), 1 << (act_width - 1))
    weights = (-1, 0, 1) if array == "ternary" else range(-128, 128)
    products = [a * w for a in acts for w in weights]
    elements = -(-max_k // lanes) * lanes
    assert p.max_beats * lanes == elements >= max_k
    assert p.acc_width == signed_width(elements * min(products), elements * max(products))
    assert p.tree_sum_width == signed_width(lanes * min(products), lanes * max(products))


def test_accumulator_width_meets_the_models_int32_bound():
    """At the golden model's longest reduction a one-lane ternary array needs exactly int32; wider arrays pad
    the last beat, so their bound counts whole beats."""
    assert ArrayParams(lanes=1, max_k=MAX_IN_FEATURES_INT32).acc_width == 32
    assert ArrayParams(lanes=1, max_k=MAX_IN_FEATURES_INT32 + 1 - 1).max_beats == MAX_IN_FEATURES_INT32
    wide = ArrayParams(lanes=64, max_k=MAX_IN_FEATURES_INT32)
    assert wide.max_beats * 64 == 2**24 and wide.acc_width == 33


@pytest.mark.parametrize("tree", ["signed", "split"])
def test_register_placement(tree):
    for lanes in range(1, 41):
        levels = 1 + tree_depth(lanes) + (tree == "split")
        for pipeline in range(levels + 1):
            p = ArrayParams(lanes=lanes, tree=tree, pipeline=pipeline)
            assert p.levels == levels and p.latency == pipeline + 1
            placed = p.register_levels
            assert len(placed) == pipeline and list(placed) == sorted(set(placed))
            assert all(0 <= level < levels for level in placed)
            # the L levels plus the accumulator are cut into segments of nearly equal length
            cuts = [-1, *placed, levels]
            segments = [b - a for a, b in itertools.pairwise(cuts)]
            assert max(segments) - min(segments) <= 1, (lanes, pipeline, placed)
        assert ArrayParams(lanes=lanes, tree=tree, pipeline="full").register_levels == tuple(range(levels))


def test_beats_of_a_reduction():
    p = ArrayParams(lanes=8, max_k=20)
    assert p.max_beats == 3 and [p.beats(k) for k in (1, 8, 9, 24)] == [1, 1, 2, 3]
    with pytest.raises(ValueError, match="k"):
        p.beats(25)


def test_default_name_spells_out_every_parameter():
    p = ArrayParams(array="int8", lanes=3, rows=2, act_width=6, max_k=9, pipeline=1, dataflow="stationary")
    assert p.default_name() == "int8_mac_n3_m2_a6_k9_p1_signed_stationary"


# --- layouts ------------------------------------------------------------------------------------------------


def test_code_layout_follows_model_encoding():
    layout = ternary_code_layout()
    assert layout.size == CODE_BITS
    assert layout["nonzero"].offset == NONZERO_BIT and layout["negative"].offset == NEGATIVE_BIT


@pytest.mark.parametrize("dataflow", ["stream", "stationary"])
@pytest.mark.parametrize("array", ["ternary", "int8"])
def test_port_widths_match_the_component(array, dataflow):
    p = ArrayParams(array=array, lanes=5, rows=3, dataflow=dataflow, max_k=50)
    dut = build_array(p)
    Fragment.get(dut, None)
    fields = port_fields(p)
    assert fields["i_stream__payload"]["act"] == (5 * 8 - 1, 0)
    assert fields["i_stream__payload"]["last"] == (len(dut.i_stream.payload.as_value()) - 1,) * 2
    assert fields["o_stream__payload"]["sums"] == (3 * p.acc_width - 1, 0)
    if dataflow == "stream":
        assert fields["i_stream__payload"]["weight"] == (5 * 8 + p.tile_bits - 1, 5 * 8)
        assert "w_stream__payload" not in fields
    else:
        assert set(fields["i_stream__payload"]) == {"act", "last"}
        assert fields["w_stream__payload"] == {"weight": (p.tile_bits - 1, 0)}
        assert len(dut.w_stream.payload.as_value()) == p.tile_bits


# --- packing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 2, 7, 8, 13, 33, 63])
def test_pack_unpack_fields_round_trip(width):
    rng = np.random.default_rng(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = rng.integers(lo, hi, size=(5, 11), endpoint=True)
    values[0, :2] = lo, hi
    packed = pack_fields(values, width)
    for row, value in zip(values, packed, strict=True):
        expected = sum((int(v) & ((1 << width) - 1)) << (width * i) for i, v in enumerate(row))
        assert value == expected == pack_fields(row, width)
    np.testing.assert_array_equal(unpack_fields(packed, 11, width, signed=True), values)
    np.testing.assert_array_equal(unpack_fields(packed[0], 11, width, signed=True), values[0])
    with pytest.raises(ValueError, match="fit"):
        unpack_fields(1 << (11 * width), 11, width, signed=True)


def test_tile_packing_is_model_encoding_lane_packing():
    """The ternary tile is ``model.encoding.codes_to_int`` of the row-major codes: one source of truth."""
    p = ArrayParams(lanes=7, rows=3)
    rng = np.random.default_rng(0)
    tiles = rng.integers(-1, 2, size=(4, 3, 7))
    packed = pack_tile(p, tiles)
    for tile, value in zip(tiles, packed, strict=True):
        assert value == codes_to_int(encode_ternary(tile).ravel()) == pack_tile(p, tile)
    codes = encode_ternary(tiles[0])
    codes[0, 0] = 0b10  # raw codes may hold the invalid code the RTL reads as zero
    assert pack_tile(p, codes, codes=True) == codes_to_int(codes.ravel())


@pytest.mark.parametrize("array", ["ternary", "int8"])
def test_input_beat_bit_positions(array):
    """Every field of a packed beat sits at the documented bit positions."""
    p = ArrayParams(array=array, lanes=5, rows=2, act_width=6, max_k=50)
    rng = np.random.default_rng(1)
    act = rng.integers(p.act_min, p.act_max + 1, size=5)
    weights = rng.integers(p.weight_min, p.weight_max + 1, size=(2, 5))
    payload = pack_input(p, act, weights, last=True)
    a, wb = p.act_width, p.weight_bits
    for i in range(5):
        field = (payload >> (a * i)) & ((1 << a) - 1)
        assert field - ((field >> (a - 1)) << a) == act[i]
    elements = encode_ternary(weights) if array == "ternary" else weights
    for r, i in itertools.product(range(2), range(5)):
        field = (payload >> (5 * a + wb * (5 * r + i))) & ((1 << wb) - 1)
        assert field == int(elements[r, i]) & ((1 << wb) - 1)
    last = 5 * a + 10 * wb
    assert payload >> last == 1 and last == input_layout(p)["last"].offset
    assert pack_input(p, act, weights, last=False) == payload - (1 << last)
    assert pack_activations(p, act) == payload & ((1 << (5 * a)) - 1)


def test_batched_packing_equals_per_beat_packing():
    p = ArrayParams(lanes=4, rows=3, max_k=40)
    rng = np.random.default_rng(2)
    acts = rng.integers(-128, 128, size=(6, 4))
    tiles = rng.integers(-1, 2, size=(6, 3, 4))
    last = np.array([0, 1, 0, 0, 1, 1], dtype=bool)
    batch = pack_input(p, acts, tiles, last)
    assert batch == [pack_input(p, acts[b], tiles[b], bool(last[b])) for b in range(6)]
    stationary = ArrayParams(lanes=4, rows=3, dataflow="stationary")
    assert pack_weight_load(stationary, tiles) == pack_tile(stationary, tiles)
    assert pack_input(stationary, acts, None, last) == [
        a | (int(f) << 32) for a, f in zip(pack_activations(p, acts), last, strict=True)
    ]


def test_unpack_output_signed_sums():
    p = ArrayParams(lanes=2, rows=3, max_k=4)
    w = p.acc_width
    sums = np.array([-(1 << (w - 1)), (1 << (w - 1)) - 1, -1])
    payload = sum((int(s) & ((1 << w) - 1)) << (w * r) for r, s in enumerate(sums))
    np.testing.assert_array_equal(unpack_output(p, payload), sums)
    np.testing.assert_array_equal(unpack_output(p, [payload, 0]), [sums, [0, 0, 0]])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p, s: pack_input(p, np.full(4, 128), np.zeros((3, 4), int)), ValueError, "act"),
        (lambda p, s: pack_input(p, np.zeros(5, int), np.zeros((3, 4), int)), ValueError, "act"),
        (lambda p, s: pack_input(p, np.zeros(4), np.zeros((3, 4), int)), TypeError, "act"),
        (lambda p, s: pack_input(p, np.zeros(4, int)), ValueError, "weights"),
        (lambda p, s: pack_input(p, np.zeros(4, int), np.full((3, 4), 2)), ValueError, "weights"),
        (lambda p, s: pack_input(p, np.zeros(4, int), np.zeros((4, 3), int)), ValueError, "weights"),
        (lambda p, s: pack_input(s, np.zeros(4, int), np.zeros((3, 4), int)), ValueError, "weights"),
        (lambda p, s: pack_tile(p, np.full((3, 4), 4), codes=True), ValueError, "codes"),
        (lambda p, s: pack_weight_load(p, np.zeros((3, 4), int)), ValueError, "stationary"),
        (
            lambda p, s: tile_elements(
                ArrayParams(array="int8", lanes=4, rows=3), np.zeros((3, 4), int), codes=True
            ),
            ValueError,
            "ternary",
        ),
        (
            lambda p, s: pack_tile(ArrayParams(array="int8", lanes=4, rows=3), np.full((3, 4), 128)),
            ValueError,
            "int8",
        ),
    ],
)
def test_packing_refuses_bad_input(call, error, match):
    p = ArrayParams(lanes=4, rows=3)
    s = ArrayParams(lanes=4, rows=3, dataflow="stationary")
    with pytest.raises(error, match=match):
        call(p, s)


def test_lut_parameters_and_derived_quantities():
    p = ArrayParams("ternary-lut", 64, 8)
    assert p.group == 3 and p.weight_fields == 22 and p.weight_bits == 5 and p.tile_bits == 8 * 22 * 5
    assert p.tree_inputs == 22 and p.levels == 1 + 5 and p.is_ternary
    assert p.acc_width == ArrayParams("ternary", 64, 8).acc_width  # the largest product is still 128
    assert p.default_name() == "ternary_lut_mac_n64_m8_a8_k16384_p0_signed_stream_g3"
    assert ArrayParams("ternary-lut", 10, 1, group=5).weight_fields == 2
    assert ArrayParams("ternary-lut", 7, 1, group=2, tree="csa", pipeline="full").pipeline == 2
    with pytest.raises(ValueError, match=r"group must be in \[2, 5\], got 6"):
        ArrayParams("ternary-lut", 8, 1, group=6)
    with pytest.raises(ValueError, match="group applies to the ternary-lut array only"):
        ArrayParams("ternary", 8, 1, group=3)
    with pytest.raises(ValueError, match="tree must be one of signed, csa for the ternary-lut array"):
        ArrayParams("ternary-lut", 8, 1, tree="split")


def test_refined_trees_levels():
    assert ArrayParams(lanes=64, tree="deferred").levels == 1 + 6 + 1
    assert ArrayParams(lanes=64, tree="csa").levels == 2 and ArrayParams(lanes=64, tree="csa").depth == 0
    assert ArrayParams("int8", 8, tree="csa", pipeline="full").register_levels == (0, 1)
    with pytest.raises(ValueError, match="tree must be one of signed for the fp16 array"):
        ArrayParams("fp16", 8, tree="csa")
