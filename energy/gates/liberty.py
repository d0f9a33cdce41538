"""Reading the ASAP7 standard-cell library (NLDM liberty) and writing a trimmed copy for synthesis.

The cells are read from the ``pdk`` argument, else the ``BITNET_ASAP7_DIR`` environment variable (a full
ASAP7 folder holding ``lib/*.lib.gz``), else the package's bundled subset: the trimmed RVT TT liberty of the
cells the flow maps to (:mod:`energy.gates.bundled`, BSD-3 like ASAP7, its license beside it), so that an
installed package runs the flow with no PDK on the machine. Derived files go to an ignored cache folder.

Each liberty file is read and cut into cells once per process (:func:`read_library` keeps the last
:data:`CACHED_FILES` files, keyed by path, size and modification time, and the parsed cells with them).

Only the cells a flow asks for are parsed (the five RVT/TT files hold 202 cells in about 50 MB of text):
the text is cut at each ``cell (...)`` group and the chosen groups go through a small liberty parser.
Units are those of the files: time in ps, capacitance in fF, area in um^2, leakage in pW, internal energy
per transition in fJ (the library's ``internal_power`` tables at 0.7 V).
"""

from __future__ import annotations

import gzip
import os
import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

ENV_VARIABLE = "BITNET_ASAP7_DIR"
#: The trimmed liberty shipped in the package (written by ``python -m energy.gates.bundled``).
BUNDLED_LIBERTY = Path(__file__).resolve().parent / "data" / "asap7_trimmed_rvt_tt.lib.gz"
#: Liberty files kept parsed in a process.
CACHED_FILES = 8
WHERE_TO_GET = (
    "ASAP7 standard cells are public (BSD-3): clone The-OpenROAD-Project/asap7sc7p5t_28 and point "
    f"--pdk or ${ENV_VARIABLE} at a folder with its lib/*.lib.gz (RVT, TT) and verilog/*.v.gz"
)


class PdkError(ValueError):
    """The PDK folder is missing or incomplete."""


def pdk_dir(pdk: str | Path | None = None) -> Path | None:
    """The full ASAP7 folder chosen: ``pdk``, else ``$BITNET_ASAP7_DIR``; None: the bundled subset."""
    chosen = pdk or os.environ.get(ENV_VARIABLE)
    if not chosen:
        return None
    if not sorted(Path(chosen).glob("lib/*.lib*")):
        raise PdkError(f"no ASAP7 liberty files in {chosen}/lib; {WHERE_TO_GET}")
    return Path(chosen)


def liberty_files(pdk: str | Path | None = None) -> list[Path]:
    """The liberty files of the chosen PDK folder, sorted, or the bundled subset (see the module doc)."""
    folder = pdk_dir(pdk)
    if folder is None:
        return [BUNDLED_LIBERTY]
    return sorted(folder.glob("lib/*.lib*"))


def _source_name(pdk: str | Path | None) -> str:
    folder = pdk_dir(pdk)
    return "the bundled ASAP7 subset" if folder is None else str(folder)


def _read_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as file:
        return file.read()


# --- a small liberty parser ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<skip>[ \t\r]+|\\\r?\n|/\*.*?\*/)|(?P<newline>\n)|(?P<string>"(?:[^"\\]|\\.)*")
    |(?P<punct>[(){}:;,])
    |(?P<word>[^\s(){}:;,"]+)""",
    re.X | re.S,
)


@dataclass
class Group:
    """A liberty group ``kind (args) { ... }``: simple attributes, complex attributes and sub-groups."""

    kind: str
    args: list[str]
    attributes: dict[str, str] = field(default_factory=dict)
    complex: dict[str, list[str]] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)

    def all(self, kind: str) -> list[Group]:
        return [g for g in self.groups if g.kind == kind]


_NEWLINE = "\n"


def _tokens(text: str) -> list[str]:
    """Tokens, with a newline marker kept only where it ends a simple attribute (``;`` is optional there)."""
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "skip":
            continue
        if kind == "newline":
            if out and out[-1] not in (_NEWLINE, ";", "{", "}"):
                out.append(_NEWLINE)
            continue
        value = match.group(kind)
        out.append(value[1:-1] if kind == "string" else value)
    return out


