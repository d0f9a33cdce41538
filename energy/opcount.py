"""Operation counts of every matmul of a model, for prefill of S tokens or one decode step.

For a matmul ``(m x n) @ (n x p)`` BitNet (arXiv 2310.11453) counts ``m * n * p`` multiplies and
``m * (n - 1) * p`` additions; a BitLinear replaces the multiplies by the rescales, ``m * p + m * n``
(one per output, one per quantized input). This module applies those rules to the matmuls of a
:class:`~energy.architecture.ModelConfig`:

``linear`` rows
    the decoder layers' projections (ternary in BitNet b1.58), ``instances = layers``.
``attention`` rows
    the score matmul ``Q K^T`` (``attn_scores``) and the context matmul ``P V`` (``attn_context``) per
    query head, ``instances = layers * heads``. ``attention="full"`` counts the whole ``S x S`` score
    matrix, ``"causal"`` only its lower triangle (row ``i`` attends to ``i + 1`` keys), ``"none"`` leaves
    them out. In decode the new token attends to ``tokens`` keys (the context, itself included).
``lm_head`` row
    the output head for every token (``lm_head="all"``), for the last one (``"last"``, what generation
    needs), or not at all (``"none"``).

``phase="prefill"`` processes ``tokens`` tokens at once (``m = tokens``); ``phase="decode"`` generates one
token (batch 1, ``m = 1``) against a context of ``tokens`` tokens.
"""

from __future__ import annotations

import pandas as pd

from energy.architecture import LinearShape, ModelConfig, resolve_model
from energy.checks import check_choice, check_positive_int
from energy.tables import EnergyTables

PHASES = ("prefill", "decode")
ATTENTION_MODES = ("none", "causal", "full")
LM_HEAD_MODES = ("none", "last", "all")
#: Integer columns of :func:`matmul_counts`.
COUNT_COLUMNS = (
    "m",
    "n",
    "p",
    "instances",
    "macs",
    "adds",
    "rescale_muls",
    "out_elements",
    "quant_elements",
    "weights",
)
_INT64_MAX = 2**63 - 1


def _linear_row(linear: LinearShape, m: int, instances: int, kind: str, first_of_input: bool) -> dict:
    n, p = linear.in_features, linear.out_features
    ternary = kind == "linear"
    return {
        "matmul": linear.name,
        "kind": kind,
        "input": linear.input,
        "m": m,
        "n": n,
        "p": p,
        "instances": instances,
        "macs": m * n * p * instances,
        "adds": m * (n - 1) * p * instances,
        "rescale_muls": (m * p + m * n) * instances if ternary else 0,
        "out_elements": m * p * instances if ternary else 0,
        "quant_elements": m * n * instances if ternary and first_of_input else 0,
        "weights": n * p * instances,
    }


