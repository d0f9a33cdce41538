"""Equivalence unit by unit: each distinct unit module of a hierarchical netlist once, then the glue above.

The flow maps a design built of unit submodules (the FP16 array: one module per multiplier and adder,
:func:`hw.fp16.unit_instance`) module by module, and writes the mapped netlist before ``flatten``
(``hier.v``). :func:`check_units` proves that netlist equivalent to the RTL in two parts, with the sweep
engine (:mod:`energy.gates.sweep`):

1. **The units.** Amaranth writes one Verilog module per instance; modules that are the same text up to
   their name, in the RTL and in the netlist (internal ``$...`` names renamed in order), form a class, and
   one module of each class is proven equivalent to its RTL (a combinational check).
2. **The glue.** The top module with every unit instance cut in both designs (the instance's outputs one
   shared input, its inputs compared as outputs, :func:`energy.gates.cut.cut_instances`) and its flip-flops
   cut as in the flat check: the logic around the units, given units that compute the same function.

Each check reads only what it needs (a unit's own module; the glue with the units as port-only stubs),
so a 64-lane row is not read whole once per unit. The units must be leaf modules, as the FP16 ones are.
Together they prove the hierarchical netlist; the priced ``netlist.v`` is that netlist flattened (with
``setundef -zero``, tie cells and ``opt_clean``), steps of Yosys trusted here.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from energy.gates.liberty import Library
from energy.gates.sweep import TRACE, Outcome, sweep

_MODULE = re.compile(r"^module\s+(\\\S+|\w+)\s*\(.*?^endmodule", re.M | re.S)
_PRIVATE = re.compile(r"\\\$\S+")


@dataclass
class UnitOutcome(Outcome):
    """An :class:`~energy.gates.sweep.Outcome` of the whole design and what was proven of its units."""

    units: str = ""


def modules(verilog: str) -> dict[str, str]:
    """The modules of a Verilog text by name (without the escape)."""
    return {match.group(1).removeprefix("\\").strip(): match.group(0) for match in _MODULE.finditer(verilog)}


def canonical(text: str) -> str:
    """A module's text with its name and its internal ``\\$...`` names replaced by placeholders (in order of
    first use) and its port list sorted, so that modules differing only in those compare equal."""
    first, _, body = text.partition("\n")
    ports = sorted(re.search(r"\((.*)\)", first).group(1).replace(" ", "").split(","))
    header = f"module <unit> ({', '.join(ports)});"  # instances connect by name: the order is no matter
    names: dict[str, str] = {}
    renamed = _PRIVATE.sub(lambda match: names.setdefault(match.group(0), f"\\$p{len(names)}"), body)
    return header + "\n" + renamed


def unit_classes(rtl: str, netlist: str, top: str) -> dict[str, list[str]]:
    """The unit modules of ``netlist`` (every module but ``top`` and the cells, i.e. those the RTL also
    has), grouped by their text in both designs: a representative module to the modules of its class."""
    rtl_modules, gate_modules = modules(rtl), modules(netlist)
    classes: dict[tuple[str, str], list[str]] = {}
    for name in sorted(set(gate_modules) & set(rtl_modules) - {top}):
        key = (canonical(rtl_modules[name]), canonical(gate_modules[name]))
        classes.setdefault(key, []).append(name)
    return {members[0]: members for members in classes.values()}


def check_units(
    rtl: str,
    netlist: str,
    top: str,
    registers: dict[str, dict[str, list]],
    library: Library,
    cell_verilog: str,
    timeout_s: float,
    trace_to: Path | None = None,
) -> UnitOutcome:
    """Prove the hierarchical ``netlist`` (module ``top``) equivalent to ``rtl`` unit by unit (see the
    module docstring) within ``timeout_s`` in all; ``registers``: the flow's register map by module. A
    counterexample is copied to ``trace_to`` when given."""
    started = time.perf_counter()
    designs = _Designs(rtl, netlist, registers, library, cell_verilog, trace_to)

    def left() -> float:
        return timeout_s - (time.perf_counter() - started)

    classes = unit_classes(rtl, netlist, top)
    instances = sum(len(members) for members in classes.values())
    proven = []
    for representative, members in classes.items():
        outcome = designs.sweep(representative, left(), timeout_s)
        short = representative.removeprefix(f"{top}.")
        if outcome.status != "proven":
            done = f"; proven before it: {', '.join(proven)}" if proven else ""
            reason = (
                f"unit {short} (and {len(members) - 1} like it): {outcome.status}: {outcome.reason}{done}"
            )
            return UnitOutcome(outcome.status, reason, time.perf_counter() - started, 0, ", ".join(proven))
        proven.append(f"{short} x{len(members)} ({outcome.seconds:.1f} s)")
    units = tuple(name for members in classes.values() for name in members)
    glue = designs.sweep(top, left(), timeout_s, units)
    summary = f"{len(classes)} distinct unit modules for {instances} instances proven: {', '.join(proven)}"
    reason = glue.reason if glue.status == "proven" else f"the glue: {glue.reason}; {summary}"
    return UnitOutcome(glue.status, reason, time.perf_counter() - started, glue.signals, summary)


@dataclass(frozen=True)
class _Designs:
    """The two designs of a unit-by-unit check and what each sweep of one of their modules needs."""

    rtl: str
    netlist: str
    registers: dict[str, dict[str, list]]
    library: Library
    cell_verilog: str
    trace_to: Path | None

    def sweep(self, top: str, left_s: float, budget_s: float, units: tuple[str, ...] = ()) -> Outcome:
        """One sweep check of module ``top`` in a fresh folder, within ``left_s`` of the whole check's
        ``budget_s`` (a time-out is reported against the whole budget)."""
        if left_s <= 0:
            return Outcome("not checked", f"time-out after {budget_s:g} s, before {top}")
        with tempfile.TemporaryDirectory(prefix="units-") as work:
            work = Path(work)
            (work / "gold.v").write_text(_only(modules(self.rtl), top, units))
            (work / "gate.v").write_text(_only(modules(self.netlist), top, units))
            (work / "cells.v").write_text(self.cell_verilog)
            outcome = sweep(work, top, self.registers.get(top, {}), self.library, left_s, units)
            if self.trace_to is not None and (work / TRACE).exists():
                shutil.copyfile(work / TRACE, self.trace_to)
            outcome.reason = re.sub(
                r"time-out after [\d.]+ s", f"time-out after {budget_s:g} s", outcome.reason
            )
            return outcome


def _only(texts: dict[str, str], top: str, units: tuple[str, ...]) -> str:
    """The Verilog one check reads, so that a large netlist is not read whole once per unit: a unit (no
    ``units``) alone, it being a leaf module; the glue with each of ``units`` as a stub (its ports only:
    the check cuts its instances)."""
    if not units:
        return texts[top] + "\n"
    kept = [text for name, text in texts.items() if name not in units]
    return "\n".join([*kept, *(_stub(texts[name]) for name in units)]) + "\n"


def _stub(text: str) -> str:
    """A module's header and port declarations, nothing else."""
    lines = text.splitlines()
    ports = [line for line in lines if re.match(r"\s*(input|output|inout)\b", line)]
    return "\n".join([lines[0], *ports, "endmodule"])
