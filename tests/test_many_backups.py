"""100,000 backups (issue 28), in the long tier: `list --json` shows every one, a tag another
clone pushed after this clone's cache of rendered records was made, and not a tag deleted."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hdversion.model.timestamps import TAG_PREFIX, TIMESTAMP_FORMAT, format_timestamp
from tests.conftest import Project
from tests.test_newest import add_tags

COUNT = 100_000


def _tags(project: Project) -> set[str]:
    return set(project.git("tag", "-l", f"{TAG_PREFIX}*").split())


def _listed(project: Project) -> list[str]:
    # The tags fetched by git itself, as `list` fetches them, without `list`'s 30 s timeout:
    # a fetch that brings one tag among 100,000 took 27 s on this machine under load.
    project.git("fetch", "-q", "--no-tags", "origin",
                f"refs/tags/{TAG_PREFIX}*:refs/tags/{TAG_PREFIX}*")
    result = project.cli("list", "--json", "--offline")
    assert result.returncode == 0, result.stderr
    assert "skipped" not in result.stderr and "warning" not in result.stderr, result.stderr
    return [record["tag"] for record in json.loads(result.stdout)]


@pytest.mark.reliability
@pytest.mark.timeout(3600)  # minutes of git and of validating 100,000 tags on a busy machine
def test_list_shows_every_one_of_100000_backups_and_those_of_another_clone(
        project: Project, tmp_path: Path) -> None:
    project.cli("backup", check=True)
    real = sorted(_tags(project))[-1]
    newest = datetime.strptime(real.removeprefix(TAG_PREFIX), TIMESTAMP_FORMAT)
    add_tags(project, real, [format_timestamp(newest - timedelta(hours=h))
                             for h in range(1, COUNT)])
    # Origin a bare clone (its refs copied at once: a push of 100,000 tags takes minutes).
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(origin)],
                   check=True)
    project.git("remote", "add", "origin", str(origin))

    listed = _listed(project)
    assert len(listed) == COUNT and set(listed) == _tags(project)
    assert listed == sorted(listed, reverse=True)  # newest first

    # Another clone makes a backup tag and pushes it: this clone's cache does not hold it.
    other = Project(tmp_path / "other")
    other.root.mkdir()
    other.git("init", "-q")
    other.git("remote", "add", "origin", str(origin))
    other.git("fetch", "-q", "origin", f"refs/tags/{real}:refs/tags/{real}")
    later = format_timestamp(newest + timedelta(seconds=1))
    add_tags(other, real, [later])
    other.git("push", "-q", "origin", f"refs/tags/{TAG_PREFIX}{later}")
    # And a backup is deleted, here and on origin.
    gone = listed[COUNT // 2]
    project.git("tag", "-d", gone)
    project.git("push", "-q", "origin", f":refs/tags/{gone}")

    again = _listed(project)
    assert len(again) == COUNT and again[0] == TAG_PREFIX + later
    assert gone not in again and set(again) == _tags(project)
