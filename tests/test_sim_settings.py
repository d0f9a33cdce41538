"""sim.settings: the cocotb run's environment variables, defaults and conversions, defined once."""

import ast
from pathlib import Path

import pytest

from hw.params import ArrayParams
from sim import settings
from sim.settings import (
    DEFAULT_MACS,
    THROUGHPUT_DIVISOR,
    ActivitySettings,
    RunSettings,
    build_root_override,
    clear_reports,
    layer_test_enabled,
    macs_overridden,
    read_reports,
    resolve_macs,
    seed_override,
    waves_requested,
    write_report,
)

ROOT = Path(__file__).resolve().parent.parent
#: Every environment variable sim.settings names.
VARIABLES = {value for name, value in vars(settings).items() if name.endswith("_VARIABLE")}


def test_run_settings_survive_the_environment(tmp_path):
    run = RunSettings(
        ArrayParams("int8", 3, 1, max_k=512), seed=7, macs=1234, layer=True, report_dir=tmp_path
    )
    assert RunSettings.from_environment(run.environment()) == run
    bare = RunSettings(ArrayParams())
    assert RunSettings.from_environment(bare.environment()) == bare
    assert bare.macs == DEFAULT_MACS and bare.report_dir is None


def test_activity_settings_survive_the_environment():
    window = ActivitySettings(beats=64, zero="0.5")
    assert ActivitySettings.from_environment(window.environment()) == window
    assert ActivitySettings.from_environment({}) == ActivitySettings()


def test_an_explicit_count_of_macs_wins_over_the_environment():
    environ = {settings.MACS_VARIABLE: "500"}
    assert resolve_macs(20_000, environ) == 20_000
    assert resolve_macs(None, environ) == 500
    assert resolve_macs(None, {}) == DEFAULT_MACS
    assert macs_overridden(environ) and not macs_overridden({})


def test_throughput_test_runs_a_fraction_of_the_macs():
    assert RunSettings(ArrayParams(), macs=4000).throughput_macs == 4000 // THROUGHPUT_DIVISOR


def test_the_user_overrides():
    assert seed_override(3, {settings.SEED_VARIABLE: "11"}) == 11
    assert seed_override(3, {}) == 3
    assert build_root_override(Path("a"), {settings.BUILD_VARIABLE: "b"}) == Path("b")
    assert build_root_override(Path("a"), {}) == Path("a")
    assert layer_test_enabled({settings.LAYER_VARIABLE: "1"}) and not layer_test_enabled({})


@pytest.mark.parametrize(
    ("value", "wanted"), [("1", True), ("yes", True), ("0", False), ("", False), ("False", False)]
)
def test_waves_are_requested_by_a_true_word(value, wanted):
    assert waves_requested({settings.WAVES_VARIABLE: value}) is wanted
    assert waves_requested({}) is False


def test_reports_are_written_read_and_cleared(tmp_path):
    run = RunSettings(ArrayParams(), report_dir=tmp_path)
    write_report(run, "throughput", {"macs": 8, "seconds": 0.5})
    write_report(RunSettings(ArrayParams()), "nowhere", {"ignored": True})  # no run folder: nothing written
    assert read_reports(tmp_path) == {"throughput": {"macs": 8, "seconds": 0.5}}
    clear_reports(tmp_path)
    assert read_reports(tmp_path) == {}


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of ``path`` that are not docstrings."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_only_sim_settings_names_the_run_variables():
    """Outside docstrings, no module of sim/, energy/ or benchmarks/ but sim/settings.py types a name."""
    found = []
    for folder in ("sim", "energy", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "sim" / "settings.py":
                continue
            for line, text in _code_strings(path):
                found += [f"{path.relative_to(ROOT)}:{line}: {name}" for name in VARIABLES if name in text]
    assert found == []
