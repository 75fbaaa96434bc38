"""The layers stay layers (docs/architecture.md draws them): imports only go down.

    cli  ->  api  ->  ops  ->  model | datastore (DVC seam) | gitrepo (git seam) | config
    everything may use util, and the leaf modules errors, paths and the package root;
    only datastore imports dvc, only gitrepo imports git; nothing imports the pipeline, and
    the pipeline imports nothing of the backup tool.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hdversion"

LEAVES = {"errors", "paths", "__init__"}  # hdversion/errors.py, paths.py, __version__
ROOMS = {"cli", "api", "ops", "model", "datastore", "gitrepo", "config", "util", "pipeline",
         "__main__"}
# Which rooms each room may import (besides itself and the leaves).
ALLOWED: dict[str, set[str]] = {
    "__main__": {"cli"},
    "cli": {"api", "model", "util"},
    "api": {"ops"},
    "ops": {"model", "datastore", "gitrepo", "config", "util"},
    "datastore": {"model", "config", "util"},
    "gitrepo": {"model", "util"},
    "config": {"model", "util"},
    "model": {"util"},
    "util": set(),
    "pipeline": set(),
}
THIRD_PARTY_OWNERS = {"dvc": "datastore", "dvc_data": "datastore", "dvc_objects": "datastore",
                      "git": "gitrepo"}


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, lazy imports and TYPE_CHECKING blocks included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "hdversion":  # `from hdversion import api`
                names |= {f"hdversion.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import; spell the room out")
    return names


def room_of(relative: str) -> str:
    """The room of a module path relative to the package (`ops/backup.py` -> `ops`)."""
    first = relative.split("/")[0].removesuffix(".py")
    return first


def modules() -> dict[str, set[str]]:
    return {p.relative_to(PACKAGE).as_posix(): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_every_module_lives_in_a_named_room() -> None:
    for module in modules():
        assert room_of(module) in ROOMS | LEAVES, f"{module} is outside the named rooms"


def layer_violations(module: str, names: set[str]) -> list[str]:
    room = room_of(module)
    found = []
    for name in names:
        owner = THIRD_PARTY_OWNERS.get(name.split(".")[0])
        if owner is not None and owner != room:
            found.append(f"{module} imports {name}: only {owner} may")
        if not name.startswith("hdversion."):
            continue
        target = name.split(".")[1]
        if room in LEAVES:
            if target != "__version__":
                found.append(f"{module} is a leaf but imports {name}")
        elif target not in ALLOWED[room] | LEAVES | {room, "__version__"}:
            found.append(f"{module} imports {name}")
    return found


def test_imports_only_go_down() -> None:
    wrong = [v for module, names in modules().items() for v in layer_violations(module, names)]
    assert not wrong, "\n".join(wrong)


def test_the_scan_sees_the_seams_and_the_layers() -> None:
    """The checks above would pass on an empty scan: prove the scan sees real imports."""
    found = modules()
    assert any(n.startswith("dvc") for n in found["datastore/session.py"])
    assert "subprocess" in found["gitrepo/run.py"]
    assert "hdversion.cli.lazy" in found["cli/cmd_backup.py"]
    assert "hdversion.api" in found["cli/lazy.py"]
    assert "hdversion.ops.backup" in found["api.py"]


@pytest.mark.parametrize("source, room, complaint", [
    ("from hdversion.ops.backup import create_backup\n", "cli", "cli/x.py imports"),
    ("import dvc.repo\n", "ops", "ops/x.py imports dvc.repo: only datastore may"),
    ("import git\n", "datastore", "datastore/x.py imports git: only gitrepo may"),
    ("from hdversion.pipeline import stages\n", "ops", "ops/x.py imports"),
    ("from hdversion.ops import backup\n", "pipeline", "pipeline/x.py imports"),
    ("from hdversion.datastore import DataStore\n", "model", "model/x.py imports"),
])
def test_the_check_catches_a_wrong_import(tmp_path: Path, source: str, room: str,
                                          complaint: str) -> None:
    (tmp_path / "x.py").write_text(source)
    problems = layer_violations(f"{room}/x.py", imports_of(tmp_path / "x.py"))
    assert problems and complaint in problems[0]


def test_hdversion_logs_only_through_util_log() -> None:
    """util/log.py attaches the stderr handler when its logger is first used; a module that
    took the logger from logging itself could warn before that, unheard."""
    direct = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
              if p.relative_to(PACKAGE).as_posix() != "util/log.py"
              and any(isinstance(node, ast.Call) and ast.unparse(node.func).endswith("getLogger")
                      and node.args and isinstance(node.args[0], ast.Constant)
                      and node.args[0].value == "hdversion"
                      for node in ast.walk(ast.parse(p.read_text())))]
    assert not direct, direct


def test_only_publish_tags_pushes_to_the_git_remote() -> None:
    """`ops/publish.py:publish_tags` reads the git remote's tombstones before it pushes: a
    second caller of the git seam's push could send back a backup pruned in another clone."""
    callers = sorted(
        f"{p.relative_to(PACKAGE).as_posix()}:{node.lineno}"
        for p in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "push_refs")
    assert len(callers) == 1 and callers[0].startswith("ops/publish.py:"), callers
