"""The notebooks (the energy studies and the b1.58-vs-fp study) run from a clean kernel without error and
are committed without outputs."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [
    "reproduce_paper_energy.ipynb",
    "beyond_arithmetic.ipynb",
    "gate_level_energy.ipynb",
    "bitnet_vs_fp.ipynb",
    "model_on_hardware.ipynb",
    "design_space.ipynb",
]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes_and_shows_its_plots(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError on any failing cell (the notebooks assert their key numbers)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= (2 if name.startswith("reproduce") else 3)
    text = "".join(output.get("text", "") for output in outputs)
    if name.startswith("reproduce"):
        assert "= 71.4286x -> 71.4x" in text and "= 50.0000x -> 50.0x" in text
    elif name.startswith("bitnet"):  # the tiny study CI runs (BITNET_STUDY unset)
        assert "small: b1.58 " in text and "large: b1.58 " in text and " bits/byte vs small fp " in text
        assert "bundled: zero activations down_proj " in text
    elif name.startswith("model_on"):  # 8 tokens on an 8 x 4 array, the committed per-MAC table
        assert text.count("identical to the golden model; ") == 2 and "mismatches 0," in text
        assert "decode: per token b1.58 " in text and "prefill: per token b1.58 " in text
    elif name.startswith("gate_level"):  # the small study CI runs (BITNET_STUDY unset)
        assert "FP16/ternary = " in text and "(paper table: 71.4x)" in text and "ternary: " in text
    elif name.startswith("design_space"):  # the CI sweep (BITNET_STUDY unset): 11 points, 2 workers
        assert "11 points: " in text and "0 failed or timed out" in text and "front: " in text
        assert "tree csa / signed: energy x" in text and "lowest energy per MAC: ternary" in text
    else:
        assert "7B decode: 71.4x ->" in text and "7B prefill: 71.4x ->" in text
