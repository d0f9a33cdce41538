"""Equivalence by SAT sweeping: the RTL and the netlist with their flip-flops cut, compared in ABC.

The engine :func:`energy.gates.equivalence.check_equivalence` uses by default. It proves the same statement
as the induction step of the SMT engine (from any pair of corresponding states, on any input, the outputs
are equal and the next states correspond), but as a combinational check:

1. **Load** (:func:`load_script`): each design is flattened to one module of Yosys cells (the netlist's
   cells replaced by their liberty models, none left a black box) and its flip-flops split into single
   bits. The RTL is first taken through Yosys's generic synthesis (``synth -flatten -noabc``, the
   technology-independent passes the flow ran before mapping, then ``dffunmap``), so that the two designs
   share the internal points SAT sweeping needs: against the RTL lowered by ``alumacc`` alone, a lone
   int8 lane and an 8-lane ternary tree did not finish in 60 s (the tree not in 120 s with ``wreduce``
   added either); against ``synth -noabc`` they prove in 1.4 and 1.2 s.
2. **Cut** (:mod:`energy.gates.cut`): every flip-flop becomes an input ``cut$<register bit>`` shared by
   the two designs and an output ``next$<register bit>``; in the netlist the register map says which bit
   a flip-flop holds and whether as its complement (and the liberty whether the cell's output is its
   state or the state's complement). The designs must pair one to one, else nothing is claimed.
3. **Prove** (:func:`prove_script`): ``miter -equiv`` of the cut designs (outputs and next states),
   ``techmap`` to gates, ABC's ``&fraig -x`` (SAT sweeping: merges the nets that are equal on every input,
   which in an equivalent miter reaches the output) and ``iprove``, then Yosys's own ``sat -prove`` that
   the miter's ``trigger`` is 0 on what ABC returned (trivial once ABC merged it to 0; a real search
   otherwise). A model found is a counterexample (the state and inputs, ``counterexample.vcd``).

What this engine proves, and trusts: the priced netlist (technology mapping by ABC and ``dfflibmap``,
flattening, tie cells) equals Yosys's generic synthesis of the RTL; the generic passes themselves (word-level
optimization, ``alumacc``, ``techmap``) are trusted, as a Yosys user trusts them. The ``induction`` engine of
:mod:`energy.gates.equivalence` checks the whole chain from the RTL, where it finishes (small arrays; pytest
runs both). The proof rests on ABC's sweeping (each merge it makes is checked by its SAT solver) and on
Yosys's ``sat``; a time-out leaves the netlist *not checked*.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from energy.gates.bounded import log_tail, run_yosys
from energy.gates.cut import cut_flops, cut_instances, register_key, rtl_register, wire_widths
from energy.gates.liberty import Library

TRACE = "counterexample.vcd"
_FLOP_TYPES = "t:$*dff* t:$*dlatch* t:$ff t:$sr"
_RESIDUAL_STATE = re.compile(r"^\s*cell (\$\S*(?:dff|dlatch|DFF|DLATCH|mem|_SR_|_FF_)\S*|\$ff|\$sr) ", re.M)


@dataclass
class Outcome:
    """What one check found: ``status`` (as :data:`energy.gates.equivalence.STATUSES`), why, how long,
    and how many flip-flop pairs were cut."""

    status: str
    reason: str = ""
    seconds: float = 0.0
    signals: int = 0


def load_script(top: str, units: tuple[str, ...] = ()) -> str:
    """Flatten the RTL (``gold.v``) and the netlist (``cells.v`` + ``gate.v``) to single-bit flip-flops
    and write them as RTLIL (``gold.il``, ``gate.il``; their cell counts in ``<name>_cells.json``); the
    modules ``units`` are kept as black boxes (their instances are cut by :func:`sweep`)."""
    top = yosys_name(top)
    boxes = [f"blackbox {' '.join(yosys_name(unit) for unit in units)}"] if units else []

    def load(name: str, files: str, generic: list[str]) -> list[str]:
        return [
            f"read_verilog -sv {files}",
            f"hierarchy -check -top {top}",
            *boxes,
            "proc",
            "flatten",
            f"hierarchy -top {top}",
            *generic,
            "opt_clean",
            f"tee -q -o {name}_cells.json stat -json",
            f"simplemap {_FLOP_TYPES}",
            f"rename -top {name}",
            f"write_rtlil {name}.il",
            "design -reset",
        ]

    generic = [f"synth -flatten -noabc -top {top}", "dffunmap"]
    return "\n".join([*load("gold", "gold.v", generic), *load("gate", "cells.v gate.v", [])])


def yosys_name(name: str) -> str:
    """``name`` as a Yosys command argument (escaped unless a plain identifier, e.g. ``top.u_r0_l0_0``)."""
    return name if name.isidentifier() else "\\" + name


def prove_script() -> str:
    """The miter of the cut designs, SAT sweeping in ABC, and the proof that the miter's trigger is 0."""
    return "\n".join(
        [
            "read_rtlil gold_cut.il",
            "read_rtlil gate_cut.il",
            "miter -equiv -flatten -make_outputs gold gate miter",
            "hierarchy -top miter",
            "techmap",
            "opt -fast",
            "abc -script +strash;&get,-n;&fraig,-x;&put;iprove",
            "opt_clean",
            f"sat -prove trigger 0 -dump_vcd {TRACE}",
        ]
    )


