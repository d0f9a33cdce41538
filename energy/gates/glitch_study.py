"""The glitch study: energy per MAC zero-delay vs timing-aware vs timing-aware with wires and a clock tree.

For each array of the gate-level study (the ternary array with each of its trees, int8, FP16; the lanes
of :class:`energy.gates.study.StudyConfig`, measured on ``measured_rows`` rows, per MAC), on the same
realistic operands and the same window, :func:`measure_modes` runs the checked gate-level simulation three
times:

1. zero-delay (:mod:`energy.gates.gatesim`): today's figure, and the simulator's speed;
2. timing-aware (:mod:`energy.gates.timed`, the liberty's delays): every transition, glitches included;
   the same run priced on its settled values must give figure 1 exactly (checked);
3. timing-aware with the modelled wires and clock tree (:mod:`energy.gates.parasitics`); its settled
   values give the zero-delay figure with the same parasitics.

Each row holds the four energies per MAC, the glitch share of the logic's transitions, the energy per MAC
of each block (:mod:`energy.gates.blocks`) zero-delay and timing-aware, the cell types whose internal
energy the glitches raise most (and, apart, every cell type's internal energy with and without them),
and both simulators' speeds. :func:`ratios` gives the FP16 / ternary and
int8 / ternary ratios (against the ternary array's ``signed`` tree) under each mode.
"""

from __future__ import annotations

import pandas as pd

from energy.gates.blocks import BLOCKS
from energy.gates.measure import GateMeasurement, measure_array
from energy.gates.physics import PhysicsSettings
from energy.gates.study import StudyConfig
from hw.params import ArrayParams

#: The ternary trees compared (every tree the ternary array has), then int8 and FP16 (``signed`` tree).
TERNARY_TREES = ("signed", "split", "deferred", "csa")
#: The energy columns of each row and the mode each measures.
MODES = {
    "zero_delay_pJ": "zero-delay",
    "zero_delay_parasitics_pJ": "zero-delay + wires + clock tree",
    "timing_pJ": "timing",
    "timing_parasitics_pJ": "timing + wires + clock tree",
}
#: Blocks reported per MAC: the array's, and the input ports' and clock's switching.
REPORTED_BLOCKS = (*BLOCKS, "input ports", "clock")


def study_params(config: StudyConfig) -> list[ArrayParams]:
    """Every array of the study at every lanes of ``config``."""
    arrays = [("ternary", tree) for tree in TERNARY_TREES] + [("int8", "signed"), ("fp16", "signed")]
    return [config.params(array, lanes, tree=tree) for lanes in config.lanes for array, tree in arrays]


def _per_mac(report_fj: float, measurement: GateMeasurement) -> float:
    return report_fj * 1e-3 / measurement.energy.macs


def cell_records(params: ArrayParams, timing: GateMeasurement) -> list[dict]:
    """Per cell type: its internal energy per MAC without the glitches (the run's settled values) and
    with them, and its share of what the glitches add to the cells' internal energy."""
    settled, full = timing.settled_energy.by_cell, timing.energy.by_cell
    added = {cell: full[cell] - settled.get(cell, 0.0) for cell in full}
    total = sum(added.values()) or 1.0
    return [
        {
            "array": params.array,
            "tree": params.tree,
            "lanes": params.lanes,
            "cell": cell.removesuffix("_ASAP7_75t_R"),
            "zero_delay_pJ": _per_mac(settled.get(cell, 0.0), timing),
            "timing_pJ": _per_mac(full[cell], timing),
            "share_of_added": added[cell] / total,
        }
        for cell in sorted(full, key=lambda c: -added[c])
    ]


def _glitchy_cells(records: list[dict], top: int = 3) -> str:
    """The cell types whose internal energy the glitches raise most, with their share of the rise."""
    return ", ".join(f"{r['cell']} {100 * r['share_of_added']:.0f}%" for r in records[:top])


