"""Reading and writing the safetensors format with NumPy alone (bfloat16 included).

The ``safetensors`` package's NumPy API cannot represent bfloat16, the dtype BitNet checkpoints store their
scales in, and its torch API needs torch, which inference code here must not. The format is small and
fully specified: an 8-byte little-endian header length, a JSON header mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets into the byte buffer that follows), and an
optional ``"__metadata__"`` entry. BF16 tensors are widened exactly to float32.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

_DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened to float32 after reading
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items() if name != "BF16"}
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A file that is not valid safetensors."""


def _bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << np.uint32(16)).view(np.float32)


class SafetensorsFile(Mapping[str, np.ndarray]):
    """A ``.safetensors`` file opened lazily: the header is parsed at once, each tensor is read when asked.

    The data are memory-mapped, so a multi-GB checkpoint is read tensor by tensor (and layer by layer by a
    caller that asks in that order) without loading the file. ``file[name]`` is a read-only view of the map
    (BF16 tensors: a float32 copy, widened exactly). Raises :class:`SafetensorsError` for a malformed file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        header_len, header = self._read_header()
        self.metadata: dict = header.pop("__metadata__", None) or {}
        self._entries = {name: self._entry(name, value) for name, value in header.items()}
        data_bytes = self.path.stat().st_size - 8 - header_len
        for name, (_, _, begin, end) in self._entries.items():
            if not 0 <= begin <= end <= data_bytes:
                raise SafetensorsError(f"{self.path}: tensor {name!r} has data offsets outside the file")
        self._data = (
            np.memmap(self.path, dtype=np.uint8, mode="r", offset=8 + header_len)
            if data_bytes > 0
            else np.zeros(0, np.uint8)
        )

    def _read_header(self) -> tuple[int, dict]:
        try:
            with open(self.path, "rb") as file:
                size = self.path.stat().st_size
                if size < 8:
                    raise SafetensorsError(f"{self.path}: too short for a safetensors file")
                (header_len,) = struct.unpack("<Q", file.read(8))
                if header_len > min(_MAX_HEADER_BYTES, size - 8):
                    raise SafetensorsError(f"{self.path}: header length {header_len} does not fit the file")
                raw = file.read(header_len)
        except OSError as error:
            raise ValueError(f"path: cannot read {self.path}: {error.strerror}") from None
        try:
            header = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SafetensorsError(f"{self.path}: header is not JSON ({error})") from None
        if not isinstance(header, dict):
            raise SafetensorsError(f"{self.path}: header is not a JSON object")
        return header_len, header

    def _entry(self, name: str, entry: object) -> tuple[str, tuple[int, ...], int, int]:
        try:
            dtype_name, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{self.path}: malformed header entry for {name!r}") from None
        if dtype_name not in _DTYPES:
            raise SafetensorsError(f"{self.path}: tensor {name!r} has unsupported dtype {dtype_name}")
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * _DTYPES[dtype_name].itemsize:
            raise SafetensorsError(
                f"{self.path}: tensor {name!r} has data offsets that do not match its shape"
            )
        return dtype_name, tuple(shape), int(begin), int(end)

    def dtype_name(self, name: str) -> str:
        """The safetensors dtype of tensor ``name`` (``"BF16"``, ``"U8"``, ...)."""
        return self._entries[name][0]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entries[name][1]

    def __getitem__(self, name: str) -> np.ndarray:
        dtype_name, shape, begin, end = self._entries[name]
        array = self._data[begin:end].view(_DTYPES[dtype_name]).reshape(shape)
        return _bf16_to_float32(array) if dtype_name == "BF16" else array

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Read every tensor of a ``.safetensors`` file into NumPy arrays (BF16 becomes float32)."""
    file = SafetensorsFile(path)
    return {name: np.array(file[name]) for name in file}


def write_safetensors(path: str | Path, tensors: dict[str, np.ndarray]) -> None:
    """Write NumPy arrays as a ``.safetensors`` file (tensors laid out in name order)."""
    header: dict[str, dict] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        little = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if little not in _NAMES:
            raise TypeError(f"tensors[{name!r}] has dtype {array.dtype}, which safetensors cannot hold")
        raw = array.astype(little).tobytes()
        header[name] = {
            "dtype": _NAMES[little],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(blob)) + blob + b"".join(chunks))
