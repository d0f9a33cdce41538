"""Equivalence of a priced ASAP7 netlist to the RTL it was synthesized from.

:func:`check_equivalence` proves that the mapped netlist of a :class:`energy.gates.synth.SynthResult`
computes, cycle for cycle, what the Verilog it came from computes, by one of two engines
(:attr:`EquivalenceSettings.engine`) that claim the same thing: ``sweep`` (the default,
:mod:`energy.gates.sweep`: both designs with their flip-flop pairs cut into shared inputs, compared by SAT
sweeping in ABC; the FP16 array unit by unit, :mod:`energy.gates.units`) and ``induction``, this module's
own, described below. Both share the cells, the state correspondence and the verdicts:

1. **The cells** are the Verilog models made from the liberty functions (:mod:`energy.gates.cells`, the
   ones the gate simulators use). Guard against the known false proof: after ``flatten`` no cell may
   remain a black box (a cell without a model leaves its outputs free); if one does, the netlist is *not
   checked*, never proven.
2. **The state correspondence.** ABC renames every net, so the netlist's flip-flops no longer carry the
   names of the RTL's registers. The flow records which register bit each flip-flop holds, and whether as
   its complement (:func:`energy.gates.synth.register_map`; ASAP7's DFFHQN has only ``QN``), and keeps the
   netlist with Yosys's internal names (``named.v``), checked to be the priced ``netlist.v`` token for
   token up to a one-to-one renaming of those names (:func:`same_up_to_renaming`). Both designs get one
   observation wire per flip-flop, ``\\<register>[<bit>]__flop``: the register bit in the RTL, and in the
   netlist the flip-flop's output (through an inverter where it holds the complement, and the logic reads
   it back through a second one: :func:`observed_netlist`).
3. **The proof** (``miter -equiv`` of the two designs in the :func:`harness`, ``write_smt2``, smtbmc with
   Yices): one induction step, from *any* state in which every flip-flop pair is equal and on any input,
   the outputs are equal and, a cycle later, every pair is equal again. The step assumes only the pairs
   (the outputs are compared through a register), so an assumption cannot contradict itself and prove a
   wrong netlist. When the flip-flops and the register bits pair one to one (checked), every state of the
   netlist is some state of the RTL, so the step covers every state, power-up and reset included: the
   netlist is *proven* equivalent. A failing step with every flip-flop paired is a real difference of the
   next-state or output logic: *FAILED*, with the solver's counterexample (``counterexample.vcd`` beside
   the netlist). With flip-flops left unpaired the verdict is *not proven*.

A proof that does not finish within its budget (:class:`EquivalenceSettings`) is *not checked*, with the
stage it reached; the solver is killed with it. Verdicts are cached in the synthesis folder
(``equivalence.json``, the logs in ``equivalence.log``) beside the netlist they speak of. The solver's
time of the induction grows fast with the logic between flip-flops: small and pipelined arrays prove in
seconds, a multiplier or a wide unpipelined tree runs past a minute, where the sweep takes seconds
(``benchmarks/equivalence.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from energy.gates.bounded import log_tail, run_bounded, run_yosys
from energy.gates.cells import cell_models
from energy.gates.liberty import read_library
from energy.gates.sweep import TRACE, black_boxes, cell_counts, sweep
from energy.gates.synth import HIER_NETLIST, NAMED_NETLIST, REGISTERS_JSON, SynthResult
from energy.gates.units import check_units, unit_classes
from model.cli import non_negative_float, option_field, positive_float
from sim.prove import SMTBMC, tool_environment

#: Seconds a proof may take unless told otherwise (``python -m energy.gates`` gives it less).
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_CLI_TIMEOUT_S = 60.0
VERDICT_JSON = "equivalence.json"
#: The reason of a verdict on a netlist nobody asked to check.
NOT_REQUESTED = "not requested"
STATUSES = ("proven", "FAILED", "not proven", "not checked")
#: The proof engines: SAT sweeping of the designs with their flip-flops cut (:mod:`energy.gates.sweep`)
#: and the SMT induction step of this module; what each claims is the same.
ENGINES = ("sweep", "induction")
_OBSERVED = "__flop"
_TOKEN = re.compile(r"\\\S+|[A-Za-z_][\w$]*|\d+'[bhdo][0-9a-fA-FxXzZ_]+|\S")
_PRIVATE = re.compile(r"_\d+_")


def engine_name(text: str) -> str:
    """argparse type: one of :data:`ENGINES`."""
    if text not in ENGINES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(ENGINES)}, got {text!r}")
    return text


@dataclass(frozen=True)
class EquivalenceSettings:
    """How hard one netlist is checked.

    Parameters
    ----------
    timeout_s : float
        Wall-clock budget of the whole check (the Yosys runs and the solver); past it the netlist is
        reported not checked (time-out).
    engine : str
        One of :data:`ENGINES`: ``sweep`` (SAT sweeping in ABC, fast on arithmetic) or ``induction``
        (one induction step by smtbmc and Yices).
    """

    timeout_s: float = option_field(
        DEFAULT_TIMEOUT_S,
        "budget in seconds of the proof that the netlist is equivalent to its RTL",
        positive_float,
    )
    engine: str = option_field(
        "sweep", f"proof engine of the netlist equivalence, one of {', '.join(ENGINES)}", engine_name
    )

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")


def add_settings_arguments(
    parser: argparse.ArgumentParser,
    prefix: str = "equivalence-",
    timeout_s: float = DEFAULT_CLI_TIMEOUT_S,
    *,
    optional: bool = True,
) -> None:
    """One option ``--<prefix><field>`` per field of :class:`EquivalenceSettings` (``_`` spelled ``-``),
    its help from the field, ``timeout_s`` its default budget. ``optional``: a budget of 0 means not
    checked (:func:`settings_from_arguments` returns ``None``); otherwise the budget must be positive."""
    for item in fields(EquivalenceSettings):
        budget = item.name == "timeout_s"
        parser.add_argument(
            f"--{prefix}{item.name.replace('_', '-')}",
            type=non_negative_float if optional and budget else item.metadata["parse"],
            default=timeout_s if budget else item.default,
            help=item.metadata["help"] + ("; 0: not checked" if optional and budget else ""),
        )


def settings_from_arguments(
    args: argparse.Namespace, prefix: str = "equivalence-"
) -> EquivalenceSettings | None:
    """The settings the options of :func:`add_settings_arguments` give (``None``: not checked)."""
    values = {
        item.name: getattr(args, f"{prefix.replace('-', '_')}{item.name}")
        for item in fields(EquivalenceSettings)
    }
    return EquivalenceSettings(**values) if values["timeout_s"] > 0 else None


@dataclass
class Verdict:
    """The outcome of one check: ``status`` (one of :data:`STATUSES`), why, and what was paired."""

    status: str
    reason: str = ""
    seconds: float = 0.0
    signals: int = 0
    timeout_s: float = DEFAULT_TIMEOUT_S
    engine: str = "induction"  # verdicts cached before the sweep engine existed came from induction
    units: str = ""  # checked unit by unit: the unit modules proven
    cached: bool = False

    def summary(self) -> str:
        """The status, and the reason unless proven (the study's ``netlist_equivalence`` column)."""
        if self.status == "proven":
            return f"proven unit by unit ({self.units})" if self.units else "proven"
        return f"{self.status}: {self.reason}"

    def line(self) -> str:
        """``netlist equivalent to RTL: proven (... )`` / ``FAILED: ...`` / ``not checked: ...``."""
        if self.status == "proven":
            detail = f"outputs and {self.signals} flip-flops paired, {self.engine}, {self.seconds:.1f} s"
            if self.units:
                detail = f"unit by unit: {self.units}; the glue: {detail}"
            return f"netlist equivalent to RTL: proven ({detail})"
        return f"netlist equivalent to RTL: {self.status}: {self.reason}"


def check_equivalence(
    result: SynthResult, settings: EquivalenceSettings | None = None, *, use_cache: bool = True
) -> Verdict:
    """The verdict on ``result``'s netlist against its RTL (see the module docstring); cached beside it."""
    settings = settings or EquivalenceSettings()
    folder = result.netlist.parent
    cached = _cached_verdict(folder / VERDICT_JSON, settings) if use_cache else None
    if cached is not None:
        return cached
    missing = [name for name in ("design.v", NAMED_NETLIST, REGISTERS_JSON) if not (folder / name).exists()]
    if missing:
        return Verdict("not checked", f"the synthesis folder {folder.name} lacks {', '.join(missing)}")
    named = (folder / NAMED_NETLIST).read_text()
    rtl, hier = (folder / "design.v").read_text(), folder / HIER_NETLIST
    if not same_up_to_renaming(result.netlist.read_text(), named):
        verdict = Verdict("FAILED", f"{NAMED_NETLIST} is not {result.netlist.name} renamed")
    elif settings.engine == "sweep" and hier.exists() and unit_classes(rtl, hier.read_text(), result.top):
        verdict = prove_units(
            rtl,
            hier.read_text(),
            result.top,
            json.loads((folder / REGISTERS_JSON).read_text()),
            settings,
            cells=tuple(result.settings.get("cells", ())) or None,
            log_to=folder / "equivalence.log",
        )
    else:
        verdict = prove_netlist(
            rtl,
            named,
            result.top,
            json.loads((folder / REGISTERS_JSON).read_text()),
            settings,
            cells=tuple(result.settings.get("cells", ())) or None,
            log_to=folder / "equivalence.log",
        )
    _write_verdict(folder / VERDICT_JSON, verdict)
    return verdict


def prove_netlist(
    rtl: str,
    netlist: str,
    top: str,
    registers: dict[str, dict[str, list]],
    settings: EquivalenceSettings | None = None,
    *,
    cells: tuple[str, ...] | None = None,
    cell_verilog: str | None = None,
    log_to: Path | None = None,
) -> Verdict:
    """Prove the netlist text ``netlist`` (module ``top``, Yosys internal names) equivalent to the Verilog
    ``rtl``; ``registers`` is the flow's :func:`energy.gates.synth.register_map`. The cells are the models
    of the liberty's ``cells`` (:func:`energy.gates.cells.cell_models`) unless ``cell_verilog`` gives them.
    Copies the logs (and a counterexample's VCD) beside ``log_to`` when given."""
    settings = settings or EquivalenceSettings()
    flops = registers.get(top, {})
    bits = {(wire, bit) for wire, bit, _ in flops.values()}
    if len(bits) != len(flops):
        reason = f"{len(flops) - len(bits)} flip-flops hold a register bit another one holds too"
        return Verdict("not proven", reason, timeout_s=settings.timeout_s)
    used = _used_cells(netlist)
    library = read_library(cells) if cells else read_library()
    with tempfile.TemporaryDirectory(prefix="equiv-") as work:
        work = Path(work)
        (work / "cells.v").write_text(
            cell_verilog if cell_verilog is not None else cell_models(library, used)
        )
        if settings.engine == "sweep":
            (work / "gold.v").write_text(rtl)
            (work / "gate.v").write_text(netlist)
            verdict = Verdict(**asdict(sweep(work, top, flops, library, settings.timeout_s)))
        else:
            (work / "gold.v").write_text(observed_rtl(rtl, top, flops))
            (work / "gate.v").write_text(observed_netlist(netlist, top, flops))
            verdict = _run(work, top, settings, len(bits))
        verdict.timeout_s, verdict.engine = settings.timeout_s, settings.engine
        if log_to is not None:
            names = ("load.log", "sweep.log", "equiv.log", "smt2.log", "smtbmc.log")
            logs = [work / name for name in names if (work / name).exists()]
            log_to.write_text("".join(log.read_text() for log in logs))
            if (work / TRACE).exists():
                shutil.copyfile(work / TRACE, log_to.with_name(TRACE))
                where = f"{log_to.parent.name}/{TRACE} in the synthesis cache"
                verdict.reason = verdict.reason.replace(f"in {TRACE}", f"in {where}")
    return verdict


def prove_units(
    rtl: str,
    hierarchical: str,
    top: str,
    registers: dict[str, dict[str, list]],
    settings: EquivalenceSettings | None = None,
    *,
    cells: tuple[str, ...] | None = None,
    log_to: Path | None = None,
) -> Verdict:
    """Prove the hierarchical netlist text ``hierarchical`` (the flow's ``hier.v``) equivalent to ``rtl``
    unit by unit with the sweep engine (:func:`energy.gates.units.check_units`); a counterexample's VCD
    is copied beside ``log_to`` when given."""
    settings = settings or EquivalenceSettings(engine="sweep")
    used = _used_cells(hierarchical)
    library = read_library(cells) if cells else read_library()
    trace = log_to.with_name(TRACE) if log_to is not None else None
    outcome = check_units(
        rtl, hierarchical, top, registers, library, cell_models(library, used), settings.timeout_s, trace
    )
    verdict = Verdict(**asdict(outcome), timeout_s=settings.timeout_s, engine="sweep")
    if trace is not None:
        verdict.reason = verdict.reason.replace(f"in {TRACE}", f"in {trace.parent.name}/{TRACE}")
    return verdict


def _used_cells(netlist: str) -> set[str]:
    """The ASAP7 cell types a netlist text instantiates (the cell models the check needs)."""
    return {match.group(1) for match in re.finditer(r"^\s*(\w+_ASAP7_75t_R)\s", netlist, re.M)}


def _observation_name(wire: str, bit: int) -> str:
    return f"\\{wire}[{bit}]{_OBSERVED} "


def _escaped(name: str) -> str:
    return f"\\{name} "


def observed_netlist(netlist: str, top: str, flops: dict[str, list]) -> str:
    """``netlist`` with one observation wire per flip-flop of ``flops``: the flip-flop's output drives the
    observation wire (through an inverter where it holds the complement), and the net the output drove is
    driven from the observation wire (back through an inverter), so that the netlist's logic reads the
    register bit the proof pairs with the RTL's. The rewiring adds two inverters in series, nothing else."""
    instances = {}
    for match in re.finditer(r"^\s*DFF\w+\s+(\\\S+|\w+)\s*\((.*?)\);", netlist, re.M | re.S):
        instances[match.group(1).removeprefix("\\").strip()] = match
    edits, lines = [], []
    for cell, (wire, bit, inverted) in sorted(flops.items()):
        match = instances.get(cell)
        if match is None:
            raise ValueError(f"netlist: the flip-flop {cell} of the register map is not in the netlist")
        pin = re.search(r"\.(QN?)\(\s*(\\\S+|[\w\[\]]+)\s*\)", match.group(2))
        net, fresh, name = _spaced(pin.group(2)), f"\\{cell}__out ", _observation_name(wire, bit)
        start = match.start(2) + pin.start(2)
        edits.append((start, match.start(2) + pin.end(2), fresh))
        invert = "~" if inverted else ""  # the register bit is the complement of the output
        lines += [
            f"  wire {fresh};",
            f"  wire {name};",
            f"  assign {name} = {invert}{fresh};",
            f"  assign {net} = {invert}{name};",
        ]
    for start, end, text in sorted(edits, reverse=True):
        netlist = netlist[:start] + text + netlist[end:]
    return _insert_before_end(netlist, top, lines)


def observed_rtl(rtl: str, top: str, flops: dict[str, list]) -> str:
    """``rtl`` with the observation wires of :func:`observed_netlist`, each an alias of its register bit."""
    lines = []
    for wire, bit, _inverted in sorted(tuple(v) for v in flops.values()):
        name = _observation_name(wire, bit)
        lines += [f"  wire {name};", f"  assign {name} = {_escaped(wire)}[{bit}];"]
    return _insert_before_end(rtl, top, lines)


def _spaced(name: str) -> str:
    return name + " " if name.startswith("\\") and not name.endswith(" ") else name


def _insert_before_end(text: str, top: str, lines: list[str]) -> str:
    start = re.search(rf"^module\s+\\?{re.escape(top)}\s*\(", text, re.M)
    if start is None:
        raise ValueError(f"top: no module {top!r} in the Verilog")
    end = text.index("endmodule", start.end())
    return text[:end] + "\n".join(lines) + "\n" + text[end:]


def same_up_to_renaming(netlist: str, named: str) -> bool:
    """Whether ``netlist`` (``write_verilog``'s ``_<n>_`` names) is ``named`` (``-norename``) with its
    internal names renamed one to one, and nothing else changed."""
    left, right = _TOKEN.findall(netlist), _TOKEN.findall(named)
    if len(left) != len(right):
        return False
    forward: dict[str, str] = {}
    backward: dict[str, str] = {}
    for a, b in zip(left, right, strict=True):
        if a == b:
            continue
        if not (_PRIVATE.fullmatch(a) and b.startswith("\\$")):
            return False
        if forward.setdefault(a, b) != b or backward.setdefault(b, a) != a:
            return False
    return True


def _script(top: str) -> str:
    """Load both designs, count what the proof pairs, build the miter and write it as SMT-LIB2."""

    def load(name: str, files: list[str]) -> list[str]:
        return [
            f"read_verilog -sv {' '.join(files)}",
            f"hierarchy -check -top {top}",
            "proc",
            "flatten",
            f"setattr -set keep 1 w:*{_OBSERVED}",
            "opt_clean",
            f"rename -top {name}",
            f"tee -q -o {name}_cells.json stat -json",
            f"design -stash {name}",
        ]

    flops = "t:$dff t:$adff t:$dffe t:$adffe t:$sdff t:$sdffe t:$sdffce t:$dlatch"
    return "\n".join(
        [
            *load("gold", ["gold.v"]),
            *load("gate", ["cells.v", "gate.v"]),
            "design -copy-from gold -as gold gold",
            f"simplemap {flops}",
            "tee -q -o gold_bits.json stat -json",
            "design -reset",
            "design -copy-from gold -as gold gold",
            "design -copy-from gate -as gate gate",
            f"expose w:*{_OBSERVED}",
            "miter -equiv -flatten -make_outputs gold gate miter",
            "hierarchy -top miter",
            "opt_clean",
            "write_rtlil miter.il",
            "tee -q -o ports.txt portlist miter",
        ]
    )


_SMT_SCRIPT = """read_rtlil miter.il
read_verilog -formal harness.sv
hierarchy -top harness
proc
flatten
opt_clean
async2sync
write_smt2 -wires miter.smt2"""


def harness(ports: str) -> str:
    """The property around the miter (``ports``: Yosys ``portlist miter``): each flip-flop pair equal, and
    the outputs equal one cycle later through a register, so that the induction step assumes only the
    flip-flop pairs (assuming the outputs equal too could contradict the assumed state and prove
    anything). A design without a clock (combinational) has its outputs compared in the same cycle."""
    declared = re.findall(r"^(input|output) \[(\d+):0\] (\S+)$", ports, re.M)
    inputs = [(int(msb), name) for way, msb, name in declared if way == "input"]
    golds = [(int(msb), name) for way, msb, name in declared if way == "output" and name.startswith("gold_")]
    lines = [
        f"module harness({', '.join(_escaped(name) for _, name in inputs)});",
        *(f"  input [{msb}:0] {_escaped(name)};" for msb, name in inputs),
        *(f"  wire [{msb}:0] {_escaped(name)}, {_escaped('gate_' + name[5:])};" for msb, name in golds),
        "  wire trigger;",
        "  miter miter (",
        ",\n".join(
            [f"    .{_escaped(name)}({_escaped(name)})" for _, name in inputs]
            + [f"    .{_escaped(g)}({_escaped(g)})" for _, name in golds for g in (name, "gate_" + name[5:])]
            + ["    .trigger(trigger)"]
        ),
        "  );",
        "  reg outputs_differ;",
    ]
    clock = next((name for _, name in inputs if name == "in_clk"), None)
    outputs = [name for _, name in golds if not name.endswith(_OBSERVED)]
    flops = [name for _, name in golds if name.endswith(_OBSERVED)]
    differ = " || ".join(f"{_escaped(n)} != {_escaped('gate_' + n[5:])}" for n in outputs) or "1'b0"
    if clock is None:  # a combinational design (an FP16 unit): the outputs are compared at once
        lines.append(f"  always @* outputs_differ = {differ};")
    else:
        lines.append(f"  always @(posedge {_escaped(clock)}) outputs_differ <= {differ};")
    lines.append("  always @* begin")
    lines.append("    assert (!outputs_differ);")
    lines += [f"    assert ({_escaped(n)} == {_escaped('gate_' + n[5:])});" for n in flops]
    lines += ["  end", "endmodule"]
    return "\n".join(lines) + "\n"


def _induction(work: Path, timeout_s: float) -> str:
    """One induction step with smtbmc and Yices: from any pair of states whose flip-flops hold their
    registers' bits, one cycle on any input keeps every pair equal. Returns smtbmc's status."""
    command = [SMTBMC, "-s", "yices", "-i", "-t", "1", "--dump-vcd", TRACE, "miter.smt2"]
    run = run_bounded(command, work, timeout_s, env=tool_environment())
    if run is None:
        return "TIMEOUT"
    (work / "smtbmc.log").write_text(run.stdout + run.stderr)
    status = re.findall(r"Status: (\w+)", run.stdout)
    return status[-1] if status else "ERROR"


def _run(work: Path, top: str, settings: EquivalenceSettings, paired: int) -> Verdict:
    started = time.perf_counter()
    run = run_yosys(work, _script(top), settings.timeout_s, log="equiv")
    if run is None:
        reason = f"time-out after {settings.timeout_s:g} s, building the miter"
        return Verdict("not checked", reason, time.perf_counter() - started)
    if run.returncode != 0:
        raise RuntimeError(f"Yosys failed on the equivalence of {top}: {log_tail(work / 'equiv.log')}")
    boxes = black_boxes(work)
    if boxes:
        reason = f"cells without a model remain (black boxes): {', '.join(boxes)}"
        return Verdict("not checked", reason, time.perf_counter() - started)
    (work / "harness.sv").write_text(harness((work / "ports.txt").read_text()))
    run = run_yosys(
        work, _SMT_SCRIPT, max(settings.timeout_s - (time.perf_counter() - started), 1.0), log="smt2"
    )
    if run is None:
        reason = f"time-out after {settings.timeout_s:g} s, writing the induction"
        return Verdict("not checked", reason, time.perf_counter() - started)
    if run.returncode != 0:
        raise RuntimeError(f"Yosys failed writing the induction of {top}: {log_tail(work / 'smt2.log')}")
    unpaired = _unpaired(work, paired)
    remaining = settings.timeout_s - (time.perf_counter() - started)
    status = _induction(work, max(remaining, 1.0))
    seconds = time.perf_counter() - started
    signals = paired
    if status == "PASSED" and not unpaired:
        return Verdict("proven", "", seconds, signals)
    if status == "PASSED":
        return Verdict("not proven", f"the induction holds but {unpaired}", seconds, signals)
    if status == "TIMEOUT":
        reason = f"time-out after {settings.timeout_s:g} s in the induction step ({signals} pairs)"
        return Verdict("not checked", reason, seconds, signals)
    if status != "FAILED":
        raise RuntimeError(f"smtbmc failed on the equivalence of {top}: {log_tail(work / 'smtbmc.log')}")
    trace = f"a counterexample trace is in {TRACE}"
    if unpaired:
        return Verdict("not proven", f"the induction fails and {unpaired}; {trace}", seconds, signals)
    if paired == 0:
        return Verdict("FAILED", f"on some input the outputs differ; {trace}", seconds, signals)
    reason = f"from a pair of corresponding states one cycle makes outputs or flip-flops differ; {trace}"
    return Verdict("FAILED", reason, seconds, signals)


def _unpaired(work: Path, paired: int) -> str:
    """Empty when the flip-flops and the RTL's register bits pair one to one; else what is left over."""
    gate = cell_counts(work / "gate_cells.json")
    gate_flops = sum(count for cell, count in gate.items() if cell.startswith("$") and "dff" in cell.lower())
    gold = cell_counts(work / "gold_bits.json")
    gold_bits = sum(count for cell, count in gold.items() if "DFF" in cell or "DLATCH" in cell)
    left = []
    if gate_flops != paired:
        left.append(f"{gate_flops - paired} of the netlist's {gate_flops} flip-flops are not paired")
    if gold_bits != paired:
        left.append(f"{gold_bits - paired} of the RTL's {gold_bits} register bits are not paired")
    return " and ".join(left)


def _cached_verdict(path: Path, settings: EquivalenceSettings) -> Verdict | None:
    """The stored verdict, unless it is a time-out within a smaller budget than ``settings`` gives or a
    verdict short of proven or FAILED by another engine (which ``settings`` may settle)."""
    if not path.exists():
        return None
    verdict = Verdict(**json.loads(path.read_text()))
    if verdict.status == "not checked" and verdict.timeout_s < settings.timeout_s:
        return None
    if verdict.status not in ("proven", "FAILED") and verdict.engine != settings.engine:
        return None
    verdict.cached = True
    return verdict


def _write_verdict(path: Path, verdict: Verdict) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(asdict(verdict) | {"cached": False}, indent=1))
    staging.replace(path)
