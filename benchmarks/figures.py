"""The README's figures, drawn from the benchmarks' results into ``docs/figures/``.

    python benchmarks/figures.py [--gate-level FILE] [--out DIR]

``gate_level_energy.png``
    The measured energy per MAC of the ternary, int8 and FP16 arrays (ASAP7, N = 16 and 64, M = 8) beside
    the paper table's INT8 add and FP16 MAC, and the measured FP16/ternary and int8/ternary ratios beside
    the table's 71.4x. Read from ``benchmarks/results/gate_level.csv``, which ``python
    benchmarks/gate_level.py`` writes (the measured arrays of :func:`energy.gates.study.compare_arrays`).
``system_waterfall.png``
    Where the 71.4x goes for LLaMA-2 7B at 7nm, one decode step (batch 1, context 512) and a 512-token
    prefill: :func:`energy.system.waterfall` with the default :class:`energy.system.SystemConfig`, computed
    from the data tables (no measurement); the figure ``python -m energy.report`` writes as
    ``waterfall_llama2-7B.png``.

The PNGs are deterministic (:func:`energy.plots.save_figure`: no paths, no timestamps) and appear whole or
not at all: every figure is drawn before any is written, each written to a temporary file then renamed. Bad
input ends with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from energy.architecture import resolve_model
from energy.arithmetic import FIGURE3_TOKENS
from energy.gates.study import ARRAY_ORDER, PAPER_NODE, headline
from energy.plots import measured_energy_figure, phase_waterfall_figure, save_figure
from energy.system import SystemConfig, waterfall
from model.cli import OneLineErrorParser, fail

PROG = "python benchmarks/figures.py"
ROOT = Path(__file__).resolve().parent.parent
GATE_LEVEL_CSV = ROOT / "benchmarks" / "results" / "gate_level.csv"
FIGURES = ROOT / "docs" / "figures"
#: The model of the README's waterfall.
WATERFALL_MODEL = "7B"
#: The columns the gate-level figure needs (the benchmark's CSV has more), and which of them are numbers.
GATE_LEVEL_COLUMNS = ("array", "lanes", "rows", "energy_per_mac_pJ", "area_per_lane_um2")
GATE_LEVEL_NUMBERS = GATE_LEVEL_COLUMNS[1:]


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(
            f"gate-level results {path}: no such file (python benchmarks/gate_level.py writes it)"
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"gate-level results {path}: not a CSV table ({reason})") from None


def read_gate_level(path: str | Path) -> pd.DataFrame:
    """The measured arrays of ``benchmarks/gate_level.py`` from ``path``, checked.

    Parameters
    ----------
    path : str or Path
        A CSV file with (at least) the columns of :data:`GATE_LEVEL_COLUMNS`: positive numbers, the arrays
        of :data:`energy.gates.study.ARRAY_ORDER` at every ``lanes``.

    Raises
    ------
    ValueError
        Naming the file, when it is missing, not a CSV table, or lacks a column, a number or an array.
    """
    if not isinstance(path, str | Path):
        raise TypeError(f"path must be a str or Path, not {type(path).__name__}")
    path = Path(path)
    frame = _read_csv(path)
    missing = [column for column in GATE_LEVEL_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"gate-level results {path}: missing the columns {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"gate-level results {path}: no rows")
    numbers = frame[list(GATE_LEVEL_NUMBERS)].apply(pd.to_numeric, errors="coerce")
    bad = [column for column in GATE_LEVEL_NUMBERS if not (numbers[column] > 0).all()]
    if bad:
        raise ValueError(f"gate-level results {path}: column {bad[0]} must hold positive numbers")
    frame = frame.assign(**{column: numbers[column] for column in GATE_LEVEL_NUMBERS})
    for lanes, group in frame.groupby("lanes", sort=True):
        if sorted(group["array"].astype(str)) != sorted(ARRAY_ORDER):
            raise ValueError(
                f"gate-level results {path}: lanes {lanes:g} must have one row per array {ARRAY_ORDER}, "
                f"got {sorted(group['array'].astype(str))}"
            )
    return frame


def gate_level_figure(frame: pd.DataFrame) -> Figure:
    """The measured arrays' energy per MAC beside the paper's table (:func:`energy.gates.study.headline`)."""
    return measured_energy_figure(headline(frame))


def system_waterfall_figure(
    model: str = WATERFALL_MODEL, tokens: int = FIGURE3_TOKENS, node: str = PAPER_NODE
) -> Figure:
    """The decode and prefill waterfalls of ``model`` with the default system assumptions."""
    config = resolve_model(model)
    system = SystemConfig(node=node)
    decode = waterfall(config, tokens, "decode", system)
    prefill = waterfall(config, tokens, "prefill", system)
    return phase_waterfall_figure(decode, prefill, config.name, node, tokens)


def draw_figures(gate_level: str | Path = GATE_LEVEL_CSV) -> dict[str, Figure]:
    """Every README figure by file stem, from the gate-level results file ``gate_level``."""
    return {
        "gate_level_energy": gate_level_figure(read_gate_level(gate_level)),
        "system_waterfall": system_waterfall_figure(),
    }


def write_figures(figures: dict[str, Figure], out: Path) -> list[Path]:
    """Write ``figures`` as ``out/<stem>.png`` (each through a temporary file); return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name, figure in figures.items():
            partial = out / f".{name}.png.partial"
            save_figure(figure, partial)
            staged.append((partial, out / f"{name}.png"))
    except BaseException:
        for partial, _ in staged:
            partial.unlink(missing_ok=True)
        raise
    for partial, path in staged:
        os.replace(partial, path)
    return [path for _, path in staged]


def make_figures(gate_level: str | Path = GATE_LEVEL_CSV, out: str | Path = FIGURES) -> list[Path]:
    """Draw every README figure from the results, then write them to ``out``; return the written paths."""
    if not isinstance(out, str | Path):
        raise TypeError(f"out must be a str or Path, not {type(out).__name__}")
    return write_figures(draw_figures(gate_level), Path(out))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gate-level",
        type=Path,
        default=GATE_LEVEL_CSV,
        help="measured arrays CSV (default benchmarks/results/gate_level.csv)",
    )
    parser.add_argument("--out", type=Path, default=FIGURES, help="output folder (default docs/figures)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        written = make_figures(args.gate_level, args.out)
    except (ValueError, TypeError) as error:
        fail(PROG, str(error))
    except OSError as error:
        fail(PROG, f"cannot write to {args.out}: {error.strerror or error}")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
