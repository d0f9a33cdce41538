"""Writing files whole: through a temporary file beside the target and a rename, so that a reader (or a
run that was killed) never sees half a file. Used by every command that writes outputs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_with(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` to write the file, then rename it to ``path`` (the temporary keeps the
    suffix, so writers that choose a format by it work). Returns ``path``."""
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole."""
    return write_with(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def write_table(path: str | Path, frame: object, float_format: str = "%.6g") -> Path:
    """Write a pandas DataFrame ``frame`` to ``path`` as CSV (no index), whole."""
    return write_with(path, lambda partial: frame.to_csv(partial, index=False, float_format=float_format))


def write_figure(path: str | Path, figure: object, dpi: int = 120) -> Path:
    """Save a matplotlib ``figure`` to ``path`` (format from its suffix), whole."""
    return write_with(path, lambda partial: figure.savefig(partial, dpi=dpi))
