"""Naming a backup, end to end: a prefix, a tag, `latest` through the commands that take a
name today, in a real repository. Backups are made in-process with the backup's clock set
(explicit timestamps, no sleeping); the commands run as a user runs them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hdversion import api
from tests.conftest import Project

TEN = "20261201_100000"
HALF_PAST = "20261201_103000"
NEXT_DAY = "20261202_090000"
FUTURE = "20990101_000000"  # a clock gone wrong, or a forged tag


@pytest.fixture(scope="module")
def named(project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Three backups at known times, and one dated in the future."""
    root = tmp_path_factory.mktemp("names") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    moments = [datetime.strptime(t, "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
               for t in (TEN, HALF_PAST, NEXT_DAY, FUTURE)]
    with pytest.MonkeyPatch.context() as patch:
        for seed, moment in enumerate(moments):
            (root / "params.yaml").write_text(f"seed: {seed}\n")  # each backup its own params
            patch.setattr("hdversion.ops.backup.now_utc", lambda moment=moment: moment)
            api.backup(repo=root, message=f"backup {seed}")
    return Project(root)


@pytest.fixture
def project(named: Project, tmp_path: Path) -> Project:
    root = tmp_path / "project"
    shutil.copytree(named.root, root, symlinks=True)
    return Project(root)


def ok(project: Project, *args: str) -> dict:
    result = project.cli(*args, "--json")
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return json.loads(result.stdout.splitlines()[-1])


def refused(project: Project, code: int, *args: str) -> str:
    result = project.cli(*args)
    assert result.returncode == code, (args, result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    return result.stderr


def test_show_takes_a_prefix_a_tag_and_latest(project: Project) -> None:
    assert ok(project, "show", "20261201_103")["tag"] == f"backup/{HALF_PAST}"
    assert ok(project, "show", "backup/20261202")["tag"] == f"backup/{NEXT_DAY}"
    # latest: the newest backup not dated in the future.
    assert ok(project, "show", "latest")["tag"] == f"backup/{NEXT_DAY}"
    said = refused(project, 2, "show", "20261201_10")
    assert f"'20261201_10' names 2 backups: {HALF_PAST}, {TEN}" in said
    said = refused(project, 4, "show", "1999")
    assert "no backup has a timestamp starting with '1999'" in said
    said = refused(project, 2, "show", "2026*")
    assert "malformed timestamp '2026*'" in said


def test_restore_timestamp_latest_is_the_newest_not_in_the_future(project: Project) -> None:
    restored = ok(project, "restore", "--timestamp", "latest", "--target", "out")
    assert (restored["tag"], restored["timestamp"]) == (f"backup/{NEXT_DAY}", NEXT_DAY)
    assert restored["latest"] is True
    assert (project.root / "out" / "params.yaml").read_text() == "seed: 2\n"
    by_prefix = ok(project, "restore", "-t", "20261201_100", "--target", "older")
    assert by_prefix["tag"] == f"backup/{TEN}" and by_prefix["latest"] is False
    assert (project.root / "older" / "params.yaml").read_text() == "seed: 0\n"


def test_diff_resolves_both_sides(project: Project) -> None:
    compared = ok(project, "diff", "20261201_1030", "latest")
    assert (compared["old"], compared["new"]) == (f"backup/{HALF_PAST}", f"backup/{NEXT_DAY}")
    assert {p["key"]: (p["old"], p["new"]) for p in compared["params"]}["seed"] == (1, 2)
    said = refused(project, 2, "diff", "latest", "20261201")
    assert f"'20261201' names 2 backups: {HALF_PAST}, {TEN}" in said


def test_pin_and_unpin_take_a_prefix(project: Project) -> None:
    pinned = ok(project, "pin", "20261202", "-m", "in production")
    assert (pinned["timestamp"], pinned["pinned"]) == (NEXT_DAY, True)
    assert project.git("for-each-ref", "--format=%(refname)", "refs/hdversion/pins/") \
        == f"refs/hdversion/pins/{NEXT_DAY}\n"
    unpinned = ok(project, "unpin", "backup/20261202_0")
    assert (unpinned["timestamp"], unpinned["pinned"]) == (NEXT_DAY, False)
    said = refused(project, 2, "pin", "2026")
    assert f"'2026' names 3 backups: {NEXT_DAY}, {HALF_PAST}, {TEN}" in said
    assert ok(project, "show", "2099")["tag"] == f"backup/{FUTURE}"  # named, it is there


def test_verify_and_export_take_any_name(project: Project) -> None:
    checked = ok(project, "verify", "latest", "20261201_10300", f"backup/{NEXT_DAY}")
    # The same backup named twice is checked once.
    assert [b["tag"] for b in checked["backups"]] == [f"backup/{NEXT_DAY}",
                                                       f"backup/{HALF_PAST}"]
    exported = ok(project, "export", "20261201_1000", "-o", "ten.tar")
    assert exported["tag"] == f"backup/{TEN}"


def test_a_remote_alone_is_named_the_same_way(project: Project, tmp_path: Path) -> None:
    remote = str(project.root / "backups")
    restored = ok(project, "restore", "--remote-url", remote, "-t", "20261201_103",
                  "--target", str(tmp_path / "from-remote"))
    assert restored["tag"] == f"backup/{HALF_PAST}"
    assert (tmp_path / "from-remote" / "params.yaml").read_text() == "seed: 1\n"
    latest = ok(project, "restore", "--remote-url", remote, "-t", "latest",
                "--target", str(tmp_path / "latest"))
    assert latest["tag"] == f"backup/{NEXT_DAY}" and latest["latest"] is True
    said = refused(project, 2, "restore", "--remote-url", remote, "-t", "20261201",
                   "--target", str(tmp_path / "ambiguous"))
    assert f"'20261201' names 2 backups in {remote}: {HALF_PAST}, {TEN}" in said
    assert not (tmp_path / "ambiguous").exists()
