"""The seams stay seams: only datastore.py imports DVC, only gitrepo.py imports git, and the
backup code never imports the ML pipeline (nor the pipeline the backup code)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hdversion"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules() -> dict[str, set[str]]:
    return {p.relative_to(PACKAGE).as_posix(): imports_of(p) for p in PACKAGE.rglob("*.py")}


def top(name: str) -> str:
    return name.split(".")[0]


def test_only_the_seams_import_dvc_and_git() -> None:
    for module, names in modules().items():
        tops = {top(n) for n in names}
        if "dvc" in tops or "dvc_data" in tops:
            assert module == "datastore.py", module
        if "git" in tops:
            assert module == "gitrepo.py", module


def test_backup_code_and_pipeline_do_not_import_each_other() -> None:
    for module, names in modules().items():
        if module.startswith("pipeline/"):
            assert not {n for n in names if n.startswith("hdversion.")
                        and not n.startswith("hdversion.pipeline")}, module
        else:
            assert not {n for n in names if n.startswith("hdversion.pipeline")}, module


def test_the_scan_sees_the_seams() -> None:
    found = modules()
    assert any(top(n) == "dvc" for n in found["datastore.py"])
    assert "git" in found["gitrepo.py"]
