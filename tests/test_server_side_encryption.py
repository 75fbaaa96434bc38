"""Server-side encryption at rest on S3 (DVC's remote options `sse`, `sse_kms_key_id`,
`sse_customer_key`), against moto's server on 127.0.0.1: every object, manifest, blob, alias
and lease hdversion writes carries the remote's encryption, on every write path (backup,
sync, copy, verify --repair, alias set), small objects and multipart ones alike.

moto records SSE-S3 and SSE-KMS on the object (a HEAD shows them) but neither records nor
enforces SSE-C: for every mode, each request that writes (PutObject, CreateMultipartUpload,
UploadPart) is read from moto's request recorder and must carry the headers; with SSE-C,
each request that reads an object (GET, HEAD) must carry the key too (S3 refuses it
otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Project
from tests.storage_servers import S3_REGION, StorageServer
from tests.test_cloud import configure
from tests.test_s3_upload import add_remote

ON_S3 = pytest.mark.parametrize("cloud_backend", ["s3"], indirect=True)
PREFIX = "hdv"
MODEL = "models/keras_mlp_model.h5"
# Over boto3's multipart threshold (8 MiB): the model goes in parts.
LARGE = 9 * 1024 * 1024


@dataclass
class Mode:
    name: str
    options: list[str]  # `remote add -o...`
    local: dict[str, str]  # `dvc remote modify --local` (a secret)
    headers: dict[str, str]  # what every write request carries
    head: dict[str, str] = field(default_factory=dict)  # what a HEAD shows (moto records)


def _mode(name: str, server: StorageServer) -> Mode:
    if name == "AES256":
        return Mode(name, ["-osse=AES256"], {},
                    {"x-amz-server-side-encryption": "AES256"},
                    {"ServerSideEncryption": "AES256"})
    if name == "aws:kms":
        import boto3

        kms = boto3.client("kms", endpoint_url=server.endpoint, region_name=S3_REGION,
                           aws_access_key_id=server.access_key_id,  # type: ignore[attr-defined]
                           aws_secret_access_key=server.secret_access_key)  # type: ignore[attr-defined]
        key = kms.create_key()["KeyMetadata"]["Arn"]
        return Mode(name, ["-osse=aws:kms", f"-osse_kms_key_id={key}"], {},
                    {"x-amz-server-side-encryption": "aws:kms",
                     "x-amz-server-side-encryption-aws-kms-key-id": key},
                    {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key})
    customer_key = os.urandom(32)
    digest = base64.b64encode(hashlib.md5(customer_key).digest()).decode()
    return Mode(name, [], {"sse_customer_key": base64.b64encode(customer_key).decode()},
                {"x-amz-server-side-encryption-customer-algorithm": "AES256",
                 "x-amz-server-side-encryption-customer-key-md5": digest})


@contextmanager
def recording(path: Path) -> Iterator[list[dict[str, Any]]]:
    """Every request moto's server (in this process) receives meanwhile, headers included."""
    from moto.moto_api import recorder

    requests: list[dict[str, Any]] = []
    saved = recorder._location
    recorder._location = str(path)
    record = recorder._record_request
    one_at_a_time = threading.Lock()

    def locked(*args: Any, **kwargs: Any) -> None:
        # moto appends each request's line unlocked: requests sent from many threads at
        # once (small objects, one request each) interleaved their lines.
        with one_at_a_time:
            record(*args, **kwargs)

    recorder._record_request = locked
    recorder.reset_recording()
    recorder.start_recording()
    try:
        yield requests
    finally:
        recorder.stop_recording()
        recorder._location = saved
        del recorder._record_request  # the class's own again
        with path.open() as lines:
            requests.extend(json.loads(line) for line in lines if line.strip())
        path.unlink()


