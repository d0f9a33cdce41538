"""The settings of a cocotb run, defined once: names of the environment variables, defaults, conversions.

A cocotb test runs in the simulator's process, so :func:`sim.runner.run_array` hands it its settings
through environment variables. This module is the one place that names them, holds their defaults and
converts both ways: the runner writes :meth:`RunSettings.environment`, a testbench reads
:meth:`RunSettings.from_environment`, and :func:`write_report` / :func:`read_reports` carry measured
values back as JSON files in the run folder.

Variables a user may set in the shell (each read by the runner, not by the testbench):

``BITNET_SIM_SEED``
    Replays a failure with another seed (overrides the seed of every run).
``BITNET_SIM_MACS``
    The random multiply-accumulates of the random test (replaces every configuration's default count).
``WAVES``
    ``1`` records ``dump.vcd`` in the run folder.
``BITNET_SIM_BUILD``
    Where Verilator builds go (default ``build/sim``).
``BITNET_SIM_CFLAGS``
    The C++ optimization of the cocotb builds (default :data:`DEFAULT_BUILD_CFLAGS`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hw.params import ArrayParams

#: Default random multiply-accumulates of the random test per configuration.
DEFAULT_MACS = 1_000_000
#: The full-throughput test drives this fraction (1 / divisor) of the random test's multiply-accumulates ...
THROUGHPUT_DIVISOR = 4
#: ... and reports what it measured under this name (:func:`write_report`).
THROUGHPUT_REPORT = "throughput"
#: C++ optimization of the cocotb simulator builds unless ``BITNET_SIM_CFLAGS`` says otherwise (Verilator's
#: ``-CFLAGS``, placed after its own ``-Os``, so it wins). A testbench build is compiled once and simulated
#: for seconds, and its generated C++ (up to 35 MB for a 64 x 8 carry-save array) takes minutes at ``-Os``:
#: on three of the suite's largest arrays, build plus run took 291 s at ``-Os`` and 98 s at ``-O0``
#: (``pytest -n 2``, empty build folders). The throughput benchmarks build at ``-Os``, Verilator's default,
#: as their recorded rates were measured; the compiled harness (:mod:`sim.fastsim`) has a build of its own.
DEFAULT_BUILD_CFLAGS = "-O0"
#: Verilator's own C++ optimization (``OPT_FAST``), which the throughput benchmarks keep.
VERILATOR_CFLAGS = "-Os"
#: Default beats in the measured window of the activity bench.
DEFAULT_ACTIVITY_BEATS = 400
#: Default weight data of the activity bench: Gaussian weights through the absmean quantizer.
DEFAULT_ACTIVITY_ZERO = "gaussian"

ARRAY_VARIABLE = "BITNET_ARRAY"
SEED_VARIABLE = "BITNET_SIM_SEED"
MACS_VARIABLE = "BITNET_SIM_MACS"
LAYER_VARIABLE = "BITNET_SIM_LAYER"
REPORT_DIR_VARIABLE = "BITNET_SIM_REPORT_DIR"
WAVES_VARIABLE = "WAVES"
BUILD_VARIABLE = "BITNET_SIM_BUILD"
CFLAGS_VARIABLE = "BITNET_SIM_CFLAGS"
ACTIVITY_BEATS_VARIABLE = "BITNET_ACTIVITY_BEATS"
ACTIVITY_ZERO_VARIABLE = "BITNET_ACTIVITY_ZERO"

_FALSE_WORDS = ("", "0", "false", "no")


def seed_override(default: int, environ: Mapping[str, str] = os.environ) -> int:
    """``BITNET_SIM_SEED`` when set (to replay a failure), else ``default``."""
    return int(environ.get(SEED_VARIABLE, default))


def resolve_macs(macs: int | None, environ: Mapping[str, str] = os.environ) -> int:
    """``macs`` when given, else ``BITNET_SIM_MACS`` when set, else :data:`DEFAULT_MACS`.

    An explicit count wins (a benchmark's or a fault test's own size); callers that let the user's
    ``BITNET_SIM_MACS`` replace their own defaults pass None when :func:`macs_overridden`.
    """
    if macs is not None:
        return macs
    return int(environ.get(MACS_VARIABLE, DEFAULT_MACS))


def macs_overridden(environ: Mapping[str, str] = os.environ) -> bool:
    """True when the user set ``BITNET_SIM_MACS``."""
    return MACS_VARIABLE in environ


def waves_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """True when the ``WAVES`` environment variable asks for a waveform dump (``WAVES=1``)."""
    return environ.get(WAVES_VARIABLE, "0").strip().lower() not in _FALSE_WORDS


def build_cflags(environ: Mapping[str, str] = os.environ) -> str:
    """``BITNET_SIM_CFLAGS`` when set, else :data:`DEFAULT_BUILD_CFLAGS`."""
    return environ.get(CFLAGS_VARIABLE, DEFAULT_BUILD_CFLAGS)


def build_root_override(default: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """``$BITNET_SIM_BUILD`` when set, else ``default``."""
    return Path(environ.get(BUILD_VARIABLE, default))


@dataclass(frozen=True)
class RunSettings:
    """What a testbench needs to know about its run.

    Parameters
    ----------
    params : ArrayParams
        The array under test.
    seed : int
        The random seed of the stimulus.
    macs : int
        Random multiply-accumulates of the random test.
    layer : bool
        Whether the whole-layer test runs.
    report_dir : Path, optional
        Where the testbench writes its JSON reports (:func:`write_report`).
    """

    params: ArrayParams
    seed: int = 1
    macs: int = DEFAULT_MACS
    layer: bool = False
    report_dir: Path | None = None

    @property
    def throughput_macs(self) -> int:
        """Multiply-accumulates of the full-throughput test: ``macs // THROUGHPUT_DIVISOR``."""
        return self.macs // THROUGHPUT_DIVISOR

    def environment(self) -> dict[str, str]:
        """The settings as environment variables for the simulator process."""
        environment = {
            ARRAY_VARIABLE: json.dumps(self.params.as_dict()),
            SEED_VARIABLE: str(self.seed),
            MACS_VARIABLE: str(self.macs),
            LAYER_VARIABLE: "1" if self.layer else "0",
        }
        if self.report_dir is not None:
            environment[REPORT_DIR_VARIABLE] = str(self.report_dir)
        return environment

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> RunSettings:
        """The settings written by :meth:`environment` (inside the simulator process)."""
        report_dir = environ.get(REPORT_DIR_VARIABLE)
        return cls(
            params=ArrayParams(**json.loads(environ[ARRAY_VARIABLE])),
            seed=int(environ.get(SEED_VARIABLE, cls.seed)),
            macs=int(environ.get(MACS_VARIABLE, cls.macs)),
            layer=environ.get(LAYER_VARIABLE, "0") == "1",
            report_dir=Path(report_dir) if report_dir else None,
        )


