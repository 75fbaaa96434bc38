"""docs/plain-dvc.md's commands, as written there: a git worktree of a backup gets its data
from the original `backups/` with DVC alone (the default local remote's URL is relative, so
the worktree's `local` remote must name the original folder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project

PAGE = Path(__file__).resolve().parents[1] / "docs" / "plain-dvc.md"
MODEL = "models/keras_mlp_model.h5"


def run(script: str, project: Project, stamp: str) -> subprocess.CompletedProcess[str]:
    script = script.replace("~/project", str(project.root)).replace("20261206_120000", stamp)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=project.root,
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("local_remote", [None, "../backups"],
                         ids=["the-embedded-default", "url-relative-to-.dvc"])
def test_a_worktree_of_a_backup_gets_its_data_with_plain_dvc(
        project: Project, local_remote: str | None) -> None:
    if local_remote:
        (project.root / ".dvc" / "config").write_text(
            f"[core]\n    remote = local\n['remote \"local\"']\n    url = {local_remote}\n")
        project.git("commit", "-qam", "a local remote")
    stamp = json.loads(project.cli("backup", "--json", check=True).stdout)["timestamp"]
    backed_up = project.read(MODEL)
    project.damage(MODEL)  # the worktree has the backup's bytes, not the workspace's
    cache = project.root / ".dvc" / "cache"
    for folder, _, _ in os.walk(cache):
        os.chmod(folder, 0o755)
    shutil.rmtree(cache)  # its data can come from backups/ only
    worktree, remove = re.findall(r"```sh\n(.*?)```", PAGE.read_text(), flags=re.S)[:2]
    made = run(worktree, project, stamp)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Data and pipelines are up to date." in made.stdout
    there = project.root.parent / "project-at-T"
    assert (there / MODEL).read_bytes() == backed_up
    assert project.read(MODEL) == b"damaged"  # the workspace untouched
    removed = run(remove, project, stamp)
    assert removed.returncode == 0, removed.stderr
    assert not there.exists()
