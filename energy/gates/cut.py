"""Cut the flip-flops of a flattened design into paired inputs and outputs (RTLIL text in, RTLIL text out).

A sequential equivalence with a known state correspondence is a combinational one: with every flip-flop
pair replaced by one free input (the state both designs are in) and one output per design (the state each
goes to), the two designs are equivalent on every state and input exactly when the cut designs are
(the outputs equal, and each next state equal). :func:`cut_flops` does the cut on a design that ``proc``,
``flatten`` and ``simplemap`` have brought to one module of single-bit ``$_DFF_P_`` cells:

- each flip-flop is removed; the net its ``Q`` drove is driven by the input ``\\cut$<key>`` (through a
  ``$_NOT_`` when the flip-flop holds the complement of the state the key names), and its ``D`` drives the
  output ``\\next$<key>`` (through a ``$_NOT_`` likewise);
- the key of a flip-flop (the register bit it holds, the same in both designs) comes from a function of its
  ``Q`` net, :func:`register_key` in the RTL and the register map in the netlist. A flip-flop without a key
  is left in place (and reported), so a design whose flip-flops do not pair cannot look proven.

Flip-flops other than a rising-edge ``$_DFF_P_`` (asynchronous resets, latches) are reported and left in
place too: cutting them as plain state would drop their asynchronous behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

CUT, NEXT = "cut$", "next$"
#: The inputs standing for a cut instance's outputs, and the outputs taking its inputs.
UNIT, UNIT_IN = "unit$", "unitin$"
#: Yosys's single-bit flip-flop and latch cells after ``simplemap`` (``$_DFF_P_`` is the one cut).
_STATE_CELL = re.compile(r"\$_(ALDFF|DFFSRE?|DFFE?|SDFFC?E?|SDFF|DLATCHS?R?|DLATCH|SR|FF)_\w*_")
_BIT = re.compile(r"\\(\S+) \[(\d+)\]")


@dataclass
class CutDesign:
    """A design with its flip-flops cut.

    Members
    -------
    rtlil : str
        The cut design.
    keys : list of str
        The keys of the cut flip-flops, in the order they were found.
    left : list of str
        A sentence per flip-flop left in place (no key, not a ``$_DFF_P_``, or a key twice).
    """

    rtlil: str
    keys: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def register_key(wire: str, bit: int) -> str:
    """The key of register bit ``wire[bit]`` (the names of the cut input and next-state output)."""
    return f"{wire}[{bit}]"


def rtl_register(q: str, widths: dict[str, int]) -> tuple[str, bool] | None:
    """In the RTL, a flip-flop's ``Q`` is the register's wire: its key, not inverted; ``None`` for a ``Q``
    that is not a bit of a public wire. ``widths``: the module's public wires and their widths."""
    match = _BIT.fullmatch(q)
    if match is not None:
        return register_key(match.group(1), int(match.group(2))), False
    if q.startswith("\\") and widths.get(q[1:]) == 1:
        return register_key(q[1:], 0), False
    return None


def wire_widths(rtlil: str) -> dict[str, int]:
    """The public wires of an RTLIL module and their widths."""
    widths = {}
    for line in rtlil.splitlines():
        words = line.split()
        if words[:1] == ["wire"] and words[-1].startswith("\\"):
            width = words.index("width") + 1 if "width" in words else None
            widths[words[-1][1:]] = int(words[width]) if width else 1
    return widths


def cut_flops(rtlil: str, key_of: Callable[[str], tuple[str, bool] | None]) -> CutDesign:
    """Cut the flip-flops of the one-module RTLIL design ``rtlil`` (see the module docstring); ``key_of``
    maps a flip-flop's ``Q`` net (RTLIL text) to its key and whether it holds the key's complement."""
    if len(re.findall(r"^module ", rtlil, re.M)) != 1:
        raise ValueError("rtlil: expected one module (flatten the design and drop the others)")
    cut = CutDesign("")
    cut.rtlil = _replace_cells(
        rtlil,
        lambda kind: _STATE_CELL.fullmatch(kind) is not None,
        lambda block: _cut_cell(block, key_of, cut),
    )
    cut.rtlil = _declare(cut.rtlil, _ports(cut.keys))
    return cut


def cut_instances(rtlil: str, top: str) -> CutDesign:
    """Cut the instances of black-box modules in module ``top`` of ``rtlil`` (a flattened design whose only
    other modules are those black boxes): each output port's net is driven by the input
    ``\\unit$<instance>.<port>`` and each input port's net drives the output ``\\unitin$<instance>.<port>``.
    Returns ``top`` alone; ``keys`` are ``<instance>:<module>``, so that two designs pair only when the same
    instances are of the same modules."""
    modules = _modules(rtlil)
    if top not in modules:
        raise ValueError(f"top: no module {top!r} in the RTLIL")
    ports = {name: _module_ports(text) for name, text in modules.items() if name != top}
    cut = CutDesign("")
    declarations: list[str] = []

    def replace(block: list[str]) -> list[str]:
        kind, instance = _header(block)
        instance = instance.removeprefix("\\")
        cut.keys.append(f"{instance}:{kind}")
        lines = []
        for port, net in _pins(block).items():
            direction, width = ports[kind][port]
            if direction == "output":  # the instance's output: a free input of the cut design
                name = _escaped(f"{UNIT}{instance}.{port}")
                declarations.append(f"  wire width {width} input 0 {name}")
                lines.append(f"  connect {net} {name}")
            else:
                name = _escaped(f"{UNIT_IN}{instance}.{port}")
                declarations.append(f"  wire width {width} output 0 {name}")
                lines.append(f"  connect {name} {net}")
        return lines

    cut.rtlil = _declare(
        _replace_cells(modules[top], lambda kind: kind.removeprefix("\\") in ports, replace), declarations
    )
    return cut


