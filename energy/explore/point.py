"""One design point: its identity (a key), its measurement, and its result row (:data:`COLUMNS`).

A point is an :class:`hw.params.ArrayParams` and the :class:`energy.explore.spec.SweepSettings` of its
sweep. :func:`point_key` hashes what decides its result: the parameters, the settings (not the time-out),
the flow settings, the tool versions, the PDK chosen, and the project's code (:func:`code_fingerprint`, a
hash of every file of the ``model``, ``hw``, ``sim`` and ``energy`` packages), so a result is reused only
where it would be recomputed identically.

:func:`measure_point` runs the gate-level flow (:func:`energy.gates.measure_array`: generate,
synthesize through the synthesis cache, simulate bit-exact on the sweep's operands, price) and returns
the row. ``python -m energy.explore.point`` runs it in a child process (a JSON payload on stdin, the row
as JSON on stdout), which is how :mod:`energy.explore.task` gives every point a time-out.

Row columns beyond the parameters and settings: area (scaled to the point's rows) and area per MAC lane,
cells and flip-flops, energy per MAC and its combinational / sequential / leakage split; the critical-path
estimate as mapped (``critical_path_ps``, the studies' figure) and with the nets of more than
:data:`energy.gates.timing.DEFAULT_MAX_FANOUT` pins buffered (``buffered_path_ps``: the flow inserts no
buffers, so a pipeline's enable net, fanning out to every register, would otherwise set the clock of every
pipelined array); ``clock_ghz = 1000 / buffered_path_ps``; ``throughput_gmac_s``, the peak ``N * M`` MACs
per cycle (an array takes one beat per cycle) at that clock, and ``macs_per_cycle``, what the measured
window achieved (stationary tile loads and the pipeline's drain included); the wall time of each stage;
the tool versions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import signal
import socket
import sys
import threading
import time
from functools import cache
from importlib.metadata import version
from pathlib import Path

from energy.explore.spec import ARRAY_FIELDS, SweepSettings
from energy.gates.liberty import pdk_dir
from energy.gates.measure import measure_array
from energy.gates.model_operands import ModelSource
from energy.gates.study import measurement_row
from energy.gates.synth import FlowSettings, yosys_version
from hw.params import GENERATOR_VERSION, ArrayParams

#: The packages whose files make up :func:`code_fingerprint`.
CODE_PACKAGES = ("model", "hw", "sim", "energy")
#: The files of those packages that decide results: code, tables, the bundled liberty and checkpoints.
CODE_SUFFIXES = (".py", ".csv", ".gz", ".json", ".safetensors")
#: The shipped sweep specifications (they name points; they do not decide a point's result).
SPEC_FOLDER = Path(__file__).resolve().parent / "specs"
#: The environment variable that gives a point's child process its worker's process id.
PARENT_VARIABLE = "BITNET_EXPLORE_PARENT"
#: Seconds a child outlives its time-out before it ends itself (its worker normally kills it first).
CHILD_GRACE_S = 30
#: The settings columns of a row (every :class:`SweepSettings` field but the time-out).
SETTING_COLUMNS = ("seed", "beats", "operands", "projection", "zero", "measured_rows")
#: The measured columns of a row, in order.
METRIC_COLUMNS = (
    "measured",
    "zero_fraction",
    "area_um2",
    "area_per_lane_um2",
    "cells",
    "flip_flops",
    "combinational_pJ",
    "sequential_pJ",
    "leakage_pJ",
    "energy_per_mac_pJ",
    "critical_path_ps",
    "buffered_path_ps",
    "macs_per_cycle",
    "clock_ghz",
    "throughput_gmac_s",
    "outputs_checked",
    "generation_s",
    "synthesis_s",
    "synthesis_cached",
    "simulation_s",
    "pricing_s",
    "point_s",
)
#: Columns that say where and with what a row was made.
PROVENANCE_COLUMNS = ("worker", "code", "generator", "yosys", "amaranth", "numpy", "python")
#: Every column of a result row, in order: identity, outcome, parameters, settings, metrics, provenance.
COLUMNS = ("key", "status", "reason", *ARRAY_FIELDS, *SETTING_COLUMNS, *METRIC_COLUMNS, *PROVENANCE_COLUMNS)


@cache
def code_fingerprint() -> str:
    """A hash of the code and data files (names and bytes, :data:`CODE_SUFFIXES`) of the
    :data:`CODE_PACKAGES`; the sweep specifications (:data:`SPEC_FOLDER`) are not part of it."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and path.suffix in CODE_SUFFIXES and SPEC_FOLDER not in path.parents:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _pdk_label() -> str:
    """The PDK the flow reads: ``bundled``, or the names and sizes of the chosen folder's liberty files."""
    folder = pdk_dir()
    if folder is None:
        return "bundled"
    return ";".join(f"{path.name}:{path.stat().st_size}" for path in sorted(folder.glob("lib/*.lib*")))


