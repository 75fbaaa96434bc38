"""What broke when hdversion was attacked (issue 8), each with the test that failed before
the fix: hostile manifests, crash windows, common disasters, wrong answers, unclear errors."""

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

from hdversion.model.manifest import FileEntry, FileList, within
from hdversion.paths import FILE_LIST, QUARANTINE, TEMP_PREFIX
from hdversion.util.hashing import md5_bytes, md5_file
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused
from tests.test_errors import HOLD_DVC_LOCK, assert_clean_failure, lock_held
from tests.test_restore import (
    MODEL,
    backup,
    corrupt,
    object_path,
    restore,
    workspace_state,
)

V1_FIXTURE = Path(__file__).parent / "fixtures" / "manifest-v1.json"
EVIL = b"[core]\n\tfsmonitor = touch pwned-by-a-forged-backup\n"
STUDIES = "models/optuna"


def tag_message(project: Project, tag: str) -> dict:
    return json.loads(project.git("for-each-ref", "--format=%(contents)", f"refs/tags/{tag}"))


def put_in_cache(project: Project, data: bytes) -> str:
    md5 = md5_bytes(data)
    path = object_path(project.root / ".dvc" / "cache", md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5


def git_env(project: Project, **extra: str) -> dict[str, str]:
    return {**os.environ, "GIT_INDEX_FILE": str(project.root / ".git" / "forge-index"), **extra}


def forge(project: Project, made: dict, timestamp: str, version: int,
          files: list[dict]) -> None:
    """A hand-made backup tag (as anyone who can push a tag to `origin` can make one) that
    claims `files`, on the real backup's data. A version-2 tag is self-consistent, as a
    careful forger makes it (its totals and each output's file count and size are the file
    list's), so that only the rule about paths can refuse it."""
    entries = [FileEntry(f["path"], f["md5"], f["size"], f["store"]) for f in files]
    if version == 1:
        message = json.loads(V1_FIXTURE.read_text())
        message.update(timestamp=timestamp, files=[vars(e) for e in entries])
        commit = made["commit"]
    else:
        listing = FileList(tuple(entries)).to_bytes()
        env = git_env(project)

        def git(*args: str, data: bytes | None = None) -> str:
            return subprocess.run(["git", *args], cwd=project.root, env=env, input=data,
                                  check=True, capture_output=True).stdout.decode().strip()

        git("read-tree", made["commit"])
        blob = git("hash-object", "-w", "--stdin", data=listing)
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{FILE_LIST}")
        commit = git("commit-tree", git("write-tree"), "-p", made["commit"], "-m", "forged")
        message = tag_message(project, made["tag"])
        message.update(timestamp=timestamp, files_md5=md5_bytes(listing),
                       total_files=len(entries), total_size=sum(e.size for e in entries))
        for output in message["outputs"]:
            members = [e for e in entries if within(e.path, output["path"])]
            output.update(nfiles=len(members), size=sum(e.size for e in members))
    subprocess.run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", f"backup/{timestamp}",
                    commit], cwd=project.root, check=True, capture_output=True,
                   input=json.dumps(message, separators=(",", ":")).encode())


# -- 1. a backup's manifest is untrusted input ------------------------------------------------

INSIDE_GIT = "inside .git or .dvc"
NOT_PROTECTED = "neither a DVC output"


@pytest.mark.parametrize("version, path, rule", [
    (2, ".git/config", INSIDE_GIT), (1, ".git/hooks/pre-commit", INSIDE_GIT),
    (2, ".dvc/config", INSIDE_GIT), (1, "models/.git/config", INSIDE_GIT),
    (2, "notes/not-protected.txt", NOT_PROTECTED),
    # Inside a directory output, so that only the rule about .git can refuse it.
    (2, f"{STUDIES}/.git/config", INSIDE_GIT), (1, f"{STUDIES}/.dvc/config", INSIDE_GIT),
])
def test_a_forged_backup_cannot_write_what_it_does_not_protect(
        project: Project, version: int, path: str, rule: str) -> None:
    made = backup(project)
    md5 = put_in_cache(project, EVIL)
    files = [*made["files"], {"path": path, "md5": md5, "size": len(EVIL), "store": "dvc"}]
    forge(project, made, "20240101_000000", version, files)
    project.damage(MODEL)
    guarded = [project.root / p for p in (".git/config", ".dvc/config", path)]
    before = {p: p.read_bytes() if p.exists() else None for p in guarded}
    state = workspace_state(project)
    result = project.cli("restore", "--force", "--timestamp", "20240101_000000")
    assert_clean_failure(result, 5, f"would write {path!r}, which is {rule}",
                         "no file was changed")
    assert {p: p.read_bytes() if p.exists() else None for p in guarded} == before
    assert workspace_state(project) == state
    assert not (project.root / "pwned-by-a-forged-backup").exists()
    project.git("status")  # git still works, and runs nothing of the attacker's


