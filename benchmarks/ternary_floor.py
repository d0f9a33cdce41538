"""Benchmark: where the energy of the best ternary MAC goes, beside the adder tree it improves on.

Reads ``benchmarks/results/ternary_engines.csv`` (``python benchmarks/ternary_engines.py``), takes the
ternary configuration with the lowest energy per MAC and, at its rows and dataflow, the signed adder tree,
measures both again (the syntheses come from the cache) and splits their energy per MAC
(:func:`energy.gates.engines.energy_breakdown`): the clock of every flip-flop role, paid each cycle whatever
the data, the registers' data-dependent rest, the logic, the input ports, leakage, and the cell types with
the most internal energy. In the flow's own INT8 adds too (``benchmarks/results/primitives.csv``). Writes
the section ``ternary-floor`` of RESULTS.md and ``benchmarks/results/ternary_floor.csv``.

    python benchmarks/ternary_floor.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from energy.gates.engines import FAMILIES, FULL, best_ternary, energy_breakdown, flow_units
from energy.gates.liberty import read_library
from energy.gates.measure import measure_array
from energy.gates.model_operands import ModelSource
from energy.gates.study import markdown
from energy.gates.synth import MAPPING_CELLS
from hw.params import DEFAULT_MAX_K
from model.atomic import write_table
from model.infer import load_model

try:
    from benchmarks.results import write_section
except ImportError:  # run as a script from the benchmarks folder
    from results import write_section

RESULTS = Path(__file__).with_name("results")


def breakdown_table(engines: pd.DataFrame, units: dict[str, float]) -> pd.DataFrame:
    """The breakdown of the best ternary configuration and of the signed tree at its rows and dataflow."""
    best = best_ternary(engines)
    families = {family.label: family for family in FAMILIES}
    source = ModelSource(projection=FULL.projection)
    max_k = max(DEFAULT_MAX_K, load_model(source.checkpoint).config.intermediate_size)
    library = read_library(MAPPING_CELLS)
    columns = {}
    for label in dict.fromkeys((best.family, "tree signed")):
        params = FULL.params(families[label], int(best.rows), best.dataflow, max_k)
        measurement = measure_array(params, beats=FULL.beats, seed=FULL.seed, operands=source)
        columns[f"{label}, M={best.rows} {best.dataflow} (pJ/MAC)"] = energy_breakdown(measurement, library)
    frame = pd.DataFrame(columns).fillna(0.0)
    for column in list(frame.columns):
        frame[column.replace("(pJ/MAC)", "(flow INT8 adds)")] = frame[column] / units["flow_int8_adds"]
    return frame.rename_axis("part").reset_index()


def main() -> int:
    engines = pd.read_csv(RESULTS / "ternary_engines.csv")
    units = flow_units(pd.read_csv(RESULTS / "primitives.csv"))
    frame = breakdown_table(engines, units)
    write_table(RESULTS / "ternary_floor.csv", frame)
    body = "\n\n".join(
        [
            "Energy per MAC split by where it goes (`energy.gates.engines.energy_breakdown`): "
            "`clock: <role>` is the clock pin energy of that role's flip-flops (two clock edges per cycle, "
            "data or not: the flow has no clock gating), `registers, data` the rest of the flip-flops' "
            "energy, `logic` the combinational cells and the nets they drive, `input ports` the switching "
            "of the array's input nets; `cell X` rows are the cell types with the most internal energy (a "
            "subset, not added to the total). "
            f"Flow INT8 add: {units['flow_int8_adds']:.4f} pJ (its logic, section primitives).",
            markdown(frame),
        ]
    )
    print(body)
    write_section("ternary-floor", body, "python benchmarks/ternary_floor.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
