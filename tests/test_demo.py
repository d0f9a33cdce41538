"""The golden-model demo (the README's main job until the RTL generator exists) and the CLI conventions."""

import subprocess
import sys

import pytest

from model.cli import OneLineErrorParser, positive_int


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "model.demo", *args], capture_output=True, text=True, timeout=120
    )


def test_demo_runs_and_checks_itself():
    result = run("--in-features", "300", "--out-features", "40", "--tokens", "3")
    assert result.returncode == 0, result.stderr
    assert "BitLinear 40 x 300, 3 tokens" in result.stdout
    assert "equal to int64 matmul: True" in result.stdout
    assert result.stdout.count("round trip: True") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tokens", "0"], "argument --tokens: must be >= 1, got 0"),
        (["--in-features", "abc"], "argument --in-features: expected a positive integer, got 'abc'"),
        (["--in-features", "20000000"], "--in-features must be <= 16777215 (int32 accumulator bound)"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"python -m model.demo: error: {message}"]
    assert "Traceback" not in result.stderr


def test_parser_helpers(capsys):
    parser = OneLineErrorParser(prog="tool")
    parser.add_argument("--n", type=positive_int)
    assert parser.parse_args(["--n", "3"]).n == 3
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--n", "-1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "tool: error: argument --n: must be >= 1, got -1\n"
