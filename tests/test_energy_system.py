"""energy.system and its parts: accumulator law, zero fraction, weight formats, traffic, the waterfall."""

import math

import numpy as np
import pytest

from energy.accumulator import (
    accumulate_energy,
    add_energy,
    adder_tree_levels,
    exact_accumulator_bits,
    product_bits,
)
from energy.arithmetic import LINEAR_ONLY, matmul_energy, matmul_saving
from energy.formats import WEIGHT_FORMATS, weight_bits
from energy.sparsity import synthetic_weights, synthetic_zero_fraction, zero_fraction
from energy.system import STEPS, SystemConfig, dominant_term, system_ledger, term_shares, waterfall
from energy.tables import default_tables
from energy.traffic import traffic_bits
from model.quant import quantize_weights

TINY = {"hidden": 64, "intermediate": 96, "layers": 2, "heads": 4, "kv_heads": 2, "vocab": 100}


# accumulator width ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("node", ["7nm", "45nm"])
def test_add_energy_law_hits_both_table_anchors_and_is_linear(node):
    tables = default_tables()
    assert add_energy(8, node).value_pJ == tables.op(node, "add", "int8").value_pJ
    assert add_energy(32, node).value_pJ == tables.op(node, "add", "int32").value_pJ
    e16, e20, e24 = (add_energy(b, node).value_pJ for b in (16, 20, 24))
    assert e20 - e16 == pytest.approx(e24 - e20)
    assert add_energy(8, node).value_pJ < e16 < e24 < add_energy(32, node).value_pJ
    derived = add_energy(20, node)
    assert derived.rows == (f"ops:{node}/add/int8", f"ops:{node}/add/int32")
    assert "linear in width" in derived.note


def test_accumulator_widths():
    assert product_bits() == 9  # -128 * -1 = 128
    assert exact_accumulator_bits(1) == 9
    assert exact_accumulator_bits(4096) == 21  # |sum| <= 2**19 -> 20 bits + sign
    assert exact_accumulator_bits(2**24 - 1) == 32
    levels = adder_tree_levels(4096)
    assert sum(count for _, count in levels) == 4095
    assert levels[0] == (10, 2048) and levels[-1] == (21, 1)
    assert sum(count for _, count in adder_tree_levels(11)) == 10


def test_accumulation_schemes_order():
    energies = {
        mode: accumulate_energy(mode, 4096, "7nm").value_pJ
        for mode in ("int8", "adder_tree", "exact", "int32")
    }
    assert energies["int8"] < energies["adder_tree"] < energies["exact"] < energies["int32"]
    assert energies["int32"] == default_tables().op("7nm", "add", "int32").value_pJ


def test_bad_accumulator_arguments():
    with pytest.raises(ValueError, match="accumulator must be one of"):
        accumulate_energy("int16", 8, "7nm")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        accumulate_energy("exact", 0, "7nm")
    with pytest.raises(ValueError, match="bits must be a positive integer"):
        add_energy(0, "7nm")
    with pytest.raises(ValueError, match="node must be one of"):
        add_energy(16, "3nm")


# zero fraction and formats ---------------------------------------------------------------------------


def test_zero_fraction_is_measured_with_model_quant():
    w = np.array([[0.1, -0.1, 1.0, -1.0], [0.0, 0.05, 2.0, -2.0]], dtype=np.float32)
    w_q, _ = quantize_weights(w)
    assert zero_fraction(w) == pytest.approx(np.mean(w_q == 0))
    assert zero_fraction([w, w]) == zero_fraction(w)


def test_synthetic_zero_fractions_match_theory():
    gaussian = synthetic_zero_fraction()
    assert gaussian == pytest.approx(math.erf(1 / (2 * math.sqrt(math.pi))), abs=0.003)
    laplace = synthetic_zero_fraction("laplace", (512, 512))
    assert laplace == pytest.approx(1 - math.exp(-0.5), abs=0.005)
    assert synthetic_weights((3, 5)).shape == (3, 5) and synthetic_weights((3, 5)).dtype == np.float32


def test_bad_zero_fraction_inputs():
    with pytest.raises(ValueError, match="weights: no weight tensors"):
        zero_fraction([])
    with pytest.raises(TypeError, match="w must have a floating dtype"):
        zero_fraction(np.ones((2, 2), dtype=np.int8))
    with pytest.raises(ValueError, match="distribution must be one of"):
        synthetic_weights((2, 2), "uniform")