def parse_group(text: str) -> Group:
    """Parse one liberty group (e.g. a ``cell (...) { ... }`` block) into a :class:`Group`."""
    tokens = _tokens(text)
    position = 0

    def skip_newlines() -> None:
        nonlocal position
        while tokens[position] == _NEWLINE:
            position += 1

    def arguments() -> list[str]:
        nonlocal position
        assert tokens[position] == "("
        position += 1
        values = []
        while tokens[position] != ")":
            if tokens[position] not in (",", _NEWLINE):
                values.append(tokens[position])
            position += 1
        position += 1
        return values

    def group(kind: str, args: list[str]) -> Group:
        nonlocal position
        node = Group(kind, args)
        skip_newlines()
        assert tokens[position] == "{", f"expected '{{' after {kind}"
        position += 1
        skip_newlines()
        while tokens[position] != "}":
            name = tokens[position]
            position += 1
            if tokens[position] == ":":
                position += 1
                value = tokens[position]
                position += 1
                while tokens[position] not in (";", _NEWLINE, "}"):  # a value split by spaces
                    value += " " + tokens[position]
                    position += 1
                if tokens[position] != "}":
                    position += 1
                node.attributes[name] = value
            elif tokens[position] == "(":
                values = arguments()
                skip_newlines()
                if position < len(tokens) and tokens[position] == "{":
                    node.groups.append(group(name, values))
                else:
                    if tokens[position] == ";":
                        position += 1
                    node.complex[name] = values
            else:
                raise ValueError(f"liberty: unexpected token {tokens[position]!r} after {name!r}")
            skip_newlines()
        position += 1
        return node

    skip_newlines()
    kind = tokens[position]
    position += 1
    return group(kind, arguments())


# --- cells -------------------------------------------------------------------------------------------------

_CELL_START = re.compile(r"^\s*cell\s*\(\s*\"?([A-Za-z0-9_]+)\"?\s*\)", re.M)


def split_library(text: str) -> tuple[str, dict[str, str]]:
    """Cut a liberty file into its header (everything before the first cell) and each cell's text."""
    starts = [(m.start(), m.group(1)) for m in _CELL_START.finditer(text)]
    if not starts:
        return text, {}
    end = text.rindex("}")  # the library group's closing brace
    cells = {}
    for (start, name), following in zip(starts, [s for s, _ in starts[1:]] + [end], strict=True):
        cells[name] = text[start:following].rstrip()
    return text[: starts[0][0]], cells


@dataclass(frozen=True)
class Table:
    """An NLDM table ``values[i, j]`` over ``index_1`` (input transition, ps) x ``index_2`` (load, fF)."""

    index_1: tuple[float, ...]
    index_2: tuple[float, ...]
    values: np.ndarray

    def at(self, transition: float, load: float) -> float:
        """Bilinear interpolation (linear extrapolation beyond the grid), as timing and power tools do."""
        return _interpolate2(self.index_1, self.index_2, self.values, transition, load)


def _interpolate1(index: tuple[float, ...], x: float) -> tuple[int, float]:
    if len(index) == 1:
        return 0, 0.0
    i = min(max(bisect_left(index, x) - 1, 0), len(index) - 2)
    return i, (x - index[i]) / (index[i + 1] - index[i])


def _interpolate2(index_1, index_2, values, x: float, y: float) -> float:
    rows = _rows(values)
    i, fx = _interpolate1(index_1, x)
    j, fy = _interpolate1(index_2, y)
    i1, j1 = min(i + 1, len(rows) - 1), min(j + 1, len(rows[0]) - 1)
    low = rows[i][j] * (1 - fy) + rows[i][j1] * fy
    high = rows[i1][j] * (1 - fy) + rows[i1][j1] * fy
    return float(low * (1 - fx) + high * fx)


_ROWS: dict[int, tuple[np.ndarray, list[list[float]]]] = {}


def _rows(values: np.ndarray) -> list[list[float]]:
    """``values`` as nested Python lists (2-D), cached per array: table lookups stay in pure Python."""
    cached = _ROWS.get(id(values))
    if cached is None or cached[0] is not values:
        cached = (values, np.atleast_2d(values).tolist())
        _ROWS[id(values)] = cached
    return cached[1]


