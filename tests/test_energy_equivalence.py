"""Equivalence of the priced netlists to their RTL (energy.gates.equivalence): proofs, mutants, guards."""

import argparse
import dataclasses
import json
import re
import subprocess
import sys

import pytest
from amaranth.back import verilog

from energy.gates.cells import cell_models
from energy.gates.equivalence import (
    ENGINES,
    NOT_REQUESTED,
    EquivalenceSettings,
    Verdict,
    add_settings_arguments,
    check_equivalence,
    prove_netlist,
    prove_units,
    same_up_to_renaming,
    settings_from_arguments,
)
from energy.gates.liberty import read_library
from energy.gates.synth import HIER_NETLIST, NAMED_NETLIST, REGISTERS_JSON, register_map, synthesize
from energy.gates.units import modules, unit_classes
from hw.fp16 import Fp16Adder
from hw.generate import verilog_for
from hw.params import ArrayParams

#: Small enough to prove in about a second each (a short max_k keeps the accumulator narrow).
PROVABLE = {
    "ternary": ArrayParams("ternary", 2, 1, max_k=16),
    "ternary-pipelined": ArrayParams("ternary", 4, 1, max_k=16, pipeline="full"),
}
FLOP = "DFFHQNx1_ASAP7_75t_R"


@pytest.fixture(params=ENGINES)
def engine(request) -> EquivalenceSettings:
    """Each proof engine, with the default budget."""
    return EquivalenceSettings(engine=request.param)


def synthesized(params: ArrayParams):
    top = params.default_name()
    return synthesize(verilog_for(params, name=top, unit_modules=True), top)


@pytest.fixture(scope="module")
def ternary():
    """The small ternary array's synthesis and the inputs of a proof."""
    result = synthesized(PROVABLE["ternary"])
    folder = result.netlist.parent
    registers = json.loads((folder / REGISTERS_JSON).read_text())
    return result, (folder / "design.v").read_text(), (folder / NAMED_NETLIST).read_text(), registers


@pytest.mark.parametrize("name", sorted(PROVABLE))
def test_small_netlists_are_proven_equivalent(name, engine):
    result = synthesized(PROVABLE[name])
    verdict = check_equivalence(result, engine, use_cache=False)
    assert verdict.status == "proven", verdict.reason
    assert verdict.engine == engine.engine
    flops = result.cells[FLOP]
    assert verdict.signals == flops  # every flip-flop paired with a register bit
    assert verdict.line().startswith("netlist equivalent to RTL: proven (")
    assert check_equivalence(result, engine).cached  # stored beside the netlist


def test_one_changed_gate_is_not_equivalent(ternary, engine, tmp_path):
    result, rtl, named, registers = ternary
    # the inverter that drives an output bit becomes a buffer: one gate changed
    driver = re.search(
        r"INVx1_ASAP7_75t_R\s+(\S+)\s+\(\s*\.A\([^)]*\),\s*\.Y\(o_stream__payload\[0\]\)", named
    )
    assert driver is not None
    mutant = (
        named[: driver.start()] + "BUFx2_ASAP7_75t_R" + named[driver.start() + len("INVx1_ASAP7_75t_R") :]
    )
    verdict = prove_netlist(rtl, mutant, result.top, registers, engine, log_to=tmp_path / "equivalence.log")
    assert verdict.status == "FAILED", verdict.reason
    assert f"{tmp_path.name}/counterexample.vcd" in verdict.reason
    assert (tmp_path / "counterexample.vcd").read_text().startswith("$")  # the solver's trace


def test_a_changed_gate_inside_the_tree_is_not_equivalent(ternary, engine):
    result, rtl, named, registers = ternary
    start = named.index("XNOR2xp5_ASAP7_75t_R")
    mutant = named[:start] + "XOR2xp5_ASAP7_75t_R" + named[start + len("XNOR2xp5_ASAP7_75t_R") :]
    assert prove_netlist(rtl, mutant, result.top, registers, engine).status == "FAILED"


