"""model.study: the b1.58-vs-fp study's configuration, its runs (trained, then resumed without new steps),
its table, its convergence check and its loss-curve figure, on a synthetic text (a few seconds)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from text_data import synthetic_text

from model.study import (
    RUNS,
    TINY,
    StudyConfig,
    exported_model,
    last_share_improvement,
    loss_curve_figure,
    loss_curves,
    read_log,
    summarize,
    train_all,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    data = folder / "text.txt"
    data.write_text(synthetic_text())
    config = dataclasses.replace(TINY, data=data, out=folder / "runs", seq_len=32, threads=1)
    exported = train_all(config)
    return config, exported


def test_every_run_of_the_study_trains_and_exports(study):
    config, exported = study
    assert config.runs == RUNS and len(exported) == len(RUNS)
    for (size, precision), folder in zip(config.runs, exported, strict=True):
        assert folder == exported_model(config, size, precision)
        assert len(read_log(config.folder(size, precision))) == config.steps


def test_a_finished_study_resumes_without_training_again(study, capsys):
    config, _ = study
    before = [read_log(config.folder(*run)) for run in config.runs]
    train_all(config)
    assert [read_log(config.folder(*run)) for run in config.runs] == before
    assert capsys.readouterr().out.count("resuming") == len(config.runs)


def test_the_table_compares_each_run_with_its_twin(study):
    config, _ = study
    table = summarize(config).set_index(["size", "precision"])
    assert len(table) == len(RUNS)
    assert (table.tokens == config.steps * config.batch_size * config.seq_len).all()
    assert table.finished.all()
    assert (
        table.loc[("large", "b1.58")].non_embedding_params
        >= 3 * table.loc[("small", "b1.58")].non_embedding_params
    )
    assert table.loc[("small-2x", "b1.58")].hidden_size == 2 * table.loc[("small", "b1.58")].hidden_size
    fp_small = table.loc[("small", "fp")].val_loss
    assert table.loc[("small", "fp")].gap_to_fp == 0
    assert math.isclose(
        table.loc[("small-2x", "b1.58")].gap_to_fp, table.loc[("small-2x", "b1.58")].val_loss / fp_small - 1
    )
    assert math.isclose(
        table.loc[("large", "b1.58")].bits_per_byte, table.loc[("large", "b1.58")].val_loss / math.log(2)
    )
    for run in config.runs:
        rows = read_log(config.folder(*run))
        assert table.loc[run].val_loss == rows[-1]["val_loss"]
        evaluated = {int(row["step"]): row["val_loss"] for row in rows if row["val_loss"] is not None}
        assert table.loc[run].best_val_loss == min(evaluated.values()) <= table.loc[run].val_loss
        assert evaluated[table.loc[run].best_step] == table.loc[run].best_val_loss
        assert table.loc[run].converged == (table.loc[run].last_fifth_improvement < 0.03)
        assert table.loc[run].tokens_per_s > 0 and table.loc[run].wall_s > 0


def test_the_curves_hold_every_evaluation_and_draw_one_line_per_run(study):
    config, _ = study
    curves = loss_curves(config)
    evaluations = config.steps // config.eval_every
    assert curves.groupby("run").size().tolist() == [evaluations] * len(RUNS)
    assert set(curves.step) == {config.eval_every * (i + 1) for i in range(evaluations)}
    assert len(loss_curve_figure(curves).axes[0].lines) == len(RUNS)


def rows_of(losses: dict[int, float]) -> list[dict[str, float | None]]:
    return [{"step": step, "val_loss": losses.get(step)} for step in range(1, 101)]


def test_the_convergence_check_is_the_drop_over_the_last_fifth():
    assert last_share_improvement(rows_of({50: 3.0, 80: 2.0, 100: 1.5})) == pytest.approx(0.25)
    assert last_share_improvement(rows_of({50: 3.0, 79: 2.0, 90: 1.8, 100: 1.5})) == pytest.approx(0.25)
    assert last_share_improvement(rows_of({60: 2.0, 100: 2.0})) == 0
    with pytest.raises(ValueError, match="two evaluations"):
        last_share_improvement(rows_of({100: 1.0}))
    with pytest.raises(ValueError, match="before the last"):
        last_share_improvement(rows_of({90: 2.0, 100: 1.0}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"runs": ()}, "at least one"),
        ({"runs": (("huge", "b1.58"),)}, "not a \\(size"),
        ({"runs": (("small", "int4"),)}, "not a \\(size"),
        ({"steps": 50}, "warmup_steps=100 must be less than steps=50"),
        ({"seq_len": 10_000}, "seq_len"),
    ],
)
def test_bad_study_options_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        StudyConfig(**changes)


def test_missing_runs_are_named(tmp_path):
    config = dataclasses.replace(TINY, out=tmp_path)
    with pytest.raises(ValueError, match="no log.csv"):
        summarize(config)
    with pytest.raises(ValueError, match="no exported model"):
        exported_model(config, "small", "fp")
