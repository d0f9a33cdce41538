"""The Dask task of a sweep: one point, run in a child process under a time-out, its row cached.

:func:`evaluate` is what a worker runs. It returns the point's row from the **point cache** when another
sweep (or an earlier run of this one) has measured it, else runs ``python -m energy.explore.point`` in a
child process of its own process group and waits at most the point's ``timeout_s``:

- the child's row is stored in the point cache, then returned;
- a child that exceeds the time-out is killed with everything it started (Yosys included), and the point
  is returned as ``timeout``; a child that fails returns ``failed`` with the last line of its error output;
  neither is cached, so a later sweep tries again;
- a child whose worker dies (a lost worker, which Dask reschedules elsewhere) notices that its parent is
  gone and kills its process group (:func:`energy.explore.point.watch_parent`), so no orphan keeps
  burning a core.

The point cache is ``build/explore/points/`` (``$BITNET_EXPLORE_CACHE`` elsewhere: on a cluster, a folder
every worker sees), one JSON file per point key, each written to a private temporary file and renamed into
place: two sweeps over the same points, or a point that Dask ran twice, never leave a partial file, and
the last writer's identical row wins. A worker whose code differs from the client's (another checkout
on a cluster node, another Yosys or PDK) recomputes the key, finds it different and refuses the point
rather than measure something else under the client's key.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distributed import get_worker

from energy.explore.point import PARENT_VARIABLE, code_fingerprint, failed_row, from_payload, point_key

DEFAULT_POINT_CACHE = Path(__file__).resolve().parents[2] / "build" / "explore" / "points"
#: Environment of the child: one thread for the numerical libraries (the worker has one core).
CHILD_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def point_cache() -> Path:
    return Path(os.environ.get("BITNET_EXPLORE_CACHE", DEFAULT_POINT_CACHE))


def cached_row(key: str) -> dict | None:
    """The cached row of point ``key``, or None."""
    try:
        return json.loads((point_cache() / f"{key}.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def store_row(row: dict) -> Path:
    """Write ``row`` into the point cache whole (a private temporary file renamed into place)."""
    folder = point_cache()
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{row['key']}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(row, file)
        path = folder / f"{row['key']}.json"
        os.replace(temporary, path)
        return path
    finally:
        Path(temporary).unlink(missing_ok=True)


def _last_line(text: str, fallback: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else fallback


def run_child(point: dict) -> dict:
    """Measure ``point`` in a child process under its time-out; its row (ok, failed or timeout)."""
    timeout = point["settings"]["timeout_s"]
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "energy.explore.point"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
        env=os.environ | CHILD_ENVIRONMENT | {PARENT_VARIABLE: str(os.getpid())},
    )
    try:
        out, err = child.communicate(json.dumps(point), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return failed_row(point, "timeout", f"exceeded the time-out of {timeout:g} s", timeout)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        reason = _last_line(err, f"the point's process ended with status {child.returncode}")
        return failed_row(point, "failed", reason, seconds)
    try:
        row = json.loads(_last_line(out, ""))
    except json.JSONDecodeError:
        row = None
    if not isinstance(row, dict) or row.get("key") != point["key"]:
        return failed_row(point, "failed", "the point's process printed no result row", seconds)
    return row


def _worker() -> str:
    """The Dask worker running this task (its address), or this host and process outside one."""
    try:
        return get_worker().address
    except ValueError:
        return f"{socket.gethostname()}:{os.getpid()}"


def evaluate(point: dict) -> tuple[dict, str]:
    """The Dask task: ``(row, source)`` of one point (a :func:`energy.explore.point.payload`); ``source``
    is ``"cache"`` (the point cache) or ``"computed"`` (this task ran it); a row's ``status`` is ``ok``,
    ``failed`` or ``timeout``."""
    cached = cached_row(point["key"])
    if cached is not None:
        return cached, "cache"
    if point_key(*from_payload(point)) != point["key"]:
        reason = (
            "this worker's code, tools or PDK differ from the client's (code "
            f"{code_fingerprint()} here, {point['code']} there): it would measure another point"
        )
        return failed_row(point, "failed", reason), "computed"
    row = run_child(point) | {"worker": _worker()}
    if row["status"] == "ok":
        store_row(row)
    return row, "computed"
