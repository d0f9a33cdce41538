"""The flow's own per-op table and the pricing of any Verilog module (energy.gates.module, .primitives)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from energy.gates.__main__ import main as gates_main
from energy.gates.module import WARMUP_CYCLES, measure_module, read_stimulus
from energy.gates.primitives import (
    check_outputs,
    format_table,
    measure_primitive,
    paper_ratio,
    primitive_row,
    primitive_verilog,
    reference,
)
from energy.gates.synth import synthesize
from hw.primitives import PRIMITIVES, RegisteredPrimitive
from model.fp16 import to_bits


@pytest.fixture(scope="module")
def table():
    return pd.DataFrame([primitive_row(name, measure_primitive(name, cycles=300)) for name in PRIMITIVES])


def test_every_primitive_is_checked_and_its_energy_adds_up(table):
    for row in table.itertuples(index=False):
        parts = row.flow_logic_pJ + row.flow_registers_pJ + row.flow_input_ports_pJ + row.flow_leakage_pJ
        assert parts == pytest.approx(row.flow_total_pJ, rel=1e-9)
        assert 0 < row.flow_logic_cells_pJ < row.flow_logic_pJ
        spec = PRIMITIVES[row.primitive]
        assert row.flip_flops == 2 * spec.operand_bits + spec.result_bits  # operands and result registered
    assert paper_ratio(table, "table_pJ") == pytest.approx((34 + 16) / (7 / 10))
    assert "(FP16 mul + FP16 add) / INT8 add: table 71.4x" in format_table(table)


def test_the_registers_dominate_the_registered_int8_add(table):
    row = table.set_index("primitive").loc["int8_add"]
    assert row.flow_registers_pJ > 2 * row.flow_logic_pJ  # 25 flip-flops around 8 bits of adder


def test_references():
    a, b = np.array([0x7F, 0x80, 0xFF]), np.array([0x01, 0x80, 0xFF])
    assert reference("int8_add", a, b).tolist() == [128, (-256) & 0x1FF, (-2) & 0x1FF]
    assert reference("int8_mul", a, b).tolist() == [127, 16384, 1]
    assert reference("int32_add", np.array([0xFFFFFFFF]), np.array([1])).tolist() == [0]
    half, one = to_bits(np.float16([0.5])), to_bits(np.float16([1.0]))
    assert reference("fp16_add", half, half).tolist() == one.tolist()
    assert reference("fp16_mul", one, half).tolist() == half.tolist()


def test_a_wrong_unit_fails_the_check():
    wrong = primitive_verilog("int8_add").replace(" + ", " - ")
    assert wrong != primitive_verilog("int8_add")
    measurement = measure_module(wrong, "prim_int8_add", cycles=50)
    with pytest.raises(AssertionError, match="int8_add: cycle"):
        check_outputs("int8_add", measurement)


def test_a_constant_stimulus_toggles_no_logic(tmp_path):
    path = tmp_path / "stimulus.csv"
    path.write_text("a,b\n-3,0x11\n")
    measurement = measure_module(primitive_verilog("int8_mul"), "prim_int8_mul", cycles=40, stimulus=path)
    assert measurement.values["a"][WARMUP_CYCLES:].tolist() == [(-3) & 0xFF] * 40
    assert measurement.values["y"][WARMUP_CYCLES:].tolist() == [(-3 * 17) & 0xFFFF] * 40
    assert measurement.logic_cells_pj() == 0  # only the clock toggles


def test_stimulus_errors(tmp_path):
    widths = {"a": 8, "b": 8}
    for text, message in [
        ("a,c\n1,2\n", "names ports the module does not have: c"),
        ("a\nx\n", "column a: every value must be an integer"),
        ("a\n256\n", "column a: a value does not fit 8 bits"),
        ("a\n-129\n", "column a: a value does not fit 8 bits"),
        ("a\n1,2\n", "a row has more values than the header"),
        ("a\n", "has no rows"),
    ]:
        path = tmp_path / "s.csv"
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_stimulus(path, widths)
    with pytest.raises(ValueError, match="cannot read"):
        read_stimulus(tmp_path / "missing.csv", widths)


def test_the_command_prices_a_users_module(tmp_path, capsys):
    path = tmp_path / "unit.v"
    path.write_text(primitive_verilog("int8_add"))
    assert gates_main(["--verilog", str(path), "--top", "prim_int8_add", "--cycles", "100"]) == 0
    out = capsys.readouterr().out
    assert "prim_int8_add: area" in out and "25 flip-flops" in out and "+ registers" in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--verilog", "{dir}/unit.v"], "--top: the module to price is required"),
        (["--verilog", "{dir}/missing.v", "--top", "x"], "--verilog: cannot read"),
        (
            ["--verilog", "{dir}/unit.v", "--top", "prim_int8_add", "--stimulus", "{dir}/missing.csv"],
            "cannot read",
        ),
    ],
)
def test_the_command_refuses_bad_input_with_one_line(tmp_path, capsys, options, message):
    (tmp_path / "unit.v").write_text(primitive_verilog("int8_add"))
    with pytest.raises(SystemExit) as exit_:
        gates_main([option.format(dir=tmp_path) for option in options])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_primitive_names_are_checked():
    with pytest.raises(ValueError, match="name must be one of int8_add"):
        RegisteredPrimitive("int4_add")
    with pytest.raises(TypeError, match="name must be a string"):
        RegisteredPrimitive(3)


def test_concurrent_syntheses_of_one_design_share_one_whole_result(tmp_path, monkeypatch):
    monkeypatch.setenv("BITNET_SYNTH_CACHE", str(tmp_path))
    verilog = primitive_verilog("int8_add")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: synthesize(verilog, "prim_int8_add"), range(2)))
    assert results[0].area_um2 == results[1].area_um2 and results[0].netlist == results[1].netlist
    assert "module prim_int8_add" in results[0].netlist.read_text()
    folders = [path.name for path in tmp_path.iterdir() if path.name.startswith("prim_int8_add")]
    assert len(folders) == 1 and not [p for p in tmp_path.iterdir() if p.name.startswith(".prim")]
