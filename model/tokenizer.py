"""The byte-level tokenizer of the project's BitNet LLMs: ids 0..255 are bytes, 256 is BOS, 257 is EOS.

:func:`encode` turns text into the ids of its UTF-8 bytes; :func:`decode` turns ids back into text (BOS
and EOS dropped, invalid UTF-8 replaced by U+FFFD). Neither adds BOS or EOS unless asked.

:func:`write_tokenizer_files` writes the same tokenizer for ``transformers.AutoTokenizer``: a
``tokenizer.json`` for the ``tokenizers`` library (a BPE model with no merges over the 256 GPT-2
byte-level symbols, in byte order, so that symbol ``i`` is byte ``i``; the ByteLevel pre-tokenizer without
its word-splitting regex and the ByteLevel decoder) and a ``tokenizer_config.json`` naming
``PreTrainedTokenizerFast``. Loaded that way, ``tokenizer(text, add_special_tokens=False)`` gives
:func:`encode`'s ids and ``tokenizer.decode(ids, skip_special_tokens=True)`` gives :func:`decode`'s text.
One difference is inherent to transformers: it matches the special tokens' names
(``<|begin_of_text|>``, ``<|end_of_text|>``) inside the text and encodes them as one id.

The JSON is written directly: this module needs neither torch nor tokenizers (the NumPy inference uses it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

#: Number of byte tokens; byte ``b`` is token ``b``.
BYTE_TOKENS = 256
BOS_ID, EOS_ID = 256, 257
#: Tokens in the vocabulary: the bytes, BOS and EOS.
VOCAB_SIZE = 258
#: The special tokens' names (those of Llama 3 and bitnet-b1.58-2B-4T).
BOS_TOKEN, EOS_TOKEN = "<|begin_of_text|>", "<|end_of_text|>"
#: Files written by :func:`write_tokenizer_files`.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def encode(text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
    """The token ids of ``text``: its UTF-8 bytes, with BOS first / EOS last when asked."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return [BOS_ID] * bos + list(text.encode("utf-8")) + [EOS_ID] * eos


def decode(ids: Iterable[int]) -> str:
    """The text of token ids: bytes decoded as UTF-8 (invalid sequences become U+FFFD), BOS/EOS dropped."""
    ids = list(ids)
    for token in ids:
        if isinstance(token, bool) or not hasattr(token, "__index__") or not 0 <= token < VOCAB_SIZE:
            raise ValueError(f"ids must hold token ids in [0, {VOCAB_SIZE}), got {token!r}")
    return bytes(int(token) for token in ids if token < BYTE_TOKENS).decode("utf-8", errors="replace")


def byte_symbols() -> list[str]:
    """The GPT-2 byte-level symbol of each byte (``tokenizers``' ByteLevel alphabet), in byte order.

    Printable Latin-1 bytes stand for themselves; the other bytes, in order, for chr(256), chr(257), ...
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols, extra = {}, 0
    for byte in range(BYTE_TOKENS):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(BYTE_TOKENS + extra)
            extra += 1
    return [symbols[byte] for byte in range(BYTE_TOKENS)]


def _special_token(token_id: int, content: str) -> dict:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def tokenizer_json() -> dict:
    """The ``tokenizer.json`` of the byte-level tokenizer, as a dict."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    vocab = {symbol: byte for byte, symbol in enumerate(byte_symbols())}
    vocab.update({BOS_TOKEN: BOS_ID, EOS_TOKEN: EOS_ID})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_special_token(BOS_ID, BOS_TOKEN), _special_token(EOS_ID, EOS_TOKEN)],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [],
        },
    }


def write_tokenizer_files(folder: str | Path) -> list[Path]:
    """Write the tokenizer files ``transformers.AutoTokenizer.from_pretrained(folder)`` reads.

    Returns the paths written (:data:`TOKENIZER_FILES` in ``folder``, which must exist).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder: {folder} is not a directory")
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
    }
    contents = dict(zip(TOKENIZER_FILES, (tokenizer_json(), config, special), strict=True))
    paths = []
    for name, content in contents.items():
        path = folder / name
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
