"""The BitNet LLM in torch: its config, the transformers architecture, golden integers, training aids."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import BitNetConfig, BitNetForCausalLM

from model import quant
from model.bitlinear import bitlinear_from_quantized, bitlinear_int
from model.bitnet_config import SIZES, BitNetLMConfig, preset
from model.bitnet_torch import BitNetLM, load_torch_checkpoint, save_torch_checkpoint
from model.tokenizer import encode
from model.torch_bitlinear import BitLinear, quantize_activations

TEXT = (
    "ROMEO: But, soft! what light through yonder window breaks? It is the east, and Juliet is the sun.\n" * 3
)


def tiny(precision: str = "b1.58", **changes) -> BitNetLMConfig:
    """Two layers of hidden 64, four query heads sharing two key/value heads."""
    config = BitNetLMConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        precision=precision,
    )
    return config.replace(**changes)


def hf_model(config: BitNetLMConfig) -> BitNetForCausalLM:
    """transformers' BitNetForCausalLM of the same shape, unquantized (its projections are nn.Linear)."""
    hf = config.to_hf_dict()
    hf.pop("quantization_config", None)
    return BitNetForCausalLM(BitNetConfig.from_dict(hf)).eval()


# --- the config ------------------------------------------------------------------------------------


def test_size_presets_differ_by_3x_and_the_2x_model_doubles_the_small_hidden_size():
    small, large, wide = SIZES["small"], SIZES["large"], SIZES["small-2x"]
    assert 0.4e6 < small.non_embedding_parameters() < 0.7e6
    assert 1.6e6 < large.non_embedding_parameters() < 2.5e6
    assert large.non_embedding_parameters() >= 3 * small.non_embedding_parameters()
    assert wide.hidden_size == 2 * small.hidden_size and wide.num_hidden_layers == small.num_hidden_layers
    for config in SIZES.values():
        assert config.vocab_size == 258 and config.bos_token_id == 256 and config.eos_token_id == 257
        assert preset(next(iter(SIZES)), "fp").precision == "fp"
    with pytest.raises(ValueError, match="size must be one of"):
        preset("huge")


@pytest.mark.parametrize("name", sorted(SIZES))
@pytest.mark.parametrize("tied", [True, False])
def test_parameter_counts_are_those_of_the_model(name, tied):
    config = SIZES[name].replace(tie_word_embeddings=tied)
    model = BitNetLM(config)
    total = sum(parameter.numel() for parameter in model.parameters())
    assert total == config.parameters()
    assert (
        total - model.model.embed_tokens.weight.numel() * (1 if tied else 2)
        == config.non_embedding_parameters()
    )


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"num_attention_heads": 3}, ValueError, "hidden_size=64 is not divisible by num_attention_heads=3"),
        (
            {"num_key_value_heads": 3},
            ValueError,
            "num_attention_heads=4 is not divisible by num_key_value_heads",
        ),
        ({"hidden_size": 36, "num_attention_heads": 4, "num_key_value_heads": 4}, ValueError, "must be even"),
        ({"hidden_size": 24, "num_key_value_heads": 1}, ValueError, "k_proj has 6 output features"),
        ({"intermediate_size": 130}, ValueError, "gate_proj has 130 output features"),
        ({"precision": "int4"}, ValueError, "precision must be one of"),
        ({"hidden_act": "silu"}, ValueError, "hidden_act must be 'relu2'"),
        ({"vocab_size": 0}, ValueError, "vocab_size must be >= 1"),
        ({"num_hidden_layers": 2.0}, TypeError, "num_hidden_layers must be an int"),
        ({"hidden_size": True}, TypeError, "hidden_size must be an int"),
        ({"rope_theta": 0.0}, ValueError, "rope_theta must be a positive number"),
        ({"rms_norm_eps": -1e-5}, ValueError, "rms_norm_eps must be a positive number"),
        ({"eos_token_id": 258}, ValueError, r"eos_token_id must be in \[0, vocab_size=258\)"),
        ({"tie_word_embeddings": 1}, TypeError, "tie_word_embeddings must be a bool"),
    ],
)
def test_bad_configs_raise_one_line_errors_naming_the_argument(changes, error, message):
    with pytest.raises(error, match=message) as raised:
        tiny(**changes)
    assert "\n" not in str(raised.value)


