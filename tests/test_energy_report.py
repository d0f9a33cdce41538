"""python -m energy.report: outputs, traceability, and one-line errors with exit status 2."""

import subprocess
import sys

import pandas as pd
import pytest

from energy.report import build_report, compute_report, main, parse_args, print_report
from energy.tables import default_tables

PROG = "python -m energy.report"


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "energy.report", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One real run in a fresh folder with the default --out."""
    folder = tmp_path_factory.mktemp("report")
    result = run_cli("--model", "1.3B", "--model", "7B", "--tokens", "256", cwd=folder)
    return folder, result


def test_report_runs_and_prints_every_table(report):
    _, result = report
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "= 71.43x (rounded: 71.4x)" in out
    assert "[ops:7nm/mul/fp16]" in out and "[ops:7nm/add/int8]" in out
    assert "10 of 12 cells within the published rounding" in out
    assert "attention=full, lm_head=none, ffn=mlp, attention dtype=fp16" in out
    assert "b1.58-1.3B:" in out and "llama2-7B:" in out
    assert "dominant term, decode: fp16: weights" in out
    assert "ops:7nm/add/int32: 0.03 pJ per 32-bit add -- Jouppi et al., ISCA 2021" in out
    assert "models:llama2-7B:" in out


def test_report_writes_csv_and_png_to_the_default_build_folder(report):
    folder, _ = report
    out = folder / "build" / "energy"
    names = {path.name for path in out.iterdir()}
    assert {
        "arithmetic.csv",
        "table1.csv",
        "waterfall.csv",
        "terms.csv",
        "ledger.csv",
        "sources.csv",
    } <= names
    assert {"figure3_left.png", "figure3_right.png", "waterfall_llama2-7B.png"} <= names
    for name in names:
        data = (out / name).read_bytes()
        assert str(folder).encode() not in data
        assert b"/work/" not in data and b"/home/" not in data and b"/tmp/" not in data
        if name.endswith(".png"):
            assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_report_csv_contents_are_traceable(report):
    folder, _ = report
    out = folder / "build" / "energy"
    arithmetic = pd.read_csv(out / "arithmetic.csv")
    assert list(arithmetic["model"]) == ["b1.58-1.3B", "llama2-7B"]
    waterfall = pd.read_csv(out / "waterfall.csv")
    assert set(waterfall["phase"]) == {"decode", "prefill"}
    assert waterfall.groupby(["model", "phase"])["ratio"].first().round(1).eq(71.4).all()
    ledger = pd.read_csv(out / "ledger.csv")
    sources = pd.read_csv(out / "sources.csv")
    used = {row.strip() for rows in ledger["rows"] for row in rows.split(";")}
    assert used <= set(sources["row"])
    assert sources["source"].str.len().min() > 10
    assert set(sources["origin"]) <= {
        "energy/data/ops.csv",
        "energy/data/memory.csv",
        "energy/data/models.csv",
        "energy/data/bitnet_table1.csv",
    }
    assert ledger["energy_J"].sum() > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--node", "5nm"], "node must be one of '45nm', '7nm', got '5nm'"),
        (["--tokens", "0"], "argument --tokens: must be >= 1, got 0"),
        (["--model=-1B"], "model: a model size must be positive, got '-1B'"),
        (["--model", "0B"], "model: a model size must be positive, got '0B'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = run_cli(*args, "--out", "o", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"{PROG}: error: ") and message in lines[0]
    assert not (tmp_path / "o").exists()


def test_cli_malformed_table_exits_2(tmp_path):
    (tmp_path / "bad.csv").write_text("node,op,dtype,energy_pJ,source\n7nm,add,int8,-0.5,me\n")
    result = run_cli("--ops", "bad.csv", cwd=tmp_path)
    assert result.returncode == 2
    message = "ops: malformed table 'bad.csv': row 1: energy_pJ must be a positive number, got '-0.5'"
    assert result.stderr.splitlines() == [f"{PROG}: error: {message}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tokens", "-3"], "must be >= 1, got -3"),
        (["--tokens", "many"], "expected a positive integer, got 'many'"),
        (["--model", ","], "--model: empty model name"),
        (["--model", "gpt3-175B"], "model: unknown model 'gpt3-175B'"),
        (["--ops", "missing.csv"], "ops: table file 'missing.csv' does not exist"),
        (["--memory", "missing.toml"], "memory: table file 'missing.toml' does not exist"),
        (["--node", "45nm", "--weight-tier", "dram_hbm2"], "weight_tier must be one of 'sram_8KB'"),
        (["--zero-fraction", "2"], "expected a number in [0, 1], got '2'"),
        (["--weight-format", "nf4"], "argument --weight-format: invalid choice"),
        (["--accumulator", "int4"], "argument --accumulator: invalid choice"),
    ],
)
def test_main_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: ")
    assert message in lines[0]


def test_main_unwritable_output_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "700M", "--tokens", "8", "--out", str(blocker / "out")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"{PROG}: error: cannot write to ")


def test_main_with_a_user_node_and_model(tmp_path, capsys):
    ops = tmp_path / "node.csv"
    rows = ["node,op,dtype,bits,energy_pJ,source"]
    values = (
        ("add", "int8", 8, 0.005),
        ("add", "int32", 32, 0.02),
        ("add", "fp16", 16, 0.1),
        ("mul", "fp16", 16, 0.2),
    )
    rows += [f"5nm,{op},{dtype},{bits},{value},projection" for op, dtype, bits, value in values]
    ops.write_text("\n".join(rows) + "\n")
    memory = tmp_path / "memory.csv"
    memory.write_text(
        "node,tier,kind,access_bits,energy_pJ,energy_pJ_max,source\n"
        "5nm,sram_1MB,sram,64,10,10,projection\n5nm,dram_hbm3,dram,64,200,300,projection\n"
    )
    models = tmp_path / "models.toml"
    models.write_text(
        '[[row]]\nname = "tiny"\nfamily = "test"\nhidden = 64\nintermediate = 128\nlayers = 2\n'
        'heads = 4\nkv_heads = 4\nvocab = 100\nffn = "glu"\nsource = "test model"\n'
    )
    out = tmp_path / "out"
    args = ["--node", "5nm", "--ops", str(ops), "--memory", str(memory), "--models", str(models)]
    assert main([*args, "--model", "tiny", "--tokens", "16", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "= 60.00x" in printed  # (0.2 + 0.1) / 0.005
    assert "ops:5nm/add/int8: 0.005 pJ per 8-bit add -- projection [node.csv]" in printed
    assert "models:tiny:" in printed and "[models.toml]" in printed
    assert "dram_hbm3" in printed
    assert (out / "waterfall_tiny.png").exists()


def test_compute_report_prints_nothing_and_build_report_prints_it(tmp_path, capsys):
    args = parse_args(["--model", "700M,1.3B", "--tokens", "8", "--out", str(tmp_path)])
    tables = default_tables()
    report = compute_report(args, tables)
    assert capsys.readouterr().out == ""
    assert list(report.frames) == [
        "per_mac",
        "arithmetic",
        "table1",
        "table1_hypotheses",
        "waterfall",
        "terms",
        "ledger",
        "sources",
    ]
    assert [config.name for config in report.models] == ["b1.58-700M", "b1.58-1.3B"]
    print_report(report)
    printed = capsys.readouterr().out
    assert printed.startswith("bitnet-codesign energy report: node 7nm, 8 tokens")
    assert "b1.58-700M:" in printed and "  dominant term, prefill: fp16: " in printed
    frames = build_report(args, tables)
    assert capsys.readouterr().out == printed
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, report.frames[name])
    with pytest.raises(TypeError, match="tables must be EnergyTables, not dict"):
        compute_report(args, {})
