"""`hdversion show`, `hdversion diff` and `list --last/--kind`: one project per module with
three backups (seed 1, seed 2, and a safety backup of seed 2) read by most tests through the
Python API; the CLI where the test is about the CLI. Tests that change the workspace work on
a copy."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from hdversion import api
from hdversion.cli import render_inspect
from hdversion.errors import BackupNotFoundError, ManifestError, UsageError
from hdversion.model.timestamps import next_second, tag_for
from hdversion.util.hashing import md5_file
from tests.conftest import Project

BROKEN = "20200101_000000"  # a tag whose manifest is not JSON


@dataclass
class History:
    project: Project
    first: str  # seed 1
    second: str  # seed 2
    safety: str  # seed 2 again, kind safety


@pytest.fixture(scope="module")
def history(project_template: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[History]:
    root = tmp_path_factory.mktemp("inspect") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    first = api.backup(repo=root, message="first").backup.tag
    project.retrain(2)
    made = api.backup(repo=root, message="second [bold]markup[/bold]").backup
    # A safety backup of the same state, as a restore makes one (same commit, same data).
    safety = tag_for(next_second(made.timestamp))
    manifest = replace(made.manifest, kind="safety", message="before restoring",
                       timestamp=safety.removeprefix("backup/"))
    project.git("tag", "-a", "--cleanup=verbatim", "-m", manifest.to_json(), safety, made.commit)
    project.git("tag", "-a", "-m", "{broken", f"backup/{BROKEN}")
    second = made.tag
    yield History(project, first, second, safety)


def cache_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / ".dvc" / "cache").rglob("*")
            if p.is_file()}


def test_show_reads_one_backup_in_full(history: History) -> None:
    result = api.show(history.first, repo=history.project.root)
    manifest = result.backup.manifest
    assert result.backup.tag == history.first and manifest.message == "first"
    assert manifest.params == {"params.yaml": {"seed": 1}}
    assert {f.path for f in result.files} >= {"models/optuna/study_0.pkl", "params.yaml",
                                                 "dvc.lock"}
    assert [(h.remote, h.error, h.lacking) for h in result.remotes] == [
        ("local", None, {history.first: 0})]
    assert result.failure() is None


def test_show_human_and_json(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    render_inspect.show_summary(api.show(history.second, repo=history.project.root))
    shown = capsys.readouterr().out
    # Tag text is never markup: the message appears as written.
    assert "second [bold]markup[/bold]" in shown
    for text in ("models/optuna/", "study_1.pkl", "ensemble.roc_auc = 0.802", "seed = 2",
                 "local: complete", "base commit:"):
        assert text in shown, text
    result = history.project.cli("show", history.second.replace("backup/", "", 1), "--json",
                                 "--offline", check=True)
    assert len(result.stdout.splitlines()) == 1
    data = json.loads(result.stdout)
    assert data["tag"] == history.second and data["remotes"] == []
    assert {"path": "models/optuna/study_0.pkl", "store": "dvc"}.items() <= next(
        f for f in data["files"] if f["path"] == "models/optuna/study_0.pkl").items()


@pytest.mark.parametrize(("timestamp", "error"), [
    ("2025-01-01", UsageError), ("backup/nope", UsageError),
    ("20990101_000000", BackupNotFoundError), (BROKEN, ManifestError)])
def test_show_and_diff_refuse_bad_timestamps(history: History, timestamp: str,
                                             error: type[Exception]) -> None:
    with pytest.raises(error):
        api.show(timestamp, repo=history.project.root, offline=True)
    with pytest.raises(error):
        api.diff(timestamp, new=None, repo=history.project.root, offline=True)
    with pytest.raises(error):
        api.diff(history.first, new=timestamp, repo=history.project.root, offline=True)


def test_an_invalid_manifest_exits_5(history: History) -> None:
    result = history.project.cli("diff", history.first, f"backup/{BROKEN}", "--offline")
    assert result.returncode == 5, result.stderr
    assert result.stdout == "" and "manifest is invalid" in result.stderr


def test_diff_of_two_backups(history: History) -> None:
    result = api.diff(history.first, new=history.second, repo=history.project.root, offline=True)
    comparison = result.comparison
    changed = {f.path for f in comparison.files if f.change == "changed"}
    assert {"models/keras_mlp_model.h5", "models/optuna/study_1.pkl", "params.yaml",
            "metrics.json"} <= changed
    assert "data/raw/heart.csv" not in changed  # untouched by the retrain
    assert not any(p.endswith((".lock", ".dvc")) for p in changed)  # pointer files left out
    assert [(p.key, p.old, p.new) for p in comparison.params] == [("seed", 1, 2)]
    [auc] = comparison.metrics
    assert (auc.key, auc.old, auc.new) == ("ensemble.roc_auc", 0.801, 0.802)
    assert auc.delta == pytest.approx(0.001)


def test_diff_text_shows_metric_delta_and_param_change(
        history: History, capsys: pytest.CaptureFixture[str]) -> None:
    render_inspect.diff_summary(api.diff(history.first, new=history.second,
                                         repo=history.project.root,
                                         offline=True))
    out = capsys.readouterr().out
    assert "ensemble.roc_auc  0.801 → 0.802 (+0.001)" in out
    assert "seed  1 → 2" in out
    assert "changed  models/keras_mlp_model.h5" in out


def test_diff_with_an_unchanged_workspace(history: History) -> None:
    result = api.diff(history.second, new=None, repo=history.project.root, offline=True)
    assert result.new is None and result.comparison.unchanged and result.missing == ()


def test_workspace_diff_after_retrain_delete_and_edit(
        history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "project"
    shutil.copytree(history.project.root, root, symlinks=True)
    project = Project(root)
    project.retrain(3)
    (root / "models" / "sklearn_mlp_model.joblib").unlink()
    project.damage("models/optuna/study_1.pkl", b"edited by hand")
    (root / "models" / "optuna" / "study_9.pkl").write_bytes(b"new")
    git_status, cache = project.git("status", "--porcelain"), cache_files(root)

    result = api.diff(history.second, new=None, repo=root, offline=True)
    changes = {f.path: (f.change, f.old_size, f.new_size) for f in result.comparison.files}
    assert changes["models/sklearn_mlp_model.joblib"] == ("removed", 20_000, None)
    assert changes["models/optuna/study_1.pkl"] == ("changed", 5_000, len(b"edited by hand"))
    assert changes["models/optuna/study_9.pkl"] == ("added", None, 3)
    assert changes["models/keras_mlp_model.h5"][0] == "changed"
    assert changes["params.yaml"][0] == "changed"
    assert [(p.key, p.old, p.new) for p in result.comparison.params] == [("seed", 2, 3)]
    assert [(m.old, m.new) for m in result.comparison.metrics] == [(0.802, 0.803)]
    assert result.missing == ("models/sklearn_mlp_model.joblib",)
    # Read-only: nothing committed to the cache, no pointer file rewritten.
    assert cache_files(root) == cache
    edited, _ = md5_file(root / "models" / "optuna" / "study_1.pkl")
    assert not any(edited in name.replace("/", "") for name in cache)
    assert project.git("status", "--porcelain") == git_status

    render_inspect.diff_summary(result)
    out = capsys.readouterr().out
    assert "removed  models/sklearn_mlp_model.joblib" in out
    assert "missing in the workspace: models/sklearn_mlp_model.joblib" in out
    assert "0.802 → 0.803 (+0.001)" in out


def test_list_last_and_kind(history: History) -> None:
    root = history.project.root
    newest, _, _ = api.list_backups(repo=root, offline=True, last=1)
    assert [b.tag for b in newest.backups] == [history.safety]
    regular, _, _ = api.list_backups(repo=root, offline=True, kind="backup")
    assert [b.tag for b in regular.backups] == [history.second, history.first]
    last_regular, lacking, _ = api.list_backups(repo=root, remote="local", offline=True,
                                                kind="backup", last=1)
    assert [b.tag for b in last_regular.backups] == [history.second]
    assert lacking == {history.second: 0}
    safety, _, _ = api.list_backups(repo=root, offline=True, kind="safety")
    assert [b.tag for b in safety.backups] == [history.safety]
    with pytest.raises(UsageError):
        api.list_backups(repo=root, offline=True, kind="daily")


def test_list_never_cuts_the_timestamp_on_a_narrow_terminal(history: History) -> None:
    result = history.project.cli("list", "--offline", env={"COLUMNS": "40"}, check=True)
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 40
    for tag in (history.first, history.second, history.safety):
        timestamp = tag.removeprefix("backup/")
        assert sum(timestamp in line for line in lines) == 1, result.stdout
    kind = history.project.cli("list", "--offline", "--kind", "safety", "--last", "5",
                               "--json", check=True)
    assert [r["tag"] for r in json.loads(kind.stdout)] == [history.safety]
