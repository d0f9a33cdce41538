"""energy.model_energy: energy per token from measured energy per MAC per projection type (arithmetic,
the waterfall with the measured linear term, the explanations, the command's outputs and errors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy.model_energy import (
    ARRAYS,
    EXTRAPOLATED,
    PHASE_DATAFLOW,
    explain,
    load_measured,
    main,
    matmul_energy,
    model_shape,
    model_shapes,
    per_mac,
    waterfall,
)
from energy.opcount import matmul_counts
from energy.system import system_ledger
from energy.tables import resolve_tables
from model.infer import BUNDLED_CHECKPOINT, load_model
from model.operands import PROJECTION_TYPES

ROOT = Path(__file__).resolve().parent.parent
#: A made-up measured energy per MAC (pJ) per array; each projection type adds its index / 1000.
BASE = {"ternary": 0.02, "int8": 0.1, "fp16": 0.3}


def measured_frame() -> pd.DataFrame:
    rows = []
    for dataflow in PHASE_DATAFLOW.values():
        for array, base in BASE.items():
            rows.append({"dataflow": dataflow, "array": array, "projection": "", "energy_per_mac_pJ": base})
            for index, projection in enumerate(PROJECTION_TYPES):
                value = base + index / 1000
                rows.append(
                    {
                        "dataflow": dataflow,
                        "array": array,
                        "projection": projection,
                        "energy_per_mac_pJ": value,
                    }
                )
    frame = pd.DataFrame(rows)
    energy = frame.energy_per_mac_pJ
    return frame.assign(combinational_pJ=energy * 0.7, sequential_pJ=energy * 0.25, leakage_pJ=energy * 0.05)


@pytest.fixture(scope="module")
def measured_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("measured") / "measured.csv"
    measured_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def shape():
    return model_shape(load_model(BUNDLED_CHECKPOINT).config, "bundled")


def test_the_checkpoint_shape_counts_the_models_macs(shape):
    config = load_model(BUNDLED_CHECKPOINT).config
    counts = matmul_counts(shape, 1, "decode", attention="none").set_index("matmul")
    for name, (out, inp) in config.projection_shapes().items():
        assert counts.loc[name.split(".")[-1], "macs_per_token"] == out * inp * config.num_hidden_layers


@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_matmul_energy_is_macs_times_the_measured_energy_per_mac(measured_csv, shape, phase):
    tables = resolve_tables(None)
    linear = matmul_energy(shape, load_measured(measured_csv), phase, 16, tables).set_index("projection")
    for index, projection in enumerate(PROJECTION_TYPES):
        row = linear.loc[projection]
        for array, base in BASE.items():
            assert row[f"{array}_measured_pJ_per_mac"] == pytest.approx(base + index / 1000)
            assert row[f"{array}_measured_pJ"] == pytest.approx(row.macs_per_token * (base + index / 1000))
    assert linear.ternary_table_pJ_per_mac.iloc[0] == pytest.approx(0.007)
    assert linear.fp16_table_pJ_per_mac.iloc[0] == pytest.approx(0.5)
    assert linear.int8_table_pJ_per_mac.iloc[0] == pytest.approx(0.077)


def test_the_waterfall_replaces_only_the_linear_term(measured_csv, shape):
    measured = load_measured(measured_csv)
    steps = waterfall(shape, measured, "decode", 64).set_index(["precision", "term"])
    ledger = system_ledger(shape, 64, "decode")
    table = ledger.groupby(["precision", "term"]).energy_J.sum() * 1e12
    np.testing.assert_allclose(steps.table_pJ.sort_index(), table.sort_index(), rtol=1e-12)
    linear = matmul_energy(shape, measured, "decode", 64, resolve_tables(None))
    assert steps.loc[("b1.58", "linear"), "measured_pJ"] == pytest.approx(linear.ternary_measured_pJ.sum())
    assert steps.loc[("fp16", "linear"), "measured_pJ"] == pytest.approx(linear.fp16_measured_pJ.sum())
    others = steps.drop(index="linear", level="term")
    assert (others.measured_pJ == others.table_pJ).all()


def test_disagreements_beyond_a_fifth_are_explained(measured_csv, shape):
    measured = load_measured(measured_csv)
    linear = matmul_energy(shape, measured, "decode", 8, resolve_tables(None))
    lines = explain(linear, measured, "decode")
    assert len(lines) == len(ARRAYS)  # 0.02 vs 0.007, 0.1 vs 0.077, 0.3 vs 0.5: all beyond 20%
    assert lines[0].startswith("ternary (decode): measured") and "sequential 25%, leakage 5%" in lines[0]
    assert "also pays" in lines[0] and "costs less than the table" in lines[2]


def test_the_extrapolated_shapes_are_the_published_ones():
    shapes = model_shapes(BUNDLED_CHECKPOINT, resolve_tables(None))
    assert list(shapes)[1:] == list(EXTRAPOLATED)
    two_b = shapes["bitnet-b1.58-2B-4T"]
    assert (two_b.hidden, two_b.intermediate, two_b.layers, two_b.heads, two_b.kv_heads) == (
        2560,
        6912,
        30,
        20,
        5,
    )
    assert shapes["b1.58-70B"].hidden == 8192 and shapes["b1.58-3B"].hidden == 3200


def test_the_command_writes_tables_and_figures(measured_csv, tmp_path, capsys):
    assert main(["--measured", str(measured_csv), "--out", str(tmp_path), "--tokens", "32"]) == 0
    out = capsys.readouterr().out
    assert "decode (32 tokens): per token b1.58" in out and "fp16 / b1.58 measured" in out
    names = {path.name for path in tmp_path.iterdir()}
    assert "bitnet-b1.58-2B-4T_decode_waterfall.csv" in names and "b1.58-70B_prefill_projections.png" in names
    assert not [name for name in names if "partial" in name]


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="run python benchmarks/gate_level_model.py"):
        load_measured(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    measured_frame().drop(columns="sequential_pJ").to_csv(bad, index=False)
    with pytest.raises(ValueError, match="lacks the columns sequential_pJ"):
        load_measured(bad)
    partial = measured_frame()
    with pytest.raises(ValueError, match="lack projections"):
        per_mac(partial[partial.projection != "down_proj"], "stream")
    run = subprocess.run(
        [sys.executable, "-m", "energy.model_energy", "--measured", str(tmp_path / "none.csv")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 2 and run.stderr.count("\n") == 1
