"""The energy data tables: load them, check them, overlay user rows, and look values up with their source.

Four tables ship as CSV files in ``energy/data/``; every row carries a ``source`` column:

``ops`` (``ops.csv``), key ``(node, op, dtype)``
    energy of one arithmetic operation in pJ (``energy_pJ``) and its operand width (``bits``).
``memory`` (``memory.csv``), key ``(node, tier)``
    energy of one ``access_bits``-wide access in pJ; ``energy_pJ`` is the low end of the published range
    and ``energy_pJ_max`` the high end (equal for SRAM). ``kind`` is ``sram`` or ``dram``.
``models`` (``models.csv``), key ``name``
    model shapes; ``alias`` is the bare size name (``"6.7B"``) that resolves to the row.
``table1`` (``bitnet_table1.csv``), key ``(model, precision)``
    the published BitNet Table 1 cells that :mod:`energy.table1` regenerates.

Users extend or override ``ops``, ``memory`` and ``models`` with their own CSV or TOML files (or
DataFrames) through :func:`load_tables`. A user row whose key exists replaces the values it gives (the
others are kept); a new key adds a row, e.g. a whole new node. ``source`` is required on every user row so
that every number stays traceable. A TOML file holds an array of tables named ``row``::

    [[row]]
    node = "5nm"
    op = "add"
    dtype = "int8"
    bits = 8
    energy_pJ = 0.005
    source = "my synthesis run, 2025-01-01"

Every value looked up is returned as an :class:`Entry` carrying its row ids (``"ops:7nm/add/int8"``),
its sources and the file it came from, so a report can say where each number came from.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

import pandas as pd

from energy.checks import check_choice, check_str

#: Where the shipped tables live, as printed in reports (package-relative, never an absolute path).
DATA_ORIGIN = "energy/data"


@dataclass(frozen=True)
class Schema:
    """The columns of one table: which identify a row and what each column must hold."""

    name: str
    file: str
    key: tuple[str, ...]
    text: tuple[str, ...]
    positive_float: tuple[str, ...] = ()
    positive_int: tuple[str, ...] = ()
    optional_text: tuple[str, ...] = ()
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.text + self.optional_text + self.positive_float + self.positive_int


OPS = Schema(
    "ops",
    "ops.csv",
    key=("node", "op", "dtype"),
    text=("node", "op", "dtype", "source"),
    positive_float=("energy_pJ",),
    positive_int=("bits",),
)
MEMORY = Schema(
    "memory",
    "memory.csv",
    key=("node", "tier"),
    text=("node", "tier", "kind", "source"),
    optional_text=("capacity",),
    positive_float=("energy_pJ", "energy_pJ_max"),
    positive_int=("access_bits",),
    choices=(("kind", ("sram", "dram")),),
)
MODELS = Schema(
    "models",
    "models.csv",
    key=("name",),
    text=("name", "family", "ffn", "source"),
    optional_text=("alias",),
    positive_int=("hidden", "intermediate", "layers", "heads", "kv_heads", "vocab"),
    choices=(("ffn", ("glu", "mlp")),),
)
TABLE1 = Schema(
    "table1",
    "bitnet_table1.csv",
    key=("model", "precision"),
    text=("model", "label", "precision", "node", "source"),
    positive_float=("mul_J", "add_J", "resolution_J"),
    positive_int=("tokens",),
    choices=(("precision", ("fp16", "b1.58")),),
)
SCHEMAS = {schema.name: schema for schema in (OPS, MEMORY, MODELS, TABLE1)}
#: Estimates of a memory access energy: the low or the high end of the published range.
MEMORY_ESTIMATES = ("low", "high")

#: What a user may pass as a table: a file path, a DataFrame, or several of them applied in order.
TableSource = str | Path | pd.DataFrame | Sequence[str | Path | pd.DataFrame]


@dataclass(frozen=True)
class Entry:
    """One energy value with where it came from.

    Attributes
    ----------
    value_pJ : float
        The energy in pJ (per operation, or per access for a memory row).
    rows : tuple of str
        Ids of the table rows the value comes from, e.g. ``("ops:7nm/add/int8",)``; a derived value
        (an interpolation) lists every row it uses.
    sources : tuple of str
        The ``source`` of each row, in the same order.
    origins : tuple of str
        The file of each row (``energy/data/ops.csv`` or the user file's name).
    note : str
        How a derived value was formed; empty for a plain table value.
    """

    value_pJ: float
    rows: tuple[str, ...]
    sources: tuple[str, ...]
    origins: tuple[str, ...]
    note: str = ""


def row_id(schema: Schema, key: Iterable[object]) -> str:
    """The id of a row, e.g. ``"ops:7nm/add/int8"``."""
    return f"{schema.name}:" + "/".join(str(part) for part in key)


def _malformed(argument: str, label: str, message: str) -> ValueError:
    return ValueError(f"{argument}: malformed table {label}: {message}")


def _read_file(path: Path, argument: str) -> pd.DataFrame:
    label = repr(path.name)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".toml"):
        raise ValueError(f"{argument}: table file {label} must be a .csv or .toml file")
    if not path.is_file():
        raise ValueError(f"{argument}: table file {label} does not exist")
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else "cannot parse"
            raise _malformed(argument, label, message) from None
        return frame
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise _malformed(argument, label, str(error)) from None
    rows = document.get("row")
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise _malformed(argument, label, "a TOML table file needs a non-empty [[row]] array of tables")
    return pd.DataFrame(rows)


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _records(frame: pd.DataFrame, schema: Schema, argument: str, label: str) -> list[dict[str, str]]:
    """The rows of ``frame`` as dicts of stripped strings, after checking the column names."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{argument} must be a path or a pandas DataFrame, not {type(frame).__name__}")
    columns = [str(column).strip() for column in frame.columns]
    unknown = sorted(set(columns) - set(schema.columns))
    if unknown:
        raise _malformed(
            argument, label, f"unknown column(s) {', '.join(map(repr, unknown))}; expected {schema.columns}"
        )
    if len(set(columns)) != len(columns):
        raise _malformed(argument, label, "duplicate column names")
    if frame.empty:
        raise _malformed(argument, label, "no rows")
    records = []
    for values in frame.itertuples(index=False, name=None):
        records.append({column: _as_text(value) for column, value in zip(columns, values, strict=True)})
    return records


