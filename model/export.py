"""Export a :class:`model.bitnet_torch.BitNetLM` to a folder that transformers' ``BitNetForCausalLM`` loads.

The folder holds

``config.json``
    :meth:`model.bitnet_config.BitNetLMConfig.to_hf_dict`: model type ``bitnet``, and for the b1.58 model
    the offline ``quantization_config`` (``{"quant_method": "bitnet", "linear_class": "bitlinear",
    "quantization_mode": "offline"}``).
``model.safetensors``
    transformers' state-dict keys. In the b1.58 model each projection ``<name>`` is stored as
    ``<name>.weight``, uint8 ``(out_features / 4, in_features)``, its ternary weights packed by
    :func:`model.packing.to_hf_packed`, and ``<name>.weight_scale``, float32 ``(1,)``, the weight scale
    ``s_w`` (transformers computes ``y = acc / (weight_scale * input_scale)``), the layout
    :func:`model.checkpoint.load_bitnet_checkpoint` reads. Embedding and norms (and every weight of the
    full-precision twin) are float32. A tied head is not stored (transformers ties it on loading).
``generation_config.json``
    BOS, EOS, greedy decoding.
``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json``
    The byte-level tokenizer (:mod:`model.tokenizer`) for ``AutoTokenizer``.

Everything is written into a temporary folder beside the target, which is renamed into place at the end:
the output appears whole or not at all.

``python -m model.export --checkpoint FILE --out DIR`` exports a file written by
:func:`model.bitnet_torch.save_torch_checkpoint`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from model.bitnet_config import BitNetLMConfig
from model.bitnet_torch import BitNetLM, load_torch_checkpoint
from model.checkpoint import SCALE_SUFFIX, WEIGHT_SUFFIX
from model.cli import OneLineErrorParser, fail
from model.packing import to_hf_packed
from model.safetensors_io import write_safetensors
from model.tokenizer import write_tokenizer_files
from model.torch_bitlinear import BitLinear

#: The weights file of an exported folder.
WEIGHTS_FILE = "model.safetensors"


def hf_tensors(model: BitNetLM) -> dict[str, np.ndarray]:
    """The tensors of ``model.safetensors``: packed ternary projections in b1.58, float32 otherwise."""
    if not isinstance(model, BitNetLM):
        raise TypeError(f"model must be a BitNetLM, not {type(model).__name__}")
    tensors = {name: value.detach().float().cpu().numpy() for name, value in model.state_dict().items()}
    for name, projection in model.named_projections():
        if isinstance(projection, BitLinear):
            w_q, s_w = projection.export()
            tensors[name + WEIGHT_SUFFIX] = to_hf_packed(w_q)
            tensors[name + SCALE_SUFFIX] = np.array([s_w], dtype=np.float32)
    return tensors


def generation_config(config: BitNetLMConfig) -> dict:
    """``generation_config.json``: greedy decoding that stops at EOS (EOS also pads)."""
    return {
        "bos_token_id": config.bos_token_id,
        "eos_token_id": config.eos_token_id,
        "pad_token_id": config.eos_token_id,
        "do_sample": False,
    }


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def _write_folder(model: BitNetLM, folder: Path) -> None:
    _write_json(folder / "config.json", model.config.to_hf_dict())
    _write_json(folder / "generation_config.json", generation_config(model.config))
    write_safetensors(folder / WEIGHTS_FILE, hf_tensors(model))
    write_tokenizer_files(folder)


def export(model: BitNetLM, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` as a transformers BitNet folder (see the module docstring); returns the folder.

    Raises ``ValueError`` when ``folder`` exists and ``overwrite`` is false.
    """
    if not isinstance(model, BitNetLM):
        raise TypeError(f"model must be a BitNetLM, not {type(model).__name__}")
    folder = Path(folder)
    if folder.exists() and not (overwrite and folder.is_dir()):
        raise ValueError(f"folder: {folder} exists (overwrite=True, or --overwrite, replaces a folder)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        staging.chmod(0o755)
        _write_folder(model, staging)
        _move_into_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _move_into_place(staging: Path, folder: Path) -> None:
    """Rename ``staging`` to ``folder``; an existing ``folder`` is kept until the rename succeeded."""
    if not folder.exists():
        staging.rename(folder)
        return
    old = staging.with_suffix(".old")
    folder.rename(old)
    try:
        staging.rename(folder)
    except OSError:
        old.rename(folder)
        raise
    shutil.rmtree(old)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineErrorParser(
        prog="python -m model.export",
        description="Export a BitNetLM torch checkpoint to a folder transformers' BitNetForCausalLM loads.",
    )
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="file written by save_torch_checkpoint"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = parser.parse_args(argv)
    try:
        model, _ = load_torch_checkpoint(args.checkpoint)
        folder = export(model, args.out, overwrite=args.overwrite)
    except (ValueError, TypeError, OSError) as error:
        fail(parser.prog, str(error))
    config = model.config
    print(
        f"wrote {folder}: {config.precision}, {config.num_hidden_layers} layers, "
        f"hidden {config.hidden_size}, {config.non_embedding_parameters():,} non-embedding parameters"
    )


if __name__ == "__main__":
    main()
