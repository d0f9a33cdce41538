"""A sweep specification: a TOML file (or a few command-line lists) expanded into design points.

A specification has one ``[sweep]`` table of settings shared by every point (:class:`SweepSettings`) and
one or more ``[[space]]`` tables (a single ``[space]`` works too). Each space maps :class:`hw.params.
ArrayParams` fields to a list of values, a single value, or a range; the points are the union of the
spaces' cross products, in order, each distinct array once. A field a space does not name takes the
field's default. Ranges are tables, both ends included::

    lanes = {start = 4, stop = 64, factor = 2}   # 4, 8, 16, 32, 64
    max_k = {start = 256, stop = 1024, step = 256}

Example (``energy/explore/specs/small.toml`` is a complete one)::

    [sweep]
    seed = 1
    beats = 64

    [[space]]
    array = "ternary"
    lanes = [4, 8]
    tree = ["signed", "csa"]
    pipeline = [0, "full"]

    [[space]]
    array = ["int8", "fp16"]
    lanes = 4

A combination :class:`ArrayParams` refuses (a tree an array does not implement, a pipeline deeper than
the tree, a group size for an array that has none) is an *invalid point*: :func:`expand` returns it with
the reason, and the sweep reports and skips it. Anything else wrong (an unknown table or key, a value of
the wrong type, an empty list, a bad range) is a malformed specification: ``ValueError`` naming it.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from energy.gates.engines import MEASURED_ROWS_CAP
from energy.gates.measure import DEFAULT_BEATS
from energy.gates.model_operands import DEFAULT_PROJECTION
from energy.gates.realistic import check_zero
from hw.params import ArrayParams
from model.cli import option_field
from model.operands import PROJECTION_TYPES

#: The operand sources of a sweep: Gaussian data through the model's quantizers, or the bundled trained
#: model's operands of one projection type (:mod:`energy.gates.model_operands`).
OPERAND_SOURCES = ("gaussian", "model")
#: ``measured_rows`` values besides an integer cap: each array kind's cap of the engines study
#: (:data:`energy.gates.engines.MEASURED_ROWS_CAP`), or every row.
ROW_POLICIES = ("capped", "all")
#: Seconds a point may take unless the specification says otherwise.
DEFAULT_TIMEOUT_S = 3600.0
ARRAY_FIELDS = tuple(field.name for field in dataclasses.fields(ArrayParams))


def parse_measured_rows(text: str) -> str | int:
    """``"capped"``, ``"all"`` or a positive integer: the text of a ``--measured-rows`` option."""
    if text in ROW_POLICIES:
        return text
    try:
        value = int(text)
    except ValueError:
        policies = " or ".join(ROW_POLICIES)
        raise ValueError(f"expected {policies} or a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"expected a positive integer, got {value}")
    return value


@dataclass(frozen=True)
class SweepSettings:
    """What every point of a sweep shares besides its array parameters.

    Parameters
    ----------
    seed : int
        Seed of the operands (the same data for every point of a given shape).
    beats : int
        Input beats in each measured window.
    operands : {"gaussian", "model"}
        :data:`OPERAND_SOURCES`; ``"model"`` reads the bundled checkpoint and its full-precision twin
        (:class:`energy.gates.model_operands.ModelSource`).
    projection : str
        The projection type whose operands a ``"model"`` sweep uses.
    zero : str
        ``"gaussian"`` or a weight zero fraction in [0, 1) (Gaussian operands only).
    measured_rows : "capped", "all" or int
        Rows synthesized and simulated; results are scaled to the point's rows (see
        :mod:`energy.gates.study`). ``"capped"``: :data:`energy.gates.engines.MEASURED_ROWS_CAP`; an
        integer caps every array but the LUT engine, whose shared tables make its energy depend on the rows.
    timeout_s : float
        Seconds a point may run; a point that takes longer is stopped and recorded as ``timeout``.
    """

    seed: int = option_field(1, "seed of the operands")
    beats: int = option_field(DEFAULT_BEATS, "input beats in each measured window")
    operands: str = option_field("gaussian", f"operand source: {', '.join(OPERAND_SOURCES)}", str)
    projection: str = option_field(DEFAULT_PROJECTION, "projection type of --operands model", str)
    zero: str = option_field("gaussian", "'gaussian' or a weight zero fraction in [0, 1)", str)
    measured_rows: str | int = option_field(
        "capped", "rows measured: capped, all or a cap", parse_measured_rows
    )
    timeout_s: float = option_field(DEFAULT_TIMEOUT_S, "seconds a point may run", float)

    def __post_init__(self) -> None:
        for name in ("seed", "beats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise ValueError(
                    f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} "
                    f"integer, got {value!r}"
                )
        for name, choices in (("operands", OPERAND_SOURCES), ("projection", PROJECTION_TYPES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        check_zero(self.zero)
        if self.operands == "model" and self.zero != "gaussian":
            raise ValueError(f"zero={self.zero!r} applies to Gaussian operands, not to a model's")
        rows = self.measured_rows
        if isinstance(rows, bool) or not (rows in ROW_POLICIES or (isinstance(rows, int) and rows >= 1)):
            raise ValueError(
                f"measured_rows must be {' or '.join(ROW_POLICIES)} or a positive integer, got {rows!r}"
            )
        timeout = self.timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout!r}")
        object.__setattr__(self, "timeout_s", float(timeout))

    def rows_measured(self, params: ArrayParams) -> int:
        """The rows of ``params`` that are synthesized and simulated."""
        if params.array == "ternary-lut" or self.measured_rows == "all":
            return params.rows
        cap = MEASURED_ROWS_CAP[params.array] if self.measured_rows == "capped" else self.measured_rows
        return params.rows if cap is None else min(params.rows, cap)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class InvalidPoint:
    """A combination of values that :class:`ArrayParams` refuses, and why."""

    values: dict
    reason: str


@dataclass(frozen=True)
class SweepSpec:
    """A parsed specification: the settings and the spaces (each a mapping of field to value list)."""

    settings: SweepSettings
    spaces: tuple[dict[str, tuple], ...]

    def expand(self) -> tuple[list[ArrayParams], list[InvalidPoint]]:
        """See :func:`expand`."""
        return expand(self.spaces)


def expand(spaces: tuple[dict[str, tuple], ...]) -> tuple[list[ArrayParams], list[InvalidPoint]]:
    """The distinct valid arrays of the spaces' cross products, in order, and the invalid combinations
    (``ValueError`` for a value of the wrong type)."""
    points: dict[ArrayParams, None] = {}
    invalid: list[InvalidPoint] = []
    for space in spaces:
        names = list(space)
        for combination in itertools.product(*(space[name] for name in names)):
            values = dict(zip(names, combination, strict=True))
            try:
                points.setdefault(ArrayParams(**values))
            except TypeError as error:  # a value of the wrong type: the specification is malformed
                raise ValueError(f"space: {error}") from None
            except ValueError as error:  # a combination the generator refuses: an invalid point
                invalid.append(InvalidPoint(values, str(error)))
    return list(points), invalid


def _values(name: str, raw: object) -> tuple:
    """A space entry as a tuple of values: a list, one value, or a range table."""
    if isinstance(raw, Mapping):
        return _range(name, raw)
    values = tuple(raw) if isinstance(raw, list) else (raw,)
    if not values:
        raise ValueError(f"space: {name} must list at least one value")
    for value in values:
        if isinstance(value, list | Mapping):
            raise ValueError(f"space: {name} must hold plain values, got {value!r}")
    return values


def _range(name: str, raw: Mapping) -> tuple[int, ...]:
    keys = set(raw)
    if keys not in ({"start", "stop", "step"}, {"start", "stop", "factor"}):
        raise ValueError(
            f"space: the range of {name} needs start, stop and step or factor, got {sorted(keys)}"
        )
    if any(isinstance(v, bool) or not isinstance(v, int) for v in raw.values()):
        raise ValueError(f"space: the range of {name} must be integers, got {dict(raw)}")
    start, stop = raw["start"], raw["stop"]
    if start > stop:
        raise ValueError(f"space: the range of {name} is empty (start {start} > stop {stop})")
    if "step" in raw:
        if raw["step"] < 1:
            raise ValueError(f"space: the step of {name} must be >= 1, got {raw['step']}")
        return tuple(range(start, stop + 1, raw["step"]))
    if raw["factor"] < 2 or start < 1:
        raise ValueError(f"space: the range of {name} needs factor >= 2 and start >= 1, got {dict(raw)}")
    values = [start]
    while values[-1] * raw["factor"] <= stop:
        values.append(values[-1] * raw["factor"])
    return tuple(values)


def _space(raw: object) -> dict[str, tuple]:
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"space must be a table of array parameters, got {raw!r}")
    unknown = sorted(set(raw) - set(ARRAY_FIELDS))
    if unknown:
        raise ValueError(f"space: unknown parameter {unknown[0]!r} (known: {', '.join(ARRAY_FIELDS)})")
    return {name: _values(name, value) for name, value in raw.items()}


def parse_spec(document: Mapping) -> SweepSpec:
    """A :class:`SweepSpec` from a parsed TOML document; ``ValueError`` naming what is malformed."""
    unknown = sorted(set(document) - {"sweep", "space"})
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r} (a specification has [sweep] and [[space]])")
    sweep = document.get("sweep", {})
    if not isinstance(sweep, Mapping):
        raise ValueError(f"sweep must be a table, got {sweep!r}")
    known = {field.name for field in dataclasses.fields(SweepSettings)}
    bad = sorted(set(sweep) - known)
    if bad:
        raise ValueError(f"sweep: unknown setting {bad[0]!r} (known: {', '.join(sorted(known))})")
    try:
        settings = SweepSettings(**sweep)
    except TypeError as error:
        raise ValueError(f"sweep: {error}") from None
    raw_spaces = document.get("space")
    if raw_spaces is None:
        raise ValueError("no [[space]] table: the specification names no design points")
    spaces = tuple(_space(space) for space in (raw_spaces if isinstance(raw_spaces, list) else [raw_spaces]))
    expand(spaces)  # a value of the wrong type is a malformed specification: say so now
    return SweepSpec(settings, spaces)


def load_spec(path: str | Path) -> SweepSpec:
    """Read and parse the TOML specification at ``path``; ``ValueError`` with the file's name on any fault."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"spec {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"spec {path}: cannot read it ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"spec {path}: not valid TOML ({error})") from None
    try:
        return parse_spec(document)
    except ValueError as error:
        raise ValueError(f"spec {path}: {error}") from None
