"""A history of backups to prune, alias and undelete: four backups (seeds 1, 2, 3, 1: the
fourth shares every object with the first) of the stand-in project, pushed with their tags
to a bare origin. Built once per test run (every retrain and backup is a process of its
own: some 15 s) and copied for each test; the xdist workers of one run share it under a
file lock. The backups are minutes old when a test sees them: prune's one-hour grace and
the windows of days the tests use are far off."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import Project, shared_tmp

SEEDS = (1, 2, 3, 1)


@dataclass
class History:
    project: Project
    origin: Path
    backups: list[dict]  # `backup --json`, oldest first

    @property
    def tags(self) -> list[str]:
        return [b["tag"] for b in self.backups]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.project.cli(*args)

    def prune(self, *args: str, code: int = 0) -> dict:
        result = self.cli("prune", "--json", *args)
        assert result.returncode == code, (result.stdout, result.stderr)
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def local_tags(self) -> set[str]:
        return set(self.project.git("tag", "-l", "backup/*").split())

    def origin_refs(self) -> set[str]:
        out = subprocess.run(["git", "ls-remote", "--refs", str(self.origin)], check=True,
                             capture_output=True, text=True).stdout
        return {line.split("\t")[1] for line in out.splitlines()}


def build_history(base: Path, template: Path, seeds: tuple[int, ...] = SEEDS) -> History:
    origin = base / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    root = base / "project"
    shutil.copytree(template, root, symlinks=True)
    project = Project(root)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    backups = []
    for seed in seeds:
        project.retrain(seed)
        result = project.cli("backup", "--json", "-m", f"seed {seed}")
        assert result.returncode == 0, result.stderr
        backups.append(json.loads(result.stdout))
    return History(project, origin, backups)


def copy_history(template: History, base: Path) -> History:
    origin = base / "origin.git"
    shutil.copytree(template.origin, origin, symlinks=True)
    root = base / "project"
    shutil.copytree(template.project.root, root, symlinks=True)
    project = Project(root)
    project.git("remote", "set-url", "origin", str(origin))
    return History(project, origin, template.backups)


@pytest.fixture(scope="session")
def history_template(project_template: Path, tmp_path_factory: pytest.TempPathFactory,
                     worker_id: str) -> History:
    """Read-only: take a copy (copy_history)."""
    shared = shared_tmp(tmp_path_factory, worker_id)
    base, made = shared / "history", shared / "history.json"
    with FileLock(shared / "history.lock"):
        if not made.exists():
            shutil.rmtree(base, ignore_errors=True)  # a build that failed half-way
            base.mkdir()
            made.write_text(json.dumps(build_history(base, project_template).backups))
    return History(Project(base / "project"), base / "origin.git", json.loads(made.read_text()))
