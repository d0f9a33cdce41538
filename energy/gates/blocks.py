"""Which block of a MAC array each cell of its flat mapped netlist belongs to, by what the cell depends on.

Synthesis flattens the array and ABC restructures its logic, so no cell keeps the name of the RTL block it
came from; what a cell computes from is kept, and that is what attributes it (:func:`cell_blocks`):

- a **lane unit** is what one product reads: lane ``i``'s activation bits and the weight bits of column
  ``i`` in every row (the ternary-lut array: group ``j``'s code bits and the activations of its ``G``
  lanes), on the input payloads (:func:`hw.layout.port_fields`);
- the **accumulator registers** are the flip-flops holding an accumulator or the output payload (their
  register names, from the flow's register map: ``registers.json`` read through ``named.v``, the same
  netlist with Yosys's names, instance for instance; a register also answers to the wires the RTL
  assigns it to, ``design.v``);
- dependence flows through the logic and through the flip-flops (a register depends on what its ``D``
  does), iterated until nothing changes.

Then a cell or flip-flop depending on an accumulator register is **accumulator** (the accumulate adders, the
output register and its mux); otherwise one depending on two or more lane units is **tree**, on exactly one
**lane products** (multipliers, ternary selects, a stationary tile's registers), on none **control** (the
handshake, the valid bits, reset). A product's logic that ABC merged into the first adder level reads two
lanes and counts as tree: the split is of the mapped logic, not of the RTL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from energy.gates.circuit import Circuit
from energy.gates.liberty import Cell
from energy.gates.synth import DESIGN_VERILOG, NAMED_NETLIST, REGISTERS_JSON
from hw.layout import port_fields
from hw.params import ArrayParams

BLOCKS = ("lane products", "tree", "accumulator", "control")
#: Register names whose flip-flops are the accumulator block.
ACCUMULATOR_REGISTER = re.compile(r"acc|^o_stream__payload$")
_ALIAS = re.compile(r"^\s*assign\s+(\\?\S+)\s*=\s*(\\?\S+)\s*;", re.M)
_INSTANCE = re.compile(r"^\s*(\w+)\s+(\\\S+|\w+)\s*\(", re.M)


def lane_units(params: ArrayParams) -> dict[str, int]:
    """Input port bit (``i_stream__payload[k]``) -> the lane unit it feeds (see the module docstring)."""
    fields = port_fields(params)
    group = params.group if params.array == "ternary-lut" else 1
    units: dict[str, int] = {}
    msb, lsb = fields["i_stream__payload"]["act"]
    for bit in range(lsb, msb + 1):
        units[f"i_stream__payload[{bit}]"] = ((bit - lsb) // params.act_width) // group
    port = "w_stream__payload" if params.dataflow == "stationary" else "i_stream__payload"
    msb, lsb = fields[port]["weight"]
    for bit in range(lsb, msb + 1):
        units[f"{port}[{bit}]"] = ((bit - lsb) // params.weight_bits) % params.weight_fields
    return units


def _instances(path: Path) -> list[tuple[str, str]]:
    """``(cell, instance name)`` of every cell instance of a netlist file, in order (escaped names read
    without their backslash)."""
    return [(cell, name.removeprefix("\\")) for cell, name in _INSTANCE.findall(path.read_text())]


def flop_registers(netlist_path: Path, top: str) -> dict[str, tuple[str, ...]]:
    """Flip-flop instance of the priced netlist -> the names of the register it holds: its own (the flow's
    register map, matched through ``named.v``) and its aliases in the RTL; flip-flops the map does not
    name are left out."""
    folder = Path(netlist_path).parent
    registers = json.loads((folder / REGISTERS_JSON).read_text()).get(top, {})
    named, priced = _instances(folder / NAMED_NETLIST), _instances(Path(netlist_path))
    if [cell for cell, _ in named] != [cell for cell, _ in priced]:
        raise ValueError(f"{folder / NAMED_NETLIST}: not the priced netlist instance for instance")
    aliases = _aliases((folder / DESIGN_VERILOG).read_text())
    return {
        mine: (registers[theirs][0], *aliases.get(registers[theirs][0], []))
        for (_, mine), (_, theirs) in zip(priced, named, strict=True)
        if theirs in registers
    }


def _aliases(verilog: str) -> dict[str, list[str]]:
    """Register -> the wires the RTL assigns it to whole (``assign r0_acc = \\a$136 ;``: the FP16
    array's accumulator register is named after its adder's operand, its wire after the accumulator)."""
    aliases: dict[str, list[str]] = {}
    for wire, register in _ALIAS.findall(verilog):
        aliases.setdefault(register.removeprefix("\\"), []).append(wire.removeprefix("\\"))
    return aliases


def _support(circuit: Circuit, units: dict[str, int], accumulators: set[str]) -> dict[str, tuple[int, bool]]:
    """Per net: the lane units it depends on (a bit mask) and whether on an accumulator register."""
    canonical = circuit.netlist.canonical
    support: dict[str, tuple[int, bool]] = {canonical(net): (1 << unit, False) for net, unit in units.items()}
    flops = circuit.flops
    changed = True
    while changed:
        for placed in circuit.levels:
            mask, acc = _combined(placed.instance.pins, placed.cell.inputs, support)
            for pin in placed.cell.outputs:
                if pin in placed.instance.pins:
                    support[placed.instance.pins[pin]] = (mask, acc)
        changed = False
        for instance, cell in flops:
            mask, acc = _combined(instance.pins, _data_inputs(cell), support)
            acc = acc or instance.name in accumulators
            for pin in cell.outputs:
                net = instance.pins.get(pin)
                if net is not None and support.get(net, (0, False)) != (mask, acc):
                    support[net] = (mask, acc)
                    changed = True
    return support


def _combined(
    pins: dict[str, str], inputs: list[str], support: dict[str, tuple[int, bool]]
) -> tuple[int, bool]:
    mask, acc = 0, False
    for pin in inputs:
        net = pins.get(pin)
        if net is not None:
            more, other = support.get(net, (0, False))
            mask, acc = mask | more, acc or other
    return mask, acc


def _data_inputs(cell: Cell) -> list[str]:
    """The input pins but a flip-flop's clock."""
    return [pin for pin in cell.inputs if pin != cell.clock_pin]


def _block(mask: int, acc: bool) -> str:
    if acc:
        return "accumulator"
    lanes = mask.bit_count()
    return "tree" if lanes >= 2 else "lane products" if lanes == 1 else "control"


def cell_blocks(
    circuit: Circuit, params: ArrayParams, registers: dict[str, tuple[str, ...]]
) -> dict[str, str]:
    """Instance name -> its block (one of :data:`BLOCKS`; see the module docstring); ``registers`` maps
    flip-flop instances to their register names (:func:`flop_registers`)."""
    accumulators = {
        name for name, names in registers.items() if any(ACCUMULATOR_REGISTER.search(n) for n in names)
    }
    support = _support(circuit, lane_units(params), accumulators)
    blocks = {}
    for instance, cell in circuit.cells:
        mask, acc = _combined(instance.pins, _data_inputs(cell), support)
        blocks[instance.name] = _block(mask, acc or instance.name in accumulators)
    return blocks
