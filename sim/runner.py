"""Running the cocotb tests of :mod:`sim.tb_mac_array` on a generated array, from pytest or a script.

:func:`run_array` generates the array's Verilog with :func:`hw.generate.verilog_for` (or takes the Verilog
given, e.g. a deliberately broken variant), builds it once through :mod:`sim.build`, runs the chosen cocotb
tests in a folder of their own, and raises :class:`SimulationFailure` carrying cocotb's failure messages
(configuration, seed, beat, expected and actual sums) when any test fails.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from hw.generate import verilog_for
from hw.params import ArrayParams
from sim.build import Build, build_verilog
from sim.settings import RunSettings, clear_reports, read_reports, resolve_macs, seed_override

#: The cocotb test module.
TEST_MODULE = "sim.tb_mac_array"


class SimulationFailure(AssertionError):
    """A cocotb test failed; the message holds cocotb's failure messages."""


@dataclass
class SimulationReport:
    """What a run produced: the passed cocotb tests and any values the tests reported
    (:func:`sim.settings.write_report`)."""

    passed: list[str]
    reports: dict[str, dict]
    directory: Path


def _results(path: Path) -> tuple[list[str], list[str]]:
    passed, failures = [], []
    root = ElementTree.parse(path).getroot()
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        problems = [*case.findall("failure"), *case.findall("error")]
        if problems:
            text = "; ".join((p.get("message") or p.text or "").strip() for p in problems)
            failures.append(f"{name}: {text}")
        elif case.find("skipped") is None:
            passed.append(name)
    return passed, failures


def _fresh_run_dir(build: Build, run_name: str) -> Path:
    """The run folder ``runs/<run_name>`` of ``build``, without the reports and results of an earlier run."""
    run_dir = build.directory / "runs" / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    clear_reports(run_dir)
    (run_dir / "results.xml").unlink(missing_ok=True)
    return run_dir


def _run_tests(
    build: Build, test_module: str, tests: list[str] | None, environment: dict[str, str], run_dir: Path
) -> Path:
    """Run the cocotb tests in ``run_dir``; return the results file (which may be missing on a crash)."""
    from cocotb_tools.runner import get_runner

    results = run_dir / "results.xml"
    runner = get_runner("verilator")
    pytest_test = os.environ.pop("PYTEST_CURRENT_TEST", None)  # let us read the results ourselves
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=build.top,
            hdl_toplevel_lang="verilog",
            build_dir=build.directory,
            test_dir=run_dir,
            testcase=tests,
            extra_env=environment,
            waves=build.waves,
            results_xml=str(results),
            log_file=run_dir / "sim.log",
        )
    except SystemExit as exit_:
        if not results.exists():
            raise SimulationFailure(
                f"the simulator failed (exit {exit_.code}), see {run_dir / 'sim.log'}"
            ) from None
    finally:
        if pytest_test is not None:
            os.environ["PYTEST_CURRENT_TEST"] = pytest_test
    return results


def run_array(
    params: ArrayParams,
    *,
    tests: list[str] | None = None,
    seed: int = 1,
    macs: int | None = None,
    layer: bool = False,
    verilog: str | None = None,
    run_name: str = "run",
    waves: bool | None = None,
    extra_build_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    test_module: str = TEST_MODULE,
) -> SimulationReport:
    """Build the array and run cocotb tests on it; raise :class:`SimulationFailure` if any fails.

    Parameters
    ----------
    params : ArrayParams
        The array configuration (also passed to the tests).
    tests : list of str, optional
        cocotb test names of the test module; all by default.
    seed : int
        The random seed of the stimulus (``BITNET_SIM_SEED`` overrides it).
    macs : int, optional
        Random multiply-accumulates of the random test (default ``BITNET_SIM_MACS`` or one million).
    layer : bool
        Also run the whole-layer test.
    verilog : str, optional
        Verilog to simulate instead of the generator's output (same ports and module name).
    run_name : str
        Name of the run folder inside the build folder (one per pytest test, so workers do not collide).
    waves : bool, optional
        Record ``dump.vcd`` in the run folder (default: the ``WAVES`` environment variable).
    extra_build_args : tuple of str
        More Verilator arguments for the build.
    extra_env : dict, optional
        More environment variables for the cocotb tests.
    test_module : str
        The cocotb test module (default :mod:`sim.tb_mac_array`).
    """
    top = params.default_name()
    source = verilog if verilog is not None else verilog_for(params, name=top)
    build = build_verilog(source, top, waves=waves, extra_args=extra_build_args)
    run_dir = _fresh_run_dir(build, run_name)
    settings = RunSettings(
        params, seed=seed_override(seed), macs=resolve_macs(macs), layer=layer, report_dir=run_dir
    )
    label = f"[{top}, seed {settings.seed}]"
    try:
        results = _run_tests(build, test_module, tests, settings.environment() | (extra_env or {}), run_dir)
    except SimulationFailure as failure:
        raise SimulationFailure(f"{label} {failure}") from None
    if not results.exists():
        raise SimulationFailure(f"{label} no results; see {run_dir / 'sim.log'}")
    passed, failures = _results(results)
    if failures:
        raise SimulationFailure(f"{label} " + " | ".join(failures))
    return SimulationReport(passed, read_reports(run_dir), run_dir)
