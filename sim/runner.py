"""Running the cocotb tests of :mod:`sim.tb_mac_array` on a generated array, from pytest or a script.

:func:`run_array` generates the array's Verilog with :func:`hw.generate.verilog_for` (or takes the Verilog
given, e.g. a deliberately broken variant), builds it once through :mod:`sim.build`, runs the chosen cocotb
tests in a folder of their own, and raises :class:`SimulationFailure` carrying cocotb's failure messages
(configuration, seed, beat, expected and actual sums) when any test fails.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from hw.generate import verilog_for
from hw.params import ArrayParams
from sim.build import build_verilog

#: The cocotb test module.
TEST_MODULE = "sim.tb_mac_array"
#: Default random multiply-accumulates per configuration (override with ``BITNET_SIM_MACS``).
DEFAULT_MACS = 1_000_000


class SimulationFailure(AssertionError):
    """A cocotb test failed; the message holds cocotb's failure messages."""


@dataclass
class SimulationReport:
    """What a run produced: the passed cocotb tests and any values the tests reported (``_report``)."""

    passed: list[str]
    reports: dict[str, dict]
    directory: Path


def seed_from_environment(default: int) -> int:
    """``BITNET_SIM_SEED`` when set (to replay a failure), else ``default``."""
    return int(os.environ.get("BITNET_SIM_SEED", default))


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
    from cocotb_tools.runner import get_runner

    top = params.default_name()
    source = verilog if verilog is not None else verilog_for(params, name=top)
    build = build_verilog(source, top, waves=waves, extra_args=extra_build_args)
    seed = seed_from_environment(seed)
    macs = int(os.environ.get("BITNET_SIM_MACS", DEFAULT_MACS)) if macs is None else macs
    run_dir = build.directory / "runs" / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob("*.json"):
        stale.unlink()
    results = run_dir / "results.xml"
    results.unlink(missing_ok=True)
    environment = {
        "BITNET_ARRAY": json.dumps(params.as_dict()),
        "BITNET_SIM_SEED": str(seed),
        "BITNET_SIM_MACS": str(macs),
        "BITNET_SIM_LAYER": "1" if layer else "0",
        "BITNET_SIM_REPORT_DIR": str(run_dir),
        **(extra_env or {}),
    }
    runner = get_runner("verilator")
    pytest_test = os.environ.pop("PYTEST_CURRENT_TEST", None)  # let us read the results ourselves
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=top,
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
                f"[{top}, seed {seed}] the simulator failed (exit {exit_.code}), see {run_dir / 'sim.log'}"
            ) from None
    finally:
        if pytest_test is not None:
            os.environ["PYTEST_CURRENT_TEST"] = pytest_test
    if not results.exists():
        raise SimulationFailure(f"[{top}, seed {seed}] no results; see {run_dir / 'sim.log'}")
    passed, failures = _results(results)
    if failures:
        raise SimulationFailure(f"[{top}, seed {seed}] " + " | ".join(failures))
    reports = {path.stem: json.loads(path.read_text()) for path in run_dir.glob("*.json")}
    return SimulationReport(passed, reports, run_dir)