def measure_modes(params: ArrayParams, config: StudyConfig, *, pdk=None) -> tuple[dict, list[dict]]:
    """One row of the study (see the module docstring) and its cell types' records (:func:`cell_records`)."""
    common = {"beats": config.beats, "seed": config.seed, "pdk": pdk}
    plain = measure_array(params, **common)
    timing = measure_array(params, **common, physics=PhysicsSettings(activity="timing"))
    full = measure_array(params, **common, physics=PhysicsSettings("timing", wire_load=True, clock_tree=True))
    if abs(timing.settled_energy.total_fj - plain.energy.total_fj) > 1e-9 * plain.energy.total_fj:
        raise AssertionError(
            f"{params.default_name()}: the timed run's settled energy is not the zero-delay one"
        )
    cells = cell_records(params, timing)
    row = {
        "array": params.array,
        "tree": params.tree,
        "lanes": params.lanes,
        "rows": config.rows,
        "cells": round(plain.synth.cell_count * config.rows / params.rows),
        "simulated_cells": plain.synth.cell_count,
        "critical_path_ps": plain.critical_path_ps,
        "beats": plain.activity["beats"],
        "zero_delay_pJ": plain.energy.per_mac_pj()["total"],
        "timing_pJ": timing.energy.per_mac_pj()["total"],
        "zero_delay_parasitics_pJ": full.settled_energy.per_mac_pj()["total"],
        "timing_parasitics_pJ": full.energy.per_mac_pj()["total"],
        "glitch_share": timing.activity["glitch_share"],
        "glitch_share_parasitics": full.activity["glitch_share"],
        "clock_tree_pJ": _per_mac(full.energy.details["clock_tree"], full),
        "clock_buffers": full.clock_tree.buffers * config.rows // params.rows,
        "glitchy_cells": _glitchy_cells(cells),
    }
    for block in REPORTED_BLOCKS:
        key = block.replace(" ", "_")
        row[f"zero_delay_{key}_pJ"] = _per_mac(plain.energy.by_block.get(block, 0.0), plain)
        row[f"timing_{key}_pJ"] = _per_mac(timing.energy.by_block.get(block, 0.0), timing)
    cycles = plain.activity["cycles"]
    row["zero_delay_cycles_per_s"] = cycles / plain.seconds["simulation"]
    row["timing_cycles_per_s"] = cycles / timing.seconds["simulation"]
    return row, cells


def glitch_study(config: StudyConfig, *, pdk=None, progress=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every row of the study, and every array's cell types (:func:`cell_records`); a line of progress per
    array."""
    rows, cells = [], []
    for params in study_params(config):
        row, records = measure_modes(params, config, pdk=pdk)
        progress(
            f"{params.default_name()}: zero-delay {row['zero_delay_pJ']:.4f}, timing {row['timing_pJ']:.4f}, "
            f"+ wires + clock tree {row['timing_parasitics_pJ']:.4f} pJ/MAC, "
            f"glitches {100 * row['glitch_share']:.0f}% of transitions"
        )
        rows.append(row)
        cells += records
    return pd.DataFrame(rows), pd.DataFrame(cells)


def ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Per lanes: FP16 / ternary and int8 / ternary energy per MAC under each mode (ternary: ``signed``)."""
    records = []
    for lanes, group in frame.groupby("lanes"):
        by_array = group[group["tree"] == "signed"].set_index("array")
        for other in ("fp16", "int8"):
            if other in by_array.index and "ternary" in by_array.index:
                record = {"lanes": lanes, "ratio": f"{other} / ternary"}
                for column, mode in MODES.items():
                    record[mode] = by_array.loc[other, column] / by_array.loc["ternary", column]
                records.append(record)
    return pd.DataFrame(records)


def glitch_blocks(frame: pd.DataFrame) -> pd.DataFrame:
    """Per array and lanes (``signed`` trees): the energy per MAC the glitches add to each block."""
    records = []
    for row in frame[frame["tree"] == "signed"].itertuples(index=False):
        record = {"array": row.array, "lanes": row.lanes}
        for block in REPORTED_BLOCKS:
            key = block.replace(" ", "_")
            record[block] = getattr(row, f"timing_{key}_pJ") - getattr(row, f"zero_delay_{key}_pJ")
        records.append(record)
    return pd.DataFrame(records)