def test_weight_formats():
    assert WEIGHT_FORMATS == pytest.approx(
        {"fp16": 16, "int8": 8, "ternary": 2, "base3": 1.6, "log2(3)": 1.5849625007211563}
    )
    assert weight_bits("base3") == 1.6
    with pytest.raises(ValueError, match="weight_format must be one of"):
        weight_bits("nf4")


# traffic -----------------------------------------------------------------------------------------------


def test_decode_weight_traffic_is_every_weight_once():
    from energy.architecture import ModelConfig

    config = ModelConfig(**TINY)
    for fmt, bits in WEIGHT_FORMATS.items():
        moved = traffic_bits(config, 10, "decode", "b1.58", weight_format=fmt, lm_head="none")
        assert moved["weights"] == pytest.approx(config.linear_weights * bits)
    fp16 = traffic_bits(config, 10, "decode", "fp16", lm_head="last")
    assert fp16["weights"] == (config.linear_weights + 64 * 100) * 16
    # KV cache of a decode step: read 10 positions of K and V, write one, per layer, 16 bits
    assert fp16["kv_cache"] == 2 * 2 * (10 + 1) * 32 * 16


def test_prefill_reuses_weights_and_b158_reads_int8_inputs():
    decode = traffic_bits("7B", 512, "decode", "fp16")
    prefill = traffic_bits("7B", 512, "prefill", "fp16")
    assert prefill["weights"] == decode["weights"]
    assert prefill["activations"] > 100 * decode["activations"]
    b158 = traffic_bits("7B", 512, "prefill", "b1.58")
    assert b158["activations"] < prefill["activations"]
    assert b158["kv_cache"] == prefill["kv_cache"]


# the system model -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def decode_7b():
    return waterfall("7B", 512, "decode")


@pytest.fixture(scope="module")
def prefill_7b():
    return waterfall("7B", 512, "prefill")


def test_waterfall_starts_at_the_per_mac_ratio(decode_7b, prefill_7b):
    for frame in (decode_7b, prefill_7b):
        assert list(frame["step"]) == list(STEPS)
        assert frame["ratio"].iloc[0] == pytest.approx(matmul_saving("7nm"))
        assert (frame["ratio"] == frame["fp16_J"] / frame["b1.58_J"]).all()


def test_waterfall_linear_step_equals_the_arithmetic_model(decode_7b):
    fp16 = matmul_energy("7B", 512, "7nm", "fp16", counting=LINEAR_ONLY, phase="decode")["total_J"]
    b158 = matmul_energy("7B", 512, "7nm", "b1.58", counting=LINEAR_ONLY, phase="decode")["total_J"]
    linear = decode_7b.set_index("step").loc["linear"]
    assert linear["fp16_J"] == pytest.approx(fp16) and linear["b1.58_J"] == pytest.approx(b158)


def test_each_effect_moves_the_ratio_the_expected_way(decode_7b, prefill_7b):
    for frame in (decode_7b, prefill_7b):
        change = frame.set_index("step")["change"]
        assert change["attention"] < 1  # FP16 attention matmuls in both models
        assert change["accumulator"] < 0.6  # INT32 adds cost 4.3x INT8 adds at 7nm
        assert change["zero_skipping"] > 1.2  # 31% of the adds disappear
        assert change["weight_traffic"] < 1 and change["activation_traffic"] < 1
    decode = decode_7b.set_index("step")["ratio"]
    prefill = prefill_7b.set_index("step")["ratio"]
    assert decode["lm_head"] < decode["attention"]  # a full FP16 head per generated token
    assert prefill["lm_head"] == pytest.approx(prefill["attention"], rel=0.01)  # one head for 512 tokens
    assert decode.iloc[-1] < prefill.iloc[-1] < 20


def test_decode_is_weight_traffic_bound_and_tends_to_the_bit_ratio():
    ledger = system_ledger("7B", 512, "decode")
    term, share = dominant_term(ledger, "fp16")
    assert term == "weights" and share > 0.9
    assert dominant_term(ledger, "b1.58")[0] == "weights"
    # with only weight traffic left (weights on-chip cost nothing else), the ratio is 16 bits / bpw
    only = ledger[ledger["term"] == "weights"].groupby("precision")["energy_J"].sum()
    head_bits = 4096 * 32000 * 16
    body = 6_476_005_376
    assert only["fp16"] / only["b1.58"] == pytest.approx((body * 16 + head_bits) / (body * 2 + head_bits))


