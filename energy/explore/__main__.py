"""``python -m energy.explore``: run a design-space sweep on Dask, or redraw the fronts of a finished one.

    python -m energy.explore SPEC.toml                       # a LocalCluster, one worker per core
    python -m energy.explore SPEC.toml --scheduler tcp://HOST:8786
    python -m energy.explore --array ternary int8 --lanes 4 8 --rows 2 --beats 64   # a quick grid
    python -m energy.explore --report build/explore/small/results.csv

The space comes from SPEC (:mod:`energy.explore.spec`) or from the array options (each takes one or more
values, their cross product is the grid); the ``[sweep]`` settings from SPEC, each overridden by its option.
The table defaults to ``build/explore/<SPEC name or grid>/results.csv``; running the same command again
resumes it. At the end the fronts are written beside the table (``front.csv``, ``front.png``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from energy.architecture import resolve_model
from energy.explore.pareto import DEFAULT_TOKEN_MODEL, write_report
from energy.explore.spec import ARRAY_FIELDS, SweepSettings, SweepSpec, load_spec
from energy.explore.sweep import connect, dashboard, run_sweep
from hw.generate import option_name, option_type
from hw.params import ArrayParams
from model.cli import OneLineErrorParser, fail, positive_int

PROG = "python -m energy.explore"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "build" / "explore"
#: The specifications shipped with the package.
SPECS = Path(__file__).resolve().parent / "specs"
#: Exit status of a sweep stopped by Ctrl-C (the table keeps every completed point).
INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=PROG, description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("spec", nargs="?", type=Path, help="the sweep specification (TOML)")
    parser.add_argument("--report", type=Path, metavar="TABLE", help="redraw the fronts of a results table")
    parser.add_argument(
        "--table", type=Path, help="the results table (default: build/explore/NAME/results.csv)"
    )
    parser.add_argument("--out", type=Path, help="folder of the fronts (default: the table's)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, tcp://HOST:PORT")
    parser.add_argument("--workers", type=positive_int, help="LocalCluster workers (default: one per core)")
    parser.add_argument("--retry-failed", action="store_true", help="rerun failed and timed-out points")
    parser.add_argument("--token-model", default=DEFAULT_TOKEN_MODEL, help="model of the energy per token")
    grid = parser.add_argument_group("quick grid (instead of SPEC's spaces): one or more values each")
    for field in dataclasses.fields(ArrayParams):
        meta = field.metadata
        grid.add_argument(
            option_name(field), nargs="+", type=option_type(meta["parse"]), choices=meta["choices"]
        )
    settings = parser.add_argument_group("sweep settings (override SPEC's [sweep])")
    for field in dataclasses.fields(SweepSettings):
        settings.add_argument(
            option_name(field), type=option_type(field.metadata["parse"]), help=field.metadata["help"]
        )
    return parser


def _spec(args: argparse.Namespace) -> tuple[SweepSpec, str]:
    """The specification the options name, and the sweep's name (for the default table)."""
    grid = {name: tuple(getattr(args, name)) for name in ARRAY_FIELDS if getattr(args, name) is not None}
    if args.spec is not None and grid:
        raise ValueError("give the space in SPEC or as array options, not both")
    if args.spec is None and not grid:
        raise ValueError("nothing to sweep: give SPEC, array options (--array, --lanes, ...) or --report")
    spec = load_spec(args.spec) if args.spec is not None else SweepSpec(SweepSettings(), (grid,))
    changes = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(SweepSettings)
        if getattr(args, field.name) is not None
    }
    settings = dataclasses.replace(spec.settings, **changes) if changes else spec.settings
    return SweepSpec(settings, spec.spaces), (args.spec.stem if args.spec is not None else "grid")


def _sweep(args: argparse.Namespace) -> int:
    spec, name = _spec(args)
    spec.expand()  # a malformed space fails here, before any cluster starts
    table = args.table or DEFAULT_OUT / name / "results.csv"
    client = connect(args.scheduler, args.workers)
    try:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        address = dashboard(client)
        where = address or "none (no bokeh)"
        print(f"Dask: {workers} workers at {client.scheduler.address}; dashboard: {where}")
        summary = run_sweep(spec, table, client, retry_failed=args.retry_failed)
    finally:
        client.close()
        if args.scheduler is None:
            client.cluster.close()
    for point in summary.invalid:
        print(f"invalid point skipped: {point.values}: {point.reason}")
    print(summary.describe())
    print(f"table: {table}")
    return _report(table, args.out, args.token_model, quiet_if_empty=True)


def _report(table: Path, out: Path | None, model: str, quiet_if_empty: bool = False) -> int:
    try:
        written = write_report(table, out, model)
    except ValueError as error:
        if quiet_if_empty and "no measured point" in str(error):
            print(str(error))
            return 1
        raise
    marked = written["front"]
    on_front = int(marked["on_front"].sum())
    print(f"front: {on_front} of {len(marked)} measured points -> {written['csv']}, {written['png']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        resolve_model(args.token_model)  # an unknown model fails now, not after the sweep
        if args.report is not None:
            if args.spec is not None:
                raise ValueError("--report redraws a finished table: give no SPEC with it")
            return _report(args.report, args.out, args.token_model)
        return _sweep(args)
    except (ValueError, OSError) as error:  # bad input, or a table or folder that cannot be written
        fail(PROG, str(error))
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; every completed point is in the table: run again to resume",
            file=sys.stderr,
        )
        return INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