def test_flip_flops_paired_with_the_wrong_register_bits_are_not_equivalent(ternary, engine):
    """The pairing is what the proof rests on: two accumulator bits swapped in the register map fail."""
    result, rtl, named, registers = ternary
    flops = dict(registers[result.top])
    first, second = (cell for cell, (wire, bit, _) in sorted(flops.items()) if wire == "r0_acc" and bit < 2)
    flops[first], flops[second] = flops[second], flops[first]
    verdict = prove_netlist(rtl, named, result.top, {result.top: flops}, engine)
    assert verdict.status == "FAILED", verdict.reason


def test_a_combinational_unit_is_proven_and_a_changed_gate_fails(engine, tmp_path):
    """An FP16 adder on its own (no clock, no flip-flop): its outputs are compared in the same cycle."""
    top = "fp16_adder_unit"
    text = verilog.convert(Fp16Adder(), name=top, emit_src=False, strip_internal_attrs=True)
    result = synthesize(text, top)
    verdict = check_equivalence(result, engine, use_cache=False)
    assert verdict.status == "proven", verdict.reason
    assert verdict.signals == 0
    folder = result.netlist.parent
    named = (folder / NAMED_NETLIST).read_text()
    start = named.index("XNOR2xp5_ASAP7_75t_R")
    mutant = named[:start] + "XOR2xp5_ASAP7_75t_R" + named[start + len("XNOR2xp5_ASAP7_75t_R") :]
    registers = json.loads((folder / REGISTERS_JSON).read_text())
    failed = prove_netlist(text, mutant, top, registers, engine, log_to=tmp_path / "equivalence.log")
    assert failed.status == "FAILED", failed.reason
    assert (tmp_path / "counterexample.vcd").read_text().startswith("$")


def test_a_black_boxed_cell_is_never_proven(ternary, engine):
    """The known false proof: a cell without a model leaves its outputs free; the guard reports it."""
    result, rtl, named, registers = ternary
    used = {m.group(1) for m in re.finditer(r"^\s*(\w+_ASAP7_75t_R)\s", named, re.M)}
    models = cell_models(read_library(), used - {"XNOR2xp5_ASAP7_75t_R"})
    models += "(* blackbox *)\nmodule XNOR2xp5_ASAP7_75t_R (A, B, Y);\n input A, B;\n output Y;\nendmodule\n"
    verdict = prove_netlist(rtl, named, result.top, registers, engine, cell_verilog=models)
    assert verdict.status == "not checked"
    assert "(black boxes): XNOR2xp5_ASAP7_75t_R" in verdict.reason


def test_a_proof_past_its_budget_is_not_checked(ternary, engine):
    result, rtl, named, registers = ternary
    settings = dataclasses.replace(engine, timeout_s=0.05)
    verdict = prove_netlist(rtl, named, result.top, registers, settings)
    assert verdict.status == "not checked"
    assert verdict.reason.startswith("time-out after 0.05 s")


def test_an_unpaired_flip_flop_is_not_proven(ternary, engine):
    result, rtl, named, registers = ternary
    flops = dict(registers[result.top])
    flops.pop(sorted(flops)[0])
    verdict = prove_netlist(rtl, named, result.top, {result.top: flops}, engine)
    assert verdict.status == "not proven"
    assert "1 of the netlist's 27 flip-flops are not paired" in verdict.reason


def test_the_named_netlist_is_the_priced_one_renamed(ternary):
    result, _, named, _ = ternary
    priced = result.netlist.read_text()
    assert same_up_to_renaming(priced, named)
    private = re.search(r"_\d+_", priced).group(0)
    assert not same_up_to_renaming(priced.replace(f".A({private})", ".A(clk)", 1), named)
    assert not same_up_to_renaming(priced.replace("INVx1", "BUFx2", 1), named)


def test_register_map_follows_the_inverter_dfflibmap_adds():
    design = {
        "modules": {
            "top": {
                "netnames": {
                    "acc": {"hide_name": 0, "bits": [5, 6]},
                    "$q": {"hide_name": 1, "bits": [7]},
                },
                "cells": {
                    "$ff0": {"type": FLOP, "connections": {"CLK": [2], "D": [3], "QN": [5]}},
                    "$ff1": {"type": FLOP, "connections": {"CLK": [2], "D": [4], "QN": [7]}},
                    "$not": {"type": "$_NOT_", "connections": {"A": [7], "Y": [6]}},
                },
            }
        }
    }
    assert register_map(design, {FLOP: "QN"}) == {
        "top": {"$ff0": ["acc", 0, False], "$ff1": ["acc", 1, True]}
    }