def _attention_rows(config: ModelConfig, tokens: int, phase: str, attention: str) -> list[dict]:
    if attention == "none":
        return []
    d, instances = config.head_dim, config.layers * config.heads
    if phase == "decode":
        c = tokens
        shapes = {"attn_scores": (1, d, c, c * d, (d - 1) * c), "attn_context": (1, c, d, c * d, (c - 1) * d)}
    elif attention == "full":
        s = tokens
        shapes = {
            "attn_scores": (s, d, s, s * d * s, s * (d - 1) * s),
            "attn_context": (s, s, d, s * s * d, s * (s - 1) * d),
        }
    else:
        s = tokens
        pairs = s * (s + 1) // 2  # query/key pairs of the lower triangle
        shapes = {
            "attn_scores": (s, d, s, pairs * d, pairs * (d - 1)),
            # row i reduces over i + 1 keys: sum_i i additions per output column
            "attn_context": (s, s, d, pairs * d, (s * (s - 1) // 2) * d),
        }
    rows = []
    for name, (m, n, p, macs, adds) in shapes.items():
        rows.append(
            {
                "matmul": name,
                "kind": "attention",
                "input": "",
                "m": m,
                "n": n,
                "p": p,
                "instances": instances,
                "macs": macs * instances,
                "adds": adds * instances,
                "rescale_muls": 0,
                "out_elements": 0,
                "quant_elements": 0,
                "weights": 0,
            }
        )
    return rows


def matmul_counts(
    model: object,
    tokens: int,
    phase: str = "prefill",
    *,
    attention: str = "full",
    lm_head: str = "none",
    tables: EnergyTables | None = None,
) -> pd.DataFrame:
    """Count the operations of every matmul of ``model``.

    Parameters
    ----------
    model : str, mapping or ModelConfig
        See :func:`energy.architecture.resolve_model`.
    tokens : int
        Prefill: the number of tokens processed. Decode: the context length attended to.
    phase : {"prefill", "decode"}
    attention : {"full", "causal", "none"}
        Which attention matmuls to count (see the module docstring).
    lm_head : {"none", "last", "all"}
        For which tokens to count the output head.
    tables : EnergyTables, optional
        Tables that hold user models.

    Returns
    -------
    pandas.DataFrame
        One row per matmul kind with ``matmul``, ``kind`` (``linear``, ``attention``, ``lm_head``),
        ``input``, the shape ``m, n, p``, ``instances`` and the totals over all instances: ``macs``,
        ``adds`` (``m (n - 1) p``), ``rescale_muls`` (``m p + m n``, ternary layers only),
        ``out_elements`` (``m p``), ``quant_elements`` (``m n`` once per shared input), ``weights``; plus
        ``macs_per_token`` and ``adds_per_token`` (divided by the tokens produced: ``tokens`` in prefill,
        1 in decode).
    """
    config = resolve_model(model, tables)
    tokens = check_positive_int(tokens, "tokens")
    phase = check_choice(phase, "phase", PHASES)
    attention = check_choice(attention, "attention", ATTENTION_MODES)
    lm_head = check_choice(lm_head, "lm_head", LM_HEAD_MODES)
    m = tokens if phase == "prefill" else 1
    rows, seen_inputs = [], set()
    for linear in config.layer_linears():
        rows.append(_linear_row(linear, m, config.layers, "linear", linear.input not in seen_inputs))
        seen_inputs.add(linear.input)
    rows.extend(_attention_rows(config, tokens, phase, attention))
    if lm_head != "none":
        head_m = m if lm_head == "all" else 1
        rows.append(_linear_row(config.lm_head(), head_m, 1, "lm_head", True))
    for row in rows:
        for column in COUNT_COLUMNS:
            if row[column] > _INT64_MAX:
                raise ValueError(f"tokens: {tokens} tokens overflow the 64-bit operation counts")
    frame = pd.DataFrame(rows)
    frame[list(COUNT_COLUMNS)] = frame[list(COUNT_COLUMNS)].astype("int64")
    produced = m
    frame["macs_per_token"] = frame["macs"] / produced
    frame["adds_per_token"] = frame["adds"] / produced
    frame["rescale_muls_per_token"] = frame["rescale_muls"] / produced
    return frame


def per_token_ops(
    model: object,
    tokens: int,
    phase: str = "prefill",
    *,
    attention: str = "full",
    lm_head: str = "none",
    tables: EnergyTables | None = None,
) -> pd.DataFrame:
    """Multiplies and adds per produced token of every matmul, for the FP16 and the b1.58 model.

    FP16: ``macs`` multiplies and ``m (n - 1) p`` adds. b1.58: the ternary linear layers do the same adds
    (integer) and only the rescale multiplies ``m p + m n``; attention and the output head are the same as
    in FP16 (high precision). Arguments as for :func:`matmul_counts`.

    Returns
    -------
    pandas.DataFrame
        ``matmul``, ``kind``, ``fp16_muls``, ``fp16_adds``, ``b1.58_muls``, ``b1.58_adds`` per token.
    """
    counts = matmul_counts(model, tokens, phase, attention=attention, lm_head=lm_head, tables=tables)
    ternary = counts["kind"] == "linear"
    return pd.DataFrame(
        {
            "matmul": counts["matmul"],
            "kind": counts["kind"],
            "fp16_muls": counts["macs_per_token"],
            "fp16_adds": counts["adds_per_token"],
            "b1.58_muls": counts["rescale_muls_per_token"].where(ternary, counts["macs_per_token"]),
            "b1.58_adds": counts["adds_per_token"],
        }
    )