def _replace_cells(
    rtlil: str, selected: Callable[[str], bool], replace: Callable[[list[str]], list[str]]
) -> str:
    """``rtlil`` with each cell block whose type ``selected`` accepts (its attribute lines included)
    replaced by the lines ``replace`` returns for it."""
    kept: list[str] = []
    pending: list[str] = []  # attribute lines, which belong to the item after them
    block: list[str] | None = None
    for line in rtlil.splitlines():
        stripped = line.strip()
        if block is not None:
            block.append(line)
            if stripped == "end":
                kept += replace(block)
                block = None
        elif stripped.startswith("attribute "):
            pending.append(line)
        elif stripped.startswith("cell ") and selected(stripped.split()[1]):
            block, pending = [*pending, line], []
        else:
            kept += [*pending, line]
            pending = []
    return "\n".join(kept) + "\n"


def _declare(rtlil: str, declarations: list[str]) -> str:
    """``rtlil`` with ``declarations`` right after its ``module`` line (before the connections using them;
    port numbers are renumbered by Yosys on reading)."""
    lines = rtlil.splitlines()
    at = next(index for index, line in enumerate(lines) if line.startswith("module ")) + 1
    return "\n".join([*lines[:at], *declarations, *lines[at:]]) + "\n"


def _modules(rtlil: str) -> dict[str, str]:
    """The modules of an RTLIL design by name (``\\`` removed), each with the attribute lines before it."""
    modules, chunk = {}, []
    for line in rtlil.splitlines():
        chunk.append(line)
        if line.startswith("end"):
            header = next(item for item in chunk if item.startswith("module "))
            modules[header.split()[1].removeprefix("\\")] = "\n".join(chunk) + "\n"
            chunk = []
        elif not (line.startswith(("attribute ", "module ", " ")) or line == ""):
            chunk = []  # design-level lines (comments, autoidx)
    return modules


def _module_ports(text: str) -> dict[str, tuple[str, int]]:
    """The ports of an RTLIL module: name (``\\`` removed) to direction and width."""
    ports = {}
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["wire"] and ("input" in words or "output" in words):
            width = int(words[words.index("width") + 1]) if "width" in words else 1
            ports[words[-1].removeprefix("\\")] = ("input" if "input" in words else "output", width)
    return ports


def _header(block: list[str]) -> tuple[str, str]:
    """The type and name of the cell in ``block``."""
    header = next(line for line in block if line.strip().startswith("cell "))
    kind, name = header.split()[1:3]
    return kind.removeprefix("\\") if kind.startswith("\\") else kind, name


def _pins(block: list[str]) -> dict[str, str]:
    """The connections of the cell in ``block``: port (``\\`` removed) to net (RTLIL text)."""
    return dict(
        match.groups() for line in block if (match := re.match(r"\s*connect \\(\S+) (.+?)\s*$", line))
    )


def _cut_cell(
    block: list[str], key_of: Callable[[str], tuple[str, bool] | None], cut: CutDesign
) -> list[str]:
    """The lines that replace one flip-flop's cell ``block``: the cut, or the block itself when it stays."""
    kind, name = _header(block)
    pins = _pins(block)
    if kind != "$_DFF_P_":
        cut.left.append(f"{kind} {name} (only rising-edge flip-flops without set or reset are cut)")
        return block
    found = key_of(pins["Q"])
    if found is None:
        cut.left.append(f"the flip-flop driving {pins['Q']} holds no known register bit")
        return block
    key, inverted = found
    if key in cut.keys:
        cut.left.append(f"a second flip-flop holds {key}")
        return block
    cut.keys.append(key)
    index = len(cut.keys)
    return [
        *_drive(pins["Q"], _escaped(CUT + key), inverted, f"$cut$q${index}"),
        *_drive(_escaped(NEXT + key), pins["D"], inverted, f"$cut$d${index}"),
    ]


def _drive(target: str, source: str, inverted: bool, name: str) -> list[str]:
    if not inverted:
        return [f"  connect {target} {source}"]
    return [f"  cell $_NOT_ {name}", f"    connect \\A {source}", f"    connect \\Y {target}", "  end"]


def _ports(keys: list[str]) -> list[str]:
    """The declarations of the cut inputs and next-state outputs."""
    return [
        f"  wire {way} 0 {_escaped(prefix + key)}"
        for key in keys
        for way, prefix in (("input", CUT), ("output", NEXT))
    ]


def _escaped(name: str) -> str:
    return "\\" + name
