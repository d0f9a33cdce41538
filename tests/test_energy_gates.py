"""Gate-level flow: ASAP7 liberty reading, synthesis, cell models, toggles, energy, the CLI."""

import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from energy.gates.activity import Activity, read_toggles
from energy.gates.cells import verilog_expression
from energy.gates.circuit import Circuit
from energy.gates.gatesim import GateSimulator, simulate
from energy.gates.liberty import PdkError, parse_group, pdk_dir, read_library, write_trimmed_liberty
from energy.gates.measure import ENGINES, measure_array
from energy.gates.netlist import read_netlist
from energy.gates.power import EnergySettings, gate_energy, input_internal_fj, output_internal_fj
from energy.gates.realistic import activity_stimulus
from energy.gates.synth import MAPPING_CELLS, synthesize
from energy.gates.timing import BUFFER, critical_path_ps
from hw.generate import verilog_for
from hw.params import ArrayParams

INV, NAND, DFF = "INVx1_ASAP7_75t_R", "NAND2xp5_ASAP7_75t_R", "DFFHQNx1_ASAP7_75t_R"


@pytest.fixture(scope="module")
def library():
    return read_library(MAPPING_CELLS)


def test_liberty_cells_are_read_with_their_numbers(library):
    nand = library.cell(NAND)
    assert nand.area == pytest.approx(0.05832)
    assert nand.leakage_pw == pytest.approx(49.6344)
    assert nand.pins["Y"].function == "(!A) + (!B)"
    assert nand.pins["A"].capacitance == pytest.approx(0.495514)
    # the first cell_rise entry of the A -> Y arc is 7.88236 ps at 5 ps / 0.36 fF
    arc = next(a for a in nand.timing if a.related_pin == "A")
    assert arc.cell_rise.at(5, 0.36) == pytest.approx(7.88236)
    # halfway between two grid points the tables interpolate linearly
    mid = arc.cell_rise.at(7.5, 0.36)
    assert mid == pytest.approx((7.88236 + 9.72567) / 2)
    dff = library.cell(DFF)
    assert dff.sequential and dff.ff == ("IQN", "CLK", "!D") and dff.pins["CLK"].clock


def test_internal_energy_sums_the_supply_pins_and_averages_the_rest(library):
    nand = library.cell(NAND)
    energy = output_internal_fj(nand, "Y", 20, 1.0)
    assert 0 < energy < 1.0  # fJ per toggle of a minimum NAND2 at 7nm
    assert output_internal_fj(nand, "Y", 20, 5.0) != energy  # load-dependent
    assert input_internal_fj(library.cell(DFF), "CLK", 20) > 0.1  # clocking a flip-flop costs energy


def test_parser_handles_optional_semicolons_and_continuations():
    group = parse_group(
        'cell (X) {\n area : 1.5\n pin (A) { direction : input; }\n values ( \\\n "1, 2" );\n}'
    )
    assert group.attributes["area"] == "1.5"
    assert group.all("pin")[0].attributes["direction"] == "input"
    assert group.complex["values"] == ["1, 2"]


def test_trimmed_liberty_is_a_valid_library(library, tmp_path):
    path = write_trimmed_liberty(library, tmp_path / "t.lib")
    group = parse_group(path.read_text())
    assert group.kind == "library" and len(group.all("cell")) == len(MAPPING_CELLS)


def test_trimmed_liberty_is_the_same_bytes_in_every_process(tmp_path):
    """Its hash is part of the synthesis cache key: string-hash randomization must not reorder it."""
    script = (
        "import sys, pathlib; from energy.gates.liberty import read_library, write_trimmed_liberty; "
        "from energy.gates.synth import MAPPING_CELLS; "
        "write_trimmed_liberty(read_library(MAPPING_CELLS), pathlib.Path(sys.argv[1]))"
    )
    texts = []
    for seed in ("1", "2"):
        out = tmp_path / f"{seed}.lib"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=120)
        texts.append(out.read_bytes())
    assert texts[0] == texts[1]


def test_missing_pdk_names_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BITNET_ASAP7_DIR", str(tmp_path))
    with pytest.raises(PdkError, match="asap7sc7p5t_28"):
        pdk_dir()


@pytest.mark.parametrize(
    ("function", "expected"),
    [("(!A) + (!B)", "(~A) | (~B)"), ("(A * !B) + (!A * B)", "(A & ~B) | (~A & B)"), ("1", "1'b1")],
)
def test_liberty_functions_become_verilog(function, expected):
    assert verilog_expression(function) == expected


