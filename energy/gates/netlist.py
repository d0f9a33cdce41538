"""Reading a Yosys structural netlist (``write_verilog -noattr -noexpr``) into nets, drivers and loads.

Every net is one bit, named as the netlist and the VCD name it: ``_0123_`` or ``i_stream__payload[37]``.
``assign`` statements join names into one electrical net (a union-find); each net knows the cell pin that
drives it (or the input port), and the cell pins it drives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_DECLARATION = re.compile(r"^\s*(input|output|wire|inout)\s+(?:\[(\d+):(\d+)\]\s+)?([\\\w$.\[\]]+)\s*;", re.M)
_INSTANCE = re.compile(r"^\s*(\w+)\s+([\\\w$.\[\]]+)\s*\((.*?)\);", re.M | re.S)
_CONNECTION = re.compile(r"\.(\w+)\s*\(([^()]*)\)")
_ASSIGN = re.compile(r"^\s*assign\s+(.*?)\s*=\s*(.*?);", re.M | re.S)
_CONSTANT = re.compile(r"^\d+'[bhdo][0-9a-fA-FxXzZ_]+$")


@dataclass
class Instance:
    name: str
    cell: str
    pins: dict[str, str]  # pin -> net (canonical after resolve)


@dataclass
class Netlist:
    """A flat gate-level netlist: instances, one-bit nets, ports."""

    top: str
    instances: list[Instance]
    inputs: list[str]
    outputs: list[str]
    aliases: dict[str, str] = field(default_factory=dict)  # any name -> canonical net name

    def canonical(self, name: str) -> str:
        return self.aliases.get(name, name)

    def members(self) -> dict[str, list[str]]:
        """Canonical net -> every name of that net."""
        groups: dict[str, list[str]] = {}
        for name, canonical in self.aliases.items():
            groups.setdefault(canonical, []).append(name)
        return groups


def _widths(text: str) -> dict[str, tuple[int, int]]:
    widths = {}
    for _, msb, lsb, name in _DECLARATION.findall(text):
        widths[name] = (int(msb), int(lsb)) if msb else (0, 0)
    return widths


def _bits(expression: str, widths: dict[str, tuple[int, int]]) -> list[str | None]:
    """The bits of an expression, most significant first; ``None`` for a constant bit."""
    expression = expression.strip()
    if expression.startswith("{") and expression.endswith("}"):
        parts, depth, current = [], 0, ""
        for char in expression[1:-1]:
            if char == "," and depth == 0:
                parts.append(current)
                current = ""
                continue
            depth += char == "{"
            depth -= char == "}"
            current += char
        parts.append(current)
        return [bit for part in parts for bit in _bits(part, widths)]
    if _CONSTANT.match(expression):
        width = int(expression.split("'")[0])
        return [None] * width
    match = re.fullmatch(r"([\\\w$.]+)\s*(?:\[(\d+)(?::(\d+))?\])?", expression)
    if not match:
        raise ValueError(f"netlist: cannot read the expression {expression!r}")
    name, high, low = match.groups()
    msb, lsb = widths.get(name, (0, 0))
    vector = (msb, lsb) != (0, 0) or name in widths and widths[name] != (0, 0)
    if high is None:
        if not vector:
            return [name]
        return [f"{name}[{i}]" for i in range(msb, lsb - 1, -1)]
    if low is None:
        return [f"{name}[{high}]"]
    return [f"{name}[{i}]" for i in range(int(high), int(low) - 1, -1)]


def read_netlist(path: str | Path, top: str) -> Netlist:
    """Parse the module ``top`` of a Yosys netlist file."""
    text = Path(path).read_text()
    match = re.search(rf"^module\s+{re.escape(top)}\s*\(.*?^endmodule", text, re.M | re.S)
    if not match:
        raise ValueError(f"{path}: no module {top!r}")
    body = match.group(0)
    widths = _widths(body)
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    ports = {"input": [], "output": []}
    for kind, _, _, name in _DECLARATION.findall(body):
        if kind in ports:
            ports[kind] += _bits(name, widths)
    for left, right in _ASSIGN.findall(body):
        for a, b in zip(_bits(left, widths), _bits(right, widths), strict=True):
            if a is not None and b is not None:
                root_a, root_b = find(a), find(b)
                # keep port names as the canonical names (they are what a reader recognizes)
                if root_b.startswith("_") and not root_a.startswith("_"):
                    root_a, root_b = root_b, root_a
                parent[root_a] = root_b
    instances = []
    declaration_words = {"module", "input", "output", "wire", "assign", "inout", "reg"}
    for cell, name, connections in _INSTANCE.findall(body):
        if cell in declaration_words:
            continue
        pins = {}
        for pin, expression in _CONNECTION.findall(connections):
            bits = _bits(expression, widths) if expression.strip() else []
            if len(bits) == 1 and bits[0] is not None:
                pins[pin] = find(bits[0])
        instances.append(Instance(name, cell, pins))
    for net in [*ports["input"], *ports["output"]]:
        if net is not None:
            find(net)
    aliases = {name: find(name) for name in list(parent)}
    for instance in instances:
        instance.pins = {pin: aliases.get(net, net) for pin, net in instance.pins.items()}
    return Netlist(
        top,
        instances,
        [aliases.get(n, n) for n in ports["input"] if n is not None],
        [aliases.get(n, n) for n in ports["output"] if n is not None],
        aliases,
    )
