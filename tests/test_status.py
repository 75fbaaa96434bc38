"""`hdversion status`: what changed since the latest backup, missing artifacts, each remote,
and `--max-age` for monitoring (exit 8). Old backups are made with the backup's clock set
back (in-process), so no test sleeps; the status's own `now` is the API's parameter."""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from hdversion import api
from hdversion.cli import render_inspect
from hdversion.errors import ExitCode, PartialError, RemoteError, StaleBackupError
from hdversion.model.catalog import Backup
from hdversion.model.durations import Duration
from hdversion.model.manifest import Kind
from hdversion.model.timestamps import format_timestamp, tag_for
from hdversion.util.clock import now_utc
from tests.conftest import Project

DAY = Duration(hours=26)


@pytest.fixture(scope="module")
def aged(project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project whose only backup is two days old."""
    root = tmp_path_factory.mktemp("status") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("hdversion.ops.backup.now_utc", lambda: now_utc() - timedelta(days=2))
        api.backup(repo=root, message="two days ago")
    return Project(root)


@pytest.fixture
def copy(aged: Project, tmp_path: Path) -> Project:
    root = tmp_path / "project"
    shutil.copytree(aged.root, root, symlinks=True)
    return Project(root)


def only_backup(project: Project) -> Backup:
    catalog, _, _ = api.list_backups(repo=project.root, offline=True)
    [backup] = catalog.backups
    return backup


def forge(project: Project, backup: Backup, timestamp: str, kind: Kind) -> str:
    """Another tag on the same backup commit and data, dated `timestamp`."""
    manifest = replace(backup.manifest, timestamp=timestamp, kind=kind)
    project.git("tag", "-a", "--cleanup=verbatim", "-m", manifest.to_json(),
                tag_for(timestamp), backup.commit)
    return tag_for(timestamp)


def test_no_backup_at_all_is_stale(project: Project) -> None:
    result = api.status(repo=project.root, max_age=DAY)
    assert result.latest is None and result.newest_complete is None and result.stale
    assert isinstance(result.failure(), StaleBackupError)
    assert api.status(repo=project.root).failure() is None  # without --max-age: a report
    cli = project.cli("status", "--max-age", "26h")
    assert cli.returncode == 8 == int(ExitCode.STALE), cli.stderr
    assert "no backups yet" in cli.stdout and "no backup is complete" in cli.stderr



def test_max_age_takes_minutes_and_months_but_no_bare_m(project: Project) -> None:
    # `30m` meant 30 months here and 30 minutes to `schedule --every`: neither is guessed.
    refused = project.cli("status", "--max-age", "30m")
    assert refused.returncode == 2, refused.stderr
    assert "ambiguous duration '30m'" in refused.stderr
    assert "write 30min for minutes or 30mo for months" in refused.stderr
    project.cli("backup", check=True)
    for spelt in ("90min", "1mo"):
        fresh = project.cli("status", "--max-age", spelt, "--offline")
        assert fresh.returncode == 0, fresh.stderr
        assert f"OK (within {spelt})" in fresh.stdout


def test_max_age_decides_the_exit_code(aged: Project) -> None:
    old = only_backup(aged)
    stale = aged.cli("status", "--max-age", "26h")
    assert stale.returncode == 8, stale.stderr
    assert f"{old.tag}, older than 26h" in stale.stderr
    fresh = aged.cli("status", "--max-age", "3d", "--json")
    assert fresh.returncode == 0, fresh.stderr
    assert len(fresh.stdout.splitlines()) == 1
    data = json.loads(fresh.stdout)
    assert (data["latest"], data["newest_complete"], data["stale"]) == (old.tag, old.tag, False)
    assert data["remotes"] == [{"remote": "local", "required": True, "checked": True,
                                "reachable": True, "error": None, "latest_complete": old.tag}]
    assert data["changes"]["unchanged"] and data["missing"] == []
    # The same backup two more days on: stale.
    later = api.status(repo=aged.root, max_age=Duration(days=3), now=now_utc() + timedelta(days=2))
    assert later.stale and isinstance(later.failure(), StaleBackupError)


def test_max_age_takes_seconds(aged: Project) -> None:
    old = only_backup(aged)
    stale = aged.cli("status", "--max-age", "30s", "--offline")
    assert stale.returncode == 8, stale.stderr
    assert f"{old.tag}, older than 30s" in stale.stderr
    fresh = aged.cli("status", "--max-age", "259200s", "--offline")  # 3 days
    assert fresh.returncode == 0, fresh.stderr
    assert "OK (within 259200s)" in fresh.stdout


def test_changes_missing_and_backups_that_must_not_count(
        copy: Project, capsys: pytest.CaptureFixture[str]) -> None:
    old = only_backup(copy)
    # Neither a tag dated in the future nor a safety backup may make monitoring green.
    forge(copy, old, "20991231_235959", "backup")
    forge(copy, old, format_timestamp(now_utc()), "safety")
    (copy.root / "models" / "keras_mlp_model.h5").unlink()
    copy.damage("params.yaml", b"seed: 9\n")
    result = api.status(repo=copy.root, max_age=DAY)
    assert result.latest == old and result.newest_complete == old and result.stale
    assert result.missing == ("models/keras_mlp_model.h5",)
    assert result.changes is not None
    changes = {f.path: f.change for f in result.changes.comparison.files}
    assert changes == {"models/keras_mlp_model.h5": "removed", "params.yaml": "changed"}
    assert [(p.key, p.old, p.new) for p in result.changes.comparison.params] == [
        ("seed", 1, 9)]
    render_inspect.status_summary(api.status(repo=copy.root, offline=True))
    out = capsys.readouterr().out
    assert "removed  models/keras_mlp_model.h5" in out
    assert "seed  1 → 9" in out and "not checked (--offline)" in out


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_remote_is_reported_never_taken_as_fine(
        copy: Project, capsys: pytest.CaptureFixture[str]) -> None:
    old = only_backup(copy)
    # What `dvc remote add` + `dvc remote modify endpointurl` write (without two DVC runs).
    with (copy.root / ".dvc" / "config").open("a") as config:
        config.write(f"['remote \"offsite\"']\n    url = s3://bucket/store\n"
                     f"    endpointurl = http://127.0.0.1:{closed_port()}\n")
    result = api.status(repo=copy.root, max_age=Duration(days=3))
    offsite = next(r for r in result.remotes if r.remote == "offsite")
    assert not offsite.required and "cannot reach remote 'offsite'" in (offsite.error or "")
    # Not a remote every backup must reach: not stale, but the status is not clean (7).
    assert not result.stale and isinstance(result.failure(), RemoteError)
    shown = api.show(old.tag, repo=copy.root)
    assert isinstance(shown.failure(), PartialError)
    assert [(h.remote, h.reachable) for h in shown.remotes] == [("local", True),
                                                                 ("offsite", False)]
    partial = shown.failure()
    assert partial is not None and partial.exit_code == 3
    render_inspect.show_summary(shown)
    assert "offsite: unreachable: cannot reach" in capsys.readouterr().out
    # Once backups must reach it, a backup it does not hold is not complete: stale (8).
    settings = copy.root / "config" / "config.yaml"
    settings.write_text(settings.read_text() + "  remotes: [offsite]\n")
    required = api.status(repo=copy.root, max_age=Duration(days=3))
    assert required.newest_complete is None and required.stale
    failure = required.failure()
    assert isinstance(failure, StaleBackupError) and "unreadable: offsite" in failure.message
