"""Verilog simulation models of standard cells, made from the liberty ``function`` attributes.

The shipped ASAP7 Verilog models use constructs a cycle-based simulator does not need (specify blocks,
UDP-style primitives). A model made from the liberty is exact for what matters here, the logic: a
combinational output is ``assign Y = <function>``, and a flip-flop with ``ff (IQN, ...) { clocked_on :
"CLK"; next_state : "!D"; }`` is a register updated on the rising edge of its clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from energy.gates.liberty import Cell, Library

_OPERATORS = {"!": "~", "*": " & ", "+": " | ", "^": " ^ "}


def _tokens(function: str) -> list[str]:
    """The tokens of a liberty boolean function (``!``, ``*``, ``+``, ``^``, parentheses, pins, 0, 1)."""
    text = function.strip().strip('"')
    if not re.fullmatch(r"[A-Za-z0-9_!*+^() \t]*", text):
        raise ValueError(f"unsupported liberty function {function!r}")
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[01]|[!*+^()]", text)


def verilog_expression(function: str) -> str:
    """A liberty boolean function as a Verilog expression (Verilog's ``~ & ^ |`` precedence)."""
    return "".join(f"1'b{t}" if t in ("0", "1") else _OPERATORS.get(t, t) for t in _tokens(function))


def python_expression(function: str) -> str:
    """A liberty boolean function as a Python expression over NumPy bool arrays (Python's ``~ & ^ |``
    precedence is Verilog's, so both readings agree); the constants are the names ``ZERO`` and ``ONE``."""
    constants = {"0": "ZERO", "1": "ONE"}
    return "".join(constants.get(t) or _OPERATORS.get(t, t) for t in _tokens(function))


def numpy_function(function: str, names: list[str]) -> Callable[..., np.ndarray]:
    """A function of ``names`` (NumPy bool arrays) computing the liberty ``function``."""
    expression = python_expression(function)
    scope = {"__builtins__": {}, "ZERO": np.False_, "ONE": np.True_}
    return eval(f"lambda {', '.join(names)}: {expression}", scope)  # noqa: S307 - tokens checked


def cell_model(cell: Cell) -> str:
    """The Verilog module of one cell."""
    ports = [*cell.inputs, *cell.outputs]
    lines = [f"module {cell.name} ({', '.join(ports)});"]
    lines += [f"  input {name};" for name in cell.inputs]
    lines += [f"  output {name};" for name in cell.outputs]
    if cell.ff is not None:
        state, clocked_on, next_state = cell.ff
        lines.append(f"  reg {state};")
        lines.append(
            f"  always @(posedge {verilog_expression(clocked_on)}) "
            f"{state} <= {verilog_expression(next_state)};"
        )
    for name in cell.outputs:
        function = cell.pins[name].function
        if function is None:
            raise ValueError(f"cell {cell.name}: output {name} has no function")
        lines.append(f"  assign {name} = {verilog_expression(function)};")
    lines.append("endmodule")
    return "\n".join(lines)


def cell_models(library: Library, names: set[str] | None = None) -> str:
    """Verilog models of the library's cells (or of ``names`` only), one module each."""
    cells = [cell for cell in library.cells.values() if names is None or cell.name in names]
    header = "// Standard-cell models generated from the ASAP7 liberty functions (energy.gates.cells)\n"
    return header + "\n\n".join(cell_model(cell) for cell in cells) + "\n"
