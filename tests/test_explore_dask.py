"""energy.explore on Dask: a sweep on a LocalCluster of 2 workers, the same sweep through a separately
started ``dask scheduler`` and two ``dask worker`` processes, a worker killed mid-sweep, and a client
killed and restarted. Every sweep must give the same rows (the measured columns, timings aside)."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from distributed import Client

from energy.explore.point import METRIC_COLUMNS
from energy.explore.spec import load_spec
from energy.explore.sweep import connect, run_sweep
from energy.explore.table import read_rows

SPEC = """
[sweep]
beats = 16
timeout_s = 300

[[space]]
array = "ternary"
lanes = [2, 4]
rows = 1
max_k = 16
tree = ["signed", "csa"]
"""
POINTS = 4
#: Columns that vary from run to run (wall times, whether synthesis was a cache hit, the worker).
VARYING = {"generation_s", "synthesis_s", "synthesis_cached", "simulation_s", "pricing_s", "point_s"}
DASK = str(Path(sys.executable).with_name("dask"))


def measured(rows: list[dict]) -> dict[str, dict]:
    """Each row's deterministic columns, by key."""
    return {row["key"]: {name: row[name] for name in METRIC_COLUMNS if name not in VARYING} for row in rows}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def point_cache(tmp_path, monkeypatch):
    """A point cache of the test's own (the synthesis cache stays shared: only the points are fresh)."""
    folder = tmp_path / "points"
    monkeypatch.setenv("BITNET_EXPLORE_CACHE", str(folder))
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep's rows from a LocalCluster of 2 workers (its own point cache)."""
    folder = tmp_path_factory.mktemp("reference")
    previous = os.environ.get("BITNET_EXPLORE_CACHE")
    os.environ["BITNET_EXPLORE_CACHE"] = str(folder / "points")
    try:
        (folder / "sweep.toml").write_text(SPEC)
        with connect(workers=2) as client:
            summary = run_sweep(load_spec(folder / "sweep.toml"), folder / "results.csv", client)
            client.cluster.close()
    finally:
        if previous is None:
            del os.environ["BITNET_EXPLORE_CACHE"]
        else:
            os.environ["BITNET_EXPLORE_CACHE"] = previous
    return summary, folder / "results.csv"


def test_a_sweep_on_a_local_cluster_of_two_workers(reference, monkeypatch, tmp_path):
    summary, table = reference
    assert (summary.points, summary.computed, summary.failed, summary.resumed) == (POINTS, POINTS, 0, 0)
    rows = read_rows(table)
    assert len(rows) == POINTS and all(row["status"] == "ok" for row in rows)
    assert all(row["outputs_checked"] >= 1 and row["energy_per_mac_pJ"] > 0 for row in rows)
    assert len({row["worker"] for row in rows}) == 2  # both workers measured points
    spec = load_spec(table.with_name("sweep.toml"))
    monkeypatch.setenv("BITNET_EXPLORE_CACHE", str(table.with_name("points")))  # the reference's point cache
    with connect(workers=2) as client:
        again = run_sweep(spec, table, client)  # the same table: every point resumed, none recomputed
        other = run_sweep(spec, tmp_path / "other.csv", client)  # another sweep: every point from the cache
        client.cluster.close()
    assert (again.resumed, again.computed, again.cached) == (POINTS, 0, 0)
    assert len(read_rows(table)) == POINTS
    assert (other.resumed, other.computed, other.cached) == (0, 0, POINTS)
    assert measured(read_rows(tmp_path / "other.csv")) == measured(rows)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def cluster(tmp_path, point_cache):
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1: (address, worker processes)."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    log = (tmp_path / "dask.log").open("w")

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    scheduler = start(
        "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"
    )
    workers = [
        start(
            "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"
        )
        for i in range(2)
    ]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in (*workers, scheduler):
            _stop(process)
        log.close()


