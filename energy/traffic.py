"""Memory traffic of one forward pass, in bits, split into weights, activations and the KV cache.

A first-order, optimistic (perfect-reuse) model:

weights
    every weight is read once per forward pass: once for the ``tokens`` tokens of a prefill (the batch
    reuses it), once per generated token in decode (batch 1). The decoder layers' weights take the
    format's bits per weight (:mod:`energy.formats`); the output head stays FP16 in both models.
activations
    every matmul input is read once per distinct input (``q/k/v_proj`` share theirs, so do ``gate/up``),
    every matmul output except the keys and values is written once, and the attention reads ``Q`` and
    writes its output once. FP16 elements are 16 bits; a ternary layer's input is its int8 quantized copy
    (``model.quant.ACT_BITS``, the quantizer fused into the producer). Elementwise ops (norms, SiLU,
    residuals) are fused and add no traffic; attention scores stay on chip (a fused attention kernel).
KV cache (FP16 in both models)
    keys and values are written once per token. Decode reads the whole cache of ``tokens`` positions;
    prefill reads each key and value once.
"""

from __future__ import annotations

from energy.architecture import resolve_model
from energy.checks import check_choice, check_positive_int
from energy.formats import FP16_BITS, weight_bits
from energy.opcount import LM_HEAD_MODES, PHASES
from energy.tables import EnergyTables
from model.quant import ACT_BITS

TRAFFIC_TERMS = ("weights", "activations", "kv_cache")


def traffic_bits(
    model: object,
    tokens: int,
    phase: str,
    precision: str,
    *,
    weight_format: str = "ternary",
    lm_head: str = "last",
    tables: EnergyTables | None = None,
) -> dict[str, float]:
    """Bits moved per term for one forward pass (prefill of ``tokens`` tokens, or one decode step).

    Parameters
    ----------
    model : str, mapping or ModelConfig
    tokens : int
        Prefill length, or the decode context length.
    phase : {"prefill", "decode"}
    precision : {"fp16", "b1.58"}
        ``fp16`` stores FP16 weights; ``b1.58`` stores its decoder-layer weights in ``weight_format``.
    weight_format : str
        A name of :data:`energy.formats.WEIGHT_FORMATS` (b1.58 only).
    lm_head : {"none", "last", "all"}
        Whether the output head (and its weights) is part of the pass, and for which tokens.

    Returns
    -------
    dict
        ``weights``, ``activations`` and ``kv_cache`` bits.
    """
    config = resolve_model(model, tables)
    tokens = check_positive_int(tokens, "tokens")
    phase = check_choice(phase, "phase", PHASES)
    precision = check_choice(precision, "precision", ("fp16", "b1.58"))
    lm_head = check_choice(lm_head, "lm_head", LM_HEAD_MODES)
    bpw = weight_bits(weight_format) if precision == "b1.58" else float(FP16_BITS)
    input_bits = ACT_BITS if precision == "b1.58" else FP16_BITS
    m = tokens if phase == "prefill" else 1
    layers, h, kv = config.layers, config.hidden, config.kv_dim

    weights = config.linear_weights * bpw
    reads = writes = 0
    seen_inputs: set[str] = set()
    for linear in config.layer_linears():
        if linear.input not in seen_inputs:
            reads += m * linear.in_features * input_bits
            seen_inputs.add(linear.input)
        if linear.name not in ("k_proj", "v_proj"):
            writes += m * linear.out_features * FP16_BITS
    attention = 2 * m * h * FP16_BITS  # read Q, write the attention output
    activations = float(layers * (reads + writes + attention))

    kv_written = 2 * m * kv * FP16_BITS
    kv_read = 2 * tokens * kv * FP16_BITS  # decode: the whole cache; prefill: each key and value once
    kv_cache = float(layers * (kv_written + kv_read))

    if lm_head != "none":
        head = config.lm_head()
        head_m = m if lm_head == "all" else 1
        weights += head.weights * FP16_BITS
        activations += head_m * (head.in_features + head.out_features) * FP16_BITS
    return {"weights": float(weights), "activations": activations, "kv_cache": kv_cache}