def sweep(
    work: Path,
    top: str,
    flops: dict[str, list],
    library: Library,
    timeout_s: float,
    units: tuple[str, ...] = (),
) -> Outcome:
    """Check ``gate.v`` (module ``top``, its cells' models in ``cells.v``) against ``gold.v`` in ``work``;
    ``flops``: the register map of ``top`` (:func:`energy.gates.synth.register_map`). The instances of the
    modules ``units`` are cut like the flip-flops (their outputs shared inputs, their inputs compared), so
    that the check covers the logic around them (:mod:`energy.gates.units` proves the units)."""
    started = time.perf_counter()

    def left() -> float:
        return max(timeout_s - (time.perf_counter() - started), 1.0)

    run = run_yosys(work, load_script(top, units), timeout_s, log="load")
    if run is None:
        return Outcome("not checked", f"time-out after {timeout_s:g} s, loading the designs", timeout_s)
    if run.returncode != 0:
        raise RuntimeError(f"Yosys failed loading the equivalence of {top}: {log_tail(work / 'load.log')}")
    boxes = sorted(set(black_boxes(work)) - set(units))
    if boxes:
        reason = f"cells without a model remain (black boxes): {', '.join(boxes)}"
        return Outcome("not checked", reason, time.perf_counter() - started)
    unpaired, pairs = _cut(work, flops, library, (work / "gate.v").read_text(), cut_units=bool(units))
    if unpaired:
        return Outcome("not proven", unpaired, time.perf_counter() - started, pairs)
    run = run_yosys(work, prove_script(), left(), log="sweep")
    seconds = time.perf_counter() - started
    if run is None:
        reason = f"time-out after {timeout_s:g} s in the SAT sweeping and proof ({pairs} pairs cut)"
        return Outcome("not checked", reason, seconds, pairs)
    log = (work / "sweep.log").read_text() if (work / "sweep.log").exists() else ""
    if "SAT proof finished - no model found: SUCCESS!" in log:
        return Outcome("proven", "", seconds, pairs)
    if "SAT proof finished - model found: FAIL!" in log:
        reason = (
            "on some state and input the outputs or next states differ; "
            f"the state (cut$...) and inputs are in {TRACE}"
        )
        return Outcome("FAILED", reason, seconds, pairs)
    raise RuntimeError(f"Yosys failed proving the equivalence of {top}: {log_tail(work / 'sweep.log')}")


