"""The bundled ASAP7 subset and the per-process liberty cache of energy.gates.liberty."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from energy.gates import liberty
from energy.gates.bundled import BUNDLED_LICENSE, bundled_text, write_bundle
from energy.gates.liberty import BUNDLED_LIBERTY, ENV_VARIABLE, PdkError, liberty_files, read_library
from energy.gates.power import nominal_voltage
from energy.gates.synth import MAPPING_CELLS

#: The full ASAP7 folder laid beside the repository on the project's machines and in CI.
FULL_PDK = Path(__file__).resolve().parents[2] / "shared" / "pdk" / "asap7"
needs_full_pdk = pytest.mark.skipif(
    not (FULL_PDK / "lib").is_dir(), reason=f"no full ASAP7 folder at {FULL_PDK} to regenerate from"
)


@pytest.fixture
def no_pdk_variable(monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)


def test_the_default_library_is_the_bundled_subset(no_pdk_variable):
    assert liberty_files() == [BUNDLED_LIBERTY]
    library = read_library(MAPPING_CELLS)
    assert sorted(library.cells) == sorted(MAPPING_CELLS)


def test_the_bundled_license_is_asap7s():
    text = BUNDLED_LICENSE.read_text()
    assert "Redistribution and use in source and binary forms" in text


def test_a_cell_outside_the_bundle_names_the_way_to_a_full_pdk(no_pdk_variable):
    with pytest.raises(PdkError, match="bundled ASAP7 subset.*asap7sc7p5t_28"):
        read_library(["DFFHQNx3_ASAP7_75t_R"])


@needs_full_pdk
def test_regenerating_the_bundle_gives_the_committed_bytes():
    """Compared uncompressed: gzip's compressed bytes may differ between zlib versions."""
    assert bundled_text(FULL_PDK) == gzip.decompress(BUNDLED_LIBERTY.read_bytes())


@needs_full_pdk
def test_the_bundle_prices_like_the_full_library(no_pdk_variable):
    bundled = read_library(MAPPING_CELLS)
    full = read_library(MAPPING_CELLS, FULL_PDK)
    assert {n: c.text for n, c in bundled.cells.items()} == {n: c.text for n, c in full.cells.items()}
    assert nominal_voltage(bundled) == nominal_voltage(full) == 0.7


@needs_full_pdk
def test_write_bundle_writes_whole_files(tmp_path):
    liberty_path, license_path = tmp_path / "b.lib.gz", tmp_path / "LICENSE.asap7"
    write_bundle(FULL_PDK, liberty_path, license_path)
    assert gzip.decompress(liberty_path.read_bytes()) == gzip.decompress(BUNDLED_LIBERTY.read_bytes())
    assert license_path.read_bytes() == BUNDLED_LICENSE.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LICENSE.asap7", "b.lib.gz"]


def test_the_bundle_command_refuses_a_folder_without_liberty(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "energy.gates.bundled", "--pdk", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and "no ASAP7 liberty files" in run.stderr


def test_a_liberty_file_is_parsed_once_per_process(tmp_path, monkeypatch):
    folder = tmp_path / "pdk"
    (folder / "lib").mkdir(parents=True)
    copy = folder / "lib" / BUNDLED_LIBERTY.name
    shutil.copy(BUNDLED_LIBERTY, copy)
    first = read_library(MAPPING_CELLS, folder)
    hits = liberty._library_file.cache_info().hits
    second = read_library(MAPPING_CELLS, folder)
    assert liberty._library_file.cache_info().hits == hits + 1
    assert all(second.cells[name] is first.cells[name] for name in MAPPING_CELLS)
    # a changed file (new modification time) is read again
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    third = read_library(MAPPING_CELLS, folder)
    assert third.cells[MAPPING_CELLS[0]] is not first.cells[MAPPING_CELLS[0]]
    assert third.cells[MAPPING_CELLS[0]].text == first.cells[MAPPING_CELLS[0]].text


def test_the_cache_is_bounded():
    assert liberty._library_file.cache_info().maxsize == liberty.CACHED_FILES
