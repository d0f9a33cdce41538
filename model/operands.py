"""What a trained b1.58 model's projections compute on: its int8 activations and ternary weights.

:func:`record_operands` runs a :class:`model.infer.GoldenLM` over token windows (:func:`heldout_windows`:
the held-out split of the training text, the windows validation uses) and keeps, per projection type
(``q_proj`` ... ``down_proj``) and layer, every int8 activation row that entered the projection and its
ternary weight matrix, through the model's integer-matmul hook (the results are the golden ones). These
are the operands whose statistics the hardware's energy depends on; :func:`operand_statistics` and
:func:`activation_histogram` summarize them per projection type:

- the shares of zero, +1 and -1 weights;
- the shares of zero and of saturated (|x| = 127) activations, and the mean |x|; the ``down_proj`` input is
  ``ffn_sub_norm(relu(gate)**2 * up)``, so its zeros are squared ReLU's;
- outlier channels: an input channel whose mean |x| over the tokens is at least :data:`OUTLIER_FACTOR` times
  the mean over its layer's channels (the mean, not the median: most channels of the ``down_proj`` input
  are zero for most tokens). Per-token absmax quantization maps each token's largest entry to 127, so a
  token whose largest entry sits in an outlier channel has its other channels squeezed towards zero
  (``outlier_scaled_share``: the share of tokens whose absmax is in an outlier channel).

:func:`record_float_inputs` keeps the float inputs of every projection instead, in either precision (the
full-precision twin has no integer operands). :func:`operand_figure` draws them. This module needs NumPy,
pandas and matplotlib (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from model.data import load_corpus, sequences, windows_at
from model.infer import ATTENTION_PROJECTIONS, MLP_PROJECTIONS, GoldenLM, default_matmul
from model.quant import ACT_MAX, ACT_MIN

#: The projection types of a decoder layer, in forward order.
PROJECTION_TYPES = ATTENTION_PROJECTIONS + MLP_PROJECTIONS
#: A channel is an outlier when its mean |activation| is at least this many times its layer's average.
OUTLIER_FACTOR = 4.0


def projection_type(name: str) -> tuple[str, int]:
    """``("q_proj", 0)`` for ``"model.layers.0.self_attn.q_proj"``."""
    parts = name.split(".")
    if len(parts) < 4 or parts[-1] not in PROJECTION_TYPES or parts[1] != "layers":
        raise ValueError(f"name: {name!r} is not a decoder projection (model.layers.L.*.TYPE)")
    return parts[-1], int(parts[2])


@dataclass
class ModelOperands:
    """The operands of every projection, per type and layer.

    Members
    -------
    activations : dict[str, list[numpy.ndarray]]
        Per type, per layer: the int8 activation rows ``(tokens, in_features)`` it received.
    weights : dict[str, list[numpy.ndarray]]
        Per type, per layer: the ternary weights ``(out_features, in_features)`` (int8).
    tokens : int
        Tokens read (each projection received one row per token).
    """

    activations: dict[str, list[np.ndarray]] = field(default_factory=dict)
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    tokens: int = 0


def heldout_windows(data: str | Path, seq_len: int, count: int) -> list[np.ndarray]:
    """The first ``count`` validation windows of ``data`` (as :func:`model.data.validation_batches` cuts
    them): BOS followed by ``seq_len - 1`` held-out bytes each."""
    if seq_len < 2 or count < 1:
        raise ValueError(f"seq_len must be >= 2 and count >= 1, got seq_len={seq_len}, count={count}")
    split = load_corpus(data).validation
    available = windows_at(split.size, seq_len, 0)
    if available < count:
        raise ValueError(
            f"count: the held-out split holds {available} windows of {seq_len} bytes, not {count}"
        )
    ids, _ = sequences(split, seq_len * np.arange(count), seq_len)
    return list(ids)


def record_operands(model: GoldenLM, windows: Sequence[np.ndarray]) -> ModelOperands:
    """Run ``model`` over each window (:meth:`GoldenLM.logits`) and keep every projection's operands."""
    if not isinstance(model, GoldenLM):
        raise TypeError(f"model must be a GoldenLM (model.infer.load_model), not {type(model).__name__}")
    if model.config.precision != "b1.58":
        raise ValueError("model: a full-precision model has no int8 activations or ternary weights")
    activations: dict[tuple[str, int], list[np.ndarray]] = {}
    weights: dict[tuple[str, int], np.ndarray] = {}

    def recording(name: str, x_q: np.ndarray, w_q: np.ndarray) -> np.ndarray:
        key = projection_type(name)
        activations.setdefault(key, []).append(x_q)
        weights[key] = w_q
        return default_matmul(name, x_q, w_q)

    previous, model.matmul = model.matmul, recording
    try:
        tokens = 0
        for window in windows:
            tokens += len(model.logits(window))
    finally:
        model.matmul = previous
    operands = ModelOperands(tokens=tokens)
    layers = range(model.config.num_hidden_layers)
    for kind in PROJECTION_TYPES:
        operands.activations[kind] = [np.concatenate(activations[kind, i]) for i in layers]
        operands.weights[kind] = [weights[kind, i] for i in layers]
    return operands


