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
:mod:`model.bitnet_config`, :mod:`model.tokenizer`
    The LLaMA-alike BitNet LM's configuration (transformers' field names, size presets) and the
    byte-level tokenizer (256 bytes, BOS, EOS), both without torch.
:mod:`model.bitnet_torch`, :mod:`model.export`
    The torch BitNet LM (b1.58 projections are BitLinear, the twin's nn.Linear) in transformers'
    ``BitNetForCausalLM`` architecture, and its export to a folder transformers loads.
:mod:`model.data`, :mod:`model.train`
    Byte-level training data (a fixed 90/10 split of a text file) and ``python -m model.train`` (AdamW
    with BitNet's two-stage schedule, validation, checkpoints that resume, export at the end).
:mod:`model.infer`, :mod:`model.generate`
    The NumPy golden inference of such a folder (every projection exact in int32, a hook on each integer
    matmul, a KV cache) and ``python -m model.generate``.
:mod:`model.study`
    The b1.58-vs-fp study (every size in both precisions, the 2x-hidden b1.58 model; resumable runs, the
    table with its convergence check, loss curves); ``benchmarks/train_bitnet.py`` runs it.
:mod:`model.operands`
    What a trained b1.58 model's projections compute on (int8 activations and ternary weights per
    projection type, read through the inference's matmul hook) and their statistics.
:mod:`model.cli`, :mod:`model.demo`
    The one-line-error argument parser shared by every CLI, and ``python -m model.demo``.
"""
