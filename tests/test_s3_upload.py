"""Uploads to S3 through s3transfer's threads (hdversion/datastore/s3_upload.py), against
moto on 127.0.0.1: the options a user set on the remote, or in the AWS files, reach every
upload, and an option the uploader cannot pass on leaves the upload to s3fs."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hdversion.util.hashing import md5_file
from tests.conftest import Project, run_cli
from tests.storage_servers import S3_REGION, StorageServer

ON_S3 = pytest.mark.parametrize("cloud_backend", ["s3"], indirect=True)
PREFIX = "hdv"
MODEL = "models/keras_mlp_model.h5"


def add_remote(project: Project, server: StorageServer, bucket: str, *options: str,
               secrets: bool = True) -> None:
    public, credentials = server.dvc_remote_config(bucket)
    run_cli(project.root, "remote", "add", server.name, server.url_for(bucket, PREFIX),
            *[f"-o{key}={value}" for key, value in public.items()], *options, check=True)
    path = project.root / "config" / "cloud_credentials.json"
    path.write_text(json.dumps({"aws_access_key_id": credentials["access_key_id"],
                                "aws_secret_access_key": credentials["secret_access_key"]}
                               if secrets else {}))
    path.chmod(0o600)
    with (project.root / ".gitignore").open("a") as ignore:
        ignore.write("config/cloud_credentials.json\n")


def aws_files(tmp_path: Path, server: StorageServer, bucket: str, requests_at_once: int
              ) -> dict[str, str]:
    """The environment of a run whose credentials are only in the profile `hdv-tests` of
    the shared credentials file, with 5 MiB parts from 5 MiB on in the config file's `s3`
    section for that profile. The caller unlinks `credentials` (no secret left behind)."""
    _, credentials = server.dvc_remote_config(bucket)
    (tmp_path / "credentials").write_text(
        "[hdv-tests]\n"
        f"aws_access_key_id = {credentials['access_key_id']}\n"
        f"aws_secret_access_key = {credentials['secret_access_key']}\n")
    (tmp_path / "config").write_text(
        "[profile hdv-tests]\n"
        f"region = {S3_REGION}\n"
        "s3 =\n"
        "    multipart_threshold = 5MB\n"
        "    multipart_chunksize = 5MB\n"
        f"    max_concurrent_requests = {requests_at_once}\n")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "AWS_CONFIG_FILE": str(tmp_path / "config")}


def md5_file_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def backup(project: Project, server: StorageServer,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    result = project.cli("backup", "--json", "--cloud", f"--storage={server.name}", env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["complete"] is True and data["remotes"][0]["ok"], data
    return data


def uploaded(data: dict[str, Any]) -> dict[str, str]:
    """Key -> md5 of every object a backup needs (its files; a directory's listing too)."""
    return {f"{PREFIX}/files/md5/{f['md5'][:2]}/{f['md5'][2:]}": f["md5"]
            for f in data["files"] if f["store"] == "dvc"}


@pytest.mark.cloud
@ON_S3
def test_the_remote_s_encryption_and_acl_reach_every_upload(
        project: Project, cloud_backend: StorageServer, bucket: str) -> None:
    add_remote(project, cloud_backend, bucket, "-osse=AES256", "-oacl=public-read")
    data = backup(project, cloud_backend)
    client = cloud_backend.client  # type: ignore[attr-defined]
    for key in uploaded(data):
        head = client.head_object(Bucket=bucket, Key=key)
        assert head.get("ServerSideEncryption") == "AES256", key
        grants = client.get_object_acl(Bucket=bucket, Key=key)["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers")
                   and g["Permission"] == "READ" for g in grants), (key, grants)


@pytest.mark.cloud
@ON_S3
def test_a_profile_and_the_aws_config_file_s_s3_settings_are_used(
        project: Project, cloud_backend: StorageServer, bucket: str, tmp_path: Path) -> None:
    """Credentials only in a named profile of the shared credentials file, and the config
    file's `s3` transfer settings for that profile: 5 MiB parts from 5 MiB on, so a 12 MiB
    file goes in three parts (ETag "...-3"); an upload without the profile is refused."""
    env = aws_files(tmp_path, cloud_backend, bucket, requests_at_once=2)
    add_remote(project, cloud_backend, bucket, "-oprofile=hdv-tests", secrets=False)
    project.damage(MODEL, os.urandom(12 * 1024 * 1024))
    try:
        data = backup(project, cloud_backend, env=env)
    finally:
        (tmp_path / "credentials").unlink()  # no secret left behind (cloud_fixtures)
    model = next(f for f in data["files"] if f["path"] == MODEL)
    client = cloud_backend.client  # type: ignore[attr-defined]
    key = f"{PREFIX}/files/md5/{model['md5'][:2]}/{model['md5'][2:]}"
    assert client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"').endswith("-3")
    assert md5_file(project.root / MODEL)[0] == model["md5"]
    for other in uploaded(data):
        client.head_object(Bucket=bucket, Key=other)  # every object there


