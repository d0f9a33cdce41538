"""The golden model of BitNet b1.58: exact integer BitLinear, its quantizers, weight codes and packings.

Modules
-------
:mod:`model.quant`
    The quantization rules (absmean ternary weights, per-token absmax int8 activations), defined once.
:mod:`model.bitlinear`, :mod:`model.layer`
    The golden BitLinear (exact int32 accumulators) and a layer object holding quantized weights.
:mod:`model.encoding`, :mod:`model.packing`
    The 2-bit weight code the RTL consumes, and the 2-bit, base-3 and transformers packings.
:mod:`model.fp16`
    IEEE binary16 arithmetic in NumPy, the bit-exact reference of the FP16 baseline array.
:mod:`model.safetensors_io`, :mod:`model.checkpoint`
    A torch-free safetensors reader/writer and transformers-layout BitNet checkpoints.
:mod:`model.torch_bitlinear`
    The torch BitLinear for quantization-aware training (torch imported only there).
:mod:`model.cli`, :mod:`model.demo`
    The one-line-error argument parser shared by every CLI, and ``python -m model.demo``.
"""
