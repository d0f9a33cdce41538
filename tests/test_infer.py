"""model.infer: the NumPy golden BitNet inference against transformers' BitNetForCausalLM."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from test_export import B158_RTOL, tiny

from model.bitlinear import bitlinear_int
from model.bitnet_config import QUANTIZATION_CONFIG
from model.bitnet_torch import BitNetLM
from model.export import export
from model.infer import ATTENTION_PROJECTIONS, BUNDLED_CHECKPOINT, MLP_PROJECTIONS, load_model
from model.packing import to_hf_packed
from model.quant import quantize_weights
from model.safetensors_io import SafetensorsFile, read_safetensors, write_safetensors
from model.tokenizer import EOS_ID, decode, encode
from model.torch_bitlinear import quantize_activations as torch_quantize_activations
from model.torch_bitlinear import quantize_weights as torch_quantize_weights

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

#: float32 end to end on both sides; the remaining differences are summation orders (BLAS vs torch).
LOGIT_ATOL = 2e-4
TINY = dict(
    vocab_size=258,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    bos_token_id=256,
    eos_token_id=257,
    initializer_range=0.2,  # peaked logits: greedy choices far from ties
)


def hf_model(tie: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.BitNetConfig(**TINY, tie_word_embeddings=tie)
    return transformers.BitNetForCausalLM(config).eval()


@pytest.fixture(scope="module", params=[True, False], ids=["tied", "untied"])
def fp_folder(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fp")
    model = hf_model(tie=request.param)
    model.save_pretrained(folder)
    return folder, model


def test_fp_logits_match_transformers(fp_folder):
    folder, reference = fp_folder
    ids = np.array([256, 72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100])
    with torch.no_grad():
        expected = reference(torch.tensor(ids[None])).logits[0].numpy()
    got = load_model(folder).logits(ids)
    assert got.dtype == np.float32 and got.shape == (ids.size, 258)
    np.testing.assert_allclose(got, expected, atol=LOGIT_ATOL, rtol=0)


def test_fp_greedy_generation_matches_transformers(fp_folder):
    folder, reference = fp_folder
    prompt = [256, 70, 111, 111]
    with torch.no_grad():
        expected = reference.generate(
            torch.tensor([prompt]), max_new_tokens=30, do_sample=False, pad_token_id=0
        )[0].tolist()
    assert load_model(folder).generate(prompt, 30) == expected  # both stop after EOS (257)


def test_the_kv_cache_gives_the_full_sequence_logits(fp_folder):
    folder, _ = fp_folder
    model = load_model(folder)
    ids = [256, 5, 9, 200, 17, 3]
    full = model.logits(ids)
    generated = model.generate(ids[:2], 4)
    assert len(generated) == 6
    # greedy continuation from the cache equals the argmax of the full-sequence logits at each step
    steps = model.logits(generated)
    assert [int(np.argmax(steps[i])) for i in range(1, 5)] == generated[2:6]
    assert full.shape == (6, 258)


def test_sampling_is_reproducible_for_a_seed(fp_folder):
    model = load_model(fp_folder[0])
    first = model.generate([256, 1], 20, temperature=1.0, seed=3)
    assert first == model.generate([256, 1], 20, temperature=1.0, seed=3)
    assert len(first) == 22


def test_bf16_weights_are_read_memory_mapped(tmp_path):
    reference = hf_model().to(torch.bfloat16)
    reference.save_pretrained(tmp_path)
    weights = SafetensorsFile(tmp_path / "model.safetensors")
    assert weights.dtype_name("model.embed_tokens.weight") == "BF16"
    model = load_model(tmp_path)
    ids = np.array([256, 10, 20, 30])
    widened = reference.to(torch.float32)
    with torch.no_grad():
        expected = widened(torch.tensor(ids[None])).logits[0].numpy()
    np.testing.assert_allclose(model.logits(ids), expected, atol=LOGIT_ATOL, rtol=0)


def test_every_projection_goes_through_the_hook(fp_folder, tmp_path):
    """The fp twin has no integer matmul; a b1.58 folder made from it (weights quantized) calls the hook."""
    folder, _ = fp_folder
    quantized = quantize_folder(folder, tmp_path / "q")
    model = load_model(quantized)
    seen = []

    def watch(name, x_q, w_q):
        seen.append((name, x_q.dtype, set(np.unique(w_q).tolist()) <= {-1, 0, 1}))
        return np.zeros((x_q.shape[0], w_q.shape[0]), np.int32) if "down_proj" in name else x_q @ w_q.T

    model.matmul = watch
    model.logits([256, 1, 2])
    names = [f"model.layers.{i}.self_attn.{p}" for i in range(2) for p in ATTENTION_PROJECTIONS]
    names += [f"model.layers.{i}.mlp.{p}" for i in range(2) for p in MLP_PROJECTIONS]
    assert sorted(name for name, _, _ in seen) == sorted(names)
    assert all(dtype == np.int8 and ternary for _, dtype, ternary in seen)


def quantize_folder(source, target):
    """A b1.58 folder from a float one: every projection absmean-quantized and packed (test helper)."""
    target.mkdir()
    tensors = read_safetensors(source / "model.safetensors")
    out = {}
    for name, array in tensors.items():
        if name.endswith("_proj.weight"):
            w_q, s_w = quantize_weights(array)
            out[name] = to_hf_packed(w_q)
            out[name.replace(".weight", ".weight_scale")] = np.array([s_w], np.float32)
        else:
            out[name] = array
    write_safetensors(target / "model.safetensors", out)
    config = json.loads((source / "config.json").read_text())
    config["quantization_config"] = dict(QUANTIZATION_CONFIG)
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "config.json").unlink(), "has no config.json"),
        (lambda f: (f / "model.safetensors").unlink(), "has no model.safetensors"),
        (lambda f: _edit_config(f, model_type="llama"), "model_type must be 'bitnet', got 'llama'"),
        (lambda f: _edit_config(f, hidden_size=64, intermediate_size=64), "the config says"),
        (lambda f: _edit_tensor(f, "model.layers.0.mlp.up_proj.weight", lambda a: a[:-1]), "packed uint8"),
        (lambda f: _edit_tensor(f, "model.norm.weight", None), "no tensor model.norm.weight"),
    ],
)
def test_a_broken_folder_is_a_one_line_error(fp_folder, tmp_path, damage, message):
    folder = quantize_folder(fp_folder[0], tmp_path / "q")
    damage(folder)
    with pytest.raises(ValueError, match=message) as error:
        load_model(folder)
    assert "\n" not in str(error.value)


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def _edit_tensor(folder, name, change):
    tensors = read_safetensors(folder / "model.safetensors")
    if change is None:
        del tensors[name]
    else:
        tensors[name] = np.ascontiguousarray(change(tensors[name]))
    write_safetensors(folder / "model.safetensors", tensors)


def test_bad_token_ids_and_a_too_long_prompt(fp_folder):
    model = load_model(fp_folder[0])
    with pytest.raises(ValueError, match=r"token_ids must lie in \[0, 258\)"):
        model.logits([1, 258])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        model.logits([])
    with pytest.raises(ValueError, match="exceed the context of 64"):
        model.logits(list(range(65)))
    with pytest.raises(ValueError, match="exceed the context of 64"):
        model.generate(list(range(60)), 10)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate([1], -1)


def test_not_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        load_model(tmp_path / "missing")


def test_generate_cli_prints_text_and_bad_input_is_one_line(fp_folder):
    folder = fp_folder[0]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "model.generate",
            "--checkpoint",
            str(folder),
            "--prompt",
            "Hi",
            "--tokens",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Hi") and "tokens/s" in run.stderr
    for bad in (["--checkpoint", str(folder / "missing")], ["--tokens", "0"], ["--prompt", "x" * 100]):
        run = subprocess.run(
            [sys.executable, "-m", "model.generate", "--checkpoint", str(folder), *bad],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


# --- b1.58: the exported torch model, transformers and model.infer ----------------------------------------

B158_PROMPT = encode("ROMEO: But, soft! what light through yonder window breaks?", bos=True)


@pytest.fixture(scope="module")
def b158(tmp_path_factory):
    """(our torch b1.58 model, its exported folder, transformers' model of it, model.infer's model of it):
    the tiny grouped-query, tied-head model of tests/test_export.py (seed 2: no EOS in 100 greedy tokens)."""
    model = BitNetLM(tiny("b1.58", 2, True).replace(max_position_embeddings=256), seed=2).eval()
    folder = export(model, tmp_path_factory.mktemp("b158") / "bitnet")
    return model, folder, transformers.BitNetForCausalLM.from_pretrained(folder).eval(), load_model(folder)


def test_b158_logits_match_transformers(b158):
    _, _, reference, golden = b158
    with torch.no_grad():
        expected = reference(torch.tensor([B158_PROMPT])).logits[0].numpy()
    got = golden.logits(B158_PROMPT)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= B158_RTOL * scale


def test_b158_greedy_text_matches_transformers_for_100_tokens(b158):
    _, _, reference, golden = b158
    with torch.no_grad():
        expected = reference.generate(
            torch.tensor([B158_PROMPT]), max_new_tokens=100, do_sample=False, pad_token_id=EOS_ID
        )[0].tolist()
    assert len(expected) == len(B158_PROMPT) + 100
    assert golden.generate(B158_PROMPT, 100) == expected


def test_b158_int8_activations_and_accumulators_equal_the_torch_models(b158):
    """Every projection's int8 input and int32 accumulator in model.infer equal those of the torch
    BitLinear on the same prompt (its inputs quantized by the torch twin of the rules)."""
    model, _, _, golden = b158
    ours = {}

    def record(name, x_q, w_q):
        acc = bitlinear_int(x_q, w_q)
        ours[name] = (x_q, acc)
        return acc

    golden.matmul = record
    golden.logits(B158_PROMPT)
    theirs = {}
    handles = [
        module.register_forward_hook(
            lambda module, inputs, output, name=name: theirs.__setitem__(name, inputs[0][0].detach())
        )
        for name, module in model.named_projections()
    ]
    with torch.no_grad():
        model(torch.tensor([B158_PROMPT]))
    for handle in handles:
        handle.remove()
    assert sorted(ours) == sorted(theirs) and len(ours) == 14
    for name, x in theirs.items():
        x_q, _ = torch_quantize_activations(x)
        w_q, _ = torch_quantize_weights(dict(model.named_projections())[name].weight)
        np.testing.assert_array_equal(ours[name][0], x_q.numpy(), err_msg=name)
        np.testing.assert_array_equal(ours[name][1], bitlinear_int(x_q.numpy(), w_q.numpy()), err_msg=name)


# --- the bundled trained checkpoint ---------------------------------------------------------------------


def test_the_bundled_checkpoint_generates_the_same_text_in_transformers_and_model_infer():
    golden = load_model(BUNDLED_CHECKPOINT)
    assert golden.config.precision == "b1.58"
    prompt = encode("ROMEO:", bos=True)
    ours = golden.generate(prompt, 100)
    reference = transformers.BitNetForCausalLM.from_pretrained(BUNDLED_CHECKPOINT).eval()
    ids = torch.tensor([prompt])
    with torch.no_grad():
        theirs = reference.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=100, do_sample=False, pad_token_id=EOS_ID
        )[0].tolist()
    assert ours == theirs
    text = decode(ours[len(prompt) :])
    assert sum(ch.isalpha() or ch in " \n,.;:'!?-" for ch in text) >= 0.95 * len(text)  # it learned English


def test_the_generate_cli_defaults_to_the_bundled_checkpoint():
    run = subprocess.run(
        [sys.executable, "-m", "model.generate", "--tokens", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ROMEO:")
