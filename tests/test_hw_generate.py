"""The generated Verilog (header, determinism, no machine paths, lint) and ``python -m hw.generate``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hw.generate import check_module_name, generate_verilog, main, verilog_for
from hw.params import ArrayParams
from sim.lint import WAIVERS, lint_verilog, waiver_config

# --- the Verilog --------------------------------------------------------------------------------------------


def test_header_names_parameters_interface_and_version():
    text = generate_verilog("int8", 3, 2, pipeline="full", dataflow="stationary", max_k=40, name="top")
    header, _, body = text.partition("\n\n")
    lines = header.splitlines()
    assert all(line.startswith("// ") for line in lines)
    for fragment in (
        "array=int8 lanes=3 rows=2 act_width=8 max_k=40 pipeline=3 tree=signed dataflow=stationary",
        "accumulator width W = bit_length(ceil(max_k/N) * N * P) + 1",
        "latency: 4 cycle(s)",
        "i_stream__payload [24:0]",
        "w_stream__payload [47:0]",
        "o_stream__payload [",
        "generator: bitnet-codesign",
        "amaranth 0.5",
        "regenerate: python -m hw.generate --array int8 --lanes 3 --rows 2",
    ):
        assert fragment in header, fragment
    assert re.findall(r"^module (\w+)\(", body, flags=re.M) == ["top"]
    assert body.count("endmodule") == 1


def test_regeneration_is_byte_identical():
    kwargs = {"tree": "split", "pipeline": 2, "dataflow": "stationary", "max_k": 100}
    assert generate_verilog("ternary", 5, 2, **kwargs) == generate_verilog("ternary", 5, 2, **kwargs)


def test_no_paths_or_source_locations():
    text = generate_verilog("ternary", 3, 2, pipeline="full")
    forbidden = [str(Path.cwd()), str(Path.home()), sys.prefix, "site-packages", ".py", ".cc:", "src ="]
    for fragment in forbidden:
        assert fragment not in text, fragment
    # the only attribute Yosys keeps is the synthesis hint full_case
    assert set(re.findall(r"\(\*\s*(\w+)", text)) <= {"full_case"}
    assert not re.search(r"/[\w.-]+/", text.replace("//", "  ")), "a path"


def test_module_name_is_checked():
    assert check_module_name("mac_0") == "mac_0"
    for bad in ("9mac", "mac-array", "module", "wire", "", "a b"):
        with pytest.raises(ValueError, match="name"):
            check_module_name(bad)
    with pytest.raises(TypeError, match="name"):
        check_module_name(3)
    with pytest.raises(TypeError, match="params"):
        verilog_for({"lanes": 3})
    with pytest.raises(ValueError, match="lanes"):
        generate_verilog(lanes=0)


# --- lint ---------------------------------------------------------------------------------------------------

LINT_VARIANTS = [
    (array, lanes, rows, tree, pipeline, dataflow)
    for array in ("ternary", "int8")
    for lanes in (1, 3, 8)
    for rows in (1, 2)
    for tree in (("signed", "split") if array == "ternary" else ("signed",))
    for pipeline in (0, "full")
    for dataflow in ("stream", "stationary")
] + [
    ("ternary", 8, 2, "signed", 2, "stream"),
    ("ternary", 8, 2, "split", 1, "stationary"),
    ("int8", 8, 1, "signed", 1, "stream"),
    ("ternary", 5, 1, "split", 0, "stream"),
]


@pytest.mark.parametrize(("array", "lanes", "rows", "tree", "pipeline", "dataflow"), LINT_VARIANTS)
def test_every_variant_lints_clean(array, lanes, rows, tree, pipeline, dataflow):
    p = ArrayParams(array=array, lanes=lanes, rows=rows, tree=tree, pipeline=pipeline, dataflow=dataflow)
    result = lint_verilog(verilog_for(p), p.default_name())
    assert result.ok, result.output


@pytest.mark.parametrize(("tree", "pipeline"), [("signed", 0), ("split", "full")])
def test_default_size_lints_clean(tree, pipeline):
    p = ArrayParams(tree=tree, pipeline=pipeline)
    result = lint_verilog(verilog_for(p), p.default_name())
    assert result.ok, result.output


def test_waivers_are_needed_and_narrow():
    """Without the waivers only the waived rules fire, each of them does, and an injected defect is caught
    with the waivers on."""
    rules = set()
    for p in (
        ArrayParams(lanes=3, rows=2, pipeline="full", tree="split"),
        ArrayParams(array="int8", lanes=3),
    ):
        output = lint_verilog(verilog_for(p), p.default_name(), waivers=False).output
        rules |= set(re.findall(r"%Warning-(\w+):", output))
    assert rules == {waiver.rule for waiver in WAIVERS}
    for waiver in WAIVERS:
        assert waiver.reason and waiver.match in waiver_config()
    p = ArrayParams(lanes=3, rows=1)
    text = verilog_for(p)
    broken = text.replace("  input clk;", "  input clk;\n  wire [3:0] injected = 4'h0;", 1)
    result = lint_verilog(broken, p.default_name())
    assert not result.ok and "injected" in result.output
    unused_port = text.replace("  input clk;", "  input clk;\n  input spare;", 1).replace("(", "(spare, ", 1)
    result = lint_verilog(unused_port, p.default_name())
    assert not result.ok and "spare" in result.output


# --- the command line ---------------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hw.generate", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_cli_defaults_write_the_default_array(tmp_path):
    """No arguments: the N=64, M=8 ternary array in build/hw/, a one-screen summary, and the same bytes as
    the Python API in another process."""
    completed = run_cli(cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    p = ArrayParams()
    path = tmp_path / "build" / "hw" / f"{p.default_name()}.v"
    assert path.read_text() == verilog_for(p)
    summary = completed.stdout.splitlines()
    assert len(summary) <= 24 and all(len(line) <= 160 for line in summary)
    for fragment in (
        "64 lanes",
        "accumulator width",
        "= 23",
        "latency: 1",
        "i_stream__payload [1536:0]",
        "wrote",
    ):
        assert fragment in completed.stdout, fragment
    assert f"build/hw/{p.default_name()}.v" in completed.stdout


def test_cli_parameters_out_and_name(tmp_path, capsys):
    code = main(
        "--array int8 --lanes 3 --rows 2 --act-width 6 --max-k 9 --pipeline full --tree signed "
        f"--dataflow stationary --name mac3 --out {tmp_path / 'out'}".split()
    )
    assert code == 0
    text = (tmp_path / "out" / "mac3.v").read_text()
    p = ArrayParams(
        array="int8", lanes=3, rows=2, act_width=6, max_k=9, pipeline="full", dataflow="stationary"
    )
    assert text == verilog_for(p, name="mac3")
    assert "mac3.v" in capsys.readouterr().out


def test_cli_help_lists_every_parameter_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [
        ("--array", "ternary"),
        ("--lanes", "64"),
        ("--rows", "8"),
        ("--act-width", "8"),
        ("--max-k", "16384"),
        ("--pipeline", "0"),
        ("--tree", "signed"),
        ("--dataflow", "stream"),
        ("--name", "None"),
        ("--out", "build/hw"),
    ]:
        assert re.search(rf"{option} .*?\(default: {re.escape(default)}\)", text), option


@pytest.mark.parametrize(
    "args",
    [
        "--lanes 0",
        "--lanes many",
        "--rows -2",
        "--act-width 1",
        "--max-k 0",
        "--pipeline 99",
        "--pipeline half",
        "--array fp32",
        "--array int8 --tree split",
        "--tree wallace",
        "--dataflow both",
        "--name 9lives",
        "--name module",
        "--bogus",
    ],
)
def test_cli_bad_parameters_one_line_exit_2(args, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([*args.split(), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "error" in captured.err
    assert "Traceback" not in captured.err
    assert not list(tmp_path.iterdir())


def test_cli_bad_parameter_in_a_real_process(tmp_path):
    completed = run_cli("--lanes", "3", "--pipeline", "7", cwd=tmp_path)
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and "pipeline" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_cli_unwritable_output_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["--lanes", "2", "--rows", "1", "--out", str(blocker)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot write" in err
