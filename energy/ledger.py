"""The energy ledger: one row per (precision, term, operation) with its count, unit energy and table rows.

Every energy the package reports is a sum over ledger rows, and each ledger row names the table rows its
unit energy comes from, so any printed joule can be traced back to a data file and its source.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from energy.tables import Entry

#: Joules per picojoule.
J_PER_PJ = 1e-12
LEDGER_COLUMNS = ("precision", "term", "op", "count", "energy_pJ", "energy_J", "rows", "note")


def charge(precision: str, term: str, op: str, count: float, entry: Entry, *, per: int = 1) -> dict:
    """A ledger row: ``count`` operations of ``entry.value_pJ / per`` pJ each.

    ``per`` divides the table value, e.g. a 64-bit memory access charged per bit uses ``per=64``.
    """
    unit = entry.value_pJ / per
    note = entry.note
    if per != 1:
        note = "; ".join(filter(None, [note, f"per bit: {entry.value_pJ:g} pJ / {per} bits"]))
    return {
        "precision": precision,
        "term": term,
        "op": op,
        "count": float(count),
        "energy_pJ": unit,
        "energy_J": float(count) * unit * J_PER_PJ,
        "rows": "; ".join(entry.rows),
        "note": note,
    }


def ledger_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """The ledger rows as a DataFrame with :data:`LEDGER_COLUMNS`."""
    return pd.DataFrame(list(rows), columns=list(LEDGER_COLUMNS))


def total_J(ledger: pd.DataFrame, precision: str | None = None) -> float:
    """The sum of ``energy_J`` (of one precision, if given)."""
    if precision is not None:
        ledger = ledger[ledger["precision"] == precision]
    return float(ledger["energy_J"].sum())


def used_rows(ledgers: Iterable[pd.DataFrame]) -> list[str]:
    """The distinct table row ids that the ledgers use, in first-use order."""
    seen: dict[str, None] = {}
    for ledger in ledgers:
        for rows in ledger["rows"]:
            for row in filter(None, (part.strip() for part in str(rows).split(";"))):
                seen.setdefault(row, None)
    return list(seen)