def point_key(params: ArrayParams, settings: SweepSettings) -> str:
    """The point's identity: a hash of everything that decides its result (see the module docstring)."""
    identity = {
        "params": params.as_dict(),
        "settings": {name: getattr(settings, name) for name in SETTING_COLUMNS},
        "measured": settings.rows_measured(params),
        "flow": dataclasses.asdict(FlowSettings()),
        "code": code_fingerprint(),
        "yosys": yosys_version(),
        "amaranth": version("amaranth"),
        "numpy": version("numpy"),
        "pdk": _pdk_label(),
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def payload(params: ArrayParams, settings: SweepSettings) -> dict:
    """What a worker needs to run a point: plain JSON (the parameters, settings, key and code hash)."""
    return {
        "key": point_key(params, settings),
        "params": params.as_dict(),
        "settings": settings.as_dict(),
        "code": code_fingerprint(),
    }


def from_payload(point: dict) -> tuple[ArrayParams, SweepSettings]:
    return ArrayParams(**point["params"]), SweepSettings(**point["settings"])


def provenance() -> dict:
    """The provenance columns of this process."""
    return {
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "code": code_fingerprint(),
        "generator": GENERATOR_VERSION,
        "yosys": yosys_version(),
        "amaranth": version("amaranth"),
        "numpy": version("numpy"),
        "python": platform.python_version(),
    }


def identity_columns(point: dict) -> dict:
    """The key, parameter and settings columns of ``point`` (a :func:`payload`)."""
    settings = point["settings"]
    return {
        "key": point["key"],
        **{name: point["params"][name] for name in ARRAY_FIELDS},
        **{name: settings[name] for name in SETTING_COLUMNS},
    }


def failed_row(point: dict, status: str, reason: str, seconds: float | None = None) -> dict:
    """The row of a point that did not produce a measurement (``status`` failed or timeout)."""
    row = dict.fromkeys(COLUMNS)
    row |= identity_columns(point) | provenance()
    row |= {"status": status, "reason": reason, "point_s": seconds}
    return row


def measure_point(point: dict) -> dict:
    """Run the flow on ``point`` (a :func:`payload`) in this process and return its row."""
    started = time.perf_counter()
    params, settings = from_payload(point)
    rows = settings.rows_measured(params)
    measured = ArrayParams(**(params.as_dict() | {"rows": rows}))
    operands = ModelSource(projection=settings.projection) if settings.operands == "model" else "gaussian"
    measurement = measure_array(
        measured, beats=settings.beats, zero=settings.zero, seed=settings.seed, operands=operands
    )
    study = measurement_row(measurement, params.rows)
    window, seconds = measurement.activity, measurement.seconds
    clock_ghz = 1000 / measurement.buffered_path_ps
    metrics = {name: study[name] for name in METRIC_COLUMNS if name in study}
    metrics |= {
        "measured": rows,
        "buffered_path_ps": measurement.buffered_path_ps,
        "macs_per_cycle": window["macs"] / window["cycles"],
        "clock_ghz": clock_ghz,
        "throughput_gmac_s": params.macs_per_beat * clock_ghz,
        "generation_s": seconds["generation"],
        "synthesis_s": seconds["synthesis_call"],
        "synthesis_cached": measurement.synth.cached,
        "point_s": time.perf_counter() - started,
    }
    row = identity_columns(point) | {"status": "ok", "reason": ""} | metrics | provenance()
    return {name: row[name] for name in COLUMNS}


def _end_group(*_: object) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def watch_parent(interval_s: float = 1.0) -> threading.Thread:
    """In a point's child process: kill the process group (this process and its Yosys) once the parent
    (the worker whose process id is in ``$BITNET_EXPLORE_PARENT``, else the parent at this call) is gone,
    checked every ``interval_s``; a parent that died before this call is noticed at once."""
    parent = int(os.environ.get(PARENT_VARIABLE, os.getppid()))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        _end_group()

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def main() -> int:
    """``python -m energy.explore.point``: a :func:`payload` on stdin, its row as one JSON line on stdout."""
    watch_parent()
    point = json.loads(sys.stdin.read())
    # the worker enforces the time-out; should it be gone, the child ends itself a little later
    signal.signal(signal.SIGALRM, _end_group)
    signal.alarm(math.ceil(point["settings"]["timeout_s"]) + CHILD_GRACE_S)
    row = measure_point(point)
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
