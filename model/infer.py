"""Golden BitNet inference in NumPy: a transformers-layout BitNet folder, every projection exact in integers.

:func:`load_model` reads a folder holding ``config.json`` (model type ``bitnet``) and ``model.safetensors``
as transformers' ``BitNetForCausalLM`` saves and loads it: for b1.58 (``quantization_config`` with
``quant_method: bitnet``, offline) every ``q/k/v/o/gate/up/down`` projection is a uint8 packed ternary
``weight`` (:func:`model.packing.to_hf_packed`) with a ``weight_scale``; the full-precision twin has float
weights. BF16 tensors are widened exactly; the file is memory-mapped and read layer by layer
(:class:`model.safetensors_io.SafetensorsFile`), so the same code reads a bitnet-b1.58-2B-4T download.

The forward pass is transformers' (``models/bitnet/modeling_bitnet.py``), in float32:

- ``h = embed[ids]``; per layer ``h += o_proj(attn_sub_norm(attention(rope(q_proj(n1)), rope(k_proj(n1)),
  v_proj(n1))))`` with ``n1 = input_layernorm(h)``, then ``h += down_proj(ffn_sub_norm(relu(gate_proj(n2))**2
  * up_proj(n2)))`` with ``n2 = post_attention_layernorm(h)``; ``logits = norm(h) @ lm_head.T`` (the
  embedding when tied);
- RMSNorm ``w * x / sqrt(mean(x**2) + eps)``; RoPE with ``inv_freq = theta ** (-arange(0, d, 2) / d)`` and
  the rotate-half convention; grouped-query attention with scaling ``d ** -0.5``, causal, softmax in
  float32;
- a b1.58 projection: ``x_q, s_x = quantize_activations(x)`` (:mod:`model.quant`), ``acc = x_q @ w_q.T``
  exact in int32, ``y = acc / (s_x * weight_scale)``. :attr:`GoldenLM.matmul` is that integer matmul: a
  caller may replace it (``matmul(name, x_q, w_q) -> acc``) to watch or compute each projection elsewhere
  (the generated RTL, for instance); ``name`` is e.g. ``"model.layers.0.self_attn.q_proj"``.
  :attr:`GoldenLM.observe` (``observe(name, x)``) sees every projection's float input, in both precisions.

:meth:`GoldenLM.generate` decodes greedily (``temperature=0``) or by sampling, with a KV cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.bitlinear import bitlinear_int, dequantize
from model.bitnet_config import BitNetLMConfig
from model.checkpoint import SCALE_SUFFIX, WEIGHT_SUFFIX
from model.packing import CODES_PER_BYTE, from_hf_packed
from model.quant import quantize_activations
from model.safetensors_io import SafetensorsError, SafetensorsFile

#: The projections of a decoder layer: (module path inside the layer, input width, output width) by name.
ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: The trained b1.58 checkpoint shipped with the package (preset ``small``, Tiny Shakespeare, 3,000 steps):
#: the run ``small b1.58`` of ``python benchmarks/train_bitnet.py`` (``build/train/study/small-b1.58/model``
#: copied here; benchmarks/RESULTS.md, section bundled-checkpoint).
BUNDLED_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "bitnet-b158-small"
#: Its full-precision twin, the study's run ``small fp`` (the same preset, data, recipe, steps and seed;
#: float32 weights).
BUNDLED_TWIN = Path(__file__).resolve().parent / "checkpoints" / "bitnet-fp-small"

#: ``matmul(name, x_q, w_q) -> acc``: the integer matmul of one projection (int8 ``(T, in)``, ternary
#: ``(out, in)`` -> int32 ``(T, out)``).
IntMatmul = Callable[[str, np.ndarray, np.ndarray], np.ndarray]
#: ``observe(name, x)``: sees the float32 input ``(T, in)`` of every projection (both precisions).
FloatObserver = Callable[[str, np.ndarray], None]


def default_matmul(name: str, x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
    """The golden integer matmul, :func:`model.bitlinear.bitlinear_int`."""
    return bitlinear_int(x_q, w_q)


@dataclass(frozen=True)
class Projection:
    """One linear projection: ternary ``w_q`` with scale ``s_w`` (b1.58), or float ``w`` (the twin)."""

    name: str
    out_features: int
    in_features: int
    w_q: np.ndarray | None = None
    s_w: np.float32 | None = None
    w: np.ndarray | None = None

    def __call__(self, x: np.ndarray, matmul: IntMatmul, observe: FloatObserver | None = None) -> np.ndarray:
        if observe is not None:
            observe(self.name, x)
        if self.w is not None:
            return x @ self.w.T
        x_q, s_x = quantize_activations(x)
        return dequantize(matmul(self.name, x_q, self.w_q), s_x, self.s_w)


@dataclass
class Layer:
    """The weights of one decoder layer (norm vectors float32, projections by name)."""

    input_layernorm: np.ndarray
    post_attention_layernorm: np.ndarray
    attn_sub_norm: np.ndarray
    ffn_sub_norm: np.ndarray
    projections: dict[str, Projection]


@dataclass
class KVCache:
    """Keys and values per layer, ``(kv_heads, positions, head_dim)`` each, grown one block at a time."""

    keys: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    @property
    def length(self) -> int:
        return 0 if not self.keys else int(self.keys[0].shape[1])


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """``weight * x / sqrt(mean(x**2) + eps)`` over the last axis, float32."""
    variance = np.mean(np.square(x), axis=-1, keepdims=True, dtype=np.float32)
    return weight * (x / np.sqrt(variance + np.float32(eps)))


def rope_tables(config: BitNetLMConfig, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cos``, ``sin`` ``(T, head_dim)`` of RoPE at ``positions`` (transformers' default RoPE)."""
    dim = config.head_dim
    inv_freq = 1.0 / (np.float32(config.rope_theta) ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    freqs = positions.astype(np.float32)[:, None] * inv_freq.astype(np.float32)[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """``x * cos + rotate_half(x) * sin`` for ``x`` ``(heads, T, head_dim)``."""
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[None] + rotated * sin[None]


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


class GoldenLM:
    """A BitNet causal LM in NumPy (see the module docstring); made by :func:`load_model`.

    Members
    -------
    config : BitNetLMConfig
        The architecture.
    matmul : IntMatmul
        The integer matmul of every b1.58 projection (replace it to watch or move the computation).
    observe : FloatObserver or None
        When set, called with every projection's float input (both precisions), before quantization.
    """

    def __init__(
        self,
        config: BitNetLMConfig,
        embed: np.ndarray,
        layers: list[Layer],
        norm: np.ndarray,
        lm_head: np.ndarray,
    ):
        self.config = config
        self.embed, self.layers, self.norm, self.lm_head = embed, layers, norm, lm_head
        self.matmul: IntMatmul = default_matmul
        self.observe: FloatObserver | None = None

    def _project(self, projection: Projection, x: np.ndarray) -> np.ndarray:
        return projection(x, self.matmul, self.observe)

    def _check_ids(self, token_ids: object, cache_length: int = 0) -> np.ndarray:
        ids = np.asarray(token_ids)
        if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"token_ids must be a non-empty 1-D sequence of integers, got {ids.shape} {ids.dtype}"
            )
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise ValueError(
                f"token_ids must lie in [0, {self.config.vocab_size}), got {ids.min()}..{ids.max()}"
            )
        if cache_length + ids.size > self.config.max_position_embeddings:
            raise ValueError(
                f"token_ids: {cache_length + ids.size} positions exceed the context of "
                f"{self.config.max_position_embeddings}"
            )
        return ids.astype(np.int64)

    def _attention(self, index: int, layer: Layer, x: np.ndarray, cache: KVCache, start: int) -> np.ndarray:
        c = self.config
        t, heads, kv_heads, dim = x.shape[0], c.num_attention_heads, c.num_key_value_heads, c.head_dim
        p = layer.projections
        q = self._project(p["q_proj"], x).reshape(t, heads, dim).transpose(1, 0, 2)
        k = self._project(p["k_proj"], x).reshape(t, kv_heads, dim).transpose(1, 0, 2)
        v = self._project(p["v_proj"], x).reshape(t, kv_heads, dim).transpose(1, 0, 2)
        cos, sin = rope_tables(c, np.arange(start, start + t))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if index < len(cache.keys):
            cache.keys[index] = np.concatenate([cache.keys[index], k], axis=1)
            cache.values[index] = np.concatenate([cache.values[index], v], axis=1)
        else:
            cache.keys.append(k)
            cache.values.append(v)
        group = heads // kv_heads
        keys = np.repeat(cache.keys[index], group, axis=0)  # (heads, S, dim)
        values = np.repeat(cache.values[index], group, axis=0)
        scores = (q @ keys.transpose(0, 2, 1)) * np.float32(dim**-0.5)  # (heads, t, S)
        visible = np.arange(keys.shape[1])[None, :] <= (start + np.arange(t))[:, None]
        scores = np.where(visible[None], scores, np.float32(-np.inf))
        out = (softmax(scores) @ values).transpose(1, 0, 2).reshape(t, heads * dim)
        return self._project(p["o_proj"], rms_norm(out, layer.attn_sub_norm, c.rms_norm_eps))

    def _mlp(self, layer: Layer, x: np.ndarray) -> np.ndarray:
        p = layer.projections
        gate = np.square(np.maximum(self._project(p["gate_proj"], x), np.float32(0)))  # relu2
        hidden = rms_norm(gate * self._project(p["up_proj"], x), layer.ffn_sub_norm, self.config.rms_norm_eps)
        return self._project(p["down_proj"], hidden)

    def _forward(self, ids: np.ndarray, cache: KVCache) -> np.ndarray:
        """Hidden states after the final norm ``(T, hidden)`` of ``ids`` following the cached positions."""
        start, eps = cache.length, self.config.rms_norm_eps
        h = self.embed[ids].astype(np.float32)
        for index, layer in enumerate(self.layers):
            h = h + self._attention(index, layer, rms_norm(h, layer.input_layernorm, eps), cache, start)
            h = h + self._mlp(layer, rms_norm(h, layer.post_attention_layernorm, eps))
        return rms_norm(h, self.norm, eps)

    def logits(self, token_ids: object) -> np.ndarray:
        """float32 logits ``(T, vocab)`` of one sequence (no cache kept)."""
        ids = self._check_ids(token_ids)
        return self._forward(ids, KVCache()) @ self.lm_head.T

    def generate(
        self, token_ids: object, max_new_tokens: int, temperature: float = 0.0, seed: int | None = None
    ) -> list[int]:
        """``token_ids`` followed by up to ``max_new_tokens`` tokens: greedy (``temperature=0``) or sampled
        from ``softmax(logits / temperature)``; stops after EOS. Uses a KV cache (one position per step)."""
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        ids = self._check_ids(token_ids)
        self._check_ids(ids, max_new_tokens)  # the whole generation must fit the context
        rng = np.random.default_rng(seed)
        cache = KVCache()
        out = ids.tolist()
        hidden = self._forward(ids, cache)[-1]
        for _ in range(max_new_tokens):
            token = self._choose(hidden @ self.lm_head.T, temperature, rng)
            out.append(token)
            if token == self.config.eos_token_id or len(out) == len(ids) + max_new_tokens:
                break  # the last token is returned, not fed back
            hidden = self._forward(np.array([token]), cache)[-1]
        return out

    @staticmethod
    def _choose(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
        if temperature == 0:
            return int(np.argmax(logits))
        probabilities = softmax((logits / np.float32(temperature)).astype(np.float64))
        return int(rng.choice(probabilities.size, p=probabilities))


# --- loading ----------------------------------------------------------------------------------------------


def _read_config(folder: Path) -> BitNetLMConfig:
    """The architecture (:meth:`model.bitnet_config.BitNetLMConfig.from_hf_dict`); ``precision`` says
    whether the projections are offline-quantized b1.58 ones."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"path: {folder} has no {CONFIG_FILE}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"path: cannot read {path}: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"path: {path} is not a JSON object")
    try:
        return BitNetLMConfig.from_hf_dict(raw)
    except (TypeError, ValueError) as error:
        raise ValueError(f"path: {path}: {error}") from None


def _tensor(weights: SafetensorsFile, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in weights:
        raise ValueError(f"path: {weights.path.name} has no tensor {name}")
    array = weights[name]
    if array.shape != shape:
        raise ValueError(f"path: {name} has shape {array.shape}, the config says {shape}")
    return np.asarray(array, dtype=np.float32)


def _projection(weights: SafetensorsFile, name: str, out: int, inp: int, quantized: bool) -> Projection:
    if not quantized:
        return Projection(name, out, inp, w=_tensor(weights, name + WEIGHT_SUFFIX, (out, inp)))
    packed_shape = (-(-out // CODES_PER_BYTE), inp)
    key, scale_key = name + WEIGHT_SUFFIX, name + SCALE_SUFFIX
    if key not in weights:
        raise ValueError(f"path: {weights.path.name} has no tensor {key}")
    packed = weights[key]
    if packed.dtype != np.uint8 or packed.shape != packed_shape:
        raise ValueError(
            f"path: {key} must be packed uint8 {packed_shape} for {out} x {inp} ternary weights, "
            f"got {packed.dtype} {packed.shape}"
        )
    if scale_key not in weights:
        raise ValueError(f"path: {weights.path.name} has no tensor {scale_key}")
    scale = _tensor(weights, scale_key, weights.shape(scale_key)).reshape(-1)
    if scale.size != 1 or not np.isfinite(scale[0]) or scale[0] <= 0:
        raise ValueError(f"path: {scale_key} must be one finite positive value, got {scale}")
    return Projection(name, out, inp, w_q=from_hf_packed(np.asarray(packed), out), s_w=np.float32(scale[0]))


def _layer(weights: SafetensorsFile, config: BitNetLMConfig, index: int, quantized: bool) -> Layer:
    c, prefix = config, f"model.layers.{index}"
    h, i, d = c.hidden_size, c.intermediate_size, c.head_dim
    shapes = {
        "self_attn.q_proj": (c.num_attention_heads * d, h),
        "self_attn.k_proj": (c.num_key_value_heads * d, h),
        "self_attn.v_proj": (c.num_key_value_heads * d, h),
        "self_attn.o_proj": (h, c.num_attention_heads * d),
        "mlp.gate_proj": (i, h),
        "mlp.up_proj": (i, h),
        "mlp.down_proj": (h, i),
    }
    projections = {
        path.split(".")[1]: _projection(weights, f"{prefix}.{path}", out, inp, quantized)
        for path, (out, inp) in shapes.items()
    }
    return Layer(
        input_layernorm=_tensor(weights, f"{prefix}.input_layernorm.weight", (h,)),
        post_attention_layernorm=_tensor(weights, f"{prefix}.post_attention_layernorm.weight", (h,)),
        attn_sub_norm=_tensor(weights, f"{prefix}.self_attn.attn_sub_norm.weight", (h,)),
        ffn_sub_norm=_tensor(weights, f"{prefix}.mlp.ffn_sub_norm.weight", (i,)),
        projections=projections,
    )


def load_model(path: str | Path) -> GoldenLM:
    """Read a transformers-layout BitNet folder (``config.json``, ``model.safetensors``); see the module
    docstring. Raises ``ValueError`` naming the problem for a folder that is not one."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"path: {folder} is not a folder")
    config = _read_config(folder)
    quantized = config.precision == "b1.58"
    if not (folder / WEIGHTS_FILE).is_file():
        raise ValueError(f"path: {folder} has no {WEIGHTS_FILE}")
    try:
        weights = SafetensorsFile(folder / WEIGHTS_FILE)
    except SafetensorsError as error:
        raise ValueError(f"path: {error}") from None
    vocab_hidden = (config.vocab_size, config.hidden_size)
    embed = _tensor(weights, "model.embed_tokens.weight", vocab_hidden)
    layers = [_layer(weights, config, index, quantized) for index in range(config.num_hidden_layers)]
    norm = _tensor(weights, "model.norm.weight", (config.hidden_size,))
    tied = config.tie_word_embeddings or "lm_head.weight" not in weights
    lm_head = embed if tied else _tensor(weights, "lm_head.weight", vocab_hidden)
    return GoldenLM(config, embed, layers, norm, lm_head)
