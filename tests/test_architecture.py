"""The layers stay layers (docs/architecture.md draws them): imports only go down.

    cli  ->  api  ->  ops  ->  model | datastore (DVC seam) | gitrepo (git seam) | config
    everything may use util, and the leaf modules errors, paths and the package root;
    api re-exports model's records (Policy, Backup...) and util's Reporter; only datastore
    imports dvc, only gitrepo imports git; nothing imports the pipeline, and the pipeline
    uses the backup tool only through its public API (hdversion.api).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hdversion"

LEAVES = {"errors", "paths", "__init__"}  # hdversion/errors.py, paths.py, __version__
ROOMS = {"cli", "api", "ops", "model", "datastore", "gitrepo", "config", "util", "pipeline",
         "crypto", "__main__"}
# Which rooms each room may import (besides itself and the leaves).
ALLOWED: dict[str, set[str]] = {
    "__main__": {"cli"},
    "cli": {"api", "model", "util"},
    "api": {"ops", "model", "util"},
    "ops": {"model", "datastore", "gitrepo", "config", "crypto", "util"},
    "datastore": {"model", "config", "crypto", "util"},
    "gitrepo": {"model", "util"},
    "config": {"model", "util"},
    "model": {"util"},
    "crypto": {"util"},
    "util": set(),
    "pipeline": {"api"},
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


# The DVC seam's doors: its facade (`hdversion.datastore`: DataStore and a few functions)
# and the store interface (`hdversion.datastore.store`). Its other modules are its parts.
SEAM_DOORS = {"hdversion.datastore", "hdversion.datastore.store"}
SEAM_PARTS = {"session", "transfers", "collector", "workspace"}  # DataStore's fields


def seam_reaches(module: str, source: str) -> list[str]:
    """Where a module outside the DVC seam reaches past its doors: an import of one of its
    parts (allowed only under TYPE_CHECKING, for the name of a record type), or a use of one
    of DataStore's parts (`project.store.session...`) instead of the facade's methods."""
    if room_of(module) == "datastore":
        return []
    tree = ast.parse(source)
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            if name.startswith("hdversion.datastore.") and name not in SEAM_DOORS \
                    and id(node) not in typing_only:
                found.append(f"{module}:{node.lineno} imports {name}")
        if isinstance(node, ast.Attribute) and node.attr in SEAM_PARTS \
                and ast.unparse(node.value).split(".")[-1] == "store":
            found.append(f"{module}:{node.lineno} uses {ast.unparse(node)}")
    return found


def test_the_dvc_seam_is_entered_through_its_facade_and_the_store_interface() -> None:
    """Ops (and anything else outside the seam) talk to `DataStore`'s methods and to the
    stores of `datastore/store.py`, never to the seam's parts (issue 23)."""
    wrong = [reach for p in PACKAGE.rglob("*.py")
             for reach in seam_reaches(p.relative_to(PACKAGE).as_posix(), p.read_text())]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("source, complaint", [
    ("from hdversion.datastore.session import DvcSession\n", "imports hdversion.datastore.session"),
    ("def f():\n    from hdversion.datastore.records import open_url\n",
     "imports hdversion.datastore.records"),
    ("import hdversion.datastore.transfers\n", "imports hdversion.datastore.transfers"),
    ("def f(project):\n    project.store.session.remotes()\n", "uses project.store.session"),
    ("def f(project):\n    t = project.store.transfers\n", "uses project.store.transfers"),
    ("def f(self):\n    self.project.store.collector.listing(x)\n",
     "uses self.project.store.collector"),
])
def test_the_seam_check_catches_a_reach_past_the_doors(source: str, complaint: str) -> None:
    found = seam_reaches("ops/x.py", source)
    assert found and complaint in found[0], found


def test_the_seam_check_lets_the_doors_and_type_names_through() -> None:
    source = ("from typing import TYPE_CHECKING\n"
              "from hdversion.datastore import DataStore\n"
              "from hdversion.datastore.store import Store\n"
              "if TYPE_CHECKING:\n    from hdversion.datastore.workspace import Snapshot\n"
              "def f(project):\n    project.store.remotes()\n")
    assert seam_reaches("ops/x.py", source) == []
    assert seam_reaches("datastore/x.py", "from hdversion.datastore.session import X\n") == []
