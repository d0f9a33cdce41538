"""The layering rule of DEVELOPERS.md: imports only go down ``model <- hw <- sim <- energy``.

Every module of the four packages is parsed (nothing is imported); an import of a package above the
module's own fails, wherever it stands, and so does a project import inside a function (it would hide a
dependency; only optional heavy packages such as torch are imported lazily).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("model", "hw", "sim", "energy")
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def modules() -> list[Path]:
    return sorted(path for layer in LAYERS for path in (ROOT / layer).rglob("*.py"))


def imported_packages(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


def project_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, package, inside a function) of every import of a project package in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for package in imported_packages(node):
            if package in RANK:
                found.append((node.lineno, package, in_function))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def upward_imports(path: Path) -> list[str]:
    own = path.relative_to(ROOT).parts[0]
    return [
        f"{path.relative_to(ROOT)}:{line} imports {package}"
        for line, package, _ in project_imports(path)
        if RANK[package] > RANK[own]
    ]


def test_there_are_modules_to_check():
    assert len(modules()) > 40


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_goes_up_a_layer(path):
    assert upward_imports(path) == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_project_import_hides_in_a_function(path):
    hidden = [f"line {line}: {package}" for line, package, inside in project_imports(path) if inside]
    assert hidden == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """A module of hw/ that imports sim, at the top or inside a function, is reported."""
    fake_root = tmp_path
    (fake_root / "hw").mkdir()
    module = fake_root / "hw" / "bad.py"
    module.write_text(
        "import numpy\nfrom sim.toolchain import ensure_verilator\n\ndef f():\n    import energy\n"
    )
    monkeypatch.setitem(globals(), "ROOT", fake_root)
    assert upward_imports(module) == ["hw/bad.py:2 imports sim", "hw/bad.py:5 imports energy"]
    assert [inside for _, _, inside in project_imports(module)] == [False, True]
