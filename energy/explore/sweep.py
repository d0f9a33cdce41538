"""Running a sweep on Dask: every point a task, every completed point a line of the results table.

:func:`connect` makes the client: a :class:`distributed.LocalCluster` of one single-threaded worker process
per core (the flow is single-threaded), or the existing scheduler that ``scheduler`` names
(``tcp://HOST:PORT``; see the README for ``dask scheduler`` / ``dask worker`` and ``dask-jobqueue``).
:func:`run_sweep` expands the specification, skips the points the table already holds (*resumed*: a
sweep killed at any moment and started again recomputes nothing it had recorded; ``retry_failed`` reruns
the failed and timed-out ones), submits the rest as :func:`energy.explore.task.evaluate` tasks and appends
each row as it completes, in completion order.

Reliability comes from Dask and from the task: a worker lost mid-task is rescheduled by the scheduler (up
to its ``distributed.scheduler.allowed-failures``, 3 by default; beyond that the point is recorded as
failed with the reason); a point that fails or exceeds its time-out is recorded with its reason and the
sweep goes on; a point another sweep measured is read from the point cache (*cached*).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from distributed import Client, KilledWorker, LocalCluster, as_completed

from energy.explore.point import failed_row, payload
from energy.explore.spec import InvalidPoint, SweepSpec
from energy.explore.table import ResultTable
from energy.explore.task import evaluate

#: Seconds to wait for a named scheduler before giving up.
CONNECT_TIMEOUT_S = 10


def connect(scheduler: str | None = None, workers: int | None = None) -> Client:
    """A Dask client: on ``scheduler`` (``tcp://HOST:PORT``), else on a new LocalCluster of ``workers``
    single-threaded worker processes (default: one per core). ``ValueError`` when the scheduler cannot be
    reached."""
    if scheduler is not None:
        if workers is not None:
            raise ValueError("workers: a named scheduler's workers are started with it (dask worker)")
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {reason}") from None
    count = workers or os.cpu_count() or 1
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster)


def dashboard(client: Client) -> str | None:
    """The address of the cluster's dashboard, or None when it has none (``bokeh`` not installed)."""
    if importlib.util.find_spec("bokeh") is None:
        return None
    try:
        return client.dashboard_link
    except KeyError:  # a scheduler started with --no-dashboard
        return None


@dataclass
class SweepSummary:
    """What a run did: points in the specification, invalid ones skipped, and the fate of the rest."""

    points: int
    invalid: list[InvalidPoint]
    resumed: int = 0
    cached: int = 0
    computed: int = 0
    failed: int = 0
    seconds: float = 0.0
    rows: list[dict] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{self.points} points: {self.resumed} already in the table, {self.cached} from the point cache, "
            f"{self.computed} computed, {self.failed} failed or timed out; {len(self.invalid)} invalid "
            f"skipped; {self.seconds:.1f} s"
        )


class Progress:
    """A progress line: points done / total, failures, elapsed, estimated remaining. On a terminal it is
    redrawn in place; elsewhere (logs, CI) one line per completed point."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream
        self.started = time.perf_counter()
        self.live = stream.isatty()

    def update(self, row: dict, source: str) -> None:
        self.done += 1
        self.failed += row["status"] != "ok"
        elapsed = time.perf_counter() - self.started
        remaining = elapsed / self.done * (self.total - self.done)
        width = 24
        filled = math.floor(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        name = f"{row['array']} N={row['lanes']} M={row['rows']} {row['tree']} p{row['pipeline']}"
        name += f" {row['dataflow']}"
        line = (
            f"[{bar}] {self.done}/{self.total} points, {self.failed} failed, {_clock(elapsed)} elapsed, "
            f"~{_clock(remaining)} left | {name}: {row['status']} ({source})"
        )
        self.stream.write(("\r" + line + "\033[K") if self.live else line + "\n")
        if self.live and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


def run_sweep(
    spec: SweepSpec,
    table_path: str | Path,
    client: Client,
    *,
    retry_failed: bool = False,
    stream: TextIO = sys.stderr,
) -> SweepSummary:
    """Run every point of ``spec`` not yet in the table at ``table_path`` on ``client``; see the module
    docstring. Returns the :class:`SweepSummary`; its ``rows`` are this run's new rows."""
    started = time.perf_counter()
    params, invalid = spec.expand()
    summary = SweepSummary(points=len(params), invalid=invalid)
    with ResultTable(table_path) as table:
        recorded = table.open()
        if table.repaired:
            stream.write(f"table {table.path}: a partial last line (from a killed run) was cut off\n")
        todo = []
        for point in (payload(p, spec.settings) for p in params):
            row = recorded.get(point["key"])
            if row is not None and (row["status"] == "ok" or not retry_failed):
                summary.resumed += 1
            else:
                todo.append(point)
        stream.write(f"{summary.points} points: {summary.resumed} in the table, {len(todo)} to run\n")
        _run(todo, client, table, summary, Progress(len(todo), stream))
    summary.seconds = time.perf_counter() - started
    return summary


def _run(
    todo: list[dict], client: Client, table: ResultTable, summary: SweepSummary, progress: Progress
) -> None:
    futures = {
        client.submit(evaluate, point, key=f"point-{point['key']}", pure=False): point for point in todo
    }
    try:
        for future in as_completed(futures):
            point = futures[future]
            if future.status == "cancelled":  # not an outcome of the point: the client lost its scheduler
                raise ValueError(
                    "lost the Dask scheduler (the sweep's tasks were cancelled); run again to resume"
                )
            try:
                row, source = future.result()
            except KilledWorker as error:  # the point's workers died more often than allowed-failures
                row, source = failed_row(point, "failed", f"KilledWorker: {error}"), "computed"
            table.append(row)
            summary.rows.append(row)
            summary.cached += source == "cache"
            summary.computed += source == "computed" and row["status"] == "ok"
            summary.failed += row["status"] != "ok"
            progress.update(row, source)
    finally:
        client.cancel(list(futures))
