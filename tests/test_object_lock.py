"""S3 Object Lock on moto's real server (a bucket created with Object Lock, hence versioned):
every object, manifest and blob hdversion writes carries the remote's retention whatever
the command (backup, sync, copy, verify --repair); prune never deletes a locked version,
reports what stays and until when, and sweeps it on a later run once the date has passed;
`remote test` reports versioning, lock and retention; `--lock` where it cannot hold is
refused. Azure and GCS: what their emulators report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cloud_fixtures import new_bucket_name
from tests.conftest import Project
from tests.storage_servers import S3Server, StorageServer
from tests.test_cloud import MODEL, PREFIX, configure, write_credentials
from tests.test_prune_cloud import keys_of, objects_of
from tests.test_restore import backup

pytestmark = pytest.mark.cloud
Json = dict[str, Any]


def locked_bucket(server: S3Server) -> str:
    """A bucket with Object Lock (S3 turns versioning on with it). Left to moto's memory:
    its locked versions cannot be deleted, which is the point."""
    name = new_bucket_name()
    server.client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def add_locked_remote(project: Project, server: S3Server, bucket: str, *lock: str
                      ) -> Any:
    public, secrets = server.dvc_remote_config(bucket)
    write_credentials(project.root, secrets)  # the bucket is asked before .dvc/config changes
    return project.cli("remote", "add", "s3", server.url_for(bucket, PREFIX),
                       *(f"-o{k}={v}" for k, v in public.items()), *lock)


def server_now(server: S3Server, bucket: str) -> datetime:
    """The server's clock (its Date header, whole seconds)."""
    head = server.client.head_bucket(Bucket=bucket)
    return parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])


def retention(server: S3Server, bucket: str, key: str, version: str | None = None
              ) -> tuple[str | None, datetime | None]:
    head = server.client.head_object(Bucket=bucket, Key=key,
                                     **({"VersionId": version} if version else {}))
    return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")


def assert_all_locked(server: S3Server, bucket: str, earliest: datetime,
                      latest: datetime) -> list[str]:
    """Every key under the remote (objects, manifests, blobs, the lock record) is locked
    in governance mode until a date within [earliest, latest]."""
    keys = server.list_keys(bucket, PREFIX + "/")
    assert any("/files/md5/" in k for k in keys) and any(k.endswith("manifest.json")
                                                           for k in keys)
    for key in keys:
        mode, until = retention(server, bucket, key)
        assert mode == "GOVERNANCE", key
        assert until is not None and earliest <= until <= latest, (key, until)
    return keys


def versions(server: S3Server, bucket: str, prefix: str) -> tuple[list[Json], list[Json]]:
    listed = server.client.list_object_versions(Bucket=bucket, Prefix=prefix)
    return listed.get("Versions", []), listed.get("DeleteMarkers", [])


@pytest.fixture
def s3(s3_server: S3Server) -> S3Server:
    s3_server.start()
    return s3_server