def _table(group: Group) -> Table:
    def numbers(name: str) -> list[float]:
        raw = group.complex.get(name, [])
        return [float(v) for item in raw for v in item.replace("\\", " ").split(",") if v.strip()]

    values = [[float(v) for v in row.split(",") if v.strip()] for row in group.complex["values"]]
    index_1, index_2 = tuple(numbers("index_1")), tuple(numbers("index_2"))
    array = np.array(values, dtype=float).reshape(
        max(1, len(index_1)), max(1, len(index_2)) if index_2 else -1
    )
    return Table(index_1 or (0.0,), index_2 or (0.0,), array)


@dataclass(frozen=True)
class PowerArc:
    """Internal energy of one pin, optionally per related input pin: ``rise`` and ``fall`` tables (fJ)."""

    pin: str
    related_pin: str | None
    rise: Table | None
    fall: Table | None
    when: str | None
    pg_pin: str | None = None


@dataclass(frozen=True)
class TimingArc:
    """Delay tables (ps) from ``related_pin`` to ``pin``, the output transition tables (ps) and the arc's
    ``when`` condition (a liberty function of the cell's pins; None: unconditional)."""

    pin: str
    related_pin: str
    cell_rise: Table | None
    cell_fall: Table | None
    rise_transition: Table | None = None
    fall_transition: Table | None = None
    when: str | None = None


@dataclass(frozen=True)
class Pin:
    name: str
    direction: str
    capacitance: float
    function: str | None
    clock: bool


@dataclass(frozen=True)
class Cell:
    """What the flow needs of one standard cell."""

    name: str
    area: float
    leakage_pw: float
    pins: dict[str, Pin]
    power: tuple[PowerArc, ...]
    timing: tuple[TimingArc, ...]
    sequential: bool
    text: str
    #: For a flip-flop: ``(state, clocked_on, next_state)`` from its ``ff (state, ...)`` group.
    ff: tuple[str, str, str] | None = None

    @property
    def inputs(self) -> list[str]:
        return [p.name for p in self.pins.values() if p.direction == "input"]

    @property
    def outputs(self) -> list[str]:
        return [p.name for p in self.pins.values() if p.direction == "output"]

    @property
    def clock_pin(self) -> str | None:
        """A flip-flop's clock input (its ``ff`` group's ``clocked_on``); None for other cells."""
        return self.ff[1].strip('"').strip() if self.ff else None


def _cell(text: str) -> Cell:
    group = parse_group(text)
    pins: dict[str, Pin] = {}
    power: list[PowerArc] = []
    timing: list[TimingArc] = []
    for pin in group.all("pin"):
        name = pin.args[0]
        attrs = pin.attributes
        pins[name] = Pin(
            name,
            attrs.get("direction", "input"),
            float(attrs.get("capacitance", 0.0)),
            attrs.get("function"),
            attrs.get("clock", "false") == "true",
        )
        for arc in pin.all("internal_power"):
            rise, fall = arc.all("rise_power"), arc.all("fall_power")
            power.append(
                PowerArc(
                    name,
                    arc.attributes.get("related_pin"),
                    _table(rise[0]) if rise else None,
                    _table(fall[0]) if fall else None,
                    arc.attributes.get("when"),
                    arc.attributes.get("related_pg_pin"),
                )
            )
        for arc in pin.all("timing"):
            tables = {
                kind: _table(found[0]) if (found := arc.all(kind)) else None
                for kind in ("cell_rise", "cell_fall", "rise_transition", "fall_transition")
            }
            timing.append(
                TimingArc(
                    name, arc.attributes.get("related_pin", ""), **tables, when=arc.attributes.get("when")
                )
            )
    leakages = [
        float(g.attributes["value"])
        for g in group.all("leakage_power")
        if "when" not in g.attributes and g.attributes.get("related_pg_pin", "VDD") == "VDD"
    ]
    leakage = float(group.attributes.get("cell_leakage_power", leakages[0] if leakages else 0.0))
    ffs = group.all("ff")
    ff = None
    if ffs:
        attrs = ffs[0].attributes
        ff = (ffs[0].args[0], attrs.get("clocked_on", ""), attrs.get("next_state", ""))
    sequential = bool(ffs or group.all("latch"))
    return Cell(
        group.args[0],
        float(group.attributes["area"]),
        leakage,
        pins,
        tuple(power),
        tuple(timing),
        sequential,
        text,
        ff,
    )


