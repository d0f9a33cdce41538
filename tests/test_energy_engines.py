"""The ternary engines study (energy.gates.engines) on a tiny configuration, and its figure."""

from __future__ import annotations

import pytest

from energy.gates.engines import (
    FAMILIES,
    FULL,
    MEASURED_ROWS_CAP,
    EngineStudyConfig,
    Family,
    best_ternary,
    energy_breakdown,
    engine_study,
    flip_flop_roles,
)
from energy.gates.liberty import read_library
from energy.gates.measure import measure_array
from energy.gates.plots import engines_figure
from energy.gates.synth import MAPPING_CELLS
from hw.params import DEFAULT_MAX_K, ArrayParams

UNITS = {"table_int8_adds": 7 / 1000, "flow_int8_adds": 12 / 1000, "flow_registered_int8_adds": 65 / 1000}
TINY = EngineStudyConfig(
    lanes=5,
    rows=(1, 3),
    dataflows=("stream", "stationary"),
    beats=12,
    families=(
        Family("tree csa", "ternary", {"tree": "csa"}),
        Family("LUT G=2", "ternary-lut", {"group": 2}),
        Family("int8", "int8"),
    ),
)


@pytest.fixture(scope="module")
def study():
    return engine_study(TINY, units=UNITS)


def test_every_point_is_measured_and_checked(study):
    assert len(study) == 3 * 2 * 2
    assert list(study.family.unique()) == ["tree csa", "LUT G=2", "int8"]
    assert (study.outputs_checked > 0).all()
    assert set(study.operands) == {"model up_proj layer middle"}
    lut = study[study.array == "ternary-lut"]
    assert lut.group.tolist() == [2] * 4 and (lut.measured_rows == lut.rows).all()


def test_units_and_throughput(study):
    for unit, value in UNITS.items():
        assert study[unit].tolist() == pytest.approx((study.energy_per_mac_pJ / value).tolist())
    throughput = study.lanes * study.rows / (study.critical_path_ps / 1000)
    assert study.throughput_macs_per_ns.tolist() == pytest.approx(throughput.tolist())


def test_best_ternary_is_the_cheapest_ternary_record(study):
    best = best_ternary(study)
    ternary = study[study.array != "int8"]
    assert best.energy_per_mac_pJ == ternary.energy_per_mac_pJ.min() and best.array != "int8"


def test_rows_are_capped_per_array_kind():
    for family in FAMILIES:
        params = FULL.params(family, 32, "stream", DEFAULT_MAX_K)
        cap = MEASURED_ROWS_CAP[family.array]
        assert params.rows == (32 if cap is None else min(32, cap)), family
    assert FULL.params(FAMILIES[4], 8, "stationary", DEFAULT_MAX_K).group == 2


def test_bad_configuration():
    with pytest.raises(ValueError, match="projection must be one of"):
        EngineStudyConfig(projection="lm_head")
    with pytest.raises(ValueError, match="rows must be positive"):
        EngineStudyConfig(rows=())


def test_figure_has_a_panel_per_dataflow(study):
    figure = engines_figure(study, UNITS)
    assert len(figure.axes) == 2
    assert all(len(ax.get_lines()) == 3 + 2 for ax in figure.axes)  # families + the two INT8 adds


def test_the_breakdown_adds_up_to_the_measured_energy():
    params = ArrayParams("ternary-lut", 6, 2, group=3, dataflow="stationary", max_k=64)
    measurement = measure_array(params, beats=24)
    library = read_library(MAPPING_CELLS)
    parts = energy_breakdown(measurement, library)
    summed = sum(value for name, value in parts.items() if name != "total" and not name.startswith("cell "))
    assert summed == pytest.approx(parts["total"], rel=1e-9)
    flops = sum(count for cell, count in measurement.synth.cells.items() if cell.startswith("DFF"))
    roles = flip_flop_roles(params, flops)
    assert (
        roles["tile"] == 2 * 2 * 5
        and roles["accumulators"] == roles["output register"] == 2 * params.acc_width
    )
    assert sum(roles.values()) == flops and roles["pipeline and control"] >= 1
    assert 0 < parts["clock: tile"] < parts["total"]