def test_a_forged_pointer_file_cannot_declare_an_output_outside(project: Project) -> None:
    """The pointer files themselves come from the backup: one that declares `../x` is
    refused too."""
    made = backup(project)
    evil_dvc = b"outs:\n- md5: " + md5_bytes(EVIL).encode() + b"\n  size: 48\n  path: ../../x\n"
    blob_md5 = md5_bytes(evil_dvc)
    env = git_env(project)
    subprocess.run(["git", "read-tree", made["commit"]], cwd=project.root, env=env, check=True)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=project.root, env=env,
                          input=evil_dvc, capture_output=True, check=True).stdout.decode().strip()
    subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},evil.dvc"],
                   cwd=project.root, env=env, check=True)
    tree = subprocess.run(["git", "write-tree"], cwd=project.root, env=env, capture_output=True,
                          check=True).stdout.decode().strip()
    commit = subprocess.run(["git", "commit-tree", tree, "-m", "forged"], cwd=project.root,
                            env=env, capture_output=True, check=True).stdout.decode().strip()
    forged = {**made, "commit": commit}
    files = [*made["files"], {"path": "evil.dvc", "md5": blob_md5, "size": len(evil_dvc),
                              "store": "git"}]
    forge(project, forged, "20240101_000000", 1, files)
    result = project.cli("restore", "--force", "--timestamp", "20240101_000000")
    assert_clean_failure(result, 5, "outside the workspace")
    assert not (project.root / "evil.dvc").exists()


def test_restore_never_writes_through_a_symlink_that_leads_out(project: Project,
                                                              tmp_path: Path) -> None:
    backup(project)
    outside = tmp_path / "somewhere-else"
    outside.mkdir()
    shutil.rmtree(project.root / "models")
    (project.root / "models").symlink_to(outside)
    result = project.cli("restore", "--force")
    assert_clean_failure(result, 5, "symbolic link", "no file was changed")
    assert list(outside.iterdir()) == []


# -- 2-4. crash windows ------------------------------------------------------------------------

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


def test_partial_files_of_killed_transfers_are_removed(project: Project) -> None:
    backup(project)
    token = "A" * 22
    partials = [project.root / ".dvc/cache/files/md5/ab" / f".{token}.tmp",
                project.root / "backups/files/md5/cd" / f"cdef.{token}.tmp"]
    bystander = project.root / "backups/files/md5/cd/notes.tmp"
    for path in [*partials, bystander]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 1000)
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in partials)
    assert bystander.exists()
    assert "partial file" in result.stderr



@pytest.mark.parametrize("content", [b"", b'{"write": {"/x": {"pid": 1,'],
                         ids=["empty", "cut-short"])
def test_a_broken_dvc_rwlock_left_by_a_kill_is_reset(project: Project, content: bytes) -> None:
    """A kill while DVC rewrites `.dvc/tmp/rwlock` in place leaves it empty or cut short, and
    DVC then refuses every command. It holds no valid lock: the next backup resets it (under
    hdversion's lock and DVC's) and says so, and DVC works again."""
    backup(project)
    project.damage(MODEL, os.urandom(50_000))  # the backup has something to commit
    rwlock = project.root / ".dvc" / "tmp" / "rwlock"
    rwlock.write_bytes(content)
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert "reset .dvc/tmp/rwlock" in result.stderr
    status = project.dvc("status")
    assert status.returncode == 0, status.stderr


def test_a_valid_dvc_rwlock_is_left_alone(project: Project) -> None:
    """Another DVC command's entry (a dead pid's is DVC's own to clear) is a lock, not a
    leftover."""
    backup(project)
    rwlock = project.root / ".dvc" / "tmp" / "rwlock"
    held = b'{"read": {"/elsewhere/file": [{"pid": 1, "cmd": "dvc status"}]}}'
    rwlock.write_bytes(held)
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert "rwlock" not in result.stderr


