"""The configuration of the project's BitNet LLMs, with transformers' ``BitNetConfig`` field names.

One frozen dataclass describes both models the project trains: the BitNet b1.58 model
(``precision="b1.58"``: every attention and MLP projection is a ternary BitLinear) and its full-precision
twin (``precision="fp"``: the same architecture with plain linear projections). The architecture is
transformers' ``BitNetForCausalLM`` (model type ``bitnet``, the layout of microsoft/bitnet-b1.58-2B-4T);
:meth:`BitNetLMConfig.to_hf_dict` writes the ``config.json`` transformers reads and
:meth:`BitNetLMConfig.from_hf_dict` reads one back (the ``config.json`` of bitnet-b1.58-2B-4T included).

This module needs neither torch nor transformers: the NumPy inference imports it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.packing import CODES_PER_BYTE  # transformers packs 4 rows a byte, out_features = 4 * rows
from model.tokenizer import BOS_ID, EOS_ID, VOCAB_SIZE

#: The two precisions: BitNet b1.58 (ternary weights, int8 activations) and the full-precision twin.
PRECISIONS = ("b1.58", "fp")
#: transformers' model type and architecture of BitNet b1.58 LLMs.
MODEL_TYPE = "bitnet"
ARCHITECTURE = "BitNetForCausalLM"
#: The ``quantization_config`` of an offline-quantized b1.58 checkpoint: packed uint8 weights plus
#: ``weight_scale``, ``y = acc / (weight_scale * input_scale)`` (transformers' ``BitLinear``).
QUANTIZATION_CONFIG = {"quant_method": "bitnet", "linear_class": "bitlinear", "quantization_mode": "offline"}
#: transformers' ``BitNetConfig.default_theta``, used when a config.json names no RoPE base.
DEFAULT_ROPE_THETA = 500000.0

_INT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "max_position_embeddings",
)
_FLOAT_FIELDS = ("rms_norm_eps", "rope_theta", "initializer_range")
#: Keys a config.json must hold for :meth:`BitNetLMConfig.from_hf_dict`.
HF_REQUIRED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
#: transformers' ``BitNetConfig`` defaults of the other keys read (``None`` key/value heads: one per head).
HF_DEFAULTS = {
    "num_key_value_heads": None,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
    "initializer_range": 0.02,
    "hidden_act": "relu2",
    "tie_word_embeddings": False,
}


@dataclass(frozen=True)
class BitNetLMConfig:
    """Shape and numerics of a BitNet b1.58 LLM or its full-precision twin.

    Members
    -------
    vocab_size : int
        Number of token ids (258 for the byte-level tokenizer: 256 bytes, BOS, EOS).
    hidden_size, intermediate_size : int
        Width of the residual stream and of the gated MLP.
    num_hidden_layers : int
        Number of decoder layers.
    num_attention_heads, num_key_value_heads : int
        Query heads and key/value heads (grouped-query attention when fewer key/value heads).
    rms_norm_eps : float
        Epsilon of every RMSNorm.
    rope_theta : float
        Base of the rotary position embedding.
    max_position_embeddings : int
        Longest sequence (prompt plus generated tokens) the model accepts.
    bos_token_id, eos_token_id : int or None
        Beginning- and end-of-sequence ids.
    tie_word_embeddings : bool
        Whether the output head is the token embedding (as in bitnet-b1.58-2B-4T).
    hidden_act : str
        The MLP activation; only ``"relu2"`` (squared ReLU), BitNet's.
    initializer_range : float
        Standard deviation of the normal initialisation of embeddings and projections.
    precision : str
        ``"b1.58"`` (ternary BitLinear projections) or ``"fp"`` (plain linear projections).
    """

    vocab_size: int = VOCAB_SIZE
    hidden_size: int = 128
    intermediate_size: int = 352
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_position_embeddings: int = 256
    bos_token_id: int | None = BOS_ID
    eos_token_id: int | None = EOS_ID
    tie_word_embeddings: bool = True
    hidden_act: str = "relu2"
    initializer_range: float = 0.02
    precision: str = "b1.58"

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:
            _check_positive_int(getattr(self, name), name)
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("bos_token_id", "eos_token_id"):
            token = getattr(self, name)
            if token is not None and (_check_int(token, name) < 0 or token >= self.vocab_size):
                raise ValueError(f"{name} must be in [0, vocab_size={self.vocab_size}), got {token}")
        if not isinstance(self.tie_word_embeddings, bool):
            raise TypeError(
                f"tie_word_embeddings must be a bool, not {type(self.tie_word_embeddings).__name__}"
            )
        if self.hidden_act != "relu2":
            raise ValueError(f"hidden_act must be 'relu2' (BitNet's squared ReLU), got {self.hidden_act!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        self._check_shapes()

    def _check_shapes(self) -> None:
        heads, kv_heads = self.num_attention_heads, self.num_key_value_heads
        if self.hidden_size % heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_attention_heads={heads}"
            )
        if heads % kv_heads:
            raise ValueError(
                f"num_attention_heads={heads} is not divisible by num_key_value_heads={kv_heads}"
            )
        if self.head_dim % 2:
            raise ValueError(
                f"head_dim = hidden_size / num_attention_heads = {self.head_dim} must be even (RoPE)"
            )
        if self.precision == "b1.58":
            for name, rows in self.projection_shapes().items():
                if rows[0] % CODES_PER_BYTE:
                    raise ValueError(
                        f"{name} has {rows[0]} output features: b1.58 needs a multiple of "
                        f"{CODES_PER_BYTE} (transformers' packed layout)"
                    )

    @property
    def head_dim(self) -> int:
        """Width of one attention head, ``hidden_size // num_attention_heads``."""
        return self.hidden_size // self.num_attention_heads

    @property
    def num_key_value_groups(self) -> int:
        """Query heads per key/value head."""
        return self.num_attention_heads // self.num_key_value_heads

    def projection_shapes(self) -> dict[str, tuple[int, int]]:
        """``(out_features, in_features)`` of the seven projections of a decoder layer, by module name."""
        hidden, kv = self.hidden_size, self.num_key_value_heads * self.head_dim
        return {
            "self_attn.q_proj": (hidden, hidden),
            "self_attn.k_proj": (kv, hidden),
            "self_attn.v_proj": (kv, hidden),
            "self_attn.o_proj": (hidden, hidden),
            "mlp.gate_proj": (self.intermediate_size, hidden),
            "mlp.up_proj": (self.intermediate_size, hidden),
            "mlp.down_proj": (hidden, self.intermediate_size),
        }

    def non_embedding_parameters(self) -> int:
        """Parameters outside the token embedding (and the output head): projections and norms."""
        projections = sum(out * inp for out, inp in self.projection_shapes().values())
        norms = 3 * self.hidden_size + self.intermediate_size  # input, post-attention, attn_sub, ffn_sub
        return self.num_hidden_layers * (projections + norms) + self.hidden_size  # + final norm

    def parameters(self) -> int:
        """All parameters: non-embedding, the embedding, and the head when it is not tied."""
        embedding = self.vocab_size * self.hidden_size
        return self.non_embedding_parameters() + embedding * (1 if self.tie_word_embeddings else 2)

    def to_hf_dict(self) -> dict[str, Any]:
        """The ``config.json`` of this model for transformers' ``BitNetForCausalLM``.

        RoPE is written as transformers 5 reads it (``rope_parameters``) and as older versions do
        (``rope_theta``); the b1.58 model carries the offline ``quantization_config``.
        """
        hf = {
            "architectures": [ARCHITECTURE],
            "model_type": MODEL_TYPE,
            **{name: getattr(self, name) for name in _INT_FIELDS},
            "hidden_act": self.hidden_act,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_parameters": {"rope_type": "default", "rope_theta": self.rope_theta},
            "rope_theta": self.rope_theta,
            "initializer_range": self.initializer_range,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": None,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": False,
            "attention_dropout": 0.0,
            "use_cache": True,
            "dtype": "float32",
        }
        if self.precision == "b1.58":
            hf["quantization_config"] = dict(QUANTIZATION_CONFIG)
        return hf

    @classmethod
    def from_hf_dict(cls, hf: Mapping[str, Any]) -> BitNetLMConfig:
        """Read a transformers BitNet ``config.json`` (as a dict).

        The shape keys (:data:`HF_REQUIRED`) must be present; a missing optional key takes transformers'
        ``BitNetConfig`` default (:data:`HF_DEFAULTS`; BOS and EOS become None). Raises ``ValueError`` for
        what this architecture does not support: another model type, attention bias, another RoPE type or
        head size, a quantization other than the offline bitlinear layout.
        """
        if not isinstance(hf, Mapping):
            raise TypeError(f"hf must be a mapping (a parsed config.json), not {type(hf).__name__}")
        if hf.get("model_type") != MODEL_TYPE:
            raise ValueError(f"hf: model_type must be {MODEL_TYPE!r}, got {hf.get('model_type')!r}")
        missing = [key for key in HF_REQUIRED if key not in hf]
        if missing:
            raise ValueError(f"hf: config.json lacks {', '.join(missing)}")
        if hf.get("attention_bias", False):
            raise ValueError("hf: attention_bias=true is not supported (BitNet projections have no bias)")
        fields = {key: hf[key] for key in HF_REQUIRED}
        fields.update({key: hf.get(key, default) for key, default in HF_DEFAULTS.items()})
        if fields["num_key_value_heads"] is None:
            fields["num_key_value_heads"] = hf["num_attention_heads"]  # transformers' default
        fields["rope_theta"] = _read_rope_theta(hf)
        fields["bos_token_id"] = _read_token_id(hf, "bos_token_id")
        fields["eos_token_id"] = _read_token_id(hf, "eos_token_id")
        fields["precision"] = _read_precision(hf.get("quantization_config"))
        config = cls(**fields)
        if hf.get("head_dim") not in (None, config.head_dim):
            raise ValueError(f"hf: head_dim={hf['head_dim']} differs from hidden_size / num_attention_heads")
        return config

    def replace(self, **changes: Any) -> BitNetLMConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _check_positive_int(value: object, name: str) -> int:
    if _check_int(value, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _read_rope_theta(hf: Mapping[str, Any]) -> float:
    rope = hf.get("rope_parameters") or hf.get("rope_scaling")
    if rope:
        if not isinstance(rope, Mapping):
            raise ValueError(f"hf: rope_parameters must be an object, got {rope!r}")
        if rope.get("rope_type", rope.get("type", "default")) != "default":
            raise ValueError(f"hf: only the default RoPE is supported, got rope_parameters={dict(rope)}")
        if "rope_theta" in rope:
            return rope["rope_theta"]
    return hf.get("rope_theta", DEFAULT_ROPE_THETA)


def _read_token_id(hf: Mapping[str, Any], name: str) -> int | None:
    token = hf.get(name)
    if isinstance(token, list):
        if len(token) != 1:
            raise ValueError(f"hf: {name}={token}: only one id is supported")
        token = token[0]
    return token


def _read_precision(quantization: object) -> str:
    if quantization is None:
        return "fp"
    if not isinstance(quantization, Mapping):
        raise ValueError(f"hf: quantization_config must be an object, got {quantization!r}")
    wanted = dict(QUANTIZATION_CONFIG, use_rms_norm=False)
    defaults = dict(wanted, quant_method=None)  # transformers' defaults for the keys that may be left out
    found = {key: quantization.get(key, defaults[key]) for key in wanted}
    if found != wanted:
        raise ValueError(f"hf: quantization_config {dict(quantization)} is not the offline bitlinear layout")
    return "b1.58"


def _size(hidden: int, layers: int) -> BitNetLMConfig:
    """A preset: head_dim 32, two query heads per key/value head, intermediate 2.75 x hidden."""
    heads = hidden // 32
    return BitNetLMConfig(
        hidden_size=hidden,
        intermediate_size=hidden * 11 // 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads // 2,
    )


#: Size presets (vocabulary 258, context 256; both precisions by ``preset(name, precision)``):
#: ``small`` about 0.56M non-embedding parameters, ``large`` about 2.0M (3.7x), and ``small-2x``, the small
#: model at twice its hidden size (and intermediate size, same depth), the b1.58 model that "BitNet b1.58
#: Reloaded" (arXiv 2407.09527) finds matches a full-precision model of the small size.
SIZES: dict[str, BitNetLMConfig] = {
    "small": _size(128, 3),
    "large": _size(192, 5),
    "small-2x": _size(256, 3),
}


def preset(size: str, precision: str = "b1.58") -> BitNetLMConfig:
    """The configuration of a size preset in a precision."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    return SIZES[size].replace(precision=precision)