def test_the_fp_twin_needs_no_multiple_of_four():
    assert tiny("fp", intermediate_size=130).intermediate_size == 130


@pytest.mark.parametrize("precision", ["b1.58", "fp"])
def test_hf_dict_round_trips_and_transformers_reads_the_same_values(precision):
    config = tiny(precision, rope_theta=5e5, tie_word_embeddings=False)
    hf = json.loads(json.dumps(config.to_hf_dict()))
    assert BitNetLMConfig.from_hf_dict(hf) == config
    assert ("quantization_config" in hf) == (precision == "b1.58")
    reference = BitNetConfig.from_dict(hf)
    assert reference.rope_parameters == {"rope_type": "default", "rope_theta": 5e5}
    for name in (
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "vocab_size",
    ):
        assert getattr(reference, name) == getattr(config, name)
    assert reference.num_key_value_heads == 2 and reference.tie_word_embeddings is False
    assert (reference.bos_token_id, reference.eos_token_id, reference.hidden_act) == (256, 257, "relu2")


def test_reads_a_bitnet_2b4t_style_config_json():
    """rope_theta at the top level (older transformers), torch_dtype, auto_map, and a quantization_config
    holding only quant_method (transformers' defaults, bitlinear and offline, apply)."""
    hf = {
        "architectures": ["BitNetForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_bitnet.BitNetConfig"},
        "bos_token_id": 128000,
        "eos_token_id": 128001,
        "hidden_act": "relu2",
        "hidden_size": 2560,
        "initializer_range": 0.02,
        "intermediate_size": 6912,
        "max_position_embeddings": 4096,
        "model_type": "bitnet",
        "rms_norm_eps": 1e-05,
        "num_attention_heads": 20,
        "num_hidden_layers": 30,
        "num_key_value_heads": 5,
        "rope_theta": 500000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": 128256,
        "quantization_config": {"quant_method": "bitnet", "offline_quantization": True},
    }
    config = BitNetLMConfig.from_hf_dict(hf)
    assert config.precision == "b1.58" and config.rope_theta == 500000.0 and config.head_dim == 128
    assert config.num_key_value_groups == 4 and config.projection_shapes()["self_attn.k_proj"] == (640, 2560)
    assert round(config.non_embedding_parameters() / 1e9, 2) == 2.08


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_type": "llama"}, "model_type must be 'bitnet'"),
        ({"attention_bias": True}, "attention_bias=true is not supported"),
        ({"rope_parameters": {"rope_type": "linear", "factor": 2.0}}, "only the default RoPE"),
        ({"head_dim": 32}, "head_dim=32 differs"),
        ({"eos_token_id": [257, 0]}, "only one id"),
        (
            {"quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear"}},
            "not the offline",
        ),
        (
            {"quantization_config": {"quant_method": "bitnet", "quantization_mode": "online"}},
            "not the offline",
        ),
        ({"quantization_config": {"quant_method": "gptq"}}, "not the offline bitlinear layout"),
        ({"quantization_config": {"linear_class": "bitlinear"}}, "not the offline bitlinear layout"),
        ({"rope_parameters": "default"}, "rope_parameters must be an object"),
    ],
)
def test_from_hf_dict_rejects_what_the_architecture_does_not_support(changes, message):
    hf = {**tiny().to_hf_dict(), **changes}
    with pytest.raises(ValueError, match=message):
        BitNetLMConfig.from_hf_dict(hf)


def test_from_hf_dict_takes_transformers_defaults_and_needs_the_shape_keys():
    hf = tiny("fp").to_hf_dict()
    for key in (
        "rope_parameters",
        "rope_theta",
        "num_key_value_heads",
        "tie_word_embeddings",
        "bos_token_id",
    ):
        del hf[key]
    hf["eos_token_id"] = [257]
    del hf["max_position_embeddings"]
    config = BitNetLMConfig.from_hf_dict(hf)
    assert (config.rope_theta, config.num_key_value_heads, config.max_position_embeddings) == (5e5, 4, 2048)
    assert config.tie_word_embeddings is False and (config.bos_token_id, config.eos_token_id) == (None, 257)
    del hf["hidden_size"], hf["vocab_size"]
    with pytest.raises(ValueError, match="hf: config.json lacks vocab_size, hidden_size"):
        BitNetLMConfig.from_hf_dict(hf)
    with pytest.raises(TypeError, match="hf must be a mapping"):
        BitNetLMConfig.from_hf_dict("config.json")


