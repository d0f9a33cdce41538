"""The modelled wires and clock tree (energy.gates.parasitics), the blocks (energy.gates.blocks) and the
physics switches of the gate-level measurement and its CLI."""

import math

import pytest

from energy.gates.__main__ import main
from energy.gates.blocks import BLOCKS, cell_blocks, flop_registers
from energy.gates.circuit import Circuit
from energy.gates.liberty import read_library
from energy.gates.measure import measure_array
from energy.gates.netlist import read_netlist
from energy.gates.parasitics import CLOCK_BUFFERS, WireLoad, cell_side_um, clock_tree, wire_loads
from energy.gates.physics import PhysicsSettings
from energy.gates.power import CLOCK_NET, nominal_voltage
from energy.gates.synth import MAPPING_CELLS, synthesize
from hw.generate import verilog_for
from hw.params import ArrayParams

PARAMS = ArrayParams("int8", 4, 2, max_k=64)


@pytest.fixture(scope="module")
def circuit():
    top = PARAMS.default_name()
    result = synthesize(verilog_for(PARAMS, name=top), top)
    library = read_library((*MAPPING_CELLS, *CLOCK_BUFFERS))
    return result, Circuit(read_netlist(result.netlist, top), library)


@pytest.fixture(scope="module")
def measured():
    """The same window under each switch (zero-delay unless named)."""
    settings = {
        "plain": PhysicsSettings(),
        "wires": PhysicsSettings(wire_load=True),
        "tree": PhysicsSettings(clock_tree=True),
        "timing": PhysicsSettings(activity="timing"),
    }
    return {name: measure_array(PARAMS, beats=32, seed=2, physics=s) for name, s in settings.items()}


def test_the_wire_of_a_net_grows_with_the_root_of_its_fanout(circuit):
    _, design = circuit
    wires, sinks, side = wire_loads(design, WireLoad()), design.fanout, cell_side_um(design)
    assert CLOCK_NET not in wires and 0.2 < side < 1.0  # um: ASAP7 cells are 0.27 um high
    net = next(n for n, count in sinks.items() if count == 3 and n != CLOCK_NET)
    assert wires[net] == pytest.approx(0.2 * 2 * side * math.sqrt(4))
    assert wire_loads(design, WireLoad(cap_ff_per_um=0.0))[net] == 0.0
    with pytest.raises(ValueError, match="cap_ff_per_um"):
        WireLoad(cap_ff_per_um=-1)


def test_the_clock_tree_is_balanced_and_sized_to_its_slew(circuit):
    _, design = circuit
    flops = len(design.flops)
    tree = clock_tree(design, design.library, fanout=4)
    assert tree.clock_pins == flops
    counts = [level.count for level in tree.levels]
    assert counts[0] == 1 and counts[-1] == math.ceil(flops / 4)
    assert all(math.ceil(below / 4) == above for above, below in zip(counts, counts[1:], strict=False))
    for level in tree.levels:
        assert level.output_slew_ps <= 20.0 or level.cell.name == CLOCK_BUFFERS[-1]
    assert clock_tree(design, design.library, wires=WireLoad()).levels[-1].wire_ff > 0
    with pytest.raises(ValueError, match="fanout"):
        clock_tree(design, design.library, fanout=1)


def test_each_switch_adds_only_its_own_energy(measured, circuit):
    plain, wires, tree = measured["plain"].energy, measured["wires"].energy, measured["tree"].energy
    # the clock tree: sequential energy and leakage only, exactly what it reports
    assert tree.combinational_fj == pytest.approx(plain.combinational_fj)
    assert tree.sequential_fj - plain.sequential_fj == pytest.approx(tree.details["clock_tree"])
    assert tree.leakage_fj - plain.leakage_fj == pytest.approx(tree.details["clock_tree_leakage"])
    # the wires: more switching, by 0.5 C V^2 per toggle of each wire (and more internal energy)
    assert wires.details["switching"] > plain.details["switching"]
    assert wires.total_fj > plain.total_fj
    assert measured["plain"].settled_energy is None and measured["plain"].physics.label == "zero-delay"


def test_timing_mode_reports_the_same_run_without_its_glitches(measured):
    timing, plain = measured["timing"], measured["plain"]
    assert timing.settled_energy.total_fj == pytest.approx(plain.energy.total_fj)
    assert timing.energy.total_fj > timing.settled_energy.total_fj
    assert 0 < timing.activity["glitch_share"] < 1


def test_blocks_attribute_every_cell_and_all_the_energy(circuit, measured):
    result, design = circuit
    registers = flop_registers(result.netlist, PARAMS.default_name())
    blocks = cell_blocks(design, PARAMS, registers)
    assert set(blocks.values()) == set(BLOCKS)
    for instance, _ in design.flops:
        names = registers[instance.name]
        if names[0] in ("r0_acc", "r1_acc", "o_stream__payload"):
            assert blocks[instance.name] == "accumulator"
    for report in (m.energy for m in measured.values()):
        assert sum(report.by_block.values()) == pytest.approx(report.total_fj)
        assert report.by_block["tree"] > 0 and report.by_block["lane products"] > 0


def test_the_cli_takes_the_modes(capsys):
    arguments = ["--array", "int8", "--lanes", "4", "--rows", "1", "--max-k", "64", "--beats", "16"]
    assert main([*arguments, "--activity", "timing", "--wire-load", "on", "--clock-tree", "on"]) == 0
    out = capsys.readouterr().out
    assert "energy per MAC (pJ, timing + wires + clock tree)" in out
    assert "glitches:" in out and "clock tree (a model):" in out and "by block" in out
    with pytest.raises(SystemExit) as stop:
        main([*arguments, "--wire-load", "maybe"])
    assert stop.value.code == 2
    assert "expected on or off" in capsys.readouterr().err


def test_physics_settings_reject_bad_values():
    with pytest.raises(ValueError, match="activity"):
        PhysicsSettings(activity="slow")
    with pytest.raises(TypeError, match="wire_load"):
        PhysicsSettings(wire_load="yes")
    assert nominal_voltage(read_library(MAPPING_CELLS)) == pytest.approx(0.7)
