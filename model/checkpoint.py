"""BitNet checkpoints in the Hugging Face transformers layout, read into golden-model layers.

transformers' ``BitLinear`` (``transformers/integrations/bitnet.py``) stores, for a layer ``<name>``:

``<name>.weight``
    uint8 ``(ceil(out_features / 4), in_features)``: the ternary weights in the layout of
    :func:`model.packing.to_hf_packed`.
``<name>.weight_scale``
    one value (``(1,)``, usually bfloat16): the layer computes
    ``y = acc / (weight_scale * s_x)``, so ``weight_scale`` is the golden model's ``s_w``.
``<name>.bias``
    optional ``(out_features,)``.

Any other tensor (embeddings, norms, an unquantized ``lm_head``) is not a BitLinear and is returned apart.
transformers' ``BitLinear`` infers ``out_features = 4 * rows``; pass ``out_features`` to read a layer whose
true output count is not a multiple of four.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from model.layer import GoldenBitLinear
from model.packing import CODES_PER_BYTE, from_hf_packed, to_hf_packed
from model.safetensors_io import read_safetensors, write_safetensors

WEIGHT_SUFFIX = ".weight"
SCALE_SUFFIX = ".weight_scale"
BIAS_SUFFIX = ".bias"


def bitlinear_layers_from_tensors(
    tensors: Mapping[str, np.ndarray], out_features: Mapping[str, int] | None = None
) -> tuple[dict[str, GoldenBitLinear], dict[str, np.ndarray]]:
    """Split a checkpoint's tensors into golden BitLinear layers and the remaining tensors.

    A layer is every ``<name>.weight_scale`` with a uint8 ``<name>.weight``.
    """
    out_features = dict(out_features or {})
    layers: dict[str, GoldenBitLinear] = {}
    used: set[str] = set()
    for key in sorted(tensors):
        if not key.endswith(SCALE_SUFFIX):
            continue
        name = key[: -len(SCALE_SUFFIX)]
        weight_key, bias_key = name + WEIGHT_SUFFIX, name + BIAS_SUFFIX
        packed = tensors.get(weight_key)
        if packed is None:
            raise ValueError(f"checkpoint has {key} but no {weight_key}")
        if packed.dtype != np.uint8 or packed.ndim != 2:
            raise ValueError(
                f"{weight_key} must be a 2-D uint8 packed ternary matrix, got {packed.dtype} {packed.shape}"
            )
        rows = out_features.pop(name, packed.shape[0] * CODES_PER_BYTE)
        w_q = from_hf_packed(packed, rows)
        scale = np.asarray(tensors[key], dtype=np.float32)
        if scale.size != 1:
            raise ValueError(f"{key} must hold one value, got shape {scale.shape}")
        bias = tensors.get(bias_key)
        layers[name] = GoldenBitLinear(
            w_q, scale.reshape(()), None if bias is None else bias.astype(np.float32)
        )
        used.update({key, weight_key, bias_key})
    if out_features:
        raise ValueError(f"out_features names layers the checkpoint does not hold: {sorted(out_features)}")
    rest = {key: value for key, value in tensors.items() if key not in used}
    return layers, rest


def load_bitnet_checkpoint(
    path: str | Path, out_features: Mapping[str, int] | None = None
) -> tuple[dict[str, GoldenBitLinear], dict[str, np.ndarray]]:
    """Read a transformers-layout BitNet ``.safetensors`` file.

    Returns
    -------
    layers : dict[str, GoldenBitLinear]
        One golden layer per BitLinear, keyed by module name (``model.layers.0.mlp.up_proj``, ...).
    rest : dict[str, numpy.ndarray]
        Every other tensor (BF16 widened to float32).
    """
    return bitlinear_layers_from_tensors(read_safetensors(path), out_features)


def save_bitnet_checkpoint(path: str | Path, layers: Mapping[str, GoldenBitLinear]) -> None:
    """Write golden layers in the transformers BitNet layout (float32 ``weight_scale``)."""
    tensors: dict[str, np.ndarray] = {}
    for name, layer in layers.items():
        tensors[name + WEIGHT_SUFFIX] = to_hf_packed(layer.w_q)
        tensors[name + SCALE_SUFFIX] = np.array([layer.s_w], dtype=np.float32)
        if layer.bias is not None:
            tensors[name + BIAS_SUFFIX] = layer.bias
    write_safetensors(path, tensors)
