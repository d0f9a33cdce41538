"""Architecture description of LLaMA-alike decoder-only models: the linear layers and their shapes.

A :class:`ModelConfig` holds the shape (hidden, intermediate, layers, heads, kv heads, vocab, FFN kind).
Each decoder layer has the attention projections ``q_proj`` (hidden -> hidden), ``k_proj`` and ``v_proj``
(hidden -> kv_heads * head_dim), ``o_proj`` (hidden -> hidden), and either a gated FFN (``ffn="glu"``:
``gate_proj``, ``up_proj`` hidden -> intermediate, ``down_proj`` intermediate -> hidden; LLaMA, BitNet
b1.58) or a plain two-matrix MLP (``ffn="mlp"``: ``up_proj``, ``down_proj``; GPT-3). The output head
``lm_head`` (hidden -> vocab) is separate: BitNet keeps it in high precision.

Named shapes come from the ``models`` table (``energy/data/models.csv``). A bare size name resolves
through the table's ``alias`` column: ``"6.7B"``, ``"13B"`` and ``"30B"`` are the GPT-3-shaped models of
BitNet's Table 1 (the only published per-size energies), ``"700M"``, ``"1.3B"``, ``"3B"``, ``"3.9B"`` the
BitNet b1.58 paper's models and ``"7B"``, ``"70B"`` LLaMA 2. The LLaMA-2 13B of the b1.58 paper's
Figure 3 is ``"llama2-13B"``; every model also answers to its full name (case-insensitive).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from energy.checks import check_choice, check_positive_int, check_str
from energy.tables import MODELS, EnergyTables, resolve_tables, row_id

#: FFN kinds: gated (three matrices) or plain MLP (two matrices).
FFN_KINDS = ("glu", "mlp")
#: A size name such as "1.3B", "700M" or "-1B".
_SIZE = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*[KMBT]", re.IGNORECASE)


@dataclass(frozen=True)
class LinearShape:
    """One linear layer: ``(tokens x in_features) @ (in_features x out_features)``.

    Attributes
    ----------
    name : str
        ``q_proj``, ``k_proj``, ..., ``lm_head``.
    in_features, out_features : int
        The reduction length ``n`` and the output width ``p``.
    input : str
        The activation tensor it reads; layers with the same ``input`` share one quantized copy
        (``q_proj``, ``k_proj``, ``v_proj`` read ``attn_in``; ``gate_proj`` and ``up_proj`` read ``ffn_in``).
    """

    name: str
    in_features: int
    out_features: int
    input: str

    @property
    def weights(self) -> int:
        """Number of weights."""
        return self.in_features * self.out_features


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a LLaMA-alike model.

    Parameters
    ----------
    hidden, intermediate, layers, heads, vocab : int
        Model width, FFN width, decoder layers, attention heads, vocabulary size; all >= 1, ``hidden`` a
        multiple of ``heads``.
    kv_heads : int, optional
        Key/value heads (grouped-query attention); ``heads`` divides by it. Defaults to ``heads``.
    ffn : {"glu", "mlp"}
        Gated FFN (3 matrices) or plain MLP (2 matrices).
    name : str
        A label for reports.
    source : str
        Where the shape comes from (a table row id for named models).

    Raises
    ------
    TypeError, ValueError
        For a bad field; the message names the field.
    """

    hidden: int
    intermediate: int
    layers: int
    heads: int
    vocab: int
    kv_heads: int | None = None
    ffn: str = "glu"
    name: str = "custom"
    source: str = "user config"

    def __post_init__(self) -> None:
        for field in ("hidden", "intermediate", "layers", "heads", "vocab"):
            check_positive_int(getattr(self, field), f"model {field}")
        if self.kv_heads is None:
            object.__setattr__(self, "kv_heads", self.heads)
        check_positive_int(self.kv_heads, "model kv_heads")
        check_choice(self.ffn, "model ffn", FFN_KINDS)
        check_str(self.name, "model name")
        check_str(self.source, "model source")
        if self.hidden % self.heads:
            raise ValueError(f"model hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if self.heads % self.kv_heads:
            raise ValueError(f"model heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        """Width of the key (and of the value) projection: ``kv_heads * head_dim``."""
        return self.kv_heads * self.head_dim

    def layer_linears(self) -> tuple[LinearShape, ...]:
        """The linear layers of one decoder layer, in execution order."""
        h, kv, i = self.hidden, self.kv_dim, self.intermediate
        attention = (
            LinearShape("q_proj", h, h, "attn_in"),
            LinearShape("k_proj", h, kv, "attn_in"),
            LinearShape("v_proj", h, kv, "attn_in"),
            LinearShape("o_proj", h, h, "attn_out"),
        )
        if self.ffn == "glu":
            ffn = (
                LinearShape("gate_proj", h, i, "ffn_in"),
                LinearShape("up_proj", h, i, "ffn_in"),
                LinearShape("down_proj", i, h, "ffn_mid"),
            )
        else:
            ffn = (LinearShape("up_proj", h, i, "ffn_in"), LinearShape("down_proj", i, h, "ffn_mid"))
        return attention + ffn

    def lm_head(self) -> LinearShape:
        """The output head (hidden -> vocab)."""
        return LinearShape("lm_head", self.hidden, self.vocab, "final")

    @property
    def linear_weights(self) -> int:
        """Weights of all decoder-layer linear layers (the ternary ones in BitNet b1.58)."""
        return self.layers * sum(linear.weights for linear in self.layer_linears())

    def replace(self, **changes: object) -> ModelConfig:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)


def model_names(tables: EnergyTables | None = None) -> tuple[str, ...]:
    """The full names of the models in the table."""
    return tuple(resolve_tables(tables).models["name"])


def _from_row(row: Mapping[str, object]) -> ModelConfig:
    return ModelConfig(
        hidden=int(row["hidden"]),
        intermediate=int(row["intermediate"]),
        layers=int(row["layers"]),
        heads=int(row["heads"]),
        kv_heads=int(row["kv_heads"]),
        vocab=int(row["vocab"]),
        ffn=str(row["ffn"]),
        name=str(row["name"]),
        source=f"{row_id(MODELS, (row['name'],))}: {row['source']}",
    )


def resolve_model(model: object, tables: EnergyTables | None = None) -> ModelConfig:
    """Turn a size name, a full name, a mapping of fields or a :class:`ModelConfig` into a config.

    Parameters
    ----------
    model : str, mapping or ModelConfig
        ``"1.3B"``, ``"llama2-13B"``, ... (case-insensitive), or the fields of :class:`ModelConfig`.
    tables : EnergyTables, optional
        Tables with user models added; the shipped tables by default.

    Raises
    ------
    ValueError
        For an unknown name or a bad field; ``TypeError`` for another type. The message names ``model``.
    """
    if isinstance(model, ModelConfig):
        return model
    if isinstance(model, Mapping):
        fields = {f.name for f in dataclasses.fields(ModelConfig)}
        unknown = sorted(set(map(str, model)) - fields)
        if unknown:
            raise ValueError(
                f"model: unknown field(s) {', '.join(unknown)}; expected some of {sorted(fields)}"
            )
        return ModelConfig(**model)
    if not isinstance(model, str):
        raise TypeError(f"model must be a size name, a mapping or a ModelConfig, not {type(model).__name__}")
    size = _SIZE.fullmatch(model.strip())
    if size and float(size.group(1)) <= 0:
        raise ValueError(f"model: a model size must be positive, got {model!r}")
    frame = resolve_tables(tables).models
    wanted = model.strip().lower()
    for row in frame.to_dict("records"):
        if wanted in (row["name"].lower(), row["alias"].lower()) and wanted:
            return _from_row(row)
    known = ", ".join(n for n in list(frame["alias"]) + list(frame["name"]) if n)
    raise ValueError(f"model: unknown model {model!r}; known: {known}")