def test_the_hashed_stats_write_left_by_a_kill_is_removed(project: Project) -> None:
    """The digest of the outputs' stats is written beside its name and renamed: a kill in
    between leaves `.dvc/tmp/.hdversion-tmp-*`, which the next run removes."""
    backup(project)
    left = project.root / ".dvc" / "tmp" / f"{TEMP_PREFIX}4242-0"
    left.write_bytes(b"half a digest")
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert not left.exists()
    assert "partial file" in result.stderr


def test_verify_repair_removes_partial_files_of_a_killed_repair(project: Project) -> None:
    """A killed `verify --repair` leaves DVC's partial upload in the local remote; the
    repair's rerun removes it, as backup, restore and prune do."""
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    partial = object_path(project.root / "backups", md5).with_name(f".{'B' * 22}.tmp")
    partial.write_bytes(b"\0" * 1000)
    result = project.cli("verify", "--repair")
    assert result.returncode == 0, result.stderr
    assert not partial.exists()
    assert "partial file" in result.stderr


@pytest.mark.parametrize(("name", "partial"), [
    (f"{'5b' * 15}.{'A' * 22}.tmp", True),  # DVC's partial download or upload
    (f".{'a-_9' * 5}xy.tmp", True),  # DVC's, with no name before the token
    (f"{TEMP_PREFIX}18d1e3e9{'0' * 22}bd.16454", True),  # hdversion's copy into a remote
    (f"{TEMP_PREFIX}4242-0", True),  # hdversion's staged write
    ("5b" * 15, False),  # an object
    ("5b" * 14 + "ab.dir", False),  # a directory listing
    ("notes.tmp", False),  # no token: not a write of DVC's
    (f"x.{'A' * 21}.tmp", False),
    (f"x.{'A' * 22}.tmp.dir", False),
])
def test_what_a_killed_write_leaves_is_not_an_object(name: str, partial: bool) -> None:
    from hdversion.model.leftovers import is_partial_name

    assert is_partial_name(name) is partial


def test_a_killed_sync_leaves_no_object_in_a_remote_outside_the_repository(
        project: Project, tmp_path: Path) -> None:
    """What a killed sync may leave in a directory remote outside the repository: partial
    writes, never an object. No reader counts them (a listing, verify, the bucket-alone
    listing); the next sync there removes those untouched for an hour (other clones may be
    writing the fresh ones)."""
    made = backup(project)
    disk = tmp_path / "disk2"
    project.cli("remote", "add", "disk2", str(disk), check=True)
    project.cli("sync", "--remote", "disk2", check=True)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    folder = object_path(disk, md5).parent
    old = [folder / f"{TEMP_PREFIX}{md5[2:]}.16454", folder / f"{md5[2:]}.{'C' * 22}.tmp"]
    fresh = folder / f"{TEMP_PREFIX}{md5[2:]}.16455"
    beside = disk / "hdversion" / "backups" / f"{TEMP_PREFIX}16454-0"
    for path in [*old, fresh, beside]:
        path.write_bytes(b"half an object")
    for path in old:
        os.utime(path, (path.stat().st_atime - 7200, path.stat().st_mtime - 7200))

    result = project.cli("sync", "--remote", "disk2")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in old) and fresh.exists()
    assert "partial file" in result.stderr
    listed = json.loads(project.cli("list", "--json", "--remote", "disk2", check=True).stdout)
    assert [b["complete"] for b in listed] == [True]
    verified = project.cli("verify", "--remote", "disk2")
    assert verified.returncode == 0, verified.stderr
    alone = project.cli("list", "--json", "--remote-url", str(disk))
    assert alone.returncode == 0, alone.stderr
    assert [b["tag"] for b in json.loads(alone.stdout)] == [made["tag"]]
    assert TEMP_PREFIX not in alone.stderr  # not a backup that is "skipped"

# -- 5. a file deleted next to a file edited ---------------------------------------------------

def add_report_stage(project: Project) -> None:
    """A second stage that reads the Keras model: deleting the model then leaves a missing
    input of another stage."""
    with (project.root / "dvc.yaml").open("a") as stream:
        stream.write(
            "  report:\n"
            f"    cmd: {sys.executable} -c \"import shutil; "
            f"shutil.copy('{MODEL}', 'report.bin')\"\n"
            f"    deps: [{MODEL}]\n"
            "    outs: [report.bin]\n")
    assert project.dvc("repro", "-q").returncode == 0
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "report stage")


