"""Reading transformers-layout BitNet safetensors checkpoints into golden layers."""

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch
from transformers.integrations.bitnet import BitLinear as HfBitLinear
from transformers.integrations.bitnet import pack_weights

from model.checkpoint import load_bitnet_checkpoint, save_bitnet_checkpoint
from model.layer import GoldenBitLinear
from model.quant import quantize_weights
from model.safetensors_io import SafetensorsError, read_safetensors, write_safetensors

LAYERS = {"model.layers.0.mlp.up_proj": (32, 24), "model.layers.0.self_attn.q_proj": (24, 24)}


def _write_checkpoint(path, scale_dtype, with_bias=False):
    """A small BitNet checkpoint written by the maintained safetensors library from torch tensors."""
    rng = np.random.default_rng(0)
    tensors, expected = {}, {}
    for name, (out_features, in_features) in LAYERS.items():
        w_q, s_w = quantize_weights(rng.standard_normal((out_features, in_features)).astype(np.float32))
        tensors[name + ".weight"] = pack_weights(torch.from_numpy(w_q.copy()))
        tensors[name + ".weight_scale"] = torch.tensor([float(s_w)], dtype=scale_dtype)
        bias = rng.standard_normal(out_features).astype(np.float32) if with_bias else None
        if with_bias:
            tensors[name + ".bias"] = torch.from_numpy(bias)
        expected[name] = (w_q, s_w, bias)
    tensors["model.embed_tokens.weight"] = torch.randn(10, 24, dtype=torch.bfloat16)
    save_torch(tensors, str(path))
    return tensors, expected


def test_layers_are_read_with_their_weights_scales_and_the_rest(tmp_path):
    path = tmp_path / "bitnet.safetensors"
    tensors, expected = _write_checkpoint(path, torch.bfloat16, with_bias=True)
    layers, rest = load_bitnet_checkpoint(path)
    assert sorted(layers) == sorted(LAYERS)
    for name, (w_q, _, bias) in expected.items():
        assert np.array_equal(layers[name].w_q, w_q)
        assert layers[name].s_w == np.float32(tensors[name + ".weight_scale"].float().item())
        assert np.array_equal(layers[name].bias, bias)
    assert list(rest) == ["model.embed_tokens.weight"]
    assert np.array_equal(
        rest["model.embed_tokens.weight"], tensors["model.embed_tokens.weight"].float().numpy()
    )


def test_golden_layers_compute_exactly_what_transformers_bitlinear_computes(tmp_path):
    path = tmp_path / "bitnet.safetensors"
    tensors, _ = _write_checkpoint(path, torch.float32)
    layers, _ = load_bitnet_checkpoint(path)
    x = torch.randn(3, 7, 24)
    for name, (out_features, in_features) in LAYERS.items():
        reference = HfBitLinear(in_features, out_features, bias=False, dtype=torch.float32)
        reference.load_state_dict(
            {"weight": tensors[name + ".weight"], "weight_scale": tensors[name + ".weight_scale"]}
        )
        with torch.no_grad():
            expected = reference(x).numpy()
        assert np.array_equal(layers[name](x.numpy()), expected)


def test_save_then_load_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    layers = {
        "a": GoldenBitLinear.from_float(rng.standard_normal((6, 5)).astype(np.float32)),
        "b": GoldenBitLinear.from_float(
            rng.standard_normal((8, 5)).astype(np.float32), bias=np.ones(8, np.float32)
        ),
    }
    path = tmp_path / "golden.safetensors"
    save_bitnet_checkpoint(path, layers)
    loaded, rest = load_bitnet_checkpoint(path, out_features={"a": 6})
    assert rest == {}
    for name, layer in layers.items():
        assert np.array_equal(loaded[name].w_q, layer.w_q)
        assert loaded[name].s_w == layer.s_w
        assert (loaded[name].bias is None) == (layer.bias is None)


def test_reader_agrees_with_the_safetensors_library(tmp_path):
    rng = np.random.default_rng(4)
    tensors = {
        "u8": rng.integers(0, 255, (3, 4), dtype=np.uint8),
        "i8": rng.integers(-128, 127, (5,), dtype=np.int8),
        "i64": rng.integers(-(2**40), 2**40, (2, 2)),
        "f16": rng.standard_normal((2, 3)).astype(np.float16),
        "f32": rng.standard_normal((4,)).astype(np.float32),
        "f64": rng.standard_normal((3,)),
    }
    library_path, own_path = tmp_path / "library.safetensors", tmp_path / "own.safetensors"
    save_numpy(tensors, str(library_path))
    write_safetensors(own_path, tensors)
    for path in (library_path, own_path):
        read = read_safetensors(path)
        assert sorted(read) == sorted(tensors)
        for name, value in tensors.items():
            assert read[name].dtype == value.dtype and np.array_equal(read[name], value)


def test_bfloat16_is_widened_exactly(tmp_path):
    values = torch.tensor([1.0, -2.5, 3.140625, 1e-3], dtype=torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    save_torch({"v": values}, str(path))
    assert np.array_equal(read_safetensors(path)["v"], values.float().numpy())


def _header_file(path, header, payload=b""):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + payload)
    return path


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"abc", "too short"),
        (struct.pack("<Q", 1 << 40) + b"{}", "header length"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (struct.pack("<Q", 2) + b"{x", "not JSON"),
    ],
)
def test_malformed_files_are_rejected(tmp_path, content, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(SafetensorsError, match=match):
        read_safetensors(path)


def test_malformed_entries_are_rejected(tmp_path):
    with pytest.raises(SafetensorsError, match="unsupported dtype"):
        read_safetensors(
            _header_file(
                tmp_path / "a", {"t": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)
            )
        )
    with pytest.raises(SafetensorsError, match="do not match its shape"):
        read_safetensors(
            _header_file(
                tmp_path / "b", {"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)
            )
        )
    with pytest.raises(SafetensorsError, match="malformed header entry"):
        read_safetensors(_header_file(tmp_path / "c", {"t": {"dtype": "F32"}}))
    with pytest.raises(ValueError, match="cannot read"):
        read_safetensors(tmp_path / "missing.safetensors")


def test_inconsistent_checkpoints_are_rejected(tmp_path):
    path = tmp_path / "x.safetensors"
    write_safetensors(path, {"l.weight_scale": np.ones(1, np.float32)})
    with pytest.raises(ValueError, match="has l.weight_scale but no l.weight"):
        load_bitnet_checkpoint(path)
    write_safetensors(
        path, {"l.weight_scale": np.ones(1, np.float32), "l.weight": np.ones((2, 3), np.float32)}
    )
    with pytest.raises(ValueError, match="must be a 2-D uint8 packed ternary matrix"):
        load_bitnet_checkpoint(path)
    write_safetensors(
        path, {"l.weight_scale": np.ones(2, np.float32), "l.weight": np.full((1, 3), 0x55, np.uint8)}
    )
    with pytest.raises(ValueError, match="must hold one value"):
        load_bitnet_checkpoint(path)
    write_safetensors(
        path, {"l.weight_scale": np.ones(1, np.float32), "l.weight": np.full((1, 3), 0x55, np.uint8)}
    )
    with pytest.raises(ValueError, match="names layers the checkpoint does not hold"):
        load_bitnet_checkpoint(path, out_features={"m": 4})