def _kind(request: dict[str, Any], bucket: str) -> tuple[str, str] | None:
    """(what the request does, the key) for a request on one object of `bucket`."""
    parts = urlsplit(request["url"])
    path = parts.path.lstrip("/")
    if not path.startswith(f"{bucket}/") or path == f"{bucket}/":
        return None
    key, query, method = path[len(bucket) + 1:], parse_qs(parts.query, True), request["method"]
    if method == "PUT" and "partNumber" in query:
        return "UploadPart", key
    if method == "PUT" and not query and "x-amz-copy-source" not in _lower(request):
        return "PutObject", key
    if method == "PUT" and not query:
        return "CopyObject", key
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload", key
    if method in ("GET", "HEAD") and not query:
        return "Read", key
    return None


def _lower(request: dict[str, Any]) -> dict[str, str]:
    return {name.lower(): str(value) for name, value in request["headers"].items()}


def _cli(project: Project, *args: str) -> dict[str, Any]:
    result = project.cli(*args, "--json")
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.cloud
@ON_S3
@pytest.mark.parametrize("mode_name", ["AES256", "aws:kms", "SSE-C"])
def test_every_object_hdversion_writes_to_s3_carries_the_remote_s_encryption(
        project: Project, cloud_backend: StorageServer, bucket: str, tmp_path: Path,
        mode_name: str) -> None:
    mode = _mode(mode_name, cloud_backend)
    add_remote(project, cloud_backend, bucket, *mode.options)
    for key, value in mode.local.items():
        project.dvc("remote", "modify", "--local", "s3", key, value)
    project.damage(MODEL, os.urandom(LARGE))
    client = cloud_backend.client  # type: ignore[attr-defined]
    with recording(tmp_path / "requests.jsonl") as requests:
        first = _cli(project, "backup", "--cloud", "--storage=s3")
        project.damage(MODEL, os.urandom(LARGE))
        _cli(project, "backup")
        _cli(project, "sync", "--storage=s3")  # backup, then sync
        project.damage(MODEL, os.urandom(1024))
        third = _cli(project, "backup")
        _cli(project, "copy", third["timestamp"], "--from", "local", "--to", "s3")
        model = next(f for f in first["files"] if f["path"] == MODEL)
        lost = f"{PREFIX}/files/md5/{model['md5'][:2]}/{model['md5'][2:]}"
        client.delete_object(Bucket=bucket, Key=lost)
        _cli(project, "verify", first["timestamp"], "--remote", "s3", "--repair")
        settings = project.root / "config" / "config.yaml"
        settings.write_text(settings.read_text() + "  remotes: [s3]\n")
        _cli(project, "alias", "set", "prod", first["timestamp"])  # into every remote

    keys = cloud_backend.list_keys(bucket)
    written = {key for key in keys if not key.startswith(f"{PREFIX}/files/")}
    assert lost in keys
    assert any(k.endswith("/manifest.json") for k in written), written
    assert any("/aliases/" in k for k in written), written
    done: dict[str, set[str]] = {}
    for request in requests:
        kind = _kind(request, bucket)
        if kind is None:
            continue
        done.setdefault(kind[0], set()).add(kind[1])
        headers = _lower(request)
        if kind[0] == "Read" and mode.name != "SSE-C":
            continue
        if kind[0] == "UploadPart" and mode.name != "SSE-C":
            continue  # SSE-S3 and SSE-KMS are the CreateMultipartUpload's
        wanted = ({"x-amz-server-side-encryption-customer-algorithm": "AES256"}
                  if kind[0] == "Read" else mode.headers)
        assert {name: headers.get(name) for name in wanted} == wanted, (kind, request["url"])
    # Every kind of write was seen: small objects, parts, a lease (written, then deleted).
    assert {"PutObject", "CreateMultipartUpload", "UploadPart"} <= done.keys(), done.keys()
    assert set(keys) <= done["PutObject"] | done["CreateMultipartUpload"]
    assert any("/locks/" in key for key in done["PutObject"]), done["PutObject"]
    assert lost in done["CreateMultipartUpload"]  # verify --repair wrote it again
    for key in keys:
        head = client.head_object(Bucket=bucket, Key=key)
        assert {name: head.get(name) for name in mode.head} == mode.head, key