def test_a_deleted_artifact_beside_an_edited_one_is_restored(project: Project) -> None:
    add_report_stage(project)
    made = backup(project)
    model, report_bytes = project.read(MODEL), project.read("report.bin")
    (project.root / MODEL).unlink()
    project.damage("report.bin", b"edited by hand")
    code, report, stderr = restore(project)
    assert code == 0, stderr
    assert report["tag"] == made["tag"] and report["verified"] is True
    assert project.read(MODEL) == model and project.read("report.bin") == report_bytes
    safety = report["safety_backup"]
    listed = {b["tag"]: b for b in json.loads(project.cli("list", "--json").stdout)}
    assert listed[safety]["missing"] == [MODEL]


def test_backup_allow_missing_beside_an_edited_file(project: Project) -> None:
    add_report_stage(project)
    backup(project)
    (project.root / MODEL).unlink()
    project.damage("report.bin", b"edited by hand")
    made = backup(project, "--allow-missing")
    assert made["missing"] == [MODEL]
    assert md5_bytes(b"edited by hand") in {f["md5"] for f in made["files"]}


# -- 6-8, 11, 18. refuse before any work -------------------------------------------------------

@pytest.mark.parametrize("args", [["--cloud", "--storage", "s3"], ["--remote", "typo"]])
def test_a_remote_that_does_not_exist_is_refused_before_any_work(project: Project,
                                                                 args: list[str]) -> None:
    result = project.cli("backup", *args)
    assert_clean_failure(result, 7, "no DVC remote named")
    assert project.git("tag") == ""
    assert not (project.root / "backups").exists()


def test_a_typo_in_the_local_remote_setting_is_refused(project: Project) -> None:
    config = project.root / "config" / "config.yaml"
    config.write_text(config.read_text() + "  local_remote: lcoal\n")
    result = project.cli("backup")
    assert_clean_failure(result, 7, "'lcoal'", "no remote of that name")
    assert project.git("tag") == ""
    assert not (project.root / "backups").exists()