# --- the architecture --------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["b1.58", "fp"])
@pytest.mark.parametrize("tied", [True, False])
def test_parameters_have_transformers_names_and_shapes(precision, tied):
    config = tiny(precision, tie_word_embeddings=tied)
    ours = {name: tuple(value.shape) for name, value in BitNetLM(config).state_dict().items()}
    theirs = {name: tuple(value.shape) for name, value in hf_model(config).state_dict().items()}
    if tied:
        del theirs["lm_head.weight"]  # transformers ties it to model.embed_tokens.weight
    assert ours == theirs
    assert (
        "model.layers.1.self_attn.attn_sub_norm.weight" in ours
        and "model.layers.0.mlp.ffn_sub_norm.weight" in ours
    )


@pytest.mark.parametrize("precision", ["b1.58", "fp"])
def test_every_projection_is_bitlinear_in_b158_and_linear_in_the_twin(precision):
    model = BitNetLM(tiny(precision))
    projections = dict(model.named_projections())
    assert len(projections) == 7 * 2 and "model.layers.1.mlp.down_proj" in projections
    expected = BitLinear if precision == "b1.58" else torch.nn.Linear
    assert all(type(layer) is expected and layer.bias is None for layer in projections.values())
    linears = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    assert len(linears) == len(projections)  # the head is the embedding, nothing else is a linear


def test_initialisation_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    first, again, other = BitNetLM(tiny(), seed=3), BitNetLM(tiny(), seed=3), BitNetLM(tiny(), seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name])
    assert not torch.equal(first.model.embed_tokens.weight, other.model.embed_tokens.weight)
    weight = first.model.layers[0].mlp.up_proj.weight
    assert abs(weight.std().item() - 0.02) < 0.002 and torch.equal(first.model.norm.weight, torch.ones(64))


@pytest.mark.parametrize(("kv_heads", "tied"), [(2, True), (4, False), (1, True)])
def test_fp_twin_logits_are_bit_identical_to_transformers(kv_heads, tied):
    """The same torch operations in the same order (transformers' default SDPA attention included)."""
    config = tiny("fp", num_key_value_heads=kv_heads, tie_word_embeddings=tied, initializer_range=0.3)
    model = BitNetLM(config, seed=1)
    reference = hf_model(config)
    reference.load_state_dict(model.state_dict(), strict=not tied)
    ids = torch.randint(0, 258, (2, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), reference(ids).logits, rtol=0, atol=0)


# --- golden integers --------------------------------------------------------------------------------


def _record_projections(model: BitNetLM) -> tuple[dict, list]:
    records, handles = {}, []
    for name, layer in model.named_projections():

        def hook(module, inputs, output, name=name):
            records[name] = (inputs[0].detach(), output.detach())

        handles.append(layer.register_forward_hook(hook))
    return records, handles


def test_every_projection_carries_the_golden_int8_activations_and_int32_accumulators():
    """Hooked on the model's own inputs: the torch model quantizes every projection's input to the golden
    int8 values and its output is ``acc / (s_x * s_w)`` of the golden exact accumulators, up to float32
    rounding far below half an integer."""
    model = BitNetLM(tiny(initializer_range=0.3), seed=2)
    records, _ = _record_projections(model)
    with torch.no_grad():
        model(torch.tensor([encode(TEXT[:96])]))
    assert len(records) == 14
    for name, (x, y) in records.items():
        layer = model.get_submodule(name)
        x_q, s_x = quant.quantize_activations(x.numpy())
        torch_x_q, torch_s_x = quantize_activations(x)
        assert np.array_equal(torch_x_q.numpy(), x_q) and np.array_equal(torch_s_x.numpy(), s_x), name
        w_q, s_w = layer.export()
        golden_w_q, golden_s_w = quant.quantize_weights(layer.weight.detach().numpy())
        assert np.array_equal(w_q, golden_w_q) and s_w == golden_s_w, name
        acc = bitlinear_int(x_q, w_q)
        recovered = y.double().numpy() * s_x * s_w
        assert np.abs(recovered - acc).max() < 0.05, name
        assert np.array_equal(np.rint(recovered).astype(np.int32), acc), name
        golden = bitlinear_from_quantized(x.numpy(), w_q, s_w)
        np.testing.assert_allclose(y.numpy(), golden, rtol=0, atol=1e-5 * np.abs(golden).max())