def _at_rest(project: Project, remote: str) -> tuple[dict[str, Any], str]:
    """`remote test`'s encryption: its JSON, and the human report's text."""
    result = project.cli("remote", "test", remote, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["encryption_error"] is None, data
    # Wide enough that a KMS key's ARN is not wrapped.
    text = project.cli("remote", "test", remote, env={"COLUMNS": "400"}, check=True).stdout
    return data["encryption"], text


@pytest.mark.cloud
@ON_S3
def test_remote_test_reports_s3_s_encryption_at_rest(
        project: Project, cloud_backend: StorageServer, bucket: str) -> None:
    client = cloud_backend.client  # type: ignore[attr-defined]
    add_remote(project, cloud_backend, bucket)
    found, text = _at_rest(project, "s3")
    assert found == {"summary": "none", "client_side": False, "server_side": [],
                     "unknown": None}
    assert "encryption at rest: none" in text

    add_remote(project, cloud_backend, bucket, "-osse=AES256")
    found, text = _at_rest(project, "s3")
    assert found["server_side"] == [{"scheme": "AES256", "key": None, "by": "remote"}]
    assert "encryption at rest: server-side (AES256)\n" in text

    kms = _mode("aws:kms", cloud_backend)
    key = kms.head["SSEKMSKeyId"]
    add_remote(project, cloud_backend, bucket, *kms.options)
    found, text = _at_rest(project, "s3")
    assert found["summary"] == f"server-side (aws:kms, key {key})"
    assert f"encryption at rest: server-side (aws:kms, key {key})" in text

    # The bucket's default: what a write that asks for none gets, said as such.
    client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
    add_remote(project, cloud_backend, bucket, "-osse=AES256")
    found, text = _at_rest(project, "s3")
    assert found["summary"] == "server-side (AES256)"
    assert found["server_side"][1] == {"scheme": "aws:kms", "key": key, "by": "bucket default"}
    assert ("the bucket's default, for other writers: server-side (aws:kms, key "
            f"{key}), the bucket's default") in text
    add_remote(project, cloud_backend, bucket)
    found, text = _at_rest(project, "s3")
    assert found["summary"] == f"server-side (aws:kms, key {key}), the bucket's default"

    ssec = _mode("SSE-C", cloud_backend)
    for name, value in ssec.local.items():
        project.dvc("remote", "modify", "--local", "s3", name, value)
    found, text = _at_rest(project, "s3")
    assert found["summary"] == "server-side (SSE-C)"
    assert "encryption at rest: server-side (SSE-C)\n" in text
    assert ssec.local["sse_customer_key"] not in text + json.dumps(found)

    # hdversion's client-side record in the remote: client-side, whatever the server adds.
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/hdversion/encryption/config.json",
                      Body=b"{}", SSECustomerAlgorithm="AES256",
                      SSECustomerKey=base64.b64decode(ssec.local["sse_customer_key"]))
    found, text = _at_rest(project, "s3")
    assert found["client_side"] is True
    assert found["summary"] == "client-side + server-side (SSE-C)"


def test_remote_test_reports_a_directory_s_encryption_at_rest(project: Project) -> None:
    found, text = _at_rest(project, "local")
    assert found["summary"] == "none" and found["server_side"] == []
    assert "encryption at rest: none" in text and "encrypt the disk" in text
    record = project.root / "backups" / "hdversion" / "encryption" / "config.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    found, text = _at_rest(project, "local")
    assert found == {"summary": "client-side", "client_side": True, "server_side": [],
                     "unknown": None}
    assert "encryption at rest: client-side" in text


@pytest.mark.cloud
@pytest.mark.parametrize("backend", ["azure", "gcs"])
def test_remote_test_reports_azure_and_gcs_encryption_at_rest(
        project: Project, backend: str, request: pytest.FixtureRequest,
        bucket_factory: Callable[[StorageServer], str]) -> None:
    """Neither emulator keeps a default key (Azurite drops a container's encryption scope,
    the GCS emulator a bucket's `encryption`): what they say is "none"; the defaults' own
    reading is tested on the SDKs' answers below."""
    server: StorageServer = request.getfixturevalue(f"{backend}_server")
    configure(project, server, bucket_factory(server))
    found, text = _at_rest(project, server.name)
    assert found["summary"] == "none" and found["unknown"] is None, found
    assert "encryption at rest: none" in text