def test_an_option_the_uploader_cannot_pass_on_leaves_the_upload_to_s3fs() -> None:
    """Nothing the user set is dropped on the way: an unknown request argument, an aiohttp
    connector option or a caller's own session mean no uploader (s3fs uploads instead)."""
    import aiobotocore.session
    import s3fs

    from hdversion.datastore.s3_upload import s3_uploader

    def fs(**options: object) -> s3fs.S3FileSystem:
        return s3fs.S3FileSystem(key="k", secret="s", skip_instance_cache=True,
                                 client_kwargs={"endpoint_url": "http://127.0.0.1:9",
                                                "region_name": S3_REGION}, **options)

    plain = s3_uploader(fs(s3_additional_kwargs={"ServerSideEncryption": "AES256"}), 8,
                        {"max_concurrency": 2, "multipart_chunksize": 5 * 2**20})
    assert plain is not None
    assert plain.extra_args == {"ServerSideEncryption": "AES256"}
    assert plain.transfer == {"max_request_concurrency": 2, "multipart_chunksize": 5 * 2**20}
    assert plain.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert plain.client.meta.region_name == S3_REGION
    assert plain.client.meta.config.max_pool_connections >= 8
    assert s3_uploader(fs(requester_pays=True), 8, None).extra_args == {  # type: ignore[union-attr]
        "RequestPayer": "requester"}
    assert s3_uploader(fs(s3_additional_kwargs={"NotAnUploadArgument": "x"}), 8, None) is None
    assert s3_uploader(fs(config_kwargs={"connector_args": {"limit": 1}}), 8, None) is None
    assert s3_uploader(fs(session=aiobotocore.session.AioSession()), 8, None) is None
    assert s3_uploader(fs(), 8, {"a_new_transfer_setting": 1}) is None


@pytest.mark.cloud
@ON_S3
def test_a_server_gone_in_the_middle_of_the_upload_is_a_remote_error_then_sync_completes(
        project: Project, cloud_backend: StorageServer, bucket: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server stops once the first file is handed to the threads: the push fails as
    "cannot reach" (RemoteError, not a traceback or a hang), the local backup stands, and a
    sync after the server is back leaves every object whole in the bucket."""
    from hdversion.datastore.s3_requests import S3Requests
    from hdversion.datastore.s3_upload import S3Uploader
    from hdversion.errors import RemoteError
    from hdversion.ops.catalog import files_of, read_catalog
    from hdversion.ops.project import Project as HdProject
    from hdversion.ops.push import confirm_pushed, needed_objects

    add_remote(project, cloud_backend, bucket)
    project.cli("backup", check=True)
    hd = HdProject.open(project.root)
    latest = read_catalog(hd.git).backups[0]
    objects = needed_objects(hd, files_of(hd.git, latest), latest.manifest.outputs)
    upload = S3Uploader.upload

    def server_gone_after_the_first(self: S3Uploader, files: Iterable[tuple[Path, str]],
                                    on_chunk: Callable[[int], None] | None = None,
                                    put_args: Callable[[], dict] = dict) -> None:
        def handed() -> Iterator[tuple[Path, str]]:
            for index, item in enumerate(files):
                yield item
                if index == 0:
                    cloud_backend.stop()
        upload(self, handed(), on_chunk, put_args)

    # The project's files are small: sent by one put_object each (`s3_requests`).
    put = S3Requests.put
    sent: list[str] = []

    def put_then_server_gone(self: S3Requests, path: str, data: bytes, args: dict) -> None:
        put(self, path, data, args)
        sent.append(path)
        if len(sent) == 1:
            cloud_backend.stop()
    monkeypatch.setattr(S3Uploader, "upload", server_gone_after_the_first)
    monkeypatch.setattr(S3Requests, "put", put_then_server_gone)
    try:
        with pytest.raises(RemoteError, match="cannot reach"):
            confirm_pushed(hd, latest.commit, objects, cloud_backend.name)
    finally:
        cloud_backend.start()
    monkeypatch.setattr(S3Uploader, "upload", upload)
    monkeypatch.setattr(S3Requests, "put", put)
    assert sent  # the path the small files take was the one cut
    assert project.cli("sync", f"--storage={cloud_backend.name}").returncode == 0
    client = cloud_backend.client  # type: ignore[attr-defined]
    for md5 in objects:
        key = f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}"
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert md5_file_bytes(body) == md5.removesuffix(".dir"), key


@pytest.mark.cloud
@ON_S3
def test_a_profile_that_no_aws_file_has_is_named_before_any_work(
        project: Project, cloud_backend: StorageServer, bucket: str) -> None:
    add_remote(project, cloud_backend, bucket, "-oprofile=no-such-profile", secrets=False)
    result = project.cli("backup", "--json", "--cloud", f"--storage={cloud_backend.name}")
    assert result.returncode == 7, result.stderr
    assert "credentials missing" in result.stderr, result.stderr
    assert result.stderr.count("no-such-profile") == 1, result.stderr
    assert project.git("tag") == ""  # refused before any work
