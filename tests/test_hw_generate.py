"""The generated Verilog (header, determinism, no machine paths, lint) and ``python -m hw.generate``."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import hw.generate
from hw.generate import (
    add_array_arguments,
    build_parser,
    check_module_name,
    describe,
    generate_verilog,
    main,
    option_name,
    params_from_arguments,
    regenerate_command,
    verilog_for,
)
from hw.params import ARRAY_TREES, PARAMETER_METADATA, ArrayParams, parameter, parse_pipeline
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
    for array in ("ternary", "ternary-lut", "int8")
    for lanes in (1, 3, 8)
    for rows in (1, 2)
    for tree in ARRAY_TREES[array]
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


@pytest.mark.parametrize(("group", "lanes", "pipeline"), [(2, 7, 1), (4, 9, "full"), (5, 11, 0), (5, 64, 2)])
def test_every_group_size_lints_clean(group, lanes, pipeline):
    p = ArrayParams("ternary-lut", lanes, 2, pipeline=pipeline, group=group)
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


# --- the parameters, defined once --------------------------------------------------------------------------

ROUND_TRIP = [
    ArrayParams(),
    ArrayParams("int8", 3, 2, act_width=6, max_k=9, pipeline="full", dataflow="stationary"),
    ArrayParams("ternary", 7, 3, act_width=12, max_k=1000, pipeline=2, tree="split"),
    ArrayParams("fp16", 5, 1, max_k=512, pipeline=1, dataflow="stationary"),
    ArrayParams(lanes=1, rows=1, max_k=1),
    ArrayParams("ternary-lut", 10, 3, max_k=300, pipeline="full", group=4, dataflow="stationary"),
    ArrayParams("ternary", 9, 2, tree="deferred", pipeline=3),
]


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """The long options of a parser's usage line, in order (every occurrence)."""
    return re.findall(r"\[(--[\w-]+)", parser.format_usage())


def test_every_field_has_exactly_one_option_with_its_metadata():
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_array_arguments(parser)
    fields = dataclasses.fields(ArrayParams)
    assert _options(parser) == [option_name(f) for f in fields]
    for field in fields:
        assert set(field.metadata) == set(PARAMETER_METADATA), field.name
    defaults = vars(parser.parse_args([]))
    assert defaults == {f.name: f.default for f in fields if f.default is not None}
    assert "act_width" not in defaults  # absent: the array kind's width
    assert params_from_arguments(parser.parse_args(["--array", "fp16"])).act_width == 16
    help_text = " ".join(parser.format_help().split())
    for field in fields:
        assert " ".join(field.metadata["help"].split()) in help_text, field.name


@pytest.mark.parametrize("p", ROUND_TRIP, ids=lambda p: p.default_name())
def test_regenerate_command_round_trips(p):
    words = shlex.split(regenerate_command(p, "top"))
    assert words[:3] == ["python", "-m", "hw.generate"] and words[-2:] == ["--name", "top"]
    assert params_from_arguments(build_parser().parse_args(words[3:])) == p
    parameters = describe(p, "top")[1]
    fields = dataclasses.asdict(p).items()
    assert parameters == "parameters: " + " ".join(f"{k}={v}" for k, v in fields if v is not None)
    assert generate_verilog(*dataclasses.astuple(p), name="top") == verilog_for(p, name="top")


def test_generate_verilog_signature_is_the_fields():
    signature = inspect.signature(generate_verilog)
    fields = dataclasses.fields(ArrayParams)
    assert list(signature.parameters) == [f.name for f in fields] + ["name"]
    assert [signature.parameters[f.name].default for f in fields] == [f.default for f in fields]
    with pytest.raises(TypeError, match="unknown"):
        generate_verilog(unknown=1)


def test_a_new_field_reaches_every_command_line_and_the_header(monkeypatch):
    """A field added to ArrayParams (here in a derived copy) becomes an option, a part of the regenerate
    command, of the header's parameter line and of the default name, with no other edit."""

    @dataclasses.dataclass(frozen=True)
    class Extended(ArrayParams):
        extra_knob: int = parameter(3, help="a knob that does nothing", in_name="x{}")

    monkeypatch.setattr(hw.generate, "ArrayParams", Extended)
    parser = build_parser()
    assert "--extra-knob" in _options(parser)
    p = params_from_arguments(parser.parse_args(["--lanes", "4", "--extra-knob", "5"]))
    assert isinstance(p, Extended) and (p.lanes, p.extra_knob) == (4, 5)
    assert params_from_arguments(parser.parse_args([])).extra_knob == 3
    command = regenerate_command(p, "top")
    assert command.endswith("--dataflow stream --extra-knob 5 --name top")
    assert params_from_arguments(parser.parse_args(shlex.split(command)[3:])) == p
    assert describe(p, "top")[1].endswith("dataflow=stream extra_knob=5")
    assert p.default_name().endswith("_signed_stream_x5")


def test_parameter_metadata_is_checked():
    assert parse_pipeline("full") == "full" and parse_pipeline("3") == 3
    with pytest.raises(ValueError, match="integer or 'full'"):
        parse_pipeline("half")
    with pytest.raises(ValueError, match="in_name"):
        parameter(1, help="h", in_name="n")
    with pytest.raises(TypeError, match="help"):
        parameter(1, help="", in_name="n{}")
    with pytest.raises(TypeError, match="parse"):
        parameter(1, help="h", in_name="n{}", parse=3)