def test_every_write_path_locks_what_it_writes(project: Project, s3: S3Server) -> None:
    bucket = locked_bucket(s3)
    before = server_now(s3, bucket)
    added = add_locked_remote(project, s3, bucket, "--lock", "1d")
    assert added.returncode == 0, added.stderr
    first = backup(project, "--cloud", "--storage", "s3")
    after = server_now(s3, bucket) + timedelta(seconds=1)
    keys = assert_all_locked(s3, bucket, before + timedelta(days=1),
                             after + timedelta(days=1, seconds=1))
    assert f"{PREFIX}/hdversion/object-lock.json" in keys

    # sync: a backup made to the local remote only, then pushed.
    project.retrain(7)
    second = backup(project)
    result = project.cli("sync", "--json", "--storage", "s3")
    assert result.returncode == 0, result.stderr
    # copy: an object hidden from the bucket's listing (a delete marker), put back from the
    # local remote.
    md5 = next(iter(objects_of(second) - objects_of(first)))
    s3.delete_object(bucket, keys_of({md5}).pop())
    result = project.cli("copy", "--json", "--from", "local", "--to", "s3")
    assert result.returncode == 0, result.stderr
    # verify --repair: a damaged object (a new, unlocked version) replaced.
    entry = next(f for f in first["files"] if f["path"] == MODEL)
    s3.corrupt_object(bucket, keys_of({entry["md5"]}).pop(), b"\0" * entry["size"])
    result = project.cli("verify", "--all", "--storage", "s3", "--read-data", "--repair")
    assert result.returncode == 0, (result.stdout, result.stderr)
    after = server_now(s3, bucket) + timedelta(seconds=1)
    keys = assert_all_locked(s3, bucket, before + timedelta(days=1),
                             after + timedelta(days=1, seconds=1))
    assert keys_of(objects_of(first) | objects_of(second)) <= set(keys)
    # The writers' leases (hdversion/locks/) carry no retention and leave nothing behind: no
    # version, no delete marker (a plain DELETE on a versioned bucket would leave both).
    assert versions(s3, bucket, f"{PREFIX}/hdversion/locks/") == ([], [])


def shorten_locks(server: S3Server, bucket: str, keys: list[str]) -> datetime:
    """As the bucket's admin may (governance mode): every version of these keys locked only
    until a second from now, by the server's clock."""
    until = server_now(server, bucket) + timedelta(seconds=1)
    for key in keys:
        for version in versions(server, bucket, key)[0]:
            if version["Key"] == key:
                server.client.put_object_retention(
                    Bucket=bucket, Key=key, VersionId=version["VersionId"],
                    Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
                    BypassGovernanceRetention=True)
    return until


def wait_for_server_clock(server: S3Server, bucket: str, moment: datetime) -> None:
    """Until the server's clock has passed `moment` (polled; bounded)."""
    for _ in range(600):
        if server_now(server, bucket) > moment + timedelta(seconds=1):
            return
        time.sleep(0.1)
    raise AssertionError(f"the server's clock never reached {moment}")


def test_prune_leaves_locked_objects_reports_them_and_sweeps_them_later(
        project: Project, s3: S3Server) -> None:
    bucket = locked_bucket(s3)
    assert add_locked_remote(project, s3, bucket, "--lock", "1d").returncode == 0
    # Neither is what the branch holds (what it names is never garbage).
    project.retrain(2)
    a1 = backup(project, "--cloud", "--storage", "s3")
    project.retrain(3)
    a2 = backup(project, "--cloud", "--storage", "s3")
    only_a1 = sorted(keys_of(objects_of(a1) - objects_of(a2)))
    assert only_a1
    manifest = f"{PREFIX}/hdversion/backups/{a1['timestamp']}/manifest.json"

    args = ("prune", "--keep-last", "1", "--grace", "0", "--cloud", "--storage", "s3",
            "--offline")
    result = project.cli(*args, "--json")
    assert result.returncode == 0, (result.stdout, result.stderr)
    [cloud] = [s for s in json.loads(result.stdout)["stores"] if s["store"] == "s3"]
    assert (cloud["objects"], cloud["deleted"], cloud["locked"]) == (len(only_a1), 0,
                                                                    len(only_a1))
    assert cloud["bytes"] == 0  # nothing freed
    latest = max(retention(s3, bucket, key)[1] for key in only_a1)  # type: ignore[type-var]
    assert cloud["locked_until"] == latest.astimezone(UTC).isoformat(timespec="seconds")
    # Nothing deleted, nothing hidden: the objects are listed, no delete marker among them.
    assert set(only_a1) <= set(s3.list_keys(bucket, PREFIX + "/"))
    assert versions(s3, bucket, f"{PREFIX}/files/")[1] == []
    # The pruned backup's manifest is hidden (the remote no longer lists the backup), its
    # locked version kept.
    assert manifest not in s3.list_keys(bucket, PREFIX + "/")
    assert [v["Key"] for v in versions(s3, bucket, manifest)[0]] == [manifest]

    again = project.cli(*args)
    assert again.returncode == 0, again.stderr
    assert (f"s3: {len(only_a1)} object(s) locked until "
            f"{latest.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, swept on a later run"
            in again.stdout), again.stdout

    # Once their dates have passed (shortened by the admin, then waited for), the next prune
    # deletes every version of them, for good.
    folder = f"{PREFIX}/hdversion/backups/{a1['timestamp']}/"
    until = shorten_locks(s3, bucket, [*only_a1, *(v["Key"] for v in
                                                   versions(s3, bucket, folder)[0])])
    wait_for_server_clock(s3, bucket, until)
    result = project.cli(*args, "--json")
    assert result.returncode == 0, (result.stdout, result.stderr)
    [cloud] = [s for s in json.loads(result.stdout)["stores"] if s["store"] == "s3"]
    assert (cloud["deleted"], cloud["locked"], cloud["locked_until"]) == (len(only_a1), 0,
                                                                         None)
    for key in only_a1:
        assert versions(s3, bucket, key) == ([], [])
    assert versions(s3, bucket, folder) == ([], [])
    # a2 is whole and still locked.
    for key in keys_of(objects_of(a2)):
        assert retention(s3, bucket, key)[0] == "GOVERNANCE"


