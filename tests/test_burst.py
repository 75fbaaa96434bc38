"""A burst: several backups in one second take consecutive seconds, so the later ones are
named ahead of the clock. Every rule that compares a backup with now (restore's, verify's and
status's "latest", prune's and auto's "dated in the future") must treat them as present,
while a tag dated far ahead (2099) stays in the future. The clock is frozen, through the
API, so that the burst happens whatever the machine's speed."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hdversion.model.retention import Policy
from tests.conftest import Project

# Every module that reads the clock, loaded before it is frozen.
CLOCK_READERS = ("hdversion.ops.backup", "hdversion.ops.restore", "hdversion.ops.verify",
                 "hdversion.ops.status", "hdversion.ops.auto", "hdversion.ops.prune",
                 "hdversion.ops.export", "hdversion.ops.remote_recovery")

Freeze = Callable[[datetime], None]


@pytest.fixture
def freeze(monkeypatch: pytest.MonkeyPatch) -> Freeze:
    def frozen_at(moment: datetime) -> None:
        for name in CLOCK_READERS:
            importlib.import_module(name)
        for name, module in list(sys.modules.items()):
            if name.startswith("hdversion") and hasattr(module, "now_utc"):
                monkeypatch.setattr(module, "now_utc", lambda: moment)
    return frozen_at


def this_second() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def burst(project: Project, freeze: Freeze, count: int) -> tuple[datetime, list[str]]:
    """`count` backups made at one frozen instant: their tags, oldest first."""
    from hdversion import api

    start = this_second()
    freeze(start)
    tags = []
    for seed in range(count):
        if seed:
            project.retrain(seed + 1)
        tags.append(api.backup(repo=project.root).backup.tag)
    return start, tags


def test_a_burst_takes_consecutive_seconds_ahead_of_the_clock(project: Project,
                                                               freeze: Freeze) -> None:
    start, tags = burst(project, freeze, 3)
    assert tags == [f"backup/{(start + timedelta(seconds=s)):%Y%m%d_%H%M%S}"
                    for s in range(3)]


def test_the_latest_of_a_burst_is_its_last_backup(project: Project, freeze: Freeze) -> None:
    from hdversion import api

    _, tags = burst(project, freeze, 2)
    # Still in the burst's second: the second backup is named one second ahead.
    assert api.restore(repo=project.root, dry_run=True).backup.tag == tags[-1]
    assert [c.backup.tag for c in api.verify(repo=project.root).checks] == [tags[-1]]
    status = api.status(repo=project.root, offline=True)
    assert status.latest is not None and status.latest.tag == tags[-1]


def test_prune_in_the_burst_judges_its_backups_by_the_policy(project: Project,
                                                             freeze: Freeze) -> None:
    from hdversion import api

    start, tags = burst(project, freeze, 3)
    planned = api.prune(repo=project.root, policy=Policy(last=1), dry_run=True, now=start)
    reasons = {d.backup.tag: d.reasons for d in planned.plan.decisions}
    assert reasons == {tags[2]: ("last 1/1",), tags[1]: ("not kept by any rule",),
                       tags[0]: ("not kept by any rule",)}


def test_auto_in_the_burst_prunes_by_the_policy(project: Project, freeze: Freeze) -> None:
    from hdversion import api

    _, tags = burst(project, freeze, 2)
    project.retrain(9)
    done = api.auto(repo=project.root, policy=Policy(last=1))
    assert done.failure() is None and done.prune is not None
    assert set(done.prune.removed_tags) == set(tags)  # its own, 2 s ahead, is "last 1/1"
    assert project.git("tag", "-l", "backup/*").split() == [done.backup.backup.tag]  # type: ignore[union-attr]


def test_a_tag_dated_far_ahead_is_still_in_the_future(project: Project,
                                                      freeze: Freeze) -> None:
    from hdversion import api

    start, [made] = burst(project, freeze, 1)
    message = json.loads(project.git("tag", "-l", "--format=%(contents)",
                                     made).strip().splitlines()[-1])
    for ahead in ("20990101_000000", f"{start + timedelta(hours=1):%Y%m%d_%H%M%S}"):
        message["timestamp"] = ahead
        subprocess.run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", f"backup/{ahead}",
                        made], cwd=project.root, check=True, capture_output=True,
                       input=json.dumps(message).encode())
    assert api.restore(repo=project.root, dry_run=True).backup.tag == made
    planned = api.prune(repo=project.root, policy=Policy(last=1), dry_run=True, now=start)
    assert {d.backup.tag: d.reasons for d in planned.plan.decisions} == {
        "backup/20990101_000000": ("dated in the future",),
        f"backup/{start + timedelta(hours=1):%Y%m%d_%H%M%S}": ("dated in the future",),
        made: ("last 1/1",)}
