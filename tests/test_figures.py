"""benchmarks/figures.py: the README's figures from the benchmarks' results, and one-line errors."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image

from energy.gates.equivalence import NOT_REQUESTED, Verdict
from energy.gates.study import measurement_row

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "figures.py"
PROG = "python benchmarks/figures.py"
PNG_NAMES = {"gate_level_energy.png", "system_waterfall.png"}


def load_script():
    spec = importlib.util.spec_from_file_location("benchmarks_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = load_script()


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return out, figures.make_figures(figures.GATE_LEVEL_CSV, out)


def test_figures_are_valid_pngs_without_paths(drawn):
    out, written = drawn
    assert {path.name for path in written} == PNG_NAMES
    assert {path.name for path in out.iterdir()} == PNG_NAMES  # no temporary file left
    for path in written:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"/work/" not in data and b"/tmp/" not in data and str(out).encode() not in data
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.size[0] > 1000 and image.size[1] > 400
            assert "Software" not in image.info and "Creation Time" not in image.info


def test_the_command_draws_the_same_bytes(drawn, tmp_path):
    out, written = drawn
    result = run_cli("--out", "again", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for path in written:
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes()


def test_committed_results_have_the_benchmark_columns():
    """The CSV has exactly the columns of the frame benchmarks/gate_level.py writes."""
    measurement = SimpleNamespace(
        params={
            "array": "ternary",
            "lanes": 4,
            "rows": 1,
            "tree": "signed",
            "pipeline": 0,
            "dataflow": "stream",
        },
        energy=SimpleNamespace(
            per_mac_pj=lambda: dict.fromkeys(("combinational", "sequential", "leakage", "total"), 1.0)
        ),
        synth=SimpleNamespace(cells={"DFFHQNx1": 1}, area_um2=1.0, cell_count=1),
        equivalence=Verdict("not checked", NOT_REQUESTED),
        activity={"zero_fraction": 0.3, "outputs": 1},
        critical_path_ps=1.0,
        seconds=dict.fromkeys(("synthesis", "simulation", "pricing"), 1.0),
    )
    frame = pd.read_csv(figures.GATE_LEVEL_CSV)
    assert list(frame.columns) == list(measurement_row(measurement, 1))
    assert sorted(zip(frame["lanes"], frame["array"], strict=True)) == sorted(
        (lanes, array) for lanes in (16, 64) for array in ("ternary", "int8", "fp16")
    )


def write_results(folder: Path, text: str | None = None, **changes) -> Path:
    """A copy of the committed results with ``changes`` applied (column -> value, or None to drop it)."""
    path = folder / "results.csv"
    if text is not None:
        path.write_bytes(text.encode("latin-1"))
        return path
    frame = pd.read_csv(figures.GATE_LEVEL_CSV)
    for column, value in changes.items():
        frame = frame.drop(columns=[column]) if value is None else frame.assign(**{column: value})
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"text": ""}, "not a CSV table"),
        ({"text": 'a,b\n"unclosed,1\n'}, "not a CSV table"),
        ({"text": "\xff\xfe\x00garbage"}, "not a CSV table"),
        ({"text": "array,lanes,rows,energy_per_mac_pJ,area_per_lane_um2\n"}, "no rows"),
        ({"energy_per_mac_pJ": None}, "missing the columns energy_per_mac_pJ"),
        ({"energy_per_mac_pJ": "lots"}, "column energy_per_mac_pJ must hold positive numbers"),
        ({"area_per_lane_um2": -1.0}, "column area_per_lane_um2 must hold positive numbers"),
        ({"array": "ternary"}, "lanes 16 must have one row per array"),
    ],
)
def test_garbled_results_raise_a_value_error_naming_the_file(tmp_path, content, message):
    path = write_results(tmp_path, **content)
    with pytest.raises(ValueError, match=message) as error:
        figures.read_gate_level(path)
    assert str(path) in str(error.value) and len(str(error.value).splitlines()) == 1


def test_missing_results_raise_a_value_error_naming_the_file(tmp_path):
    with pytest.raises(ValueError, match="gate_level.csv: no such file") as error:
        figures.make_figures(tmp_path / "gate_level.csv", tmp_path / "out")
    assert str(tmp_path) in str(error.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(TypeError, match="path must be a str or Path"):
        figures.read_gate_level(3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate-level", "missing.csv", "--out", "o"], "gate-level results missing.csv: no such file"),
        (["--gate-level", "bad.csv", "--out", "o"], "gate-level results bad.csv: not a CSV table"),
        (["--gate-level", "bad.csv", "--out"], "argument --out: expected one argument"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, args, message):
    (tmp_path / "bad.csv").write_bytes(b"")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: ") and message in lines[0]
    assert not (tmp_path / "o").exists()
