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
    kept: list[str] = []
    pending: list[str] = []  # attribute lines, which belong to the item after them
    block: list[str] | None = None
    declarations = 0
    for line in rtlil.splitlines():
        stripped = line.strip()
        if block is not None:
            block.append(line)
            if stripped == "end":
                kept += _cut_cell(block, key_of, cut)
                block = None
            continue
        if stripped.startswith("attribute "):
            pending.append(line)
        elif stripped.startswith("cell ") and _STATE_CELL.fullmatch(stripped.split()[1]):
            block = [*pending, line]
            pending = []
        else:
            kept += [*pending, line]
            pending = []
        if stripped.startswith("module "):
            declarations = len(kept)  # wires are declared before the connections that use them
    kept[declarations:declarations] = _ports(cut.keys)
    cut.rtlil = "\n".join(kept) + "\n"
    return cut


def _cut_cell(
    block: list[str], key_of: Callable[[str], tuple[str, bool] | None], cut: CutDesign
) -> list[str]:
    """The lines that replace one flip-flop's cell ``block``: the cut, or the block itself when it stays."""
    header = next(line for line in block if line.strip().startswith("cell "))
    kind, name = header.split()[1:3]
    pins = dict(
        match.groups() for line in block if (match := re.match(r"\s*connect \\(\w+) (.+?)\s*$", line))
    )
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
    """The declarations of the cut inputs and next-state outputs (port numbers past any existing one;
    Yosys renumbers them on reading)."""
    lines = []
    for index, key in enumerate(keys):
        lines.append(f"  wire input {1_000_000 + 2 * index} {_escaped(CUT + key)}")
        lines.append(f"  wire output {1_000_001 + 2 * index} {_escaped(NEXT + key)}")
    return lines


def _escaped(name: str) -> str:
    return "\\" + name
