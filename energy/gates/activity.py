"""Switching activity from a Verilator VCD: toggles of every net in a time window, parsed with ``pyvcd``.

Only the variables of the top-level module's own scope are read (the nets of a flat netlist; the
instance scopes below it repeat the same nets as cell pins). A toggle is a change of one bit between two
known values (0/1); changes at times in ``[start, end)`` are counted. Vectors are counted bit by bit, so
``i_stream__payload[37]`` is a net of its own, named as the netlist names it.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from vcd.reader import TokenKind, tokenize

_TIMESCALE_PS = {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6, "ms": 1e9, "s": 1e12}


@dataclass
class Activity:
    """Toggle counts per net name within the window, and the window itself (ps)."""

    toggles: Counter
    start_ps: float
    end_ps: float

    @property
    def seconds(self) -> float:
        return (self.end_ps - self.start_ps) * 1e-12


def _bits(value: object, size: int) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.lower()
        if set(text) <= {"0", "1"}:
            return int(text, 2)
        return None
    return None


class _HeaderFixedStream(io.RawIOBase):
    """The VCD with its header made acceptable to pyvcd, the body streamed unchanged.

    Verilator's cocotb harness names its top scope ``$rootio``, which pyvcd refuses as an identifier.
    """

    def __init__(self, path: Path):
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        header = bytearray()
        for line in self._file:
            header += line
            if b"$enddefinitions" in line:
                break
        self._head = io.BytesIO(re.sub(rb"\$scope (\w+) \$(\w+)", rb"$scope \1 \2", bytes(header)))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._head.read(len(buffer)) or self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def read_toggles(vcd_path: str | Path, top: str, start_ps: float, end_ps: float) -> Activity:
    """Count the toggles of every bit of every net of module ``top`` between ``start_ps`` and ``end_ps``."""
    names: dict[str, tuple[str, int, int]] = {}  # id code -> (reference, size, lsb)
    state: dict[str, int | None] = {}
    toggles: Counter = Counter()
    scopes: list[str] = []
    scale = 1.0
    time_ps = 0.0
    with io.BufferedReader(_HeaderFixedStream(Path(vcd_path)), 1 << 20) as stream:
        for token in tokenize(stream):
            kind = token.kind
            if kind is TokenKind.CHANGE_TIME:
                time_ps = token.time_change * scale
                if time_ps >= end_ps:
                    break
                continue
            if kind in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR):
                code = token.data.id_code
                entry = names.get(code)
                if entry is None:
                    continue
                new = _bits(token.data.value, entry[1])
                old = state.get(code)
                state[code] = new
                if old is None or new is None or time_ps < start_ps:
                    continue
                changed = old ^ new
                reference, size, lsb = entry
                if size == 1:
                    if changed:
                        toggles[reference] += 1
                    continue
                while changed:
                    low = changed & -changed
                    toggles[f"{reference}[{lsb + low.bit_length() - 1}]"] += 1
                    changed ^= low
            elif kind is TokenKind.TIMESCALE:
                scale = token.timescale.magnitude.value * _TIMESCALE_PS[token.timescale.unit.value]
            elif kind is TokenKind.SCOPE:
                scopes.append(token.scope.ident)
            elif kind is TokenKind.UPSCOPE:
                scopes.pop()
            elif kind is TokenKind.VAR:
                if scopes == [top] or (len(scopes) == 2 and scopes[1] == top):
                    var = token.var
                    lsb = 0
                    if var.bit_index is not None and isinstance(var.bit_index, tuple):
                        lsb = min(var.bit_index)
                    names.setdefault(var.id_code, (var.reference, var.size, lsb))
    if not names:
        raise ValueError(f"{vcd_path}: no variables of module {top!r}")
    return Activity(toggles, start_ps, end_ps)