def test_a_backup_reusing_objects_locks_them_as_long_as_what_it_writes(
        project: Project, s3: S3Server) -> None:
    """An object another backup wrote is this one's too: its lock is lengthened to this
    backup's date (a month-old lock would otherwise free it long before this backup's)."""
    bucket = locked_bucket(s3)
    assert add_locked_remote(project, s3, bucket, "--lock", "1d").returncode == 0
    project.retrain(2)
    a1 = backup(project, "--cloud", "--storage", "s3")
    # a1's locks about to end, as an old backup's are.
    soon = shorten_locks(s3, bucket, sorted(keys_of(objects_of(a1))))
    project.retrain(3)
    before = server_now(s3, bucket)
    a2 = backup(project, "--cloud", "--storage", "s3")
    reused = keys_of(objects_of(a1) & objects_of(a2))
    assert reused and keys_of(objects_of(a1) - objects_of(a2))
    for key in reused:
        mode, until = retention(s3, bucket, key)
        assert mode == "GOVERNANCE" and until is not None
        assert until >= before + timedelta(days=1), key
    # What a2 does not use keeps the lock it had: only lengthened where a backup needs it.
    for key in keys_of(objects_of(a1) - objects_of(a2)):
        assert retention(s3, bucket, key)[1] == soon


def test_on_a_bucket_with_a_default_retention_the_leases_still_go(
        project: Project, s3: S3Server) -> None:
    """A bucket that locks every new object for a week by itself would lock the leases too,
    and a prune's undeletable exclusive lease would then hold every backup off for 30
    minutes: leases carry an explicit retention of a second instead, and go with their
    run, every version."""
    bucket = locked_bucket(s3)
    s3.client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 7}}})
    assert add_locked_remote(project, s3, bucket).returncode == 0
    project.retrain(2)
    a1 = backup(project, "--cloud", "--storage", "s3")
    project.retrain(3)
    backup(project, "--cloud", "--storage", "s3")
    # The data the bucket locks by default stays locked for its week.
    key = sorted(keys_of(objects_of(a1)))[0]
    assert retention(s3, bucket, key)[0] == "GOVERNANCE"
    result = project.cli("prune", "--keep-last", "1", "--grace", "0", "--cloud",
                         "--storage", "s3", "--offline", "--json")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert versions(s3, bucket, f"{PREFIX}/hdversion/locks/") == ([], [])
    project.retrain(4)
    assert backup(project, "--cloud", "--storage", "s3")["tag"]
    assert versions(s3, bucket, f"{PREFIX}/hdversion/locks/") == ([], [])