def test_restore_waits_for_no_dvc_command(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    with lock_held(HOLD_DVC_LOCK, project.root, 60):
        result = project.cli("restore", "--force")
    assert_clean_failure(result, 6, "dvc command is running")
    assert project.read(MODEL) == b"damaged"


def test_backup_during_dvc_repro_says_dvc_is_running(project: Project) -> None:
    (project.root / MODEL).unlink()  # as an output is, while `dvc repro` rebuilds it
    with lock_held(HOLD_DVC_LOCK, project.root, 60):
        result = project.cli("backup")
    assert_clean_failure(result, 6, "dvc command is running")
    assert "missing" not in result.stderr


def test_restore_from_a_remote_that_does_not_exist(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    result = project.cli("restore", "--force", "--remote", "nosuch")
    assert_clean_failure(result, 7, "no DVC remote named 'nosuch'")
    assert project.read(MODEL) == b"damaged"


# -- 9, 10. a restored directory equals the backup; a bad target changes nothing ---------------

def test_a_restored_directory_output_equals_the_backup(project: Project) -> None:
    made = backup(project)
    extra = project.root / STUDIES / "study_9.pkl"
    extra.write_bytes(b"a study the backup does not have")
    code, report, stderr = restore(project)
    assert code == 0, stderr
    assert not extra.exists()
    actions = {f["path"]: f["action"] for f in report["files"]}
    assert actions[f"{STUDIES}/study_9.pkl"] == "removed"
    assert project.dvc("status").stdout.strip() == "Data and pipelines are up to date."
    # It went into the safety backup first, and comes back from there.
    safety = report["safety_backup"]
    assert safety and safety != made["tag"]
    code, _, stderr = restore(project, "--timestamp", safety.split("/")[1], "--only", STUDIES)
    assert code == 0, stderr
    assert extra.read_bytes() == b"a study the backup does not have"


def test_extra_files_in_a_target_directory_are_kept_and_reported(project: Project,
                                                                 tmp_path: Path) -> None:
    backup(project)
    target = tmp_path / "restored"
    assert restore(project, "--target", str(target))[0] == 0
    extra = target / STUDIES / "mine.pkl"
    extra.write_bytes(b"the user's own file")
    code, report, _ = restore(project, "--target", str(target))
    assert code == 0 and extra.read_bytes() == b"the user's own file"
    assert {f["path"]: f["action"] for f in report["files"]}[f"{STUDIES}/mine.pkl"] == \
        "extra, kept"


def test_a_directory_where_a_file_should_be_changes_nothing(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    blocked = project.root / "models" / "sklearn_mlp_model.joblib"
    blocked.unlink()
    blocked.mkdir()
    (blocked / "inside").write_text("x")
    before = workspace_state(project)
    result = project.cli("restore", "--force")
    assert_clean_failure(result, 1, "a directory is in its place", "no file was changed")
    assert workspace_state(project) == before
    assert not list(project.root.rglob(".hdversion-tmp-*"))


# -- 12, 13. the journal is a warning; the latest is not in the future -------------------------

def test_an_unwritable_journal_does_not_fail_a_backup(project: Project) -> None:
    (project.root / "logs" / "hdversion.jsonl").mkdir(parents=True)
    result = project.cli("backup", "--json")
    assert result.returncode == 0, result.stderr
    assert "could not write the journal" in result.stderr
    assert project.git("tag").split() == [json.loads(result.stdout)["tag"]]


def test_a_backup_dated_in_the_future_is_not_the_latest(project: Project) -> None:
    made = backup(project)
    message = tag_message(project, made["tag"])
    message["timestamp"] = "20990101_000000"
    subprocess.run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-",
                    "backup/20990101_000000", made["commit"]], cwd=project.root, check=True,
                   input=json.dumps(message).encode(), capture_output=True)
    project.damage(MODEL)
    shown = project.cli("restore", "--dry-run")
    assert f"restoring the latest backup, {made['tag']}" in shown.stdout
    code, report, _ = restore(project, "--force")
    assert code == 0 and report["tag"] == made["tag"] and report["latest"] is True


# -- 14-17. clear errors -----------------------------------------------------------------------

def test_invalid_yaml_in_the_settings_is_one_line_with_its_position(project: Project) -> None:
    (project.root / "config" / "config.yaml").write_text("backup:\n  local_remote: [a\n")
    result = project.cli("backup")
    assert_clean_failure(result, 7, "config/config.yaml is not valid YAML at line 3")
    assert len(result.stderr.splitlines()) == 2  # the error and its hint


def test_an_absolute_path_in_the_settings_is_refused(project: Project) -> None:
    (project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [/etc/passwd]\n")
    assert_clean_failure(project.cli("backup"), 7, "'/etc/passwd'", "relative")


def test_dvc_tmp_that_is_a_file(project: Project) -> None:
    shutil.rmtree(project.root / ".dvc" / "tmp", ignore_errors=True)
    (project.root / ".dvc" / "tmp").write_text("not a folder")
    assert_clean_failure(project.cli("backup"), 7, ".dvc/tmp")


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


def test_an_empty_cache_and_an_unreachable_remote_give_a_short_message(
        project: Project) -> None:
    backup(project)
    project.cli("remote", "add", "far", "s3://bucket/x", "--endpoint-url",
                "http://127.0.0.1:9", check=True)
    shutil.rmtree(project.root / ".dvc" / "cache")
    project.damage(MODEL)
    # With the local remote there, the restore skips 'far' and takes the local copy
    # (tests/test_verify.py); gone too, what is left to say is why 'far' could not help.
    shutil.rmtree(project.root / "backups")
    result = project.cli("restore", "--force", "--remote", "far")
    assert_clean_failure(result, 7, "'far'", "cannot reach")
    assert len(result.stderr) < 400, result.stderr


def test_a_tag_with_an_invalid_manifest_is_named(project: Project) -> None:
    made = backup(project)
    project.git("tag", "-a", "-m", '{"schema": "hdversion/manifest", "version": 2}',
                "backup/20240101_000000", made["commit"])
    result = project.cli("restore", "--timestamp", "20240101_000000")
    assert_clean_failure(result, 5, "backup/20240101_000000 exists but its manifest is invalid")


def test_a_damaged_directory_listing_is_fetched_again(project: Project) -> None:
    """A `.dir` object that is still valid JSON, but not the listing its name promises."""
    made = backup(project)
    listing = next(o["md5"] for o in made["outputs"] if o["path"] == STUDIES)
    member = next(f for f in made["files"] if f["path"].startswith(STUDIES + "/"))
    cache = project.root / ".dvc" / "cache"
    dir_object = object_path(cache, listing)
    dir_object.chmod(0o644)
    dir_object.write_text("[]")
    object_path(cache, member["md5"]).unlink()
    project.damage(member["path"])
    code, report, stderr = restore(project, "--force")
    assert code == 0, stderr
    assert listing in report["quarantined_objects"]
    assert md5_file(dir_object)[0] == listing.removesuffix(".dir")
    assert md5_file(project.root / member["path"])[0] == member["md5"]


# -- 19. what the output says ------------------------------------------------------------------

def test_quarantined_objects_are_shown_to_people(project: Project) -> None:
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    corrupt(object_path(project.root / ".dvc" / "cache", md5))
    project.damage(MODEL)
    result = project.cli("restore", "--force")
    assert result.returncode == 0, result.stderr
    assert md5 in result.stdout and QUARANTINE in result.stdout


def test_dry_run_announces_the_safety_backup_and_claims_no_verification(
        project: Project) -> None:
    backup(project)
    project.damage(MODEL, b"unsaved work")
    code, report, _ = restore(project, "--dry-run")
    assert code == 0
    assert report["would_make_safety_backup"] is True and report["verified"] is None
    human = project.cli("restore", "--dry-run")
    assert "would be backed up first in a safety backup" in human.stdout
    assert len(project.git("tag").split()) == 1


# -- kills of sync, and many writers -----------------------------------------------------------

def test_a_sync_killed_between_two_backups_is_finished_by_the_next(project: Project,
                                                                  tmp_path: Path) -> None:
    """Sync to a second disk (any DVC remote), killed after the first backup went over."""
    first = backup(project)
    project.damage(MODEL, b"second model")
    second = backup(project)
    project.cli("remote", "add", "disk2", str(tmp_path / "disk2"), check=True)
    proc = start_paused(project.root, PausePoint.BETWEEN_SYNC_PUSHES, "sync", "--remote",
                        "disk2")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    listed = json.loads(project.cli("list", "--json", "--remote", "disk2", check=True).stdout)
    complete = {b["tag"]: b["complete"] for b in listed}
    assert complete == {first["tag"]: True, second["tag"]: False}
    done = project.cli("sync", "--remote", "disk2", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(project.cli("list", "--json", "--remote", "disk2", check=True).stdout)
    assert all(b["complete"] for b in listed)
    # The second disk alone restores it (the cache and the local remote are gone).
    shutil.rmtree(project.root / ".dvc" / "cache")
    shutil.rmtree(project.root / "backups")
    project.damage(MODEL)
    code, report, stderr = restore(project, "--force", "--remote", "disk2")
    assert code == 0 and report["tag"] == second["tag"], stderr
    assert project.read(MODEL) == b"second model"


def test_a_second_run_fails_fast_or_waits(project: Project) -> None:
    backup(project)
    project.damage(MODEL, b"new")
    first = start_paused(project.root, PausePoint.BEFORE_TAG, "backup", "--json")
    refused = project.cli("backup", "--wait", "0")
    assert_clean_failure(refused, 6, "holds the repository lock")
    waiting = subprocess.Popen([str(Path(sys.executable).with_name("hdversion")), "backup",
                                "--json", "--wait", "120"], cwd=project.root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pause_marker(project.root).unlink()
    out_first, _ = first.communicate(timeout=120)
    out_waiting, err_waiting = waiting.communicate(timeout=180)
    assert first.returncode == 0 and waiting.returncode == 0, err_waiting
    tags = {json.loads(out_first)["tag"], json.loads(out_waiting)["tag"]}
    assert len(tags) == 2 and tags <= set(project.git("tag").split())


@pytest.mark.reliability
def test_four_simultaneous_backups_all_succeed(project: Project, tmp_path: Path) -> None:
    # No --wait: a second run waits for the first by default.
    runs = [subprocess.Popen([str(Path(sys.executable).with_name("hdversion")), "backup",
                              "--json", "-m", f"run {i}"], cwd=project.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(4)]
    outputs = [run.communicate(timeout=400) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], [err for _, err in outputs]
    tags = {json.loads(out)["tag"] for out, _ in outputs}
    assert len(tags) == 4 and tags == set(project.git("tag").split())
    assert sum("waiting up to 600 s" in err for _, err in outputs) >= 1
    for tag in tags:
        code, report, stderr = restore(project, "--timestamp", tag.split("/")[1], "--target",
                                       str(tmp_path / tag.replace("/", "-")))
        assert code == 0 and report["verified"] is True, stderr


# -- odd repository states ---------------------------------------------------------------------

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


def test_a_non_empty_target_directory(project: Project, tmp_path: Path) -> None:
    """Files of the user's in --target are left alone; files the backup has are replaced."""
    made = backup(project)
    target = tmp_path / "target"
    (target / "models").mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    (target / MODEL).write_bytes(b"an older model")
    code, report, stderr = restore(project, "--target", str(target))
    assert code == 0 and report["verified"] is True, stderr
    assert (target / "notes.txt").read_text() == "mine"
    expected = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    assert md5_file(target / MODEL)[0] == expected
    assert report["safety_backup"] is None