@dataclass
class Library:
    """Cells read from the PDK's liberty files, and the header of the file each came from."""

    cells: dict[str, Cell]
    headers: dict[str, str]

    def cell(self, name: str) -> Cell:
        try:
            return self.cells[name]
        except KeyError:
            raise KeyError(f"cell {name!r} is not in the library read") from None


class _LibraryFile:
    """One liberty file cut into its header and cell texts, with the cells parsed on first use."""

    def __init__(self, path: Path):
        self.header, self.texts = split_library(_read_text(path))
        self._cells: dict[str, Cell] = {}

    def cell(self, name: str) -> Cell:
        if name not in self._cells:
            self._cells[name] = _cell(self.texts[name])
        return self._cells[name]


@lru_cache(maxsize=CACHED_FILES)
def _library_file(path: str, size: int, mtime_ns: int) -> _LibraryFile:
    return _LibraryFile(Path(path))


def liberty_cache_info() -> object:
    """How often this process parsed a liberty file (``misses``) and found it parsed (``hits``)."""
    return _library_file.cache_info()


def _open_library_file(path: Path) -> _LibraryFile:
    status = path.stat()
    return _library_file(str(path.resolve()), status.st_size, status.st_mtime_ns)


def read_library(names: Iterable[str] | None = None, pdk: str | Path | None = None) -> Library:
    """The named cells (all cells when ``names`` is None) of every liberty file of the PDK.

    Files and cells are parsed once per process (see the module docstring); :class:`Cell` is immutable,
    so libraries returned by several calls share them safely.
    """
    wanted = None if names is None else set(names)
    cells: dict[str, Cell] = {}
    headers: dict[str, str] = {}
    for path in liberty_files(pdk):
        library_file = _open_library_file(path)
        for name in library_file.texts:
            if wanted is None or name in wanted:
                cells[name] = library_file.cell(name)
                headers[name] = library_file.header
    if wanted is not None and wanted - set(cells):
        raise PdkError(f"cells {sorted(wanted - set(cells))} are not in {_source_name(pdk)}; {WHERE_TO_GET}")
    return Library(cells, headers)


_TEMPLATE = re.compile(r"(?:lu_table_template|power_lut_template)\s*\(\s*(\w+)\s*\)\s*\{[^}]*\}")
_TEMPLATE_USE = re.compile(
    r"(?:rise_power|fall_power|power|cell_rise|cell_fall|rise_transition|fall_transition|rise_constraint|"
    r"fall_constraint)\s*\(\s*(\w+)\s*\)"
)


def write_trimmed_liberty(library: Library, path: Path, name: str = "asap7_trimmed") -> Path:
    """One liberty file holding only ``library``'s cells.

    The header (units, operating conditions) is the first cell's file's; the table templates are the union
    of those the cells use, from the files they came from. A template defined differently in two files
    raises ``PdkError``.
    """
    templates: dict[str, str] = {}
    for cell_name, header in library.headers.items():
        defined = {m.group(1): m.group(0) for m in _TEMPLATE.finditer(header)}
        for used in sorted(set(_TEMPLATE_USE.findall(library.cells[cell_name].text)) - {"scalar"}):
            if used not in defined:
                raise PdkError(
                    f"cell {cell_name} uses the table template {used}, which its file does not define"
                )
            if templates.setdefault(used, defined[used]) != defined[used]:
                raise PdkError(f"the table template {used} is defined differently in two liberty files")
    first_header = next(iter(library.headers.values()))
    header = _TEMPLATE.sub("", first_header)
    header = re.sub(r"library\s*\(\s*[^)]*\)", f"library ({name})", header, count=1)
    parts = [header.rstrip(), *(f"  {text}" for text in templates.values())]
    parts += [cell.text for cell in library.cells.values()]
    path.write_text("\n".join(parts) + "\n}\n")
    return path
