"""copy: the objects of backups from one remote to another, each re-hashed on the way; a
damaged one is reported and not copied."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.storage_servers import StorageServer
from tests.test_cloud import MODEL, PREFIX, configure
from tests.test_unattended_cloud import expected_keys, keys


@pytest.mark.cloud
def test_copy_replicates_what_the_target_lacks_re_hashing_it(
        project: Project, s3_server: StorageServer, gcs_server: StorageServer,
        bucket_factory: Callable[[StorageServer], str], tmp_path: Path) -> None:
    s3_bucket, gcs_bucket = bucket_factory(s3_server), bucket_factory(gcs_server)
    configure(project, s3_server, s3_bucket)
    public, _ = gcs_server.dvc_remote_config(gcs_bucket)
    assert project.cli("remote", "add", "gcp", gcs_server.url_for(gcs_bucket, PREFIX),
                       *[f"-o{k}={v}" for k, v in public.items()]).returncode == 0
    first = json.loads(project.cli("backup", "--json", "--storage", "s3", check=True).stdout)
    project.retrain(2)
    second = json.loads(project.cli("backup", "--json", "--storage", "s3",
                                    check=True).stdout)
    # The copy must come from the bucket: nothing in the cache.
    shutil.rmtree(project.root / ".dvc" / "cache" / "files")
    # One object of the first backup is damaged in the source (same size).
    model = next(f["md5"] for f in first["files"] if f["path"] == MODEL)
    key = f"{PREFIX}/files/md5/{model[:2]}/{model[2:]}"
    data = s3_server.read_object(s3_bucket, key)
    s3_server.corrupt_object(s3_bucket, key, bytes([data[0] ^ 0xFF]) + data[1:])

    result = project.cli("copy", "--from", "s3", "--to", "gcp", "--json")
    assert result.returncode == 5, result.stderr
    report = json.loads(result.stdout)
    assert report["damaged"] == [first["tag"]]
    assert report["copied"] == {second["tag"]: {"name": "gcp", "ok": True, "detail": ""}}
    assert f"{PREFIX}/files/md5/{model[:2]}/{model[2:]}" not in gcs_server.list_keys(gcs_bucket)
    assert expected_keys(second) <= keys(gcs_server, gcs_bucket)
    # Copied again: nothing to do. Then restored from the target alone, verified.
    again = json.loads(project.cli("copy", "--from", "s3", "--to", "gcp", "--json",
                                   second["timestamp"]).stdout)
    assert again["already"] == [second["tag"]] and again["copied"] == {}
    shutil.rmtree(project.root / ".dvc" / "cache" / "files")
    shutil.rmtree(project.root / "backups")
    restored = project.cli("restore", "--json", "--remote", "gcp", "-t", second["timestamp"],
                           "--target", str(tmp_path / "out"))
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["verified"]
