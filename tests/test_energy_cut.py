"""Flip-flops cut into paired inputs and outputs (energy.gates.cut), on a design small enough to read."""

import re

import pytest

from energy.gates.bounded import run_yosys
from energy.gates.cut import CUT, NEXT, cut_flops, register_key, rtl_register, wire_widths

#: Two plain flip-flops (r), one with an asynchronous reset (s).
DESIGN = """module t(input clk, input rst, input [1:0] a, output [1:0] y, output z);
  reg [1:0] r;
  reg s;
  always @(posedge clk) r <= a ^ r;
  always @(posedge clk or posedge rst) if (rst) s <= 0; else s <= a[0];
  assign y = r;
  assign z = s;
endmodule
"""


@pytest.fixture(scope="module")
def flattened(tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("cut")
    (work / "t.v").write_text(DESIGN)
    script = "read_verilog t.v\nproc\nflatten\nsimplemap t:$*dff* t:$*dlatch* t:$ff t:$sr\nwrite_rtlil t.il"
    assert run_yosys(work, script, 300, log="load").returncode == 0
    return (work / "t.il").read_text()


def yosys_reads(tmp_path, rtlil: str, checks: list[str]) -> bool:
    (tmp_path / "cut.il").write_text(rtlil)
    run = run_yosys(tmp_path, "\n".join(["read_rtlil cut.il", "hierarchy -top t", *checks]), 300, "check")
    return run.returncode == 0


def test_plain_flip_flops_become_an_input_and_an_output(flattened, tmp_path):
    widths = wire_widths(flattened)
    assert widths == {"clk": 1, "rst": 1, "a": 2, "y": 2, "z": 1, "r": 2, "s": 1}
    cut = cut_flops(flattened, lambda q: rtl_register(q, widths))
    assert sorted(cut.keys) == ["r[0]", "r[1]"]
    assert len(cut.left) == 1 and cut.left[0].startswith("$_DFF_PP0_ ")
    assert "(only rising-edge flip-flops without set or reset are cut)" in cut.left[0]
    assert f"connect \\r [0] \\{CUT}r[0]" in cut.rtlil
    assert f"connect \\{NEXT}r[1] $xor$t.v:4$2_Y [1]" in cut.rtlil
    assert yosys_reads(
        tmp_path,
        cut.rtlil,
        [
            "select -assert-none t:$_DFF_P_",
            "select -assert-count 1 t:$_DFF_PP0_",  # left in place, and reported
            f"select -assert-count 2 i:{CUT}*",
            f"select -assert-count 2 o:{NEXT}*",
        ],
    )


def test_a_complemented_flip_flop_is_cut_through_inverters(flattened, tmp_path):
    widths = wire_widths(flattened)

    def complemented(q: str):
        found = rtl_register(q, widths)
        return None if found is None or found[0] == "s[0]" else (found[0], True)

    cut = cut_flops(flattened, complemented)
    assert len(re.findall(r"cell \$_NOT_", cut.rtlil)) == 4  # one on the cut input, one on D, per flop
    assert yosys_reads(tmp_path, cut.rtlil, ["select -assert-count 4 t:$_NOT_"])


def test_unknown_and_repeated_keys_are_left_in_place(flattened):
    cut = cut_flops(flattened, lambda q: None)
    assert cut.keys == [] and len(cut.left) == 3
    assert "holds no known register bit" in cut.left[0]
    same = cut_flops(flattened, lambda q: (register_key("r", 0), False))
    assert same.keys == ["r[0]"] and "a second flip-flop holds r[0]" in same.left


def test_only_one_module_is_cut():
    with pytest.raises(ValueError, match="one module"):
        cut_flops("module \\a\nend\nmodule \\b\nend\n", lambda q: None)
