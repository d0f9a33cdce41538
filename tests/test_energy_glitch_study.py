"""The glitch study (energy.gates.glitch_study) on the CI-sized arrays, and its figure."""

from dataclasses import replace

import pytest

from energy.gates.glitch_study import (
    MODES,
    REPORTED_BLOCKS,
    TERNARY_TREES,
    glitch_blocks,
    glitch_study,
    ratios,
)
from energy.gates.plots import glitch_figure
from energy.gates.study import SMALL


@pytest.fixture(scope="module")
def study():
    lines = []
    frame, cells = glitch_study(replace(SMALL, beats=16), progress=lines.append)
    return frame, lines, cells


def test_every_array_is_measured_under_every_mode(study):
    frame, lines, cells = study
    assert len(frame) == len(lines) == len(TERNARY_TREES) + 2
    assert set(frame["array"]) == {"ternary", "int8", "fp16"}
    for row in frame.itertuples(index=False):
        assert row.timing_pJ > row.zero_delay_pJ > 0  # glitches only add transitions
        assert row.timing_parasitics_pJ > row.timing_pJ  # wires and the clock tree only add energy
        assert row.zero_delay_parasitics_pJ > row.zero_delay_pJ
        assert 0 < row.glitch_share < 1 and row.clock_tree_pJ > 0 and row.clock_buffers >= 1
        assert row.timing_cycles_per_s > 0 and row.zero_delay_cycles_per_s > row.timing_cycles_per_s
    blocks = [f"zero_delay_{b.replace(' ', '_')}_pJ" for b in REPORTED_BLOCKS]
    assert frame[blocks].sum(axis=1).to_numpy() == pytest.approx(frame["zero_delay_pJ"].to_numpy())


def test_ratios_and_blocks_follow_from_the_rows(study):
    frame, _, cells = study
    table = ratios(frame)
    assert list(table["ratio"]) == ["fp16 / ternary", "int8 / ternary"]
    signed = frame[frame["tree"] == "signed"].set_index("array")
    expected = signed.loc["fp16", "timing_pJ"] / signed.loc["ternary", "timing_pJ"]
    assert table.iloc[0]["timing"] == pytest.approx(expected)
    added = glitch_blocks(frame)
    assert len(added) == 3
    total = added[list(REPORTED_BLOCKS)].sum(axis=1).to_numpy()
    assert total == pytest.approx(
        (signed["timing_pJ"] - signed["zero_delay_pJ"]).loc[added["array"]].to_numpy()
    )
    figure = glitch_figure(frame, table, MODES)
    assert len(figure.axes) == 2
    for _, group in cells.groupby(["array", "tree", "lanes"]):
        assert group["share_of_added"].sum() == pytest.approx(1.0)
        assert (group["timing_pJ"] >= group["zero_delay_pJ"] - 1e-12).all()
