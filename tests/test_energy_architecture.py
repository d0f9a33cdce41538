"""energy.architecture and energy.opcount: model shapes, name resolution, op counts per phase."""

import pytest

from energy.architecture import ModelConfig, model_names, resolve_model
from energy.opcount import matmul_counts

TINY = {"hidden": 64, "intermediate": 96, "layers": 2, "heads": 4, "kv_heads": 2, "vocab": 100}


@pytest.mark.parametrize(
    ("name", "full", "linear_weights"),
    [
        # LLaMA-2 7B: 6.74B parameters = 6,476,005,376 linear + 2 x 131M embeddings + norms
        ("7B", "llama2-7B", 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)),
        ("70B", "llama2-70B", 80 * (2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672)),
        ("1.3B", "b1.58-1.3B", 24 * (4 * 2048 * 2048 + 3 * 2048 * 5460)),
        ("6.7B", "gpt3-6.7B", 32 * 12 * 4096 * 4096),
        ("13B", "gpt3-13B", 40 * 12 * 5120 * 5120),
        ("30B", "gpt3-30B", 48 * 12 * 7168 * 7168),
        ("llama2-13b", "llama2-13B", 40 * (4 * 5120 * 5120 + 3 * 5120 * 13824)),
    ],
)
def test_named_models_resolve_to_their_shapes(name, full, linear_weights):
    config = resolve_model(name)
    assert config.name == full
    assert config.linear_weights == linear_weights
    assert config.source.startswith(f"models:{full}: ")


def test_llama2_7b_parameter_count_matches_the_published_6_74b():
    config = resolve_model("7B")
    embeddings = 2 * config.vocab * config.hidden
    norms = (2 * config.layers + 1) * config.hidden
    assert config.linear_weights + embeddings + norms == 6_738_415_616


def test_gqa_shapes():
    config = resolve_model("70B")
    shapes = {linear.name: (linear.in_features, linear.out_features) for linear in config.layer_linears()}
    assert shapes["k_proj"] == shapes["v_proj"] == (8192, 1024)
    assert config.head_dim == 128 and config.kv_dim == 1024
    gpt = {linear.name for linear in resolve_model("6.7B").layer_linears()}
    assert gpt == {"q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"}


def test_mapping_config_and_defaults():
    config = resolve_model({"hidden": 64, "intermediate": 96, "layers": 2, "heads": 4, "vocab": 100})
    assert config.kv_heads == 4 and config.ffn == "glu" and config.name == "custom"
    assert resolve_model(config) is config


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("5B", ValueError, "model: unknown model '5B'; known: .*6.7B"),
        ("", ValueError, "model: unknown model"),
        ("-1B", ValueError, "model: a model size must be positive, got '-1B'"),
        ("0.0M", ValueError, "model: a model size must be positive"),
        (7, TypeError, "model must be a size name"),
        ({**TINY, "hidden": 0}, ValueError, "model hidden must be a positive integer, got 0"),
        ({**TINY, "layers": -2}, ValueError, "model layers must be a positive integer"),
        ({**TINY, "heads": 2.0}, TypeError, "model heads must be a positive integer"),
        ({**TINY, "heads": 5}, ValueError, "model hidden .* must be a multiple of heads"),
        ({**TINY, "kv_heads": 3}, ValueError, "multiple of kv_heads"),
        ({**TINY, "ffn": "moe"}, ValueError, "model ffn must be one of"),
        ({**TINY, "hiden": 3}, ValueError, "model: unknown field"),
    ],
)
def test_bad_models_are_refused_naming_the_argument(model, error, message):
    with pytest.raises(error, match=message):
        resolve_model(model)


def test_model_names_lists_the_table():
    assert "llama2-70B" in model_names() and "gpt3-30B" in model_names()