def test_synthesis_is_cached_and_reports_area():
    params = ArrayParams(lanes=2, rows=1, max_k=64)
    first = synthesize(verilog_for(params), params.default_name())
    again = synthesize(verilog_for(params), params.default_name())
    assert again.cached and again.area_um2 == first.area_um2 > 0
    assert first.cells.get(DFF, 0) > 0 and first.sequential_area_um2 > 0
    assert abs(sum(c for c in first.cells.values()) - first.cell_count) == 0


def test_energy_model_on_a_hand_made_netlist(library, tmp_path):
    netlist_file = tmp_path / "n.v"
    netlist_file.write_text(
        """module t(a, clk, y);
  input a; wire a; input clk; wire clk; output y; wire y;
  wire n1; wire q;
  INVx1_ASAP7_75t_R u1 (.A(a), .Y(n1));
  DFFHQNx1_ASAP7_75t_R u2 (.CLK(clk), .D(n1), .QN(q));
  NAND2xp5_ASAP7_75t_R u3 (.A(q), .B(a), .Y(y));
endmodule
"""
    )
    netlist = read_netlist(netlist_file, "t")
    activity = Activity(Counter({"a": 10, "n1": 10, "q": 4, "clk": 20, "y": 6}), 0, 10_000)
    settings = EnergySettings(slew_ps=20, clock_ps=1000)
    report = gate_energy(Circuit(netlist, library), activity, macs=10, cycles=10, settings=settings)
    inv, dff, nand = library.cell(INV), library.cell(DFF), library.cell(NAND)
    v2 = 0.7**2
    c_a = inv.pins["A"].capacitance + nand.pins["B"].capacitance
    c_n1, c_q, c_clk = dff.pins["D"].capacitance, nand.pins["A"].capacitance, dff.pins["CLK"].capacitance
    combinational = (
        0.5 * c_a * v2 * 10
        + (0.5 * c_n1 * v2 + output_internal_fj(inv, "Y", 20, c_n1)) * 10
        + output_internal_fj(nand, "Y", 20, 0.0) * 6
        + input_internal_fj(inv, "A", 20) * 10
        + input_internal_fj(nand, "A", 20) * 4
        + input_internal_fj(nand, "B", 20) * 10
    )
    sequential = (
        0.5 * c_clk * v2 * 20
        + (0.5 * c_q * v2 + output_internal_fj(dff, "QN", 20, c_q)) * 4
        + input_internal_fj(dff, "CLK", 20) * 20
        + input_internal_fj(dff, "D", 20) * 10
    )
    leakage = (inv.leakage_pw + dff.leakage_pw + nand.leakage_pw) * 1e-12 * 10 * 1e-9 * 1e15
    assert report.combinational_fj == pytest.approx(combinational)
    assert report.sequential_fj == pytest.approx(sequential)
    assert report.leakage_fj == pytest.approx(leakage)
    assert report.per_mac_pj()["total"] == pytest.approx((combinational + sequential + leakage) / 10 / 1000)
    # a -> inverter -> flip-flop: the register's D path; q -> nand -> y: the output path
    assert critical_path_ps(Circuit(netlist, library)) > 0


