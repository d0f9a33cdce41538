"""The BitNet b1.58 LLM in torch, for training: transformers' ``BitNetForCausalLM`` architecture.

The model computes what ``transformers.models.bitnet.modeling_bitnet`` computes, operation for operation:

- ``h = embed_tokens(ids)``;
- per decoder layer: ``h = h + o_proj(attn_sub_norm(attention(input_layernorm(h))))``, where the
  attention projects ``q_proj``, ``k_proj``, ``v_proj``, rotates queries and keys by RoPE (the
  ``rotate_half`` convention: the two halves of a head are the pairs, ``inv_freq = 1 / theta ** (2i / d)``),
  and runs causal scaled-dot-product attention with scale ``head_dim ** -0.5``, each key/value head
  shared by ``num_attention_heads / num_key_value_heads`` query heads; then
  ``h = h + down_proj(ffn_sub_norm(relu(gate_proj(x)) ** 2 * up_proj(x)))`` with
  ``x = post_attention_layernorm(h)``;
- ``logits = norm(h) @ embed_tokens.weight.T`` (the head is tied to the embedding unless the config
  says otherwise).

RMSNorm is ``weight * x * rsqrt(mean(x ** 2) + eps)`` in float32. In the b1.58 model the seven projections
of every layer are :class:`model.torch_bitlinear.BitLinear` (absmean ternary weights, per-token absmax
int8 activations, straight-through gradients); embedding, norms and head stay in full precision. The twin
(``precision="fp"``) has ``torch.nn.Linear`` projections. No projection has a bias. Parameter names are
transformers' state-dict keys (``model.layers.0.self_attn.q_proj.weight``, ...).

This module imports torch; the NumPy inference (:mod:`model.infer`) does not need it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from model.atomic import write_with
from model.bitnet_config import BitNetLMConfig
from model.torch_bitlinear import BitLinear


class RMSNorm(nn.Module):
    """``weight * x / sqrt(mean(x ** 2) + eps)``, computed in float32 (transformers' ``BitNetRMSNorm``)."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def _projection(config: BitNetLMConfig, in_features: int, out_features: int) -> nn.Linear:
    linear_class = BitLinear if config.precision == "b1.58" else nn.Linear
    return linear_class(in_features, out_features, bias=False)


def rope(config: BitNetLMConfig, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of the rotary embedding at integer ``positions`` ``(T,)``, each ``(T, head_dim)``."""
    dim = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
    freqs = positions[..., None].float() * inv_freq
    angles = torch.cat((freqs, freqs), dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` over the two halves of the last axis."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    """Grouped-query causal self-attention with RoPE and ``attn_sub_norm`` before ``o_proj``."""

    def __init__(self, config: BitNetLMConfig) -> None:
        super().__init__()
        hidden, kv = config.hidden_size, config.num_key_value_heads * config.head_dim
        self.q_proj = _projection(config, hidden, hidden)
        self.k_proj = _projection(config, hidden, kv)
        self.v_proj = _projection(config, hidden, kv)
        self.o_proj = _projection(config, hidden, hidden)
        self.attn_sub_norm = RMSNorm(hidden, config.rms_norm_eps)
        self.head_dim = config.head_dim
        self.grouped = config.num_key_value_groups > 1

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        heads_shape = (batch, length, -1, self.head_dim)
        q = self.q_proj(x).view(heads_shape).transpose(1, 2)
        k = self.k_proj(x).view(heads_shape).transpose(1, 2)
        v = self.v_proj(x).view(heads_shape).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        out = F.scaled_dot_product_attention(
            q, k, v, is_causal=length > 1, scale=self.head_dim**-0.5, enable_gqa=self.grouped
        )
        out = out.transpose(1, 2).contiguous().reshape(batch, length, -1)
        return self.o_proj(self.attn_sub_norm(out))


class MLP(nn.Module):
    """``down_proj(ffn_sub_norm(relu(gate_proj(x)) ** 2 * up_proj(x)))``."""

    def __init__(self, config: BitNetLMConfig) -> None:
        super().__init__()
        hidden, intermediate = config.hidden_size, config.intermediate_size
        self.gate_proj = _projection(config, hidden, intermediate)
        self.up_proj = _projection(config, hidden, intermediate)
        self.down_proj = _projection(config, intermediate, hidden)
        self.ffn_sub_norm = RMSNorm(intermediate, config.rms_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.ffn_sub_norm(torch.square(F.relu(self.gate_proj(x))) * self.up_proj(x)))


class DecoderLayer(nn.Module):
    """Pre-norm residual block: attention, then the gated MLP."""

    def __init__(self, config: BitNetLMConfig) -> None:
        super().__init__()
        self.self_attn = Attention(config)
        self.mlp = MLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        h = h + self.self_attn(self.input_layernorm(h), cos, sin)
        return h + self.mlp(self.post_attention_layernorm(h))


class Backbone(nn.Module):
    """Embedding, decoder layers and final norm (transformers' ``BitNetModel``, the ``model.`` prefix)."""

    def __init__(self, config: BitNetLMConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class BitNetLM(nn.Module):
    """A BitNet b1.58 LLM (or its full-precision twin) with transformers' ``BitNetForCausalLM`` layout.

    Parameters
    ----------
    config : BitNetLMConfig
        Shape and precision.
    seed : int
        Seed of the initialisation (normal with ``config.initializer_range`` for embedding and
        projections, ones for norms); the same seed gives the same weights, whatever the global RNG.

    Members
    -------
    model : Backbone
        ``embed_tokens``, ``layers``, ``norm``.
    lm_head : torch.nn.Linear or None
        The output head when it is not tied to the embedding.
    """

    def __init__(self, config: BitNetLMConfig, seed: int = 0) -> None:
        if not isinstance(config, BitNetLMConfig):
            raise TypeError(f"config must be a BitNetLMConfig, not {type(config).__name__}")
        super().__init__()
        self.config = config
        with torch.device("meta"):
            self.model = Backbone(config)
            self.lm_head = None
            if not config.tie_word_embeddings:
                self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.to_empty(device="cpu")
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int = 0) -> None:
        """Initialise every parameter from ``seed`` alone."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, RMSNorm):
                    module.weight.fill_(1.0)
                elif isinstance(module, nn.Linear | nn.Embedding):
                    module.weight.normal_(0.0, self.config.initializer_range, generator=generator)

    def named_projections(self) -> Iterator[tuple[str, nn.Linear]]:
        """``(module name, projection)`` of every q/k/v/o/gate/up/down projection, layer by layer."""
        for index, layer in enumerate(self.model.layers):
            for name in self.config.projection_shapes():
                yield f"model.layers.{index}.{name}", layer.get_submodule(name)

    def _check_ids(self, ids: torch.Tensor) -> None:
        if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"ids must be an int64 or int32 tensor, not {getattr(ids, 'dtype', type(ids))}")
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"ids must have shape (batch, length) with length >= 1, got {tuple(ids.shape)}")
        if ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"ids has {ids.shape[1]} tokens, more than max_position_embeddings="
                f"{self.config.max_position_embeddings}"
            )
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise ValueError(f"ids must be in [0, vocab_size={self.config.vocab_size})")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """float logits ``(batch, length, vocab_size)`` of token ids ``(batch, length)``."""
        self._check_ids(ids)
        cos, sin = rope(self.config, torch.arange(ids.shape[1], device=ids.device))
        h = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            h = layer(h, cos, sin)
        h = self.model.norm(h)
        head = self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(h, head)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats per token) of predicting ``targets`` (same shape as ``ids``; -100 is
        ignored); for next-token training ``targets`` is ``ids`` shifted left by one."""
        if not isinstance(targets, torch.Tensor) or targets.shape != ids.shape:
            raise ValueError(f"targets must be a tensor of the shape of ids {tuple(ids.shape)}")
        logits = self(ids)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten().long())

    @torch.no_grad()
    def generate(
        self,
        prompt: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Continue ``prompt`` (token ids) by up to ``max_new_tokens`` tokens, stopping after EOS.

        Greedy (argmax) at ``temperature=0``, else sampled from ``softmax(logits / temperature)``.
        Every step runs the whole sequence (no cache): a check and training aid, not a fast decoder.
        Returns the new ids only.
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        ids = torch.tensor([list(prompt)], dtype=torch.long)
        if ids.shape[1] + max_new_tokens > self.config.max_position_embeddings:
            raise ValueError(
                f"prompt of {ids.shape[1]} tokens plus max_new_tokens={max_new_tokens} exceeds "
                f"max_position_embeddings={self.config.max_position_embeddings}"
            )
        new: list[int] = []
        for _ in range(max_new_tokens):
            logits = self(ids)[0, -1].float()
            if temperature == 0:
                token = int(logits.argmax())
            else:
                token = int(
                    torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)
                )
            new.append(token)
            ids = torch.cat((ids, torch.tensor([[token]])), dim=1)
            if token == self.config.eos_token_id:
                break
        return new


def save_torch_checkpoint(path: str | Path, model: BitNetLM, **extra: Any) -> Path:
    """Save ``{"config", "model" (state dict), **extra}`` with ``torch.save``, atomically.

    ``extra`` holds what training needs to resume (optimizer state, step, ...): tensors, numbers,
    strings and containers of them, which :func:`load_torch_checkpoint` reads with ``weights_only=True``.
    """
    if not isinstance(model, BitNetLM):
        raise TypeError(f"model must be a BitNetLM, not {type(model).__name__}")
    path = Path(path)
    state = {"config": dataclasses.asdict(model.config), "model": model.state_dict(), **extra}
    return write_with(path, lambda partial: torch.save(state, partial))


def load_torch_checkpoint(path: str | Path) -> tuple[BitNetLM, dict[str, Any]]:
    """Read a :func:`save_torch_checkpoint` file: the model and the ``extra`` entries."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: no checkpoint file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not its format
        raise ValueError(f"path: {path} is not a torch checkpoint ({type(error).__name__})") from None
    if not isinstance(state, dict) or not {"config", "model"} <= state.keys():
        raise ValueError(f"path: {path} holds no 'config' and 'model' entries")
    model = BitNetLM(BitNetLMConfig(**state.pop("config")))
    try:
        model.load_state_dict(state.pop("model"))
    except RuntimeError as error:
        raise ValueError(f"path: {path}: weights do not match the config ({error})") from None
    return model, state
