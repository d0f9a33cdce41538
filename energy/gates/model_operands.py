"""Operands from a trained model for the gate-level measurement: what one projection type really sees.

``--operands model[:DIR]`` (:func:`parse_operands`) replaces the Gaussian operands of
:mod:`energy.gates.realistic` with a trained model's, read while the golden inference
(:func:`model.infer.load_model`) reads held-out text (:func:`model.operands.heldout_windows`: the
validation windows of the training text) for one projection type (``--projection``, default
:data:`DEFAULT_PROJECTION`) of one decoder layer (``--layer``, default the middle one):

ternary array
    The b1.58 model's int8 activations of that projection (one row per token, in text order) and ``M``
    of its ternary weight rows (output channels drawn without replacement by the seed).
int8 array
    The same int8 activations (the b1.58 model's: the array runs the same quantized activations), and the
    full-precision twin's weights of the same rows quantized to int8 per output channel
    (:func:`model.quant.quantize_weights_int8`: ``round(w * 127 / max|w_row|)``), the usual int8 weight
    quantization (the Gaussian operands of :mod:`energy.gates.realistic` use the per-tensor maximum).
FP16 array
    The twin's own activations at that projection's input (``model.operands.record_float_inputs``: the
    twin reads the same windows in float32 and every projection's input is kept) and its weights of the
    same rows, both rounded to binary16.

The reduction is the projection's whole input (``K = in_features``, the last beat padded with zeros by
:func:`sim.scheduler.schedule_layer`), and as many tokens as the window needs (``ceil(beats / ceil(K /
N))``). The twin is :data:`model.infer.BUNDLED_TWIN` unless ``model:DIR,TWIN`` names another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.params import ArrayParams
from model.data import DEFAULT_DATA
from model.fp16 import to_bits
from model.infer import BUNDLED_CHECKPOINT, BUNDLED_TWIN, GoldenLM, load_model
from model.operands import PROJECTION_TYPES, heldout_windows, record_float_inputs, record_operands
from model.quant import quantize_weights_int8

#: The projection type measured unless told otherwise (the widest input of the attention-free MLP path).
DEFAULT_PROJECTION = "up_proj"
#: Bytes per held-out window the models read.
WINDOW = 128


@dataclass(frozen=True)
class ModelSource:
    """Where model operands come from (see the module docstring).

    Parameters
    ----------
    checkpoint : the b1.58 model's folder.
    twin : the full-precision twin's folder (the int8 and FP16 arrays need it).
    projection : one of :data:`model.operands.PROJECTION_TYPES`.
    layer : the decoder layer, ``None`` for the middle one.
    data : the training text whose held-out split the models read.
    """

    checkpoint: Path = BUNDLED_CHECKPOINT
    twin: Path = BUNDLED_TWIN
    projection: str = DEFAULT_PROJECTION
    layer: int | None = None
    data: Path = DEFAULT_DATA

    def __post_init__(self) -> None:
        if self.projection not in PROJECTION_TYPES:
            choices = ", ".join(PROJECTION_TYPES)
            raise ValueError(f"projection must be one of {choices}, got {self.projection!r}")
        layer = self.layer
        if layer is not None and (isinstance(layer, bool) or not isinstance(layer, int) or layer < 0):
            raise ValueError(f"layer must be a non-negative integer or None, got {layer!r}")

    def describe(self) -> str:
        """A short label: ``model up_proj layer 1``."""
        return f"model {self.projection} layer {'middle' if self.layer is None else self.layer}"


def parse_operands(
    text: str, projection: str = DEFAULT_PROJECTION, layer: int | None = None, data: Path = DEFAULT_DATA
) -> str | ModelSource:
    """``"gaussian"``, or a :class:`ModelSource` for ``model``, ``model:DIR`` or ``model:DIR,TWIN``."""
    if text == "gaussian":
        return text
    kind, _, folders = text.partition(":")
    if kind != "model":
        raise ValueError(
            f"operands must be 'gaussian', 'model', 'model:DIR' or 'model:DIR,TWIN', got {text!r}"
        )
    checkpoint, _, twin = folders.partition(",")
    return ModelSource(
        checkpoint=Path(checkpoint) if checkpoint else BUNDLED_CHECKPOINT,
        twin=Path(twin) if twin else BUNDLED_TWIN,
        projection=projection,
        layer=layer,
        data=Path(data),
    )


def _layer(model: GoldenLM, layer: int | None) -> int:
    layers = model.config.num_hidden_layers
    chosen = layers // 2 if layer is None else layer
    if chosen >= layers:
        raise ValueError(f"layer must be below the model's {layers} layers, got {chosen}")
    return chosen


def _windows(source: ModelSource, tokens: int) -> list[np.ndarray]:
    return heldout_windows(source.data, WINDOW, -(-tokens // WINDOW))


def model_operands(
    params: ArrayParams, source: ModelSource, rng: np.random.Generator, beats_total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Activations ``(T, K)`` and weights ``(M, K)`` of ``source`` for the array ``params`` (int64; FP16:
    binary16 bit patterns), enough tokens for ``beats_total`` beats."""
    model = load_model(source.checkpoint)
    if model.config.precision != "b1.58":
        raise ValueError(f"operands: {source.checkpoint} is not a b1.58 model")
    layer = _layer(model, source.layer)
    out_features, in_features = model.layers[layer].projections[source.projection].w_q.shape
    if params.rows > out_features:
        raise ValueError(
            f"rows={params.rows} exceeds the {out_features} output channels of {source.projection}"
        )
    tokens = -(-beats_total // -(-in_features // params.lanes))
    rows = np.sort(rng.choice(out_features, params.rows, replace=False))
    windows = _windows(source, tokens)
    if params.is_ternary:
        operands = record_operands(model, windows)
        x_q = operands.activations[source.projection][layer][:tokens]
        return x_q.astype(np.int64), operands.weights[source.projection][layer][rows].astype(np.int64)
    twin = load_model(source.twin)
    same_shape = twin.config.replace(precision="b1.58") == model.config
    if twin.config.precision != "fp" or not same_shape:
        raise ValueError(f"operands: {source.twin} is not a full-precision twin of {source.checkpoint}")
    w = twin.layers[layer].projections[source.projection].w[rows]
    if params.is_float:
        x = record_float_inputs(twin, windows)[source.projection][layer][:tokens]
        return to_bits(x).astype(np.int64), to_bits(w).astype(np.int64)
    x_q = record_operands(model, windows).activations[source.projection][layer][:tokens]
    return x_q.astype(np.int64), quantize_weights_int8(w, per_channel=True).astype(np.int64)