def test_a_high_fanout_net_is_timed_through_a_modelled_buffer_tree(library, tmp_path):
    # a -> one inverter -> the D pins of 40 flip-flops (their outputs unused)
    flops = "\n".join(f"  DFFHQNx1_ASAP7_75t_R f{i} (.CLK(clk), .D(n1), .QN(q{i}));" for i in range(40))
    wires = " ".join(f"wire q{i};" for i in range(40))
    path = tmp_path / "fanout.v"
    path.write_text(
        f"module t(a, clk);\n  input a; wire a; input clk; wire clk; wire n1; {wires}\n"
        f"  INVx1_ASAP7_75t_R u1 (.A(a), .Y(n1));\n{flops}\nendmodule\n"
    )
    circuit = Circuit(read_netlist(path, "t"), library)
    inverter = next(arc for arc in library.cell(INV).timing if arc.pin == "Y")
    buffer = library.cell(BUFFER)
    buffer_arc = next(arc for arc in buffer.timing if arc.pin == "Y")
    c_d, c_buffer = library.cell(DFF).pins["D"].capacitance, buffer.pins["A"].capacitance

    def delay(arc, load):
        return max(arc.cell_rise.at(20, load), arc.cell_fall.at(20, load))

    assert critical_path_ps(circuit, 20) == pytest.approx(delay(inverter, 40 * c_d))
    assert critical_path_ps(circuit, 20, max_fanout=40) == critical_path_ps(circuit, 20)  # 40 pins: as mapped
    # b = 4: ceil(log4 40) - 1 = 2 buffer levels; the inverter drives 4 buffers, the inner level 4 buffers,
    # the last 4 flip-flops each
    expected = delay(inverter, 4 * c_buffer) + delay(buffer_arc, 4 * c_buffer) + delay(buffer_arc, 4 * c_d)
    assert critical_path_ps(circuit, 20, max_fanout=4) == pytest.approx(expected)
    # b = 8: one level (40 <= 64)
    expected = delay(inverter, 8 * c_buffer) + delay(buffer_arc, 8 * c_d)
    assert critical_path_ps(circuit, 20, max_fanout=8) == pytest.approx(expected)
    with pytest.raises(ValueError, match="max_fanout must be an integer >= 2"):
        critical_path_ps(circuit, 20, max_fanout=1)
    # an input port driving the 40 D pins itself: an ideal driver, so only its buffers' delay
    path.write_text(
        path.read_text().replace(".D(n1)", ".D(a)").replace("INVx1_ASAP7_75t_R u1 (.A(a), .Y(n1));", "")
    )
    ported = Circuit(read_netlist(path, "t"), library)
    assert critical_path_ps(ported, 20) == 0
    expected = delay(buffer_arc, 4 * c_buffer) + delay(buffer_arc, 4 * c_d)
    assert critical_path_ps(ported, 20, max_fanout=4) == pytest.approx(expected)


def test_toggles_are_counted_per_bit_inside_the_window(tmp_path):
    vcd = tmp_path / "d.vcd"
    vcd.write_text(
        """$timescale 1ps $end
$scope module $rootio $end
$var wire 1 ! clk $end
$upscope $end
$scope module t $end
$var wire 1 " clk $end
$var wire 3 # bus [2:0] $end
$upscope $end
$enddefinitions $end
#0
0"
b000 #
#10
1"
b011 #
#20
0"
b010 #
#30
1"
b110 #
#40
0"
"""
    )
    activity = read_toggles(vcd, "t", 10, 40)
    assert activity.toggles == Counter({"clk": 3, "bus[0]": 2, "bus[1]": 1, "bus[2]": 1})


SMALL = {"lanes": 4, "rows": 2, "max_k": 64, "pipeline": "full"}
#: The FP16 array is about ten times the cells of int8: two lanes and one row keep its netlist small.
TINY_FP16 = {"lanes": 2, "rows": 1, "max_k": 64, "pipeline": "full"}
#: The Verilator cross-check compiles every cell of the netlist to C++ (cocotb makes every net public):
#: small arrays that still have pipeline registers and an accumulator, and an adder tree for the integer
#: arrays; the FP16 array keeps one lane (a binary16 multiplier and the binary16 accumulator adder).
CROSS_CHECK = {"lanes": 2, "rows": 1, "max_k": 32, "pipeline": "full"}
CROSS_CHECK_FP16 = {**CROSS_CHECK, "lanes": 1}
ARRAYS = ("ternary", "int8", "fp16")


def small_params(array: str) -> ArrayParams:
    return ArrayParams(array, **(TINY_FP16 if array == "fp16" else SMALL))


def cross_check_params(array: str) -> ArrayParams:
    return ArrayParams(array, **(CROSS_CHECK_FP16 if array == "fp16" else CROSS_CHECK))


@pytest.fixture(scope="module")
def measured():
    """Per array, one gate-level measurement by the NumPy simulator (every output checked against the
    golden model)."""
    return {array: measure_array(small_params(array), beats=64, seed=5) for array in ARRAYS}


@pytest.fixture(scope="module")
def cross_checked():
    """Per array and engine, one measurement of the smallest array: the mapped netlist simulated by cocotb +
    Verilator on cell models and by the NumPy simulator, on the same data."""
    return {
        array: {
            engine: measure_array(cross_check_params(array), beats=64, seed=5, engine=engine)
            for engine in ENGINES
        }
        for array in ARRAYS
    }


def check_measurement(measurement, params: ArrayParams, engine: str) -> None:
    per_mac = measurement.energy.per_mac_pj()
    assert measurement.activity["engine"] == engine
    assert measurement.activity["macs"] == 64 * params.macs_per_beat
    assert measurement.activity["outputs"] == 64 // params.max_beats  # every sum arrived and was exact
    assert all(per_mac[k] > 0 for k in ("combinational", "sequential", "leakage"))
    assert 1e-3 < per_mac["total"] < 1.0  # pJ per MAC: between an INT8 add and an FP16 MAC, roughly
    assert measurement.synth.area_um2 > 0 and measurement.critical_path_ps > 0


