"""Many objects in a bucket (issue 28), counted in requests, never in seconds: a bulk put and
a bulk get send one request per object and a bounded number besides; prune's sweep of
thousands of objects no backup names deletes exactly them, with one listing and S3's bulk
delete (1,000 keys a request), never a request per object."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.moto_requests import others, requests_seen
from bench.s3server import put_keys
from hdversion.datastore.records import open_url
from hdversion.datastore.store import store_of
from hdversion.util.hashing import md5_bytes
from tests.conftest import Project
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX, configure
from tests.test_store_contract import cloud_credentials

pytestmark = pytest.mark.cloud


Buckets = Callable[[StorageServer], str]


def test_a_bulk_put_and_get_send_one_request_per_object(
        s3_server: StorageServer, bucket_factory: Buckets, tmp_path: Path) -> None:
    bucket = bucket_factory(s3_server)
    store = store_of("s3", open_url(s3_server.url_for(bucket, PREFIX), s3_server.endpoint,
                                    cloud_credentials(s3_server)))
    files = tmp_path / "files"
    files.mkdir()
    sent: dict[str, Path] = {}
    for i in range(40):
        data = os.urandom(4096)
        (files / str(i)).write_bytes(data)
        sent[md5_bytes(data)] = files / str(i)
    with requests_seen() as puts:
        store.put_files(sent.items())
    assert puts["PUT"] == len(sent)
    assert others(puts, "PUT") <= 2, puts  # the remote's Object Lock, asked once
    got = tmp_path / "got"
    got.mkdir()
    landed: dict[str, bytes] = {}
    with requests_seen() as gets:
        missing = store.get_files([(md5, got / md5, 4096) for md5 in sent], 8, None,
                                  lambda md5, path: landed.update({md5: path.read_bytes()}))
    assert missing == set()
    assert landed == {md5: path.read_bytes() for md5, path in sent.items()}
    assert gets == Counter({"GET": len(sent)})  # no HEAD, no listing


UNREFERENCED = 5000


@pytest.mark.reliability
def test_prune_sweeps_thousands_of_unreferenced_objects_in_a_few_requests(
        project: Project, s3_server: StorageServer, bucket_factory: Buckets) -> None:
    """A bucket holding a backup's objects and 5,000 objects no backup names (planted
    behind hdversion's back): prune deletes exactly those 5,000, with the bucket listed a
    few times (paged, 1,000 keys a page) and deleted 1,000 keys a request."""
    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket)
    made = project.cli("backup", "--json", "--cloud", "--storage=s3")
    assert made.returncode == 0, made.stderr
    kept = set(s3_server.list_keys(bucket, f"{PREFIX}/files/"))
    backup_md5s = {f["md5"] for f in json.loads(made.stdout)["files"] if f["store"] == "dvc"}
    assert {f"{PREFIX}/files/md5/{m[:2]}/{m[2:]}" for m in backup_md5s} <= kept
    planted = {f"{PREFIX}/files/md5/{name[:2]}/{name[2:]}"
               for name in (os.urandom(16).hex() for _ in range(UNREFERENCED))}
    put_keys(bucket, planted)  # through moto's backend: seconds, not minutes over HTTP
    assert set(s3_server.list_keys(bucket, f"{PREFIX}/files/")) == kept | planted

    with requests_seen() as seen:
        pruned = project.cli("prune", "--json", "--keep", "1", "--grace", "0", "--offline",
                             "--storage=s3")
    assert pruned.returncode == 0, pruned.stderr
    assert set(s3_server.list_keys(bucket, f"{PREFIX}/files/")) == kept
    assert seen["DELETE (bulk)"] == -(-UNREFERENCED // 1000), seen
    # The objects listed for the sweep (6 pages), a few more listings, reads and writes for
    # the leases, the records and the probe (33 in all when written): never one per object.
    assert seen["LIST"] <= 20, seen
    assert seen["GET"] + seen["HEAD"] <= 10, seen
    assert sum(seen.values()) <= 50, seen
