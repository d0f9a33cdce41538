"""energy.explore without a cluster: the specification, point keys, the results table, the task's child
process and time-out, the Pareto front, the command line's errors."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from energy.explore.__main__ import SPECS
from energy.explore.pareto import OBJECTIVES, front, pareto_mask, with_energy_per_token
from energy.explore.point import COLUMNS, METRIC_COLUMNS, failed_row, payload, point_key
from energy.explore.spec import SweepSettings, expand, load_spec
from energy.explore.table import ResultTable, read_rows, read_table
from energy.explore.task import cached_row, evaluate, run_child, store_row
from hw.params import ArrayParams


def spec_of(text: str, tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return load_spec(path)


# --- the specification ---------------------------------------------------------------------------------


def test_spaces_expand_to_their_cross_products_in_order(tmp_path):
    spec = spec_of(
        """
[sweep]
beats = 16
[[space]]
array = "ternary"
lanes = {start = 2, stop = 8, factor = 2}
tree = ["signed", "csa"]
[[space]]
array = ["int8"]
lanes = {start = 2, stop = 6, step = 2}
""",
        tmp_path,
    )
    points, invalid = spec.expand()
    assert spec.settings.beats == 16 and not invalid
    assert [(p.array, p.lanes, p.tree) for p in points] == [
        ("ternary", 2, "signed"), ("ternary", 2, "csa"), ("ternary", 4, "signed"), ("ternary", 4, "csa"),
        ("ternary", 8, "signed"), ("ternary", 8, "csa"), ("int8", 2, "signed"), ("int8", 4, "signed"),
        ("int8", 6, "signed"),
    ]  # fmt: skip


def test_invalid_points_are_reported_and_duplicates_counted_once():
    # csa has 2 levels: pipeline 2 and "full" are one array, 3 is deeper than the tree; fp16 has no csa
    points, invalid = expand(
        ({"array": ("ternary",), "lanes": (4,), "tree": ("csa",), "pipeline": (0, 2, 3, "full")},
         {"array": ("fp16",), "lanes": (4,), "tree": ("signed", "csa")})
    )  # fmt: skip
    assert [(p.array, p.tree, p.pipeline) for p in points] == [
        ("ternary", "csa", 0), ("ternary", "csa", 2), ("fp16", "signed", 0)
    ]  # fmt: skip
    assert [point.values for point in invalid] == [
        {"array": "ternary", "lanes": 4, "tree": "csa", "pipeline": 3},
        {"array": "fp16", "lanes": 4, "tree": "csa"},
    ]
    assert "pipeline" in invalid[0].reason and "tree" in invalid[1].reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sweep]\nbeats = 4\n", "no [[space]]"),
        ("[[space]]\nlanes = [4]\ncolour = 1\n", "unknown parameter 'colour'"),
        ("[sweep]\nspeed = 1\n[[space]]\nlanes = 4\n", "unknown setting 'speed'"),
        ("[sweeps]\n[[space]]\nlanes = 4\n", "unknown table 'sweeps'"),
        ("[[space]]\nlanes = []\n", "at least one value"),
        ("[[space]]\nlanes = {start = 8, stop = 4, factor = 2}\n", "empty"),
        ("[[space]]\nlanes = {start = 1, stop = 4}\n", "needs start, stop and step or factor"),
        ('[[space]]\nlanes = "four"\n', "lanes must be an integer"),
        ("[sweep]\nbeats = 0\n[[space]]\nlanes = 4\n", "beats must be a positive integer"),
        ("[sweep]\ntimeout_s = -1\n[[space]]\nlanes = 4\n", "timeout_s"),
        ('[sweep]\noperands = "weights"\n[[space]]\nlanes = 4\n', "operands must be one of"),
        ("[[space\nlanes = 4\n", "not valid TOML"),
    ],
)
def test_a_malformed_spec_is_a_value_error_naming_the_fault(tmp_path, text, message):
    with pytest.raises(ValueError, match="spec .*spec.toml") as error:
        spec_of(text, tmp_path).expand()
    assert message in str(error.value)


def test_a_missing_spec_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_spec(tmp_path / "absent.toml")


def test_the_measured_rows_follow_the_policy():
    lut, ternary, int8 = (
        ArrayParams("ternary-lut", 8, 32),
        ArrayParams("ternary", 8, 32),
        ArrayParams("int8", 8, 4),
    )
    capped, all_rows, two = (
        SweepSettings(),
        SweepSettings(measured_rows="all"),
        SweepSettings(measured_rows=2),
    )
    assert [capped.rows_measured(p) for p in (lut, ternary, int8)] == [32, 8, 1]
    assert [all_rows.rows_measured(p) for p in (lut, ternary, int8)] == [32, 32, 4]
    assert [two.rows_measured(p) for p in (lut, ternary, int8)] == [32, 2, 2]  # the LUT's rows share tables


def test_the_shipped_small_spec_parses():
    points, invalid = load_spec(SPECS / "small.toml").expand()
    assert len(points) == 20 and not invalid


# --- point keys ----------------------------------------------------------------------------------------


def test_a_point_key_names_what_decides_the_result():
    params, settings = ArrayParams("ternary", 4, 2, max_k=64), SweepSettings(beats=16)
    key = point_key(params, settings)
    assert key == point_key(ArrayParams("ternary", 4, 2, max_k=64), SweepSettings(beats=16))
    assert key == point_key(params, SweepSettings(beats=16, timeout_s=5))  # the time-out decides nothing
    others = [
        point_key(ArrayParams("ternary", 4, 2, max_k=64, tree="csa"), settings),
        point_key(ArrayParams("ternary", 4, 3, max_k=64), settings),
        point_key(params, SweepSettings(beats=16, seed=2)),
        point_key(params, SweepSettings(beats=32)),
    ]
    assert len({key, *others}) == 5


# --- the results table ---------------------------------------------------------------------------------


def _row(key: str, status: str = "ok") -> dict:
    point = payload(ArrayParams("ternary", 2, 1, max_k=16), SweepSettings(beats=4)) | {"key": key}
    row = failed_row(point, status, "" if status == "ok" else "a reason, with a comma")
    return row | {"energy_per_mac_pJ": 0.1 + 1e-12}


def test_the_table_resumes_and_cuts_a_partial_last_line(tmp_path):
    path = tmp_path / "t" / "results.csv"
    with ResultTable(path) as table:
        assert table.open() == {}
        table.append(_row("a"))
        table.append(_row("b", "failed"))
    path.write_bytes(path.read_bytes() + b"c,ok,,ternary,2")  # a kill in the middle of a write
    assert [row["key"] for row in read_rows(path)] == ["a", "b"]
    with ResultTable(path) as table:
        rows = table.open()
        assert table.repaired and list(rows) == ["a", "b"]
        assert rows["b"]["reason"] == "a reason, with a comma"
        assert rows["a"]["energy_per_mac_pJ"] == 0.1 + 1e-12  # floats written to full precision
        table.append(_row("c"))
    assert list(read_table(path)["key"]) == ["a", "b", "c"]


def test_a_table_is_written_by_one_sweep_at_a_time(tmp_path):
    path = tmp_path / "results.csv"
    with ResultTable(path) as first:
        first.open()
        with pytest.raises(ValueError, match="being written by another sweep"):
            ResultTable(path).open()
    with ResultTable(path) as again:
        again.open()


def test_a_file_that_is_not_a_results_table_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a sweep's"):
        ResultTable(path).open()
    with pytest.raises(ValueError, match="no such file"):
        read_table(tmp_path / "absent.csv")


# --- the task ------------------------------------------------------------------------------------------


@pytest.fixture
def point_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BITNET_EXPLORE_CACHE", str(tmp_path / "points"))
    return tmp_path / "points"


def test_a_point_runs_in_a_child_and_its_row_is_cached(point_cache):
    point = payload(ArrayParams("ternary", 3, 1, max_k=16), SweepSettings(beats=8))
    row, source = evaluate(point)
    assert source == "computed" and row["status"] == "ok", row["reason"]
    assert list(row) == list(COLUMNS) and row["key"] == point["key"]
    assert all(row[name] is not None for name in METRIC_COLUMNS)
    assert row["outputs_checked"] >= 1 and row["energy_per_mac_pJ"] > 0 and row["throughput_gmac_s"] > 0
    assert cached_row(point["key"]) == row
    assert evaluate(point) == (row, "cache")


def test_a_point_over_its_time_out_is_recorded_as_such(point_cache):
    point = payload(ArrayParams("ternary", 3, 1, max_k=16), SweepSettings(beats=8, timeout_s=0.2))
    row, source = evaluate(point)
    assert (row["status"], row["reason"], source) == ("timeout", "exceeded the time-out of 0.2 s", "computed")
    assert cached_row(point["key"]) is None  # not cached: a later sweep tries again


def test_a_failing_point_is_recorded_with_its_reason(point_cache):
    point = payload(ArrayParams("ternary", 3, 1, max_k=16), SweepSettings(beats=8))
    point["params"]["lanes"] = 0  # the child refuses it
    row = run_child(point)
    assert row["status"] == "failed" and "lanes must be >= 1" in row["reason"]
    # a client whose code, tools or PDK differ made another key: this worker refuses to measure under it
    stranger = payload(ArrayParams("ternary", 3, 1, max_k=16), SweepSettings(beats=8)) | {"key": "0" * 20}
    row, _ = evaluate(stranger)
    assert row["status"] == "failed" and "differ from the client's" in row["reason"]


def test_cached_rows_are_written_whole(point_cache):
    row = _row("k")
    store_row(row)
    store_row(row)
    assert cached_row("k") == json.loads(json.dumps(row))
    assert not list(point_cache.glob(".*"))  # no temporary file left
    assert sorted(p.name for p in point_cache.iterdir()) == ["k.json"]


def test_hexadecimal_keys_are_read_back_as_text(tmp_path):
    path = tmp_path / "results.csv"
    with ResultTable(path) as table:
        table.open()
        table.append(_row("12345678901234567890"))
        table.append(_row("1234567890123e456789"))
    assert list(ResultTable(path).open()) == ["12345678901234567890", "1234567890123e456789"]


# --- the front -----------------------------------------------------------------------------------------


def test_the_pareto_mask_keeps_exactly_the_undominated_points():
    frame = pd.DataFrame({"e": [1, 2, 2, 3, 1], "a": [3, 2, 3, 1, 3]})
    # (2, 3) is dominated by (2, 2); (1, 3) twice: equal points do not dominate each other
    assert list(pareto_mask(frame, {"e": "min", "a": "min"})) == [True, True, False, True, True]
    assert list(pareto_mask(frame, {"e": "max", "a": "max"})) == [False, False, True, True, False]
    with pytest.raises(ValueError, match="'min' or 'max'"):
        pareto_mask(frame, {"e": "low"})


def test_the_three_objective_front_by_hand():
    # energy (min), area (min), throughput (max)
    frame = pd.DataFrame(
        {
            "energy_per_mac_pJ": [1.0, 1.0, 2.0, 0.5, 3.0, 1.0],
            "area_per_lane_um2": [5.0, 5.0, 1.0, 9.0, 9.0, 4.0],
            "throughput_gmac_s": [10.0, 20.0, 10.0, 1.0, 50.0, 20.0],
        }
    )
    # 0 is dominated by 1 (faster) and by 5; 1 is dominated by 5 (smaller); 2 (smallest), 3 (cheapest),
    # 4 (fastest) and 5 are not dominated
    assert list(pareto_mask(frame, OBJECTIVES)) == [False, False, True, True, True, True]


def test_the_front_leaves_failed_points_out_and_prices_a_token():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({name: rng.uniform(1, 2, 6) for name in OBJECTIVES})
    frame["status"] = ["ok"] * 5 + ["failed"]
    frame["array"], frame["key"], frame["code"] = "ternary", [f"k{i}" for i in range(6)], "c"
    twice = pd.concat([frame.iloc[[2]].assign(energy_per_mac_pJ=9.0), frame])  # k2 retried: its last row
    marked = with_energy_per_token(front(twice))
    assert list(marked["key"]) == ["k0", "k1", "k2", "k3", "k4"] and marked["energy_per_mac_pJ"].iloc[2] < 9
    expected = pareto_mask(marked[list(OBJECTIVES)], OBJECTIVES)
    assert list(marked["on_front"]) == list(expected) and marked["on_front"].any()
    with pytest.raises(ValueError, match="2 versions of the code"):
        front(frame.assign(code=["a", "b", "a", "a", "a", "a"]))
    ratio = marked["energy_per_token_uJ"] / marked["energy_per_mac_pJ"]
    assert np.allclose(ratio, ratio.iloc[0]) and ratio.iloc[0] > 1000  # billions of MACs per token


# --- the command line ----------------------------------------------------------------------------------


def _cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "energy.explore", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to sweep"),
        (("--lanes", "four"), "argument --lanes"),
        (("--report", "absent.csv"), "no such file"),
        (("--lanes", "4", "--beats", "0"), "beats must be a positive integer"),
    ],
)
def test_bad_command_lines_are_one_line_errors(args, message, tmp_path):
    result = _cli(*args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_malformed_spec_is_a_one_line_error(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text("[[space]]\nlanes = {start = 1}\n")
    result = _cli(str(spec))
    assert result.returncode == 2 and "bad.toml" in result.stderr and "range of lanes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path):
    result = _cli("--lanes", "2", "--scheduler", "tcp://127.0.0.1:9", "--table", str(tmp_path / "t.csv"))
    assert result.returncode == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