def _check_row(row: dict[str, str], schema: Schema, argument: str, label: str, number: int) -> dict:
    """Check one complete row and return it with typed values."""
    where = f"row {number}"
    typed: dict[str, object] = {}
    for column in schema.text:
        if not row.get(column, ""):
            raise _malformed(argument, label, f"{where}: column {column!r} is missing or empty")
        typed[column] = row[column]
    for column in schema.optional_text:
        typed[column] = row.get(column, "")
    for column in schema.positive_float + schema.positive_int:
        if not row.get(column, ""):
            raise _malformed(argument, label, f"{where}: column {column!r} is missing or empty")
    for column in schema.positive_float:
        text = row[column]
        try:
            value = float(text)
        except ValueError:
            raise _malformed(
                argument, label, f"{where}: {column} must be a positive number, got {text!r}"
            ) from None
        if not (math.isfinite(value) and value > 0):
            raise _malformed(argument, label, f"{where}: {column} must be a positive number, got {text!r}")
        typed[column] = value
    for column in schema.positive_int:
        text = row[column]
        try:
            value = int(text)
        except ValueError:
            raise _malformed(
                argument, label, f"{where}: {column} must be a positive integer, got {text!r}"
            ) from None
        if value < 1:
            raise _malformed(argument, label, f"{where}: {column} must be a positive integer, got {text!r}")
        typed[column] = value
    for column, allowed in schema.choices:
        if typed[column] not in allowed:
            raise _malformed(
                argument, label, f"{where}: {column} must be one of {allowed}, got {typed[column]!r}"
            )
    if schema is MEMORY and typed["energy_pJ_max"] < typed["energy_pJ"]:
        raise _malformed(argument, label, f"{where}: energy_pJ_max is below energy_pJ")
    if schema is MODELS:
        if typed["hidden"] % typed["heads"]:
            raise _malformed(argument, label, f"{where}: hidden must be a multiple of heads")
        if typed["heads"] % typed["kv_heads"]:
            raise _malformed(argument, label, f"{where}: heads must be a multiple of kv_heads")
    return typed