def _cut(
    work: Path, flops: dict[str, list], library: Library, netlist: str, *, cut_units: bool
) -> tuple[str, int]:
    """Cut both designs (``gold_cut.il``, ``gate_cut.il``): the unit instances when ``cut_units``, then the
    flip-flops; returns what does not pair (empty when the designs pair one to one) and the number of
    flip-flop pairs."""
    gold, gate_design = (work / "gold.il").read_text(), (work / "gate.il").read_text()
    problems = []
    if cut_units:
        gold_units, gate_units = cut_instances(gold, "gold"), cut_instances(gate_design, "gate")
        gold, gate_design = gold_units.rtlil, gate_units.rtlil
        if sorted(gold_units.keys) != sorted(gate_units.keys):
            differ = sorted(set(gold_units.keys) ^ set(gate_units.keys))
            problems.append(f"the unit instances differ between RTL and netlist: {', '.join(differ[:3])}")
    widths = wire_widths(gold)
    rtl = cut_flops(gold, lambda q: rtl_register(q, widths))
    gate = cut_flops(gate_design, netlist_register(flops, library, netlist))
    sides = ((rtl, gate, "RTL's", "register bits"), (gate, rtl, "netlist's", "flip-flops"))
    for design, other, whose, what in sides:
        unpaired = len(design.left) + len(set(design.keys) - set(other.keys))
        if unpaired:
            example = f" ({design.left[0]})" if design.left else ""
            total = len(design.keys) + len(design.left)
            problems.append(f"{unpaired} of the {whose} {total} {what} are not paired{example}")
    for name, design in (("RTL", rtl.rtlil), ("netlist", gate.rtlil)):
        residual = sorted(set(_RESIDUAL_STATE.findall(design)))
        if residual and not problems:
            problems.append(f"the {name} keeps state cells that are not cut: {', '.join(residual)}")
    (work / "gold_cut.il").write_text(rtl.rtlil)
    (work / "gate_cut.il").write_text(gate.rtlil)
    return "; ".join(problems[:3]), len(set(rtl.keys) & set(gate.keys))


def netlist_register(flops: dict[str, list], library: Library, netlist: str):
    """The key function of the netlist's flip-flops for :func:`energy.gates.cut.cut_flops`. After
    ``flatten`` a flip-flop's state is the wire ``<instance>.<state>`` of its cell model; the register map
    says which register bit the cell's output holds and whether inverted, and the liberty whether that
    output is the state or its complement."""
    flop_cells = {name: cell for name, cell in library.cells.items() if cell.ff is not None}
    kinds = {
        match.group(2).removeprefix("\\").strip(): match.group(1)
        for match in re.finditer(r"^\s*(\w+)\s+(\\\S+|\w+)\s*\(", netlist, re.M)
        if match.group(1) in flop_cells
    }

    def key_of(q: str) -> tuple[str, bool] | None:
        instance, _, state = q.removeprefix("\\").rpartition(".")
        cell = flop_cells.get(kinds.get(instance, ""))
        if cell is None or instance not in flops or state != cell.ff[0]:
            return None
        wire, bit, inverted = flops[instance]
        function = (cell.pins[cell.outputs[0]].function or "").strip().strip('"').replace(" ", "")
        if function not in (state, f"!{state}"):
            return None  # an output that is not the state or its complement: left unpaired
        return register_key(wire, bit), inverted != function.startswith("!")

    return key_of


def cell_counts(path: Path) -> dict[str, int]:
    """Cell counts by type of a Yosys ``stat -json`` file, over its modules."""
    counts: dict[str, int] = {}
    for module in json.loads(path.read_text()).get("modules", {}).values():
        for cell, count in module.get("num_cells_by_type", {}).items():
            counts[cell] = counts.get(cell, 0) + int(count)
    return counts


def black_boxes(work: Path) -> list[str]:
    """Cell types other than Yosys's own that remain in either flattened design (``<name>_cells.json``)."""
    return sorted(
        cell
        for name in ("gold", "gate")
        for cell in cell_counts(work / f"{name}_cells.json")
        if not cell.startswith("$")
    )