def test_prefill_is_arithmetic_bound_for_fp16():
    ledger = system_ledger("7B", 512, "prefill")
    assert dominant_term(ledger, "fp16") == ("linear", pytest.approx(0.786, abs=0.01))
    shares = term_shares(ledger)
    assert shares.groupby("precision")["share"].sum().to_numpy() == pytest.approx([1.0, 1.0])


def test_system_options_change_the_result():
    base = waterfall(TINY, 64, "decode").iloc[-1]["ratio"]
    high = waterfall(TINY, 64, "decode", SystemConfig(memory_estimate="high")).iloc[-1]["ratio"]
    sram = waterfall(TINY, 64, "decode", SystemConfig(weight_tier="sram_1MB")).iloc[-1]["ratio"]
    base3 = waterfall(TINY, 64, "decode", SystemConfig(weight_format="base3")).iloc[-1]["ratio"]
    tree = waterfall(TINY, 64, "decode", SystemConfig(accumulator="adder_tree")).iloc[-1]["ratio"]
    fp32 = waterfall(TINY, 64, "decode", SystemConfig(fp16_accumulator="fp32")).iloc[-1]["ratio"]
    dense = waterfall(TINY, 64, "decode", SystemConfig(zero_fraction=0.0)).iloc[-1]["ratio"]
    assert len({base, high, sram, base3, tree, fp32, dense}) == 7
    assert base3 > base and tree > base and fp32 > base and dense < base
    at45 = waterfall(TINY, 64, "decode", SystemConfig(node="45nm"))
    assert at45["ratio"].iloc[0] == pytest.approx(50.0)
    assert "dram_ddr" in at45["label"].iloc[-2]


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"node": "5nm"}, ValueError, "node must be one of"),
        ({"weight_format": "int4"}, ValueError, "weight_format must be one of"),
        ({"weight_tier": "dram_hbm3"}, ValueError, "weight_tier must be one of"),
        ({"node": "45nm", "kv_tier": "dram_gddr6"}, ValueError, "kv_tier must be one of"),
        ({"accumulator": "int16"}, ValueError, "accumulator must be one of"),
        ({"fp16_accumulator": "bf16"}, ValueError, "fp16_accumulator must be one of"),
        ({"zero_fraction": 1.5}, ValueError, r"zero_fraction must be in \[0, 1\]"),
        ({"zero_fraction": "0.3"}, TypeError, "zero_fraction must be a number"),
        ({"memory_estimate": "mid"}, ValueError, "memory_estimate must be one of"),
        ({"attention": "none"}, ValueError, "attention must be one of"),
    ],
)
def test_bad_system_configs(config, error, message):
    with pytest.raises(error, match=message):
        waterfall(TINY, 8, "decode", SystemConfig(**config))


def test_bad_system_arguments():
    with pytest.raises(ValueError, match="tokens must be a positive integer"):
        waterfall(TINY, 0, "decode")
    with pytest.raises(ValueError, match="phase must be one of"):
        waterfall(TINY, 8, "training")
    with pytest.raises(ValueError, match="step must be one of"):
        system_ledger(TINY, 8, "decode", step="memory")
    with pytest.raises(TypeError, match="config must be a SystemConfig"):
        waterfall(TINY, 8, "decode", {"node": "7nm"})
    with pytest.raises(ValueError, match="model: unknown model"):
        waterfall("8B", 8, "decode")


def test_each_step_adds_its_ledger_terms():
    """The ledger's terms per step, in order: each step of the waterfall adds what it names."""
    terms = {
        step: list(dict.fromkeys(system_ledger(TINY, 16, "prefill", step=step)["term"])) for step in STEPS
    }
    base = ["linear", "rescale"]
    assert terms["per_mac"] == terms["linear"] == base
    assert terms["attention"] == [*base, "attention"]
    assert terms["lm_head"] == terms["accumulator"] == [*base, "attention", "lm_head"]
    assert terms["quantization"] == terms["zero_skipping"] == [*base, "act_quant", "attention", "lm_head"]
    assert terms["weight_traffic"] == [*base, "act_quant", "attention", "lm_head", "weights"]
    full = [*base, "act_quant", "attention", "lm_head", "weights", "activations", "kv_cache"]
    assert terms["activation_traffic"] == full
    ledger = system_ledger(TINY, 16, "prefill")
    for term in ("attention", "lm_head", "weights", "kv_cache"):
        assert set(ledger[ledger["term"] == term]["precision"]) == {"fp16", "b1.58"}
    assert set(ledger[ledger["term"].isin(["rescale", "act_quant"])]["precision"]) == {"b1.58"}