def _frame(rows: list[dict], schema: Schema, argument: str, label: str) -> pd.DataFrame:
    keys = [tuple(row[column] for column in schema.key) for row in rows]
    seen: set[tuple] = set()
    for key in keys:
        if key in seen:
            raise _malformed(argument, label, f"duplicate row for {dict(zip(schema.key, key, strict=True))}")
        seen.add(key)
    if schema is MODELS:
        aliases = [row["alias"].lower() for row in rows if row["alias"]]
        names = [row["name"].lower() for row in rows]
        for name in aliases + names:
            if (aliases + names).count(name) > 1:
                raise _malformed(argument, label, f"model name or alias {name!r} is not unique")
    columns = list(schema.columns) + ["origin"]
    return pd.DataFrame(rows, columns=columns)


def read_table(
    source: str | Path | pd.DataFrame, schema: Schema | str, *, argument: str = "table"
) -> pd.DataFrame:
    """Read and check one complete table (every column of ``schema`` present on every row).

    Parameters
    ----------
    source : str, pathlib.Path or pandas.DataFrame
        A ``.csv`` or ``.toml`` file, or a DataFrame with the schema's columns.
    schema : Schema or str
        The table kind: ``"ops"``, ``"memory"``, ``"models"`` or ``"table1"``.
    argument : str
        The argument name that error messages mention.

    Returns
    -------
    pandas.DataFrame
        The typed rows plus an ``origin`` column (the file name; ``"DataFrame"`` for a frame).

    Raises
    ------
    ValueError
        For a missing file, a wrong suffix or any malformed content; the message names ``argument``.
    """
    schema = _schema(schema)
    frame, label, origin = _load_raw(source, argument)
    rows = []
    for number, row in enumerate(_records(frame, schema, argument, label), start=1):
        typed = _check_row(row, schema, argument, label, number)
        typed["origin"] = origin
        rows.append(typed)
    return _frame(rows, schema, argument, label)


def _schema(schema: Schema | str) -> Schema:
    if isinstance(schema, Schema):
        return schema
    return SCHEMAS[check_choice(schema, "schema", tuple(SCHEMAS))]


def _load_raw(source: object, argument: str) -> tuple[pd.DataFrame, str, str]:
    if isinstance(source, pd.DataFrame):
        return source, "(DataFrame)", "DataFrame"
    if isinstance(source, str | Path):
        path = Path(source)
        return _read_file(path, argument), repr(path.name), path.name
    raise TypeError(f"{argument} must be a path or a pandas DataFrame, not {type(source).__name__}")


def overlay(base: pd.DataFrame, source: TableSource, schema: Schema | str, *, argument: str) -> pd.DataFrame:
    """Apply user rows to a checked table: replace the given values of existing keys, add new keys.

    A user row must give the key columns and ``source``; any other column it leaves out (or leaves empty)
    keeps the base row's value for an existing key and is required for a new key. Several sources in a
    list are applied in order.
    """
    schema = _schema(schema)
    if isinstance(source, str | Path | pd.DataFrame):
        sources = [source]
    elif isinstance(source, list | tuple):
        sources = list(source)
    else:
        raise TypeError(f"{argument} must be a path or a pandas DataFrame, not {type(source).__name__}")
    if not sources:
        raise ValueError(f"{argument}: no table given")
    merged = {tuple(row[c] for c in schema.key): dict(row) for row in base.to_dict("records")}
    for one in sources:
        frame, label, origin = _load_raw(one, argument)
        user_rows = _records(frame, schema, argument, label)
        seen: set[tuple] = set()
        for number, row in enumerate(user_rows, start=1):
            for column in (*schema.key, "source"):
                if not row.get(column, ""):
                    raise _malformed(argument, label, f"row {number}: column {column!r} is missing or empty")
            key = tuple(row[c] for c in schema.key)
            if key in seen:
                raise _malformed(
                    argument, label, f"duplicate row for {dict(zip(schema.key, key, strict=True))}"
                )
            seen.add(key)
            known = {c: str(v) for c, v in merged[key].items()} if key in merged else {}
            combined = known | {column: value for column, value in row.items() if value != ""}
            typed = _check_row(combined, schema, argument, label, number)
            typed["origin"] = origin
            merged[key] = typed
    return _frame(list(merged.values()), schema, argument, "(merged)")


