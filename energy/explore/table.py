"""The results table of a sweep: a CSV file that grows by one whole line per completed point.

The table is the sweep's record and its resume point. Each row is appended as one ``write`` of a complete
line and flushed to disk (``fsync``) before the next point is reported, so a sweep killed at any moment
loses no completed point. The only damage a kill can do is a last line cut short by the kill itself;
:meth:`ResultTable.open` cuts such a line off (and says so) before appending. A table is written by one
sweep at a time: :meth:`ResultTable.open` takes an exclusive lock on it (``flock``) and refuses a table
that another running sweep holds. The header is :data:`energy.explore.point.COLUMNS`; a table with another
header (an older version of the project) is refused, not mixed.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from pathlib import Path

import pandas as pd

from energy.explore.point import COLUMNS

#: Columns read as text whatever they hold (a hexadecimal key must not become a number).
TEXT_COLUMNS = dict.fromkeys(("key", "status", "reason", "zero", "measured_rows", "worker", "code"), str)


def _line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _text(value: object) -> object:
    """``value`` as the CSV writes it (None as an empty field, floats to full precision)."""
    return "" if value is None else repr(value) if isinstance(value, float) else value


class ResultTable:
    """The CSV results table at ``path`` (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The table; created (with its folder) by :meth:`open` when missing.

    Members
    -------
    repaired : bool
        True when :meth:`open` cut off a partial last line.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.repaired = False
        self._handle: int | None = None

    def open(self) -> dict[str, dict]:
        """Lock the table for appending and return its rows by point key (the last row of a key wins)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise ValueError(f"table {self.path} is being written by another sweep") from None
        self._handle = handle
        if os.fstat(handle).st_size == 0:  # a new table: its header, under the lock
            os.write(handle, _line(list(COLUMNS)).encode())
            os.fsync(handle)
        try:
            self._repair()
            return {row["key"]: row for row in read_rows(self.path)}
        except ValueError:
            self.close()
            raise

    def _repair(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            os.truncate(self.path, data.rfind(b"\n") + 1)
            self.repaired = True

    def append(self, row: dict) -> None:
        """Append ``row`` (a mapping of :data:`COLUMNS`) as one line, on disk before returning."""
        if self._handle is None:
            raise ValueError(f"table {self.path} is not open")
        os.write(self._handle, _line([_text(row.get(name)) for name in COLUMNS]).encode())
        os.fsync(self._handle)

    def close(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # releases the lock
            self._handle = None

    def __enter__(self) -> ResultTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_table(path: str | Path) -> pd.DataFrame:
    """The table at ``path`` as a DataFrame (a partial last line left out); ``ValueError`` if it is not
    one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"table {path}: no such file")
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1] if not data.endswith(b"\n") else data
    try:
        frame = pd.read_csv(io.BytesIO(complete), na_values=[""], keep_default_na=False, dtype=TEXT_COLUMNS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"table {path}: not a results table ({error})") from None
    if tuple(frame.columns) != COLUMNS:
        raise ValueError(f"table {path}: its columns are not a sweep's ({', '.join(frame.columns[:4])}, ...)")
    return frame


def read_rows(path: str | Path) -> list[dict]:
    """The table's rows as dicts (empty fields as None)."""
    frame = read_table(path)
    return [
        {name: (None if pd.isna(value) else value) for name, value in record.items()}
        for record in frame.to_dict("records")
    ]