def test_remote_test_reports_versioning_and_lock(project: Project, s3: S3Server,
                                                 bucket_factory: Callable[[StorageServer],
                                                                          str]) -> None:
    bucket = locked_bucket(s3)
    s3.client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 7}}})
    assert add_locked_remote(project, s3, bucket, "--lock", "30d", "--lock-mode",
                             "compliance").returncode == 0
    result = project.cli("remote", "test", "s3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lock"] == {
        "kind": "s3", "versioning": "Enabled", "object_lock": True,
        "default_retention": "compliance 7 days",
        "lock": {"retention": "30d", "mode": "compliance"}, "unsupported": None}
    text = project.cli("remote", "test", "s3").stdout
    for line in ("versioning: enabled", "object lock: enabled",
                 "default retention: compliance 7 days",
                 "hdversion locks each write for 30d (compliance)"):
        assert line in text, text

    plain = bucket_factory(s3)
    configure(project, s3, plain)
    result = project.cli("remote", "test", "s3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lock"] == {
        "kind": "s3", "versioning": None, "object_lock": False, "default_retention": None,
        "lock": None, "unsupported": None}
    assert "object lock: not enabled" in project.cli("remote", "test", "s3").stdout


@pytest.mark.parametrize("backend", ["azure", "gcs"])
def test_remote_test_says_what_azure_and_gcs_report(
        project: Project, backend: str, request: pytest.FixtureRequest,
        bucket_factory: Callable[[StorageServer], str]) -> None:
    server: StorageServer = request.getfixturevalue(f"{backend}_server")
    bucket = bucket_factory(server)
    configure(project, server, bucket)
    result = project.cli("remote", "test", server.name, "--json")
    assert result.returncode == 0, result.stderr
    lock = json.loads(result.stdout)["lock"]
    assert lock["kind"] == {"azure": "azure", "gcs": "gs"}[backend]
    assert lock["object_lock"] in (False, None) and lock["lock"] is None
    assert "--lock is S3's" in lock["unsupported"]
    if backend == "azure":
        # Azurite sends the container's immutability flags (both false): read, not lost to
        # an unawaited call of the SDK's asyncio client.
        assert lock["object_lock"] is False, lock
        assert "reported no immutability flags" not in lock["unsupported"]


def test_lock_where_it_cannot_hold_is_refused(project: Project, s3: S3Server,
                                              bucket_factory: Callable[[StorageServer], str],
                                              tmp_path: Path) -> None:
    config = (project.root / ".dvc" / "config").read_text()
    for args, code, message in [
        (("nas", str(tmp_path / "nas"), "--lock", "30d"), 2,
         "--lock is for an S3 bucket with Object Lock"),
        (("azure", "azure://c/p", "--lock", "30d"), 2,
         "--lock is for an S3 bucket with Object Lock"),
        (("s3", "s3://b/p", "--lock", "0d"), 2, "a lock needs a retention longer than 0"),
        (("s3", "s3://b/p", "--lock", "30m"), 2, "ambiguous duration"),
        (("s3", "s3://b/p", "--lock", "30d", "--lock-mode", "strict"), 2,
         "unknown lock mode 'strict'"),
        (("s3", "s3://b/p", "--lock-mode", "compliance"), 2,
         "--lock-mode needs --lock DURATION"),
        (("nas", str(tmp_path / "nas"), "-o", "lock=30d"), 2,
         "--lock is for an S3 bucket with Object Lock"),
    ]:
        result = project.cli("remote", "add", *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    plain = bucket_factory(s3)
    result = add_locked_remote(project, s3, plain, "--lock", "30d")
    assert result.returncode == 7, result.stderr
    assert "has no Object Lock" in result.stderr, result.stderr
    # Nothing was written: neither the remote nor a record in the bucket.
    # (DVC's config writer may end an empty file with a newline.)
    assert (project.root / ".dvc" / "config").read_text().strip() == config.strip()
    assert s3.list_keys(plain) == []