def test_settings_and_defaults():
    with pytest.raises(ValueError, match="timeout_s"):
        EquivalenceSettings(timeout_s=0)
    assert Verdict("not checked", NOT_REQUESTED).summary() == "not checked: not requested"


def test_the_cli_prints_the_verdict():
    run = subprocess.run(
        [sys.executable, "-m", "energy.gates", "--array", "ternary", "--lanes", "2", "--rows", "1"]
        + ["--max-k", "16", "--beats", "16"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "netlist equivalent to RTL: proven (" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "energy.gates", "--array", "ternary", "--equivalence-timeout-s", "-1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_the_options_are_the_settings_fields():
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, timeout_s=7.0)
    options = set(vars(parser.parse_args([])))
    assert options == {f"equivalence_{item.name}" for item in dataclasses.fields(EquivalenceSettings)}
    assert settings_from_arguments(parser.parse_args([])) == EquivalenceSettings(timeout_s=7.0)
    assert settings_from_arguments(parser.parse_args(["--equivalence-timeout-s", "2.5"])).timeout_s == 2.5
    assert settings_from_arguments(parser.parse_args(["--equivalence-timeout-s", "0"])) is None
    required = argparse.ArgumentParser()
    add_settings_arguments(required, prefix="", optional=False)
    assert settings_from_arguments(required.parse_args(["--timeout-s", "3"]), prefix="").timeout_s == 3.0
    with pytest.raises(SystemExit):
        required.parse_args(["--timeout-s", "0"])


@pytest.fixture(scope="module")
def fp16_array():
    """The one-lane FP16 array: a multiplier unit and the accumulator's adder unit around a little glue."""
    result = synthesized(ArrayParams("fp16", 1, 1, max_k=16))
    folder = result.netlist.parent
    registers = json.loads((folder / REGISTERS_JSON).read_text())
    return result, (folder / "design.v").read_text(), (folder / HIER_NETLIST).read_text(), registers


def test_the_fp16_array_is_proven_unit_by_unit(fp16_array):
    result, rtl, hierarchical, _ = fp16_array
    assert len(unit_classes(rtl, hierarchical, result.top)) == 2
    verdict = check_equivalence(result, use_cache=False)
    assert verdict.status == "proven", verdict.reason
    assert verdict.units.startswith("2 distinct unit modules for 2 instances proven: ")
    assert verdict.signals == result.cells[FLOP]  # the glue's flip-flops, all paired
    assert "unit by unit" in verdict.line() and "the glue: outputs and" in verdict.line()


def _changed_in_module(hierarchical: str, module: str) -> str:
    """``hierarchical`` with one gate of ``module`` changed: its first XNOR2 an XOR2, or else its first
    NAND2 a NOR2 (the same pins)."""
    start = hierarchical.index(f"module {module}")
    end = hierarchical.index("endmodule", start)
    for cell, other in (("XNOR2xp5", "XOR2xp5"), ("NAND2xp5", "NOR2xp33")):
        at = hierarchical.find(f"{cell}_ASAP7_75t_R", start, end)
        if at >= 0:
            return hierarchical[:at] + other + hierarchical[at + len(cell) :]
    raise AssertionError(f"no XNOR2 or NAND2 in {module}")


def test_a_changed_gate_in_a_unit_or_in_the_glue_fails(fp16_array, tmp_path):
    result, rtl, hierarchical, registers = fp16_array
    multiplier = next(name for name in modules(hierarchical) if name.endswith("u_r0_l0_0"))
    mutant = _changed_in_module(hierarchical, "\\" + multiplier)
    failed = prove_units(rtl, mutant, result.top, registers, log_to=tmp_path / "equivalence.log")
    assert failed.status == "FAILED" and failed.reason.startswith("unit u_r0_l0_0 "), failed.reason
    assert f"{tmp_path.name}/counterexample.vcd" in failed.reason
    assert (tmp_path / "counterexample.vcd").read_text().startswith("$")
    glue = prove_units(rtl, _changed_in_module(hierarchical, result.top), result.top, registers)
    assert glue.status == "FAILED" and glue.reason.startswith("the glue: "), glue.reason
    assert "2 distinct unit modules for 2 instances proven" in glue.reason  # what was proven is said
