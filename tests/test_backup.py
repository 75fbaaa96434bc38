"""backup and list, through the real CLI on a real git + DVC repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hdversion.gitrepo import GitRepo
from hdversion.ops.catalog import read_catalog
from hdversion.util.hashing import md5_file
from tests.conftest import Project, run_cli

EXPECTED_ARTIFACTS = {
    "models/keras_mlp_model.h5",
    "models/sklearn_mlp_model.joblib",
    "models/optuna/study_0.pkl",
    "models/optuna/study_1.pkl",
    "models/optuna/study_2.pkl",
    "data/processed/processed_data.npz",
    "metrics.json",
    "data/raw/heart.csv",
}
EXPECTED_GIT_FILES = {"config/config.yaml", "params.yaml", "dvc.yaml", "dvc.lock",
                      "data/raw/heart.csv.dvc"}


def backup_json(project: Project, *args: str) -> dict:
    result = project.cli("backup", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_backup_records_every_artifact_with_checksums(project: Project) -> None:
    data = backup_json(project, "-m", "first model")
    files = {f["path"]: f for f in data["files"]}
    assert {p for p, f in files.items() if f["store"] == "dvc"} == EXPECTED_ARTIFACTS
    assert {p for p, f in files.items() if f["store"] == "git"} == EXPECTED_GIT_FILES
    for path, entry in files.items():
        md5, size = md5_file(project.root / path)
        assert (entry["md5"], entry["size"]) == (md5, size), path
    assert data["tag"] == f"backup/{data['timestamp']}"
    assert data["message"] == "first model"
    assert data["metrics"]["metrics.json"]["ensemble"]["roc_auc"] == pytest.approx(0.801)
    assert data["params"]["params.yaml"] == {"seed": 1}
    assert data["base_commit"] == project.git("rev-parse", "HEAD").strip()
    assert data["branch"] == "main"
    assert data["dvc_version"].startswith("3.")
    for key in ("host", "user", "created_at", "hdversion_version"):
        assert data[key]


def test_backup_leaves_branch_index_and_worktree_alone(project: Project) -> None:
    project.retrain(seed=2)  # dvc.lock now differs from HEAD: an unstaged change
    project.git("add", "params.yaml")  # and something staged
    before = (project.git("status", "--porcelain"), project.git("rev-parse", "HEAD"),
              project.git("diff", "--cached"), project.read("dvc.lock"))
    backup_json(project)
    after = (project.git("status", "--porcelain"), project.git("rev-parse", "HEAD"),
             project.git("diff", "--cached"), project.read("dvc.lock"))
    assert before == after


def test_backup_commit_holds_pointer_files_of_that_moment(project: Project) -> None:
    project.retrain(seed=2)
    data = backup_json(project)
    lock_in_tag = project.git("show", f"{data['tag']}:dvc.lock")
    assert lock_in_tag == project.read("dvc.lock").decode()
    # HEAD's tree still has the seed-1 lock file: the tag captured the uncommitted state.
    assert project.git("show", "HEAD:dvc.lock") != lock_in_tag


def test_backup_of_changed_artifact_without_dvc_repro(project: Project) -> None:
    project.damage("models/keras_mlp_model.h5", b"hand-edited model")
    lock_before = project.read("dvc.lock")
    data = backup_json(project)
    entry = next(f for f in data["files"] if f["path"] == "models/keras_mlp_model.h5")
    assert entry["md5"] == md5_file(project.root / "models/keras_mlp_model.h5")[0]
    assert project.read("dvc.lock") == lock_before  # the working tree was not moved
    assert entry["md5"] in project.git("show", f"{data['tag']}:dvc.lock")


def test_data_is_in_local_remote_before_the_tag(project: Project) -> None:
    data = backup_json(project)
    remote = project.root / "backups" / "files" / "md5"
    for entry in data["files"]:
        if entry["store"] == "dvc":
            obj = remote / entry["md5"][:2] / entry["md5"][2:]
            assert md5_file(obj) == (entry["md5"], entry["size"])
    assert "backups" not in project.git("status", "--porcelain")


def test_two_backups_in_one_second_get_distinct_tags(project: Project,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from hdversion import api
    from hdversion.ops import backup

    frozen = datetime(2025, 3, 31, 12, 0, 0, tzinfo=UTC)
    monkeypatch.setattr(backup, "now_utc", lambda: frozen)
    first = api.backup(project.root)
    second = api.backup(project.root)
    assert first.backup.tag == "backup/20250331_120000"
    assert second.backup.tag == "backup/20250331_120001"
    assert second.backup.manifest.created_at == first.backup.manifest.created_at


def test_list_newest_first_with_metrics(project: Project) -> None:
    first = backup_json(project, "-m", "one")
    project.retrain(seed=7)
    second = backup_json(project, "-m", "two")
    listed = json.loads(project.cli("list", "--json", check=True).stdout)
    assert [b["tag"] for b in listed] == sorted([first["tag"], second["tag"]], reverse=True)
    newest = listed[0]
    for key in ("timestamp", "tag", "created_at", "message", "outputs", "total_files", "metrics"):
        assert key in newest
    assert newest["message"] == "two"
    assert newest["metrics"]["metrics.json"]["ensemble"]["roc_auc"] == pytest.approx(0.807)
    table = project.cli("list", check=True).stdout
    assert "0.807" in table and "two" in table


def test_list_skips_foreign_and_broken_tags(project: Project) -> None:
    backup_json(project)
    project.git("tag", "backup/not-a-time")
    project.git("tag", "-a", "-m", "{broken", "backup/20200101_000000")
    result = project.cli("list", "--json", check=True)
    assert len(json.loads(result.stdout)) == 1
    assert "backup/not-a-time" in result.stderr and "backup/20200101_000000" in result.stderr


def test_list_reads_many_backups_in_one_git_call(project: Project) -> None:
    data = backup_json(project)
    message = project.git("tag", "-l", "--format=%(contents)", data["tag"]).strip()
    manifest = json.loads(message)
    lines = []
    for i in range(300):
        ts = f"2024{1 + i // 28 % 12:02d}{1 + i % 28:02d}_0000{i % 60:02d}"
        manifest["timestamp"] = ts
        lines.append((ts, json.dumps(manifest)))
    repo = GitRepo.open(project.root)
    for ts, text in lines:
        assert repo.create_tag(f"backup/{ts}", data["commit"], text)
    calls: list[tuple[str, ...]] = []
    original = GitRepo._git

    def counting(self: GitRepo, *args: str, **kwargs: object) -> object:
        calls.append(args)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    GitRepo._git = counting  # type: ignore[method-assign]
    try:
        catalog = read_catalog(repo)
    finally:
        GitRepo._git = original  # type: ignore[method-assign]
    assert len(catalog.backups) == 301
    assert [c[0] for c in calls] == ["for-each-ref"]


def test_tag_without_git_identity(project: Project, tmp_path: Path) -> None:
    project.git("config", "--unset", "user.name")
    project.git("config", "--unset", "user.email")
    env = {"HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1", "EMAIL": ""}
    result = project.cli("backup", "--json", env=env)
    assert result.returncode == 0, result.stderr
    tag = json.loads(result.stdout)["tag"]
    assert project.git("cat-file", "-t", tag).strip() == "tag"


def test_journal_records_each_operation(project: Project) -> None:
    backup_json(project)
    project.cli("restore", "--timestamp", "19990101_000000")
    project.cli("list")
    journal = project.root / "logs" / "hdversion.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(entry["operation"], entry["result"]) for entry in lines] == [
        ("backup", "ok"), ("restore", "error"), ("list", "ok")]
    assert lines[1]["exit_code"] == 4
    assert {"time", "user", "host"} <= set(lines[0])


def test_help_and_version_do_not_import_dvc(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--version", check=True)
    assert result.stdout.startswith("hdversion ")
    import subprocess
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from hdversion.cli.typer_app import app; "
         "sys.argv=['hdversion','--help']\ntry: app()\nexcept SystemExit: pass\n"
         "print(sorted(m for m in sys.modules if m.split('.')[0] in "
         "('dvc','git','keras','sklearn','pandas')))"],
        capture_output=True, text=True, check=True)
    assert probe.stdout.strip().splitlines()[-1] == "[]"


def test_tag_goes_to_the_git_remote(project: Project, tmp_path: Path) -> None:
    import subprocess

    assert "no git remote 'origin'" in backup_json(project)["git_remote"]["detail"]
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    data = backup_json(project)
    assert data["git_remote"] == {"name": "origin", "ok": True, "detail": "pushed"}
    remote_tags = subprocess.run(["git", "tag"], cwd=origin, capture_output=True, text=True,
                                 check=True).stdout.split()
    assert data["tag"] in remote_tags
    kept_local = project.cli("backup", "--json", env={"HDVERSION_GIT_REMOTE": ""}, check=True)
    local_tag = json.loads(kept_local.stdout)["tag"]
    assert local_tag not in subprocess.run(["git", "tag"], cwd=origin, capture_output=True,
                                           text=True, check=True).stdout.split()


def test_unreachable_git_remote_is_partial_and_keeps_the_backup(project: Project,
                                                               tmp_path: Path) -> None:
    project.git("remote", "add", "origin", str(tmp_path / "gone.git"))
    result = project.cli("backup", "--json")
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["complete"] is False and data["git_remote"]["ok"] is False
    assert "could not push backup tags" in data["git_remote"]["detail"]
    assert project.git("tag").split() == [data["tag"]]


def test_uncached_outputs_are_kept_in_the_backup_commit(project: Project) -> None:
    dvc_yaml = project.root / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace(
        "      - metrics.json", "      - metrics.json:\n          cache: false"))
    assert project.dvc("repro", "-q").returncode == 0
    data = backup_json(project)
    entry = next(f for f in data["files"] if f["path"] == "metrics.json")
    assert entry["store"] == "git"
    in_commit = project.git("show", f"{data['tag']}:metrics.json")
    assert in_commit == project.read("metrics.json").decode()
    project.damage("metrics.json", b"{}")
    assert project.cli("restore", "--force").returncode == 0
    assert md5_file(project.root / "metrics.json")[0] == entry["md5"]


@pytest.mark.parametrize("how_many", [1, 8])
def test_remote_listing_finds_exactly_what_is_missing(project: Project, how_many: int) -> None:
    from hdversion.ops.project import Project as HdProject

    data = backup_json(project)
    present = {f["md5"]: f["size"] for f in data["files"] if f["store"] == "dvc"}
    present = dict(list(present.items())[:how_many])
    absent = "0" * 32
    store = HdProject.open(project.root).store.transfers
    assert store.missing_in_remote("local", {**present, absent: 1}) == {absent}
    gone, truncated = next(iter(present)), list(present)[-1]
    if how_many > 1:
        obj = project.root / "backups" / "files" / "md5" / truncated[:2] / truncated[2:]
        obj.chmod(0o644)
        obj.write_bytes(obj.read_bytes()[:10])  # present, but not whole
    (project.root / "backups" / "files" / "md5" / gone[:2] / gone[2:]).unlink()
    expected = {gone, truncated} if how_many > 1 else {gone}
    assert store.missing_in_remote("local", present) == expected