def test_the_defaults_of_azure_gcs_and_s3_are_read_from_the_sdks_answers() -> None:
    from azure.storage.blob import ContainerEncryptionScope, ContainerProperties

    from hdversion.datastore.at_rest import azure_default, gcs_default, s3_default

    scoped = ContainerProperties()
    scoped.encryption_scope = ContainerEncryptionScope(
        default_encryption_scope="patients-cmk", prevent_encryption_scope_override=True)
    assert azure_default(scoped) is not None
    assert azure_default(scoped).text() == (  # type: ignore[union-attr]
        "server-side (encryption scope, key patients-cmk), the bucket's default")
    assert azure_default(ContainerProperties()) is None
    name = "projects/p/locations/eu/keyRings/r/cryptoKeys/k"
    assert gcs_default({"encryption": {"defaultKmsKeyName": name}}).text() == (  # type: ignore[union-attr]
        f"server-side (kms, key {name}), the bucket's default")
    assert gcs_default({"name": "b"}) is None
    assert s3_default({"Rules": [{"ApplyServerSideEncryptionByDefault": {
        "SSEAlgorithm": "AES256"}}]}).text() == (  # type: ignore[union-attr]
        "server-side (AES256), the bucket's default")
    assert s3_default({}) is None


@pytest.mark.cloud
@ON_S3
def test_an_sse_c_key_in_the_credentials_file_reaches_backups_and_the_bucket_alone(
        project: Project, cloud_backend: StorageServer, bucket: str, tmp_path: Path) -> None:
    """The key kept with the other secrets (`aws_sse_customer_key`): every write of a
    backup and every read of a restore from the bucket alone (`--remote-url --credentials`,
    no clone) carries it; a remote that names its own encryption is left with it."""
    mode = _mode("SSE-C", cloud_backend)
    add_remote(project, cloud_backend, bucket)
    credentials = project.root / "config" / "cloud_credentials.json"
    secrets = json.loads(credentials.read_text())
    credentials.write_text(json.dumps({**secrets, "aws_sse_customer_key":
                                       mode.local["sse_customer_key"]}))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    carried = {"x-amz-server-side-encryption-customer-key-md5":
               mode.headers["x-amz-server-side-encryption-customer-key-md5"]}
    with recording(tmp_path / "requests.jsonl") as requests:
        made = _cli(project, "backup", "--cloud", "--storage=s3")
        restored = project.cli(
            "restore", "--json", "--remote-url", cloud_backend.url_for(bucket, PREFIX),
            "--endpoint-url", cloud_backend.endpoint, "--credentials", str(credentials),
            "--target", str(outside / "out"))
    assert restored.returncode == 0, restored.stderr
    assert (outside / "out" / MODEL).read_bytes() == project.read(MODEL)
    seen = {"write": 0, "Read": 0}
    for request in requests:
        kind = _kind(request, bucket)
        if kind is None:
            continue
        seen["Read" if kind[0] == "Read" else "write"] += 1
        headers = _lower(request)
        assert {name: headers.get(name) for name in carried} == carried, kind
    assert seen["write"] >= len(made["files"]) and seen["Read"] > 0, seen
    assert mode.local["sse_customer_key"] not in restored.stdout + restored.stderr

    # A remote with its own `sse` is not given the file's key too (S3 takes one).
    add_remote(project, cloud_backend, bucket, "-osse=AES256")
    credentials.write_text(json.dumps({**secrets, "aws_sse_customer_key":
                                       mode.local["sse_customer_key"]}))
    project.damage(MODEL, os.urandom(1024))
    with recording(tmp_path / "requests.jsonl") as requests:
        _cli(project, "backup", "--cloud", "--storage=s3")
    writes = [_lower(r) for r in requests if (_kind(r, bucket) or ("",))[0] == "PutObject"]
    assert writes and all(h.get("x-amz-server-side-encryption") == "AES256"
                          and "x-amz-server-side-encryption-customer-key-md5" not in h
                          for h in writes)