@pytest.mark.parametrize("array", ARRAYS)
def test_gate_level_netlists_are_bit_exact_and_priced(measured, array):
    check_measurement(measured[array], small_params(array), "numpy")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("array", ARRAYS)
def test_both_engines_check_and_price_the_smallest_arrays(cross_checked, array, engine):
    check_measurement(cross_checked[array][engine], cross_check_params(array), engine)


@pytest.mark.parametrize("array", ARRAYS)
def test_numpy_and_verilator_simulations_give_the_same_activity(cross_checked, array):
    """Both are zero-delay cycle simulations of the same netlist on the same data; their windows differ by a
    few idle cycles around the data, so the data-driven (combinational) energy and the sequential energy
    per cycle agree within 5%."""
    numpy_run, verilator_run = cross_checked[array]["numpy"], cross_checked[array]["cocotb"]
    ours, theirs = numpy_run.energy, verilator_run.energy
    assert abs(ours.combinational_fj / theirs.combinational_fj - 1) < 0.05  # the same data, all beats
    per_cycle = [run.energy.sequential_fj / run.activity["cycles"] for run in (numpy_run, verilator_run)]
    assert abs(per_cycle[0] / per_cycle[1] - 1) < 0.05  # clock and registers, per cycle of each window


def test_the_arrays_rank_as_expected(measured):
    per_mac = {array: m.energy.per_mac_pj()["total"] for array, m in measured.items()}
    area = {array: m.synth.area_um2 / small_params(array).macs_per_beat for array, m in measured.items()}
    assert per_mac["int8"] / per_mac["ternary"] > 1.5 and area["int8"] / area["ternary"] > 1.5
    assert per_mac["fp16"] > per_mac["int8"] and area["fp16"] > area["int8"]


def test_the_numpy_simulator_catches_a_wrong_gate(library):
    """One XOR cell swapped for an XNOR in the mapped netlist: the checked simulation must fail."""
    params = small_params("int8")
    top = params.default_name()
    netlist = read_netlist(synthesize(verilog_for(params, name=top), top).netlist, top)
    victim = next(i for i in netlist.instances if i.cell == "XOR2xp5_ASAP7_75t_R")
    victim.cell = "XNOR2xp5_ASAP7_75t_R"
    stimulus = activity_stimulus(params, np.random.default_rng(5), 64, "gaussian")
    with pytest.raises(AssertionError, match="gate-level sum .* wrong in rows"):
        simulate(GateSimulator(Circuit(netlist, library)), params, stimulus)


def test_numpy_simulator_toggles_on_a_hand_made_netlist(library, tmp_path):
    """A flip-flop whose QN feeds its D through two inverters toggles every cycle."""
    path = tmp_path / "toggle.v"
    path.write_text(
        """module t(clk, q);
  input clk;
  output q;
  wire n, d;
  DFFHQNx1_ASAP7_75t_R ff (.CLK(clk), .D(d), .QN(q));
  INVx1_ASAP7_75t_R inv1 (.A(q), .Y(n));
  INVx1_ASAP7_75t_R inv2 (.A(n), .Y(d));
endmodule
"""
    )
    simulator = GateSimulator(Circuit(read_netlist(path, "t"), library))
    seen = []
    for _ in range(6):
        simulator.settle()
        seen.append(int(simulator.values[simulator.port("q")][0]))
        simulator.clock()
    # the liberty state IQN starts at 0 and takes next_state = !D = !QN at each edge
    assert seen == [0, 1, 0, 1, 0, 1]
    assert simulator.depth == 2


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "energy.gates", "--zero", "1.5"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "fraction in [0, 1)" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "energy.gates", "--lanes", "2", "--rows", "1", "--pdk", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "no ASAP7 liberty files" in run.stderr and "Traceback" not in run.stderr


def test_zero_weights_save_energy_on_the_ternary_array():
    params = ArrayParams("ternary", **SMALL)  # the same netlist as above
    dense = measure_array(params, beats=64, zero="0.0", seed=7)
    sparse = measure_array(params, beats=64, zero="0.6", seed=7)
    assert dense.activity["zero_fraction"] == 0 and 0.5 < sparse.activity["zero_fraction"] < 0.7
    assert sparse.energy.per_mac_pj()["total"] < dense.energy.per_mac_pj()["total"]
