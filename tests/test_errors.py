"""Bad input: a clear message, a documented exit code, no traceback, nothing lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, run_cli, start_paused


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int,
                         *phrases: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ")
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_not_a_git_repository(tmp_path: Path) -> None:
    for command in (["backup"], ["list"], ["restore"]):
        assert_clean_failure(run_cli(tmp_path, *command), 7, "not a git repository")


def test_not_a_dvc_repository(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert_clean_failure(run_cli(tmp_path, "backup"), 7, "not a DVC repository", "dvc init")


# (`20250331` is a prefix now, tests/test_names.py; without the underscore it is malformed.)
@pytest.mark.parametrize("bad", ["2025-03-31", "2025033112", "20251399_120000", "x" * 15,
                                 "20250331_120000; rm -rf /", ""])
def test_malformed_timestamp(project: Project, bad: str) -> None:
    assert_clean_failure(project.cli("restore", "--timestamp", bad), 2, "timestamp")


def test_unknown_timestamp(project: Project) -> None:
    project.cli("backup", check=True)
    result = project.cli("restore", "--timestamp", "20000101_000000", "--json")
    assert_clean_failure(result, 4, "no backup backup/20000101_000000")
    assert json.loads(result.stdout)["exit_code"] == 4


def test_restore_with_no_backups(project: Project) -> None:
    assert_clean_failure(project.cli("restore"), 4, "no backups")


def test_nothing_to_back_up(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([str(Path(sys.executable).with_name("dvc")), "init", "-q"], cwd=tmp_path,
                   check=True)
    result = run_cli(tmp_path, "backup")
    assert_clean_failure(result, 7, "nothing to back up")
    assert subprocess.run(["git", "tag"], cwd=tmp_path, capture_output=True,
                          text=True).stdout == ""


def test_missing_artifact_fails_unless_allowed(project: Project) -> None:
    (project.root / "models" / "sklearn_mlp_model.joblib").unlink()
    result = project.cli("backup")
    assert_clean_failure(result, 7, "models/sklearn_mlp_model.joblib", "--allow-missing")
    assert project.git("tag") == ""
    allowed = project.cli("backup", "--allow-missing", "--json")
    assert allowed.returncode == 0, allowed.stderr
    data = json.loads(allowed.stdout)
    assert data["missing"] == ["models/sklearn_mlp_model.joblib"]
    assert "models/sklearn_mlp_model.joblib" not in {f["path"] for f in data["files"]}


def test_missing_git_tracked_critical_file(project: Project) -> None:
    (project.root / "params.yaml").unlink()
    assert_clean_failure(project.cli("backup"), 7, "params.yaml")


@pytest.mark.parametrize("args", [["--cloud"], ["--storage", "dropbox"],
                                  ["--cloud", "--storage", "ftp"]])
def test_unknown_or_incomplete_storage(project: Project, args: list[str]) -> None:
    assert_clean_failure(project.cli("backup", *args), 2)
    assert project.git("tag") == ""


# Holders of the two locks, in another process: argv = repository, seconds to hold.
HOLD_HDVERSION_LOCK = """
import sys, time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from hdversion.util.lock import repository_lock
with repository_lock(Path(sys.argv[1]), "test-holder"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""
HOLD_DVC_LOCK = """
import sys, time
from dvc.repo import Repo
with Repo(sys.argv[1]).lock:
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@contextmanager
def lock_held(script: str, root: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen([sys.executable, "-c", script, str(root), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_lock_held_by_live_process(project: Project) -> None:
    with lock_held(HOLD_HDVERSION_LOCK, project.root, 60) as holder:
        result = project.cli("backup", "--wait", "0")
        assert_clean_failure(result, 6, "lock", "test-holder", f"pid {holder.pid}")
        assert project.git("tag") == ""
        journal = (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()
        assert json.loads(journal[-1])["exit_code"] == 6
        # A killed holder's lock is released by the kernel and taken over.
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        project.cli("backup", check=True)


def test_wait_for_the_lock(project: Project) -> None:
    with lock_held(HOLD_HDVERSION_LOCK, project.root, 2) as holder:
        waited = project.cli("backup", "--wait", "60")
        assert waited.returncode == 0, waited.stderr
        assert holder.poll() is not None  # it ran only once the holder had finished


def test_by_default_a_second_run_waits_and_says_so(project: Project) -> None:
    with lock_held(HOLD_HDVERSION_LOCK, project.root, 2) as holder:
        waited = project.cli("backup")
        assert waited.returncode == 0, waited.stderr
        assert holder.poll() is not None
        assert "holds the repository lock" in waited.stderr
        assert "waiting up to 600 s" in waited.stderr
    # A short wait that runs out is exit 6, as --wait 0 is.
    with lock_held(HOLD_HDVERSION_LOCK, project.root, 60):
        gave_up = project.cli("backup", "--wait", "1")
        assert gave_up.returncode == 6, gave_up.stderr
        assert "error: another hdversion run holds the repository lock after 1 s of waiting" \
            in gave_up.stderr
    assert project.git("tag").count("backup/") == 1


def test_dvc_lock_held_by_a_dvc_command(project: Project) -> None:
    with lock_held(HOLD_DVC_LOCK, project.root, 60):
        assert_clean_failure(project.cli("backup"), 6, "a dvc command is running")
        assert project.git("tag") == ""
    project.cli("backup", check=True)


def test_interrupted_backup_exits_130_and_tags_nothing(project: Project) -> None:
    proc = start_paused(project.root, PausePoint.BEFORE_TAG, "backup")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert project.git("tag") == ""
    project.cli("backup", check=True)  # and the next run works


def test_killed_backup_leaves_no_tag(project: Project) -> None:
    proc = start_paused(project.root, PausePoint.BEFORE_TAG, "backup")
    proc.kill()
    proc.wait()
    assert project.git("tag") == ""
    status_before = project.git("status", "--porcelain")
    project.cli("backup", check=True)
    assert project.git("status", "--porcelain") == status_before


@pytest.mark.parametrize("command", [["backup"], ["backup", "--json"], ["auto", "--json"]])
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interruption_after_the_tag_names_the_backup(project: Project, command: list[str],
                                                        stop: signal.Signals) -> None:
    """Stopped once the tag exists (before the cloud and git pushes): exit 130, and the
    output, the JSON and the journal name the backup that stands, with how to finish it."""
    proc = start_paused(project.root, PausePoint.BEFORE_CLOUD_PUSH, *command)
    proc.send_signal(stop)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    tags = project.git("tag", "-l", "backup/*").split()
    assert len(tags) == 1 and "Traceback" not in stderr
    assert f"interrupted after backup {tags[0]} was made" in stderr, stderr
    assert "hdversion sync" in stderr
    if "--json" in command:
        assert tags[0] in json.loads(stdout)["error"]
    journal = [json.loads(line) for line in
               (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()]
    assert journal[-1]["tag"] == tags[0], journal[-1]
    assert journal[-1]["result"] in ("interrupted", "error") and \
        journal[-1]["exit_code"] == 130, journal[-1]
    restored = project.cli("restore", "--force", "--json")  # the backup is whole
    assert restored.returncode == 0 and json.loads(restored.stdout)["verified"]


def test_an_interrupted_prune_in_auto_names_the_backup_it_made(project: Project) -> None:
    project.cli("backup", check=True)
    proc = start_paused(project.root, PausePoint.BEFORE_TAG_DELETE, "auto", "--keep", "1",
                        "--always")
    proc.terminate()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    newest = max(project.git("tag", "-l", "backup/*").split())
    assert f"interrupted while pruning, after backup {newest} was made" in stderr, stderr
    assert project.cli("prune", "--keep", "1").returncode == 0  # and the prune finishes
    assert project.git("tag", "-l", "backup/*").split() == [newest]


def test_sigterm_is_an_interruption(project: Project) -> None:
    proc = start_paused(project.root, PausePoint.BEFORE_TAG, "backup")
    proc.terminate()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert project.git("tag") == ""
    journal = (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()
    assert json.loads(journal[-1])["result"] == "interrupted"


POINTER_DAMAGE = {
    # Emptied (an editor's crash, a full disk): DVC's schema check fails.
    "dvc.lock emptied": ("dvc.lock", b""),
    # Cut mid-line: DVC's YAML parser fails.
    ".dvc cut short": ("data/raw/heart.csv.dvc", b"outs:\n- md5: 5e1b\n  path: [heart.csv\n"),
    # DVC reads an empty .dvc file as a stage with nothing in it: the artifact was left out
    # of backups without a word.
    ".dvc emptied": ("data/raw/heart.csv.dvc", b""),
}


@pytest.mark.parametrize("damage", sorted(POINTER_DAMAGE))
def test_a_damaged_pointer_file_is_named_with_the_way_out(project: Project,
                                                          damage: str) -> None:
    pointer, data = POINTER_DAMAGE[damage]
    made = json.loads(project.cli("backup", "--json", check=True).stdout)
    (project.root / pointer).write_bytes(data)
    # `dvc repro` cannot run with the pointer file damaged: the artifact changes by hand.
    (project.root / "params.yaml").write_text("seed: 2\n")
    (project.root / "models" / "keras_mlp_model.h5").write_bytes(b"retrained by hand")
    for command in (["restore"], ["status"], ["backup"], ["prune"]):
        result = project.cli(*command)
        assert_clean_failure(result, 7, f"error: {pointer} is damaged (",
                             "): DVC cannot read it\n",
                             f"hint: restore the newest backup's copy with `hdversion restore "
                             f"--only {pointer}`, or git's with `git checkout -- {pointer}`")
    assert project.git("tag").split() == [made["tag"]]
    # The way out the hint names works.
    project.cli("restore", "--only", pointer, check=True)
    assert project.cli("status").returncode == 0


def test_a_pointer_file_damaged_in_a_branch_is_not_blamed_on_the_workspace(
        project: Project) -> None:
    project.cli("backup", check=True)
    project.git("checkout", "-q", "-b", "broken")
    (project.root / "dvc.lock").write_bytes(b"")
    project.git("commit", "-q", "-am", "an emptied dvc.lock")
    project.git("checkout", "-q", "main")
    # The workspace's dvc.lock is whole: the hint to restore it would mislead.
    result = project.cli("prune")
    assert_clean_failure(result, 1, "cannot tell which data the branches")
    assert "is damaged" not in result.stderr
