"""Run a tool within a time budget, killing its whole process group (solvers included) when it runs out."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from energy.gates.synth import YOSYS_COMMAND


def run_bounded(
    command: list[str], work: Path, timeout_s: float, **options
) -> subprocess.CompletedProcess | None:
    """Run ``command`` in ``work`` in its own process group; ``None`` (and the whole group killed, solver
    included) when it ran out of time."""
    with subprocess.Popen(
        command,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **options,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_yosys(work: Path, script: str, timeout_s: float, log: str) -> subprocess.CompletedProcess | None:
    """Run the Yosys ``script`` in ``work`` (as ``<log>.ys``, its log ``<log>.log``); ``None`` when it ran
    out of time."""
    (work / f"{log}.ys").write_text(script + "\n")
    command = [*YOSYS_COMMAND, "-q", "-s", f"{log}.ys", "-l", f"{log}.log"]
    return run_bounded(command, work, timeout_s)


def log_tail(log: Path, characters: int = 800) -> str:
    """The end of a log, for an error message."""
    return log.read_text()[-characters:] if log.exists() else "(no log)"