# --- loss, training, generation ----------------------------------------------------------------------


def _batches(steps: int, batch: int = 8, length: int = 32):
    data = torch.tensor(encode(TEXT))
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - length - 1, (batch,), generator=generator)
        windows = torch.stack([data[start : start + length + 1] for start in starts])
        yield windows[:, :-1], windows[:, 1:]


def test_loss_is_the_mean_next_token_cross_entropy():
    model = BitNetLM(tiny())
    ids, targets = next(_batches(1))
    expected = F.cross_entropy(model(ids).reshape(-1, 258), targets.reshape(-1))
    torch.testing.assert_close(model.loss(ids, targets), expected)
    with pytest.raises(ValueError, match="targets must be a tensor of the shape of ids"):
        model.loss(ids, targets[:, 1:])


@pytest.mark.parametrize("precision", ["b1.58", "fp"])
def test_thirty_steps_of_adamw_lower_the_loss_and_every_parameter_gets_a_gradient(precision):
    torch.manual_seed(0)
    model = BitNetLM(tiny(precision))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for step, (ids, targets) in enumerate(_batches(30)):
        loss = model.loss(ids, targets)
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert abs(losses[0] - np.log(258)) < 0.1  # uniform at initialisation
    assert np.mean(losses[-5:]) < 0.6 * losses[0]


def test_greedy_generation_is_the_argmax_of_each_step_and_stops_after_eos():
    config = tiny(initializer_range=0.3, eos_token_id=None)
    model = BitNetLM(config, seed=5)
    prompt = encode("ROMEO:")
    tokens = model.generate(prompt, 12)
    ids = list(prompt)
    for token in tokens:
        assert token == int(model(torch.tensor([ids]))[0, -1].argmax())
        ids.append(token)
    stopping = BitNetLM(config.replace(eos_token_id=tokens[4]), seed=5)
    assert stopping.generate(prompt, 12) == tokens[: tokens.index(tokens[4]) + 1]
    assert model.generate(prompt, 0) == []


def test_sampling_is_reproducible_for_a_generator_seed():
    model = BitNetLM(tiny(initializer_range=0.3), seed=5)

    def sample(seed):
        return model.generate([256], 20, temperature=1.0, generator=torch.Generator().manual_seed(seed))

    assert sample(1) == sample(1) and sample(1) != sample(2)


def test_bad_token_ids_raise_one_line_errors():
    model = BitNetLM(tiny())
    with pytest.raises(TypeError, match="ids must be an int64 or int32 tensor"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"ids must have shape \(batch, length\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ids must be in \[0, vocab_size=258\)"):
        model(torch.tensor([[1, 258]]))
    with pytest.raises(ValueError, match="more than max_position_embeddings=128"):
        model(torch.zeros(1, 129, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings=128"):
        model.generate([1] * 100, 29)
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 0"):
        model.generate([1], -1)
    with pytest.raises(TypeError, match="config must be a BitNetLMConfig"):
        BitNetLM(tiny().to_hf_dict())


# --- torch checkpoints --------------------------------------------------------------------------------


def test_torch_checkpoints_round_trip_with_their_extra_entries(tmp_path):
    model = BitNetLM(tiny("fp", tie_word_embeddings=False), seed=7)
    optimizer = torch.optim.AdamW(model.parameters())
    path = save_torch_checkpoint(tmp_path / "step5.pt", model, step=5, optimizer=optimizer.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step5.pt"]
    loaded, extra = load_torch_checkpoint(path)
    assert loaded.config == model.config and extra["step"] == 5 and "optimizer" in extra
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])


def test_loading_a_bad_torch_checkpoint_names_the_path(tmp_path):
    with pytest.raises(ValueError, match="path: no checkpoint file"):
        load_torch_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a torch checkpoint"):
        load_torch_checkpoint(tmp_path / "junk.pt")
    torch.save({"step": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="holds no 'config' and 'model' entries"):
        load_torch_checkpoint(tmp_path / "other.pt")
    model = BitNetLM(tiny())
    save_torch_checkpoint(tmp_path / "small.pt", model)
    state = torch.load(tmp_path / "small.pt", weights_only=True)
    state["config"]["num_hidden_layers"] = 3
    torch.save(state, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="weights do not match the config"):
        load_torch_checkpoint(tmp_path / "mismatch.pt")