def _typed_key(schema: Schema, row: dict) -> tuple:
    return tuple(row[c] for c in schema.key)


def _provenance(row: dict) -> dict[str, str]:
    return {"source": str(row["source"]), "origin": str(row["origin"])}


@dataclass(frozen=True, eq=False)
class EnergyTables:
    """The checked tables with lookups that return :class:`Entry` values.

    Build one with :func:`default_tables` or :func:`load_tables`; never mutate its frames.
    """

    ops: pd.DataFrame
    memory: pd.DataFrame
    models: pd.DataFrame
    table1: pd.DataFrame

    @cached_property
    def _ops_index(self) -> dict[tuple, dict]:
        return {_typed_key(OPS, row): row for row in self.ops.to_dict("records")}

    @cached_property
    def _memory_index(self) -> dict[tuple, dict]:
        return {_typed_key(MEMORY, row): row for row in self.memory.to_dict("records")}

    @cached_property
    def nodes(self) -> tuple[str, ...]:
        """The process nodes that the ops table has rows for, sorted."""
        return tuple(sorted(set(self.ops["node"])))

    def check_node(self, node: object) -> str:
        """Return ``node`` if the ops table knows it, else raise ``ValueError``/``TypeError`` naming it."""
        return check_choice(node, "node", self.nodes)

    def op(self, node: str, op: str, dtype: str) -> Entry:
        """The energy of one ``op`` (``"add"``/``"mul"``) on ``dtype`` operands at ``node``."""
        node = self.check_node(node)
        row = self._ops_index.get((node, op, dtype))
        if row is None:
            raise ValueError(f"node/op/dtype: the ops table has no row for node={node} op={op} dtype={dtype}")
        return Entry(
            float(row["energy_pJ"]),
            (row_id(OPS, (node, op, dtype)),),
            (row["source"],),
            (row["origin"],),
        )

    def op_bits(self, node: str, op: str, dtype: str) -> int:
        """The operand width of the ops row ``(node, op, dtype)``."""
        self.op(node, op, dtype)
        return int(self._ops_index[(node, op, dtype)]["bits"])

    def tiers(self, node: str, kind: str | None = None) -> tuple[str, ...]:
        """The memory tiers of ``node`` (optionally only ``"sram"`` or ``"dram"``), in table order."""
        node = self.check_node(node)
        if kind is not None:
            check_choice(kind, "kind", ("sram", "dram"))
        return tuple(
            tier
            for (row_node, tier), row in self._memory_index.items()
            if row_node == node and kind in (None, row["kind"])
        )

    def memory_access(self, node: str, tier: str, estimate: str = "low") -> Entry:
        """The energy of one access to ``tier`` at ``node``; :meth:`access_bits` gives its width.

        ``estimate`` picks the low (``energy_pJ``) or high (``energy_pJ_max``) end of the published range.
        """
        node = self.check_node(node)
        estimate = check_choice(estimate, "memory_estimate", MEMORY_ESTIMATES)
        tier = check_choice(check_str(tier, "tier"), "tier", self.tiers(node))
        row = self._memory_index[(node, tier)]
        column = "energy_pJ" if estimate == "low" else "energy_pJ_max"
        return Entry(
            float(row[column]),
            (row_id(MEMORY, (node, tier)),),
            (row["source"],),
            (row["origin"],),
            "" if estimate == "low" else "high end of the published range",
        )

    def access_bits(self, node: str, tier: str) -> int:
        """The width in bits of one access to ``tier`` at ``node``."""
        self.memory_access(node, tier)
        return int(self._memory_index[(node, tier)]["access_bits"])

    def cheapest_tier(self, node: str, kind: str) -> str:
        """The ``kind`` tier of ``node`` with the lowest energy per bit (the default DRAM tier)."""
        tiers = self.tiers(node, kind)
        if not tiers:
            raise ValueError(f"node: the memory table has no {kind} tier for node {node}")
        return min(tiers, key=lambda t: self.memory_access(node, t).value_pJ / self.access_bits(node, t))

    def largest_sram(self, node: str) -> str:
        """The SRAM tier of ``node`` with the highest energy per bit (the largest; activations' default)."""
        tiers = self.tiers(node, "sram")
        if not tiers:
            raise ValueError(f"node: the memory table has no sram tier for node {node}")
        return max(tiers, key=lambda t: self.memory_access(node, t).value_pJ / self.access_bits(node, t))

    @cached_property
    def _descriptions(self) -> dict[str, dict[str, str]]:
        described: dict[str, dict[str, str]] = {}
        for row in self.ops.to_dict("records"):
            value = f"{row['energy_pJ']:g} pJ per {row['bits']}-bit {row['op']}"
            described[row_id(OPS, _typed_key(OPS, row))] = {"value": value, **_provenance(row)}
        for row in self.memory.to_dict("records"):
            low, high = row["energy_pJ"], row["energy_pJ_max"]
            span = f"{low:g} pJ" if low == high else f"{low:g}-{high:g} pJ"
            value = f"{span} per {row['access_bits']}-bit access"
            described[row_id(MEMORY, _typed_key(MEMORY, row))] = {"value": value, **_provenance(row)}
        for row in self.models.to_dict("records"):
            value = (
                f"hidden {row['hidden']}, intermediate {row['intermediate']} ({row['ffn']}), "
                f"layers {row['layers']}, heads {row['heads']}/{row['kv_heads']} kv, vocab {row['vocab']}"
            )
            described[row_id(MODELS, _typed_key(MODELS, row))] = {"value": value, **_provenance(row)}
        for row in self.table1.to_dict("records"):
            value = f"MUL {row['mul_J']:g} J, ADD {row['add_J']:g} J ({row['tokens']} tokens, {row['node']})"
            described[row_id(TABLE1, _typed_key(TABLE1, row))] = {"value": value, **_provenance(row)}
        return described

    def describe_rows(self, rows: Iterable[str]) -> pd.DataFrame:
        """Value, source and file of each row id (e.g. ``"ops:7nm/add/int8"``), one line per id.

        Raises ``ValueError`` naming ``rows`` for an id that is not in the tables.
        """
        lines = []
        for row in rows:
            if row not in self._descriptions:
                raise ValueError(f"rows: no table row {row!r}")
            lines.append({"row": row, **self._descriptions[row]})
        return pd.DataFrame(lines, columns=["row", "value", "source", "origin"])

    def with_overrides(
        self,
        ops: TableSource | None = None,
        memory: TableSource | None = None,
        models: TableSource | None = None,
    ) -> EnergyTables:
        """A copy with user rows applied (see :func:`overlay`)."""
        return EnergyTables(
            overlay(self.ops, ops, OPS, argument="ops") if ops is not None else self.ops,
            overlay(self.memory, memory, MEMORY, argument="memory") if memory is not None else self.memory,
            overlay(self.models, models, MODELS, argument="models") if models is not None else self.models,
            self.table1,
        )