def layer_test_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the runner asked for the whole-layer test (read when cocotb collects the tests)."""
    return environ.get(LAYER_VARIABLE) == "1"


@dataclass(frozen=True)
class ActivitySettings:
    """The activity bench's window: ``beats`` of realistic data with weight zeros ``zero``
    (``"gaussian"`` or a fraction, :mod:`energy.gates.realistic`)."""

    beats: int = DEFAULT_ACTIVITY_BEATS
    zero: str = DEFAULT_ACTIVITY_ZERO

    def environment(self) -> dict[str, str]:
        return {ACTIVITY_BEATS_VARIABLE: str(self.beats), ACTIVITY_ZERO_VARIABLE: self.zero}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ActivitySettings:
        return cls(
            beats=int(environ.get(ACTIVITY_BEATS_VARIABLE, cls.beats)),
            zero=environ.get(ACTIVITY_ZERO_VARIABLE, cls.zero),
        )


def write_report(settings: RunSettings, name: str, values: dict) -> None:
    """Write measured values as ``<name>.json`` in the run folder (nothing when there is none)."""
    if settings.report_dir is not None:
        path = settings.report_dir / f"{name}.json"
        staging = path.with_suffix(".json.tmp")
        staging.write_text(json.dumps(values))
        staging.replace(path)


def read_reports(report_dir: Path) -> dict[str, dict]:
    """Every report of a run folder, by name."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(report_dir.glob("*.json"))}


def clear_reports(report_dir: Path) -> None:
    """Remove the reports of an earlier run in the same folder."""
    for stale in report_dir.glob("*.json"):
        stale.unlink()
