"""sync: every backup's objects and manifest to another remote; a killed sync is finished
by the next."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, start_paused
from tests.test_restore import MODEL, backup, restore


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