def _packaged(schema: Schema) -> pd.DataFrame:
    resource = resources.files("energy").joinpath("data", schema.file)
    with resources.as_file(resource) as path:
        frame = read_table(path, schema, argument=f"{schema.name} (packaged {schema.file})")
    frame["origin"] = f"{DATA_ORIGIN}/{schema.file}"
    return frame


@cache
def default_tables() -> EnergyTables:
    """The tables shipped in ``energy/data/`` (loaded once)."""
    return EnergyTables(_packaged(OPS), _packaged(MEMORY), _packaged(MODELS), _packaged(TABLE1))


def load_tables(
    ops: TableSource | None = None,
    memory: TableSource | None = None,
    models: TableSource | None = None,
) -> EnergyTables:
    """The shipped tables with optional user files applied.

    Parameters
    ----------
    ops, memory, models : path, DataFrame or list of them, optional
        User rows (CSV or TOML) that override or extend the shipped ``ops``, ``memory`` and ``models``
        tables; see the module docstring for the format.

    Returns
    -------
    EnergyTables

    Raises
    ------
    ValueError
        For a malformed or missing file; the message names the argument (``ops``, ``memory``, ``models``).
    """
    return default_tables().with_overrides(ops=ops, memory=memory, models=models)


def resolve_tables(tables: EnergyTables | None) -> EnergyTables:
    """``tables`` itself, or the shipped tables for ``None``; ``TypeError`` for anything else."""
    if tables is None:
        return default_tables()
    if not isinstance(tables, EnergyTables):
        raise TypeError(f"tables must be an EnergyTables or None, not {type(tables).__name__}")
    return tables