def test_the_same_sweep_through_a_separately_started_scheduler(reference, cluster, spec, tmp_path):
    address, _ = cluster
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "energy.explore",
            str(spec),
            "--scheduler",
            address,
            "--table",
            str(tmp_path / "t.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert f"Dask: 2 workers at {address}" in result.stdout
    assert f"{POINTS} computed, 0 failed" in result.stdout
    rows = read_rows(tmp_path / "t.csv")
    assert measured(rows) == measured(read_rows(reference[1]))
    assert (tmp_path / "front.csv").is_file() and (tmp_path / "front.png").is_file()


def _wait_for_rows(table: Path, count: int, deadline_s: float = 300) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if table.exists():
            done = len(table.read_text().splitlines()) - 1
            if done >= count:
                return done
        time.sleep(0.2)
    raise AssertionError(f"the table did not reach {count} rows in {deadline_s} s")


def test_a_worker_killed_mid_sweep_loses_no_point(reference, cluster, spec, tmp_path):
    address, workers = cluster
    table = tmp_path / "t.csv"
    lost: list[str] = []  # the keys the killed worker was processing
    killed: list[str] = []  # its address

    def kill_w0_in_the_middle_of_a_point(client: Client) -> None:
        _wait_for_rows(table, 1)  # the sweep runs; points remain for both workers
        (w0,) = [
            a for a, info in client.scheduler_info(n_workers=-1)["workers"].items() if info["name"] == "w0"
        ]
        deadline = time.monotonic() + 60
        while not client.processing(workers=[w0]).get(w0) and time.monotonic() < deadline:
            time.sleep(0.05)
        lost.extend(client.processing(workers=[w0]).get(w0, ()))
        killed.append(w0)
        os.killpg(workers[0].pid, signal.SIGKILL)

    errors: list[BaseException] = []

    def killer_body(client: Client) -> None:
        try:
            kill_w0_in_the_middle_of_a_point(client)
        except BaseException as error:  # shown by the test, not lost in the thread
            errors.append(error)

    with Client(address, timeout=30) as client:
        killer = threading.Thread(target=killer_body, args=(client,))
        killer.start()
        summary = run_sweep(load_spec(spec), table, client)
        killer.join()
    assert not errors, errors
    assert lost and workers[0].wait(10) is not None
    rows = read_rows(table)
    by_key = {f"point-{row['key']}": row for row in rows}
    # each point the killed worker was processing was rescheduled and measured by the other worker
    assert all(by_key[key]["status"] == "ok" and by_key[key]["worker"] != killed[0] for key in lost)
    # a point the killed worker had finished and cached is read from the cache by its rescheduled task
    assert (summary.computed + summary.cached, summary.failed) == (POINTS, 0)
    assert measured(rows) == measured(read_rows(reference[1]))


def _points_of(cache: Path) -> list[psutil.Process]:
    """Live processes of this test's points (their environment names its point cache)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("BITNET_EXPLORE_CACHE") == str(cache):
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def test_a_client_killed_and_restarted_recomputes_no_recorded_point(reference, spec, point_cache, tmp_path):
    table = tmp_path / "t.csv"
    command = [sys.executable, "-m", "energy.explore", str(spec), "--workers", "2", "--table", str(table)]
    first = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_for_rows(table, 2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the client and its LocalCluster's workers
        first.wait()
    recorded = len(read_rows(table))
    assert 2 <= recorded < POINTS
    deadline = time.monotonic() + 15
    while _points_of(point_cache) and time.monotonic() < deadline:  # orphaned points end themselves
        time.sleep(0.2)
    assert not _points_of(point_cache)
    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    counts = re.search(
        r"(\d+) already in the table, (\d+) from the point cache, (\d+) computed", second.stdout
    )
    resumed, cached, computed = map(int, counts.groups())
    assert resumed == recorded and resumed + cached + computed == POINTS
    rows = read_rows(table)
    assert len(rows) == POINTS and len({row["key"] for row in rows}) == POINTS
    assert measured(rows) == measured(read_rows(reference[1]))