def test_prefill_counts_follow_the_paper_rules():
    config = ModelConfig(**TINY)
    s = 16
    counts = matmul_counts(config, s, "prefill", attention="full", lm_head="all").set_index("matmul")
    q = counts.loc["q_proj"]
    assert (q.m, q.n, q.p, q.instances) == (s, 64, 64, 2)
    assert q.macs == s * 64 * 64 * 2
    assert q.adds == s * 63 * 64 * 2
    assert q.rescale_muls == (s * 64 + s * 64) * 2
    # q/k/v share one quantized input, gate/up another
    assert q.quant_elements == s * 64 * 2 and counts.loc["k_proj"].quant_elements == 0
    assert counts.loc["up_proj"].quant_elements == 0 and counts.loc["down_proj"].quant_elements == s * 96 * 2
    assert counts.loc["k_proj"].p == 32  # 2 kv heads of 16
    scores = counts.loc["attn_scores"]
    assert scores.instances == 2 * 4 and scores.macs == s * 16 * s * 8
    assert scores.adds == s * 15 * s * 8
    assert counts.loc["attn_context"].adds == s * (s - 1) * 16 * 8
    head = counts.loc["lm_head"]
    assert head.macs == s * 64 * 100 and head.rescale_muls == 0
    total_linear = counts[counts["kind"] == "linear"]["macs"].sum()
    assert total_linear == s * config.linear_weights


def test_causal_attention_counts_the_lower_triangle():
    s = 10
    full = matmul_counts(ModelConfig(**TINY), s, attention="full").set_index("matmul")
    causal = matmul_counts(ModelConfig(**TINY), s, attention="causal").set_index("matmul")
    pairs = s * (s + 1) // 2
    assert causal.loc["attn_scores"].macs == pairs * 16 * 8
    assert causal.loc["attn_context"].adds == s * (s - 1) // 2 * 16 * 8
    assert causal.loc["attn_scores"].macs < full.loc["attn_scores"].macs
    none = matmul_counts(ModelConfig(**TINY), s, attention="none")
    assert set(none["kind"]) == {"linear"}


def test_decode_counts_one_token_against_the_context():
    c = 37
    counts = matmul_counts(ModelConfig(**TINY), c, "decode", lm_head="last").set_index("matmul")
    assert (counts["m"] == 1).all()
    assert counts.loc["attn_scores"].macs == c * 16 * 8
    assert counts.loc["attn_context"].adds == (c - 1) * 16 * 8
    linear = counts[counts["kind"] == "linear"]
    assert linear["macs"].sum() == ModelConfig(**TINY).linear_weights
    assert (counts["macs_per_token"] == counts["macs"]).all()


def test_prefill_scales_linearly_in_linear_layers_and_quadratically_in_attention():
    one = matmul_counts("7B", 128).set_index("matmul")
    two = matmul_counts("7B", 256).set_index("matmul")
    assert two.loc["down_proj"].macs == 2 * one.loc["down_proj"].macs
    assert two.loc["attn_scores"].macs == 4 * one.loc["attn_scores"].macs


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"tokens": 0}, ValueError, "tokens must be a positive integer, got 0"),
        ({"tokens": -5}, ValueError, "tokens must be a positive integer"),
        ({"tokens": 1.5}, TypeError, "tokens must be a positive integer"),
        ({"tokens": True}, TypeError, "tokens must be a positive integer"),
        ({"tokens": 8, "phase": "train"}, ValueError, "phase must be one of"),
        ({"tokens": 8, "attention": "sparse"}, ValueError, "attention must be one of"),
        ({"tokens": 8, "lm_head": "first"}, ValueError, "lm_head must be one of"),
        ({"tokens": 10**12}, ValueError, "overflow"),
    ],
)
def test_bad_count_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        matmul_counts("70B", **kwargs)


def test_per_token_ops_for_both_precisions():
    from energy.opcount import per_token_ops

    ops = per_token_ops(ModelConfig(**TINY), 8, "decode", lm_head="last").set_index("matmul")
    q = ops.loc["q_proj"]
    layers = TINY["layers"]
    assert (q.fp16_muls, q.fp16_adds) == (layers * 64 * 64, layers * 63 * 64)
    assert (q["b1.58_muls"], q["b1.58_adds"]) == (layers * (64 + 64), layers * 63 * 64)
    head = ops.loc["lm_head"]
    assert head["b1.58_muls"] == head.fp16_muls == 64 * 100
    prefill = per_token_ops(ModelConfig(**TINY), 8).set_index("matmul")
    assert prefill.loc["q_proj"].fp16_muls == q.fp16_muls  # a linear layer costs the same per token
