"""Where the copies are (model/offsite.py, ops/offsite.py): `backup` and `status` say when
every copy of the newest backup is on the workspace's disk, and `status --require-offsite`
fails (exit 8) until one is elsewhere: a bucket (moto's S3 server), or a directory on another
file system (a tmpfs)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hdversion.errors import ExitCode
from hdversion.model.offsite import Copies, Place
from tests.conftest import Project
from tests.storage_servers import StorageServer
from tests.test_cloud import configure
from tests.test_errors import assert_clean_failure

NOTE = "note: no copy off this disk (backups/); add one: hdversion remote add NAME URL\n"


def test_a_local_only_project_is_told_and_require_offsite_fails(project: Project) -> None:
    made = project.cli("backup", check=True)
    assert NOTE in made.stdout, made.stdout
    tag = json.loads(project.cli("list", "--json", check=True).stdout)[0]["tag"]
    as_json = project.cli("backup", "-m", "again", "--json", check=True)
    assert "note:" not in as_json.stdout + as_json.stderr  # a field, not a line, under --json
    assert json.loads(as_json.stdout)["offsite"] is False

    status = project.cli("status", check=True)
    assert NOTE in status.stdout and len(NOTE) <= 81  # one line at 80 columns
    for extra in ((), ("--max-age", "26h"), ("--offline",)):
        refused = project.cli("status", "--require-offsite", *extra)
        assert_clean_failure(refused, int(ExitCode.STALE), "--require-offsite: backup/",
                             "has no copy off this disk (held by: local (backups/))")
        assert "add an offsite remote" in refused.stderr
    in_json = project.cli("status", "--require-offsite", "--json")
    assert in_json.returncode == 8
    record = json.loads(in_json.stdout)
    assert record["offsite"] is False and record["require_offsite"] is True
    assert record["newest_complete"] != tag  # the newest one is judged


@pytest.fixture
def other_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system than the workspace's (a tmpfs), removed after."""
    base = Path("/dev/shm")
    if not (base.is_dir() and os.access(base, os.W_OK)):
        pytest.skip("no /dev/shm to stand for another disk")
    if os.stat(base).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same file system as the test's workspace")
    folder = Path(tempfile.mkdtemp(prefix="hdversion-offsite-", dir=base))
    yield folder / "store"
    for parent, _, _ in os.walk(folder):  # a store's folders may be read-only
        os.chmod(parent, stat.S_IRWXU)
    shutil.rmtree(folder)


def test_a_directory_on_another_file_system_is_offsite(project: Project,
                                                       other_disk: Path) -> None:
    project.cli("remote", "add", "usb", str(other_disk), check=True)
    made = project.cli("backup", "--remote", "usb", check=True)
    assert "note:" not in made.stdout, made.stdout
    assert json.loads(project.cli("status", "--json", check=True).stdout)["offsite"] is True
    fine = project.cli("status", "--require-offsite", "--max-age", "26h")
    assert fine.returncode == 0, fine.stderr
    assert "note:" not in fine.stdout
    # A newer backup that stayed on this disk is what counts, not the older offsite one.
    project.retrain(2)
    project.cli("backup", check=True)
    refused = project.cli("status", "--require-offsite")
    assert_clean_failure(refused, 8, "has no copy off this disk (held by: local (backups/))")
    project.cli("sync", "--remote", "usb", check=True)
    assert project.cli("status", "--require-offsite").returncode == 0
    # Offline, the remotes are not listed: an offsite copy cannot be confirmed.
    offline = project.cli("status", "--require-offsite", "--offline")
    assert_clean_failure(offline, 8, "not checked: usb")
    assert json.loads(project.cli("status", "--offline", "--json").stdout)["offsite"] is None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_offsite_remote_is_not_taken_for_a_copy(project: Project) -> None:
    project.cli("backup", check=True)
    with (project.root / ".dvc" / "config").open("a") as config:
        config.write(f"['remote \"s3\"']\n    url = s3://bucket/store\n"
                     f"    endpointurl = http://127.0.0.1:{closed_port()}\n")
    status = project.cli("status", "--json")
    assert json.loads(status.stdout)["offsite"] is None  # unknown, not "on this disk"
    assert "note:" not in project.cli("status").stdout
    refused = project.cli("status", "--require-offsite")
    assert_clean_failure(refused, 8, "has no copy off this disk", "not checked: s3",
                         "unreadable: s3")


@pytest.mark.parametrize(("holding", "unknown", "offsite"), [
    pytest.param([("local", "backups/", False)], [], False, id="on-this-disk"),
    pytest.param([("local", "backups/", False), ("s3", "s3://b/p", True)], [], True,
                 id="a-bucket"),
    pytest.param([("local", "/mnt/usb/store", True)], [], True, id="local-remote-elsewhere"),
    pytest.param([("local", "backups/", False)], ["s3"], None, id="bucket-unread"),
    pytest.param([("local", "backups/", False), ("nfs", "/mnt/nfs", True)], ["s3"], True,
                 id="one-copy-seen-is-enough"),
])
def test_a_backup_is_offsite_when_any_holder_is(
        holding: list[tuple[str, str, bool]], unknown: list[str], offsite: bool | None
) -> None:
    copies = Copies("backup/20261206_120000", tuple(Place(*p) for p in holding),
                    tuple(unknown))
    assert copies.offsite is offsite
    assert (copies.note() is not None) is (offsite is False)
    assert (copies.missing() is None) is (offsite is True)
    assert Copies().note() is None and Copies().missing() == "no backup has a copy off " \
        "this disk"


def test_a_bucket_is_offsite(project: Project, s3_server: StorageServer,
                             bucket_factory: Callable[[StorageServer], str]) -> None:
    configure(project, s3_server, bucket_factory(s3_server))
    made = project.cli("backup", "--storage", "s3", "--json", check=True)
    assert json.loads(made.stdout)["offsite"] is True
    fine = project.cli("status", "--require-offsite", "--max-age", "26h")
    assert fine.returncode == 0, fine.stderr
    assert "note:" not in fine.stdout
