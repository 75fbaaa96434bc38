"""The repository lock (util/lock.py) and DVC's: a second run fails fast or waits, a run
never works under a DVC command that holds its lock, and `.dvc/tmp`, where the lock lives,
must be a folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused
from tests.test_errors import HOLD_DVC_LOCK, assert_clean_failure, lock_held
from tests.test_restore import MODEL, backup, restore


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


def test_dvc_tmp_that_is_a_file(project: Project) -> None:
    shutil.rmtree(project.root / ".dvc" / "tmp", ignore_errors=True)
    (project.root / ".dvc" / "tmp").write_text("not a folder")
    assert_clean_failure(project.cli("backup"), 7, ".dvc/tmp")


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
