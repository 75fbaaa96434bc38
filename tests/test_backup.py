"""backup and list, through the real CLI on a real git + DVC repository."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hdversion.gitrepo import GitRepo
from hdversion.ops.catalog import read_catalog
from hdversion.util.hashing import md5_bytes, md5_file
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, run_cli, start_paused
from tests.test_errors import assert_clean_failure
from tests.test_restore import MODEL, add_report_stage, backup, object_path, restore

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
    first = api.backup(repo=project.root)
    second = api.backup(repo=project.root)
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
    manifest = json.loads(message.splitlines()[-1])  # the JSON line, after the human one
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

    # Every command's help, in one process: none loads DVC, GitPython or the ML stack.
    probe = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom hdversion.cli.app import run\n"
         "from hdversion.cli.commands import COMMANDS\n"
         "for c in COMMANDS:\n"
         "    for sub in c.subcommands or (None,):\n"
         "        try: run([c.name, *([sub.name] if sub else []), '--help'])\n"
         "        except SystemExit: pass\n"
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


# -- moved from test_hardening.py (by component) --

POINTER_FILES = ("dvc.lock", "data/raw/heart.csv.dvc")


def test_pointer_files_are_never_written_during_a_backup(project: Project) -> None:
    """kill -9 just after DVC has committed the changed artifacts: dvc.lock and *.dvc are as
    they were (not changed, not empty), and the next backup works without help."""
    backup(project)
    project.damage(MODEL, b"a model changed outside dvc repro")
    before = {p: project.read(p) for p in POINTER_FILES}
    proc = start_paused(project.root, PausePoint.AFTER_DVC_COMMIT, "backup")
    assert {p: project.read(p) for p in POINTER_FILES} == before
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert {p: project.read(p) for p in POINTER_FILES} == before
    assert len(project.git("tag").split()) == 1
    made = backup(project)
    assert {p: project.read(p) for p in POINTER_FILES} == before
    # The backup commit, not the workspace, records the new state.
    assert project.git("show", f"{made['tag']}:dvc.lock").encode() != before["dvc.lock"]
    assert project.git("status", "--porcelain") == ""


def test_a_truncated_object_in_the_local_remote_is_pushed_again(project: Project) -> None:
    """What a push killed half-way leaves: the next backup repairs it."""
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    obj = object_path(project.root / "backups", md5)
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes()[:100])
    backup(project, "-m", "after a killed push")
    assert md5_file(obj)[0] == md5


def test_backup_allow_missing_beside_an_edited_file(project: Project) -> None:
    add_report_stage(project)
    backup(project)
    (project.root / MODEL).unlink()
    project.damage("report.bin", b"edited by hand")
    made = backup(project, "--allow-missing")
    assert made["missing"] == [MODEL]
    assert md5_bytes(b"edited by hand") in {f["md5"] for f in made["files"]}


@pytest.mark.parametrize("args", [["--cloud", "--storage", "s3"], ["--remote", "typo"]])
def test_a_remote_that_does_not_exist_is_refused_before_any_work(project: Project,
                                                                 args: list[str]) -> None:
    result = project.cli("backup", *args)
    assert_clean_failure(result, 7, "no DVC remote named")
    assert project.git("tag") == ""
    assert not (project.root / "backups").exists()


def test_an_unwritable_journal_does_not_fail_a_backup(project: Project) -> None:
    (project.root / "logs" / "hdversion.jsonl").mkdir(parents=True)
    result = project.cli("backup", "--json")
    assert result.returncode == 0, result.stderr
    assert "could not write the journal" in result.stderr
    assert project.git("tag").split() == [json.loads(result.stdout)["tag"]]


def _limit_file_size(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_full_disk_during_the_push(project: Project) -> None:
    """A full disk as the process sees it: a write past RLIMIT_FSIZE fails with EFBIG (DVC's
    own databases are then the first to fail)."""
    project.damage(MODEL, os.urandom(300_000))  # larger than DVC's databases grow
    backup(project)
    shutil.rmtree(project.root / "backups")
    result = subprocess.run([str(Path(sys.executable).with_name("hdversion")), "backup"],
                            cwd=project.root, capture_output=True, text=True,
                            preexec_fn=lambda: _limit_file_size(150_000))
    # The copy into the local remote is the first write past the limit.
    assert_clean_failure(result, 1, "cannot write to the local remote", "disk full")
    assert len(project.git("tag").split()) == 1


def test_a_local_remote_that_cannot_take_a_file(project: Project) -> None:
    backup(project)
    project.damage(MODEL, b"a new model")
    blocked = object_path(project.root / "backups", md5_bytes(b"a new model")).parent
    shutil.rmtree(blocked, ignore_errors=True)
    blocked.write_text("a file where the remote needs a folder")
    result = project.cli("backup")
    assert_clean_failure(result, 1, "cannot write to the local remote 'local'")
    assert len(project.git("tag").split()) == 1


def test_an_artifact_rewritten_during_the_backup(project: Project) -> None:
    backup(project)
    project.damage(MODEL, b"first version")
    proc = start_paused(project.root, PausePoint.AFTER_DVC_COMMIT, "backup")
    project.damage(MODEL, b"second version, written while hashing")
    pause_marker(project.root).unlink()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "changed during the backup" in err and MODEL in err
    assert len(project.git("tag").split()) == 1


def test_an_artifact_rewritten_between_dvc_hashing_and_caching_it(project: Project) -> None:
    # DVC hashed the first bytes and caches the second under their own name: the object the
    # output names is never in the cache. The message names the artifact, not that object.
    # (With links, hdversion leaves the caching to DVC: nothing cached the first bytes.)
    backup(project)
    assert project.dvc("config", "cache.type", "hardlink").returncode == 0
    project.damage(MODEL, b"first version")
    proc = start_paused(project.root, PausePoint.AFTER_DVC_SAVE, "backup")
    project.damage(MODEL, b"other version")  # the same size
    pause_marker(project.root).unlink()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert f"changed during the backup, no backup was made: {MODEL}\n" in err, err
    assert ".dvc/cache" not in err
    assert len(project.git("tag").split()) == 1


def test_backup_and_restore_on_a_detached_head(project: Project) -> None:
    project.git("checkout", "-q", "--detach")
    made = backup(project)
    assert made["branch"] is None and made["base_commit"]
    project.damage(MODEL)
    code, report, stderr = restore(project)
    assert code == 0 and report["verified"] is True, stderr
    assert project.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"


def plain_repository(root: Path, name: str, data: bytes, commit: bool) -> None:
    root.mkdir(parents=True)

    def sh(*cmd: str) -> None:
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)

    sh("git", "init", "-q", "-b", "main")
    sh("git", "config", "user.name", "Test")
    sh("git", "config", "user.email", "test@example.invalid")
    sh(str(Path(sys.executable).with_name("dvc")), "init", "-q")
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    sh(str(Path(sys.executable).with_name("dvc")), "add", "-q", name)
    if commit:
        sh("git", "add", "-A")
        sh("git", "commit", "-q", "-m", "first")


def test_a_repository_without_any_commit(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    plain_repository(root, "model.bin", b"weights", commit=False)
    made = subprocess.run([str(Path(sys.executable).with_name("hdversion")), "backup", "--json"],
                          cwd=root, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["base_commit"] is None
    (root / "model.bin").chmod(0o644)
    (root / "model.bin").write_bytes(b"ruined")
    restored = subprocess.run([str(Path(sys.executable).with_name("hdversion")), "restore",
                               "--json"], cwd=root, capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    assert (root / "model.bin").read_bytes() == b"weights"
    assert subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root,
                          capture_output=True).returncode != 0  # still no commit


def test_unicode_and_spaces_in_paths(tmp_path: Path) -> None:
    root = tmp_path / "projet à tester"
    name = "données/modèle final ✓.bin"
    plain_repository(root, name, b"poids du modele", commit=True)
    made = subprocess.run([str(Path(sys.executable).with_name("hdversion")), "backup", "--json"],
                          cwd=root, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert name in {f["path"] for f in json.loads(made.stdout)["files"]}
    (root / name).chmod(0o644)
    (root / name).write_bytes(b"abime")
    restored = subprocess.run([str(Path(sys.executable).with_name("hdversion")), "restore",
                               "--json"], cwd=root, capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    assert (root / name).read_bytes() == b"poids du modele"
    listed = subprocess.run([str(Path(sys.executable).with_name("hdversion")), "list"],
                            cwd=root, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