def record_float_inputs(model: GoldenLM, windows: Sequence[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Per projection type, per layer: the float32 inputs ``(tokens, in_features)`` of every projection
    while ``model`` (either precision) reads ``windows``, through :attr:`GoldenLM.observe` (a
    full-precision twin's activations, e.g. for an FP16 array)."""
    if not isinstance(model, GoldenLM):
        raise TypeError(f"model must be a GoldenLM (model.infer.load_model), not {type(model).__name__}")
    inputs: dict[tuple[str, int], list[np.ndarray]] = {}

    def observe(name: str, x: np.ndarray) -> None:
        inputs.setdefault(projection_type(name), []).append(np.array(x, np.float32))

    previous, model.observe = model.observe, observe
    try:
        for window in windows:
            model.logits(window)
    finally:
        model.observe = previous
    layers = range(model.config.num_hidden_layers)
    return {kind: [np.concatenate(inputs[kind, i]) for i in layers] for kind in PROJECTION_TYPES}


def _channel_outliers(x_q: np.ndarray) -> tuple[np.ndarray, float]:
    """The outlier channels' mask and the largest channel's mean |x| over the layer's mean (0 when every
    activation is 0)."""
    channel = np.abs(x_q.astype(np.float64)).mean(axis=0)
    reference = float(channel.mean())
    if reference == 0:
        return np.zeros(channel.shape, dtype=bool), 0.0
    return channel >= OUTLIER_FACTOR * reference, float(channel.max() / reference)


def _type_row(kind: str, activations: list[np.ndarray], weights: list[np.ndarray]) -> dict[str, object]:
    w = np.concatenate([matrix.ravel() for matrix in weights])
    x = np.concatenate([rows.ravel() for rows in activations])
    outliers, ratios, scaled = 0, [], 0
    for rows in activations:
        mask, ratio = _channel_outliers(rows)
        outliers, ratios = outliers + int(mask.sum()), [*ratios, ratio]
        scaled += int(mask[np.abs(rows.astype(np.int16)).argmax(axis=1)].sum())
    tokens = sum(len(rows) for rows in activations)
    return {
        "projection": kind,
        "in_features": activations[0].shape[1],
        "out_features": weights[0].shape[0],
        "weight_zero_share": float(np.mean(w == 0)),
        "weight_plus_share": float(np.mean(w == 1)),
        "weight_minus_share": float(np.mean(w == -1)),
        "activation_zero_share": float(np.mean(x == 0)),
        "activation_saturated_share": float(np.mean(np.abs(x.astype(np.int16)) >= ACT_MAX)),
        "activation_mean_abs": float(np.abs(x.astype(np.float64)).mean()),
        "outlier_channels": outliers,
        "outlier_channel_share": outliers / sum(rows.shape[1] for rows in activations),
        "max_channel_ratio": max(ratios),
        "outlier_scaled_share": scaled / tokens,
    }


def operand_statistics(operands: ModelOperands) -> pd.DataFrame:
    """One row per projection type (over all layers): the statistics of the module docstring."""
    return pd.DataFrame(
        [_type_row(kind, operands.activations[kind], operands.weights[kind]) for kind in PROJECTION_TYPES]
    )


def activation_histogram(operands: ModelOperands) -> pd.DataFrame:
    """The share of each int8 activation value per projection type: a ``value`` column (-128 .. 127) and
    one column per type (each sums to 1)."""
    values = np.arange(ACT_MIN, ACT_MAX + 1)
    table = {"value": values}
    for kind in PROJECTION_TYPES:
        x = np.concatenate([rows.ravel() for rows in operands.activations[kind]]).astype(np.int64)
        counts = np.bincount(x - values[0], minlength=values.size)
        table[kind] = counts / counts.sum()
    return pd.DataFrame(table)


def operand_figure(statistics: pd.DataFrame, histogram: pd.DataFrame, title: str = "") -> Figure:
    """The activation value histogram per projection type (log scale) and the zero shares of weights and
    activations per type."""
    figure = Figure(figsize=(13, 4.5), layout="constrained")
    values_ax, zeros_ax = figure.subplots(1, 2)
    for kind in PROJECTION_TYPES:
        values_ax.plot(histogram.value, histogram[kind], label=kind, linewidth=1)
    values_ax.set(yscale="log", xlabel="int8 activation value", ylabel="share of entries")
    values_ax.set_title(f"{title}activation values per projection type")
    values_ax.legend(fontsize=8)
    x = np.arange(len(statistics))
    zeros_ax.bar(x - 0.2, statistics.weight_zero_share, 0.4, label="weights = 0")
    zeros_ax.bar(x + 0.2, statistics.activation_zero_share, 0.4, label="activations = 0")
    zeros_ax.set_xticks(x, statistics.projection)
    zeros_ax.set(ylabel="share", ylim=(0, 1))
    zeros_ax.set_title(f"{title}zero operands per projection type")
    zeros_ax.legend(fontsize=8)
    return figure
