"""The ASAP7 subset shipped in the package, and ``python -m energy.gates.bundled`` that regenerates it.

The flow maps every design to the cells of :data:`energy.gates.synth.MAPPING_CELLS` only, and sizes the
modelled clock tree from :data:`energy.gates.parasitics.CLOCK_BUFFERS`, so the package ships exactly those
(:data:`BUNDLED_CELLS`): the trimmed liberty that :func:`energy.gates.liberty.write_trimmed_liberty` cuts out
of the five ASAP7 RVT TT NLDM files (``energy/gates/data/asap7_trimmed_rvt_tt.lib.gz``, gzip without a
time stamp or file name), with ASAP7's BSD-3 license beside it (``LICENSE.asap7``). Reading the bundled
file and trimming it again gives the same bytes as trimming the full library, so synthesis results (their
cache key holds the trimmed liberty's hash) and every priced number are the same with either.

``python -m energy.gates.bundled --pdk DIR`` rewrites both files from a full ASAP7 folder; a test checks
that this regenerates the committed bytes.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from pathlib import Path

from energy.gates.liberty import BUNDLED_LIBERTY, PdkError, read_library, write_trimmed_liberty
from energy.gates.parasitics import CLOCK_BUFFERS
from energy.gates.synth import MAPPING_CELLS
from model.cli import OneLineErrorParser, fail

#: The cells shipped: the mapper's and the clock tree's buffers.
BUNDLED_CELLS = tuple(dict.fromkeys((*MAPPING_CELLS, *CLOCK_BUFFERS)))
#: ASAP7's license, copied beside the bundled liberty.
BUNDLED_LICENSE = BUNDLED_LIBERTY.parent / "LICENSE.asap7"


def bundled_text(pdk: str | Path) -> bytes:
    """The uncompressed bundled liberty made from the full ASAP7 folder ``pdk``."""
    with tempfile.TemporaryDirectory(prefix="asap7-bundle-") as folder:
        path = write_trimmed_liberty(read_library(BUNDLED_CELLS, pdk), Path(folder) / "trimmed.lib")
        return path.read_bytes()


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so the file appears whole or not at all."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_bytes(data)
    staging.replace(path)


def write_bundle(
    pdk: str | Path, liberty: Path = BUNDLED_LIBERTY, license_file: Path = BUNDLED_LICENSE
) -> Path:
    """Regenerate the bundled liberty (gzip, ``mtime=0``) and license from the full ASAP7 folder ``pdk``."""
    text = bundled_text(pdk)
    source_license = Path(pdk) / "LICENSE"
    if not source_license.is_file():
        raise PdkError(f"{pdk} has no LICENSE file: the bundle ships ASAP7's license beside its cells")
    data = gzip.compress(text, mtime=0)
    liberty.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(liberty, data)
    _write_whole(license_file, source_license.read_bytes())
    return liberty


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m energy.gates.bundled",
        description="Regenerate the ASAP7 subset shipped in the package from a full ASAP7 folder.",
    )
    parser.add_argument("--pdk", required=True, help="a full ASAP7 folder (lib/*.lib.gz and LICENSE)")
    args = parser.parse_args(argv)
    try:
        path = write_bundle(args.pdk)
    except (ValueError, OSError) as error:
        fail(parser.prog, str(error))
    print(f"wrote {path} ({path.stat().st_size} bytes) and {BUNDLED_LICENSE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
