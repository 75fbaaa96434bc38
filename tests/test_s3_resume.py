"""A large file's multipart upload to S3 resumes what an interrupted run left
(hdversion/datastore/s3_resume.py), against moto's server: only the missing parts are sent,
each kept part checked against the file's bytes first; an upload whose parts do not match is
aborted and sent again; with SSE-C (ETags that are not md5s) nothing is resumed. The kill -9
of a real backup between two parts, then a sync sending only the rest, is in the long
tier."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hdversion.datastore.resumable import Chunks
from hdversion.datastore.s3_resume import ResumableUpload
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, start_paused
from tests.storage_servers import S3_REGION, StorageServer
from tests.test_s3_upload import MODEL, PREFIX, add_remote, aws_files, md5_file_bytes
from tests.test_server_side_encryption import recording

MIB = 1024 * 1024
PART = 5 * MIB  # S3's smallest part
KEY = "files/md5/aa/bbbb"


class CountingClient:
    """The real client, with each part it sends counted (no request changed)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.parts_sent: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def upload_part(self, **kwargs: Any) -> Any:
        self.parts_sent.append(kwargs["PartNumber"])
        return self.client.upload_part(**kwargs)


@pytest.fixture
def s3(s3_server: StorageServer, bucket_factory: Callable[[StorageServer], str]
       ) -> tuple[Any, str]:
    return s3_server.client, bucket_factory(s3_server)  # type: ignore[attr-defined]


def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(2 * PART + MIB)  # three parts, the last of 1 MiB
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def upload(client: Any, bucket: str, path: Path, extra: dict[str, Any] | None = None
           ) -> tuple[CountingClient, ResumableUpload]:
    counting = CountingClient(client)
    run = ResumableUpload(counting, bucket, KEY, path, Chunks(path.stat().st_size, PART),
                          extra or {}, window=2)
    run.run()
    return counting, run


def left_upload(client: Any, bucket: str, parts: dict[int, bytes]) -> str:
    """What a killed run leaves: an upload of KEY holding these parts."""
    upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=KEY)["UploadId"]
    for number, body in parts.items():
        client.upload_part(Bucket=bucket, Key=KEY, UploadId=upload_id, PartNumber=number,
                           Body=body)
    return upload_id


def incomplete(client: Any, bucket: str) -> list[str]:
    return [u["UploadId"] for u in
            client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.mark.cloud
def test_an_upload_left_with_some_parts_sends_only_the_others(
        s3: tuple[Any, str], tmp_path: Path) -> None:
    client, bucket = s3
    path, data = big_file(tmp_path)
    kept = left_upload(client, bucket, {1: data[:PART]})
    counting, run = upload(client, bucket, path)
    assert run.resumed
    assert sorted(counting.parts_sent) == [2, 3]
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data
    assert incomplete(client, bucket) == []
    assert kept not in incomplete(client, bucket)


@pytest.mark.cloud
def test_an_upload_whose_part_is_other_bytes_is_aborted_and_sent_again(
        s3: tuple[Any, str], tmp_path: Path) -> None:
    """Same part number, same size, other bytes: the listing alone would take it."""
    client, bucket = s3
    path, data = big_file(tmp_path)
    wrong = left_upload(client, bucket, {1: data[:PART], 2: os.urandom(PART)})
    counting, run = upload(client, bucket, path)
    assert not run.resumed
    assert sorted(counting.parts_sent) == [1, 2, 3]
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data
    assert wrong not in incomplete(client, bucket)  # aborted, not left to be billed


@pytest.mark.cloud
def test_an_upload_of_another_part_size_is_not_resumed(
        s3: tuple[Any, str], tmp_path: Path) -> None:
    client, bucket = s3
    path, data = big_file(tmp_path)
    left_upload(client, bucket, {1: data[:PART + MIB]})
    counting, run = upload(client, bucket, path)
    assert not run.resumed and sorted(counting.parts_sent) == [1, 2, 3]
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data


@pytest.mark.cloud
def test_with_sse_c_no_upload_is_resumed(s3: tuple[Any, str], tmp_path: Path) -> None:
    """An SSE-C part's ETag is not the md5 of its bytes: nothing can check a kept part, so a
    new upload starts (the one left is not touched: it may be another writer's)."""
    client, bucket = s3
    path, data = big_file(tmp_path)
    left = left_upload(client, bucket, {1: data[:PART]})
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}
    counting, run = upload(client, bucket, path, sse_c)
    assert not run.resumed and sorted(counting.parts_sent) == [1, 2, 3]
    assert left in incomplete(client, bucket)


def parts_sent(requests: list[dict[str, Any]], bucket: str, key: str) -> list[int]:
    numbers = []
    for request in requests:
        url = urlsplit(request["url"])
        query = parse_qs(url.query)
        if request["method"] == "PUT" and url.path == f"/{bucket}/{key}" \
                and "partNumber" in query:
            numbers.append(int(query["partNumber"][0]))
    return sorted(numbers)


@pytest.mark.reliability
@pytest.mark.cloud
@pytest.mark.parametrize("cloud_backend", ["s3"], indirect=True)
def test_a_backup_killed_between_two_parts_is_resumed_by_sync(
        project: Project, cloud_backend: StorageServer, bucket: str, tmp_path: Path) -> None:
    """kill -9 of `backup --cloud` once the first of five parts of a 23 MiB model is sent:
    the bucket keeps that upload with its one part; `sync` sends parts 2-5 only, completes,
    and the object is the model's bytes."""
    # One request at a time: the pause between two parts leaves exactly the first one sent.
    env = aws_files(tmp_path, cloud_backend, bucket, requests_at_once=1)
    add_remote(project, cloud_backend, bucket, "-oprofile=hdv-tests", secrets=False)
    data = os.urandom(4 * PART + 3 * MIB)
    project.damage(MODEL, data)
    md5 = md5_file_bytes(data)
    key = f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}"
    client = cloud_backend.client  # type: ignore[attr-defined]
    try:
        proc = start_paused(project.root, PausePoint.BETWEEN_PARTS, "backup", "--cloud",
                            f"--storage={cloud_backend.name}", env=env)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        [left] = client.list_multipart_uploads(Bucket=bucket, Prefix=key)["Uploads"]
        listed = client.list_parts(Bucket=bucket, Key=key, UploadId=left["UploadId"])
        assert [p["PartNumber"] for p in listed["Parts"]] == [1]
        with recording(tmp_path / "requests.jsonl") as requests:
            result = project.cli("sync", f"--storage={cloud_backend.name}", env=env)
        assert result.returncode == 0, result.stderr
    finally:
        (tmp_path / "credentials").unlink()  # no secret left behind (cloud_fixtures)
    assert parts_sent(requests, bucket, key) == [2, 3, 4, 5]
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.cloud
def test_a_resumed_upload_under_object_lock_is_locked_from_now(
        s3_server: StorageServer, tmp_path: Path) -> None:
    """The upload a killed run created carries that run's retention date; the object a
    resumed run completes is locked until the date this run asks for, as a new one would."""
    from datetime import UTC, datetime, timedelta

    client = s3_server.client  # type: ignore[attr-defined]
    bucket = f"hdv-lock-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    path, data = big_file(tmp_path)
    then = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    now = then + timedelta(days=30)
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key=KEY, ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=then)["UploadId"]
    client.upload_part(Bucket=bucket, Key=KEY, UploadId=upload_id, PartNumber=1,
                       Body=data[:PART])
    counting, run = upload(client, bucket, path, {"ObjectLockMode": "GOVERNANCE",
                                                  "ObjectLockRetainUntilDate": now})
    assert run.resumed and sorted(counting.parts_sent) == [2, 3]
    head = client.head_object(Bucket=bucket, Key=KEY)
    assert head["ObjectLockRetainUntilDate"] == now
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data


@pytest.mark.cloud
def test_bytes_that_do_not_hash_to_the_object_s_name_never_land(
        s3: tuple[Any, str], tmp_path: Path) -> None:
    """A large file is hashed as it is sent, not before: its upload completes only if the
    bytes sent hash to the name, else it is aborted and nothing is there."""
    from hdversion.errors import VerificationError

    client, bucket = s3
    path, data = big_file(tmp_path)
    run = ResumableUpload(client, bucket, KEY, path, Chunks(len(data), PART), {}, window=2,
                          md5=md5_file_bytes(data[:-1] + b"x"))
    with pytest.raises(VerificationError, match="data hashes to"):
        run.run()
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)
    assert incomplete(client, bucket) == []
    ResumableUpload(client, bucket, KEY, path, Chunks(len(data), PART), {}, window=2,
                    md5=md5_file_bytes(data)).run()
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data


@pytest.mark.cloud
@pytest.mark.parametrize(("listed", "refusal"), [(-1, "is longer than when it was listed"),
                                                 (1, "is shorter than when it was listed")])
def test_a_file_of_another_size_than_listed_never_lands(
        s3: tuple[Any, str], tmp_path: Path, listed: int, refusal: str) -> None:
    """The file grew or shrank after it was listed: refused by the rule that says which,
    the upload aborted, nothing at the key."""
    from hdversion.errors import VerificationError

    client, bucket = s3
    path, data = big_file(tmp_path)
    run = ResumableUpload(client, bucket, KEY, path, Chunks(len(data) + listed, PART), {},
                          window=2, md5=md5_file_bytes(data))
    with pytest.raises(VerificationError, match=refusal):
        run.run()
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)
    assert incomplete(client, bucket) == []


@pytest.mark.cloud
def test_credentials_that_may_not_list_uploads_start_a_new_one(
        s3: tuple[Any, str], s3_server: StorageServer, tmp_path: Path) -> None:
    """Under IAM (moto enforces it) without s3:ListBucketMultipartUploads the listing is
    refused: the upload starts anew rather than fail the push."""
    import boto3

    client, bucket = s3
    path, data = big_file(tmp_path)
    left_upload(client, bucket, {1: data[:PART]})
    iam = boto3.client("iam", endpoint_url=s3_server.endpoint, region_name=S3_REGION,
                       aws_access_key_id=s3_server.access_key_id,  # type: ignore[attr-defined]
                       aws_secret_access_key=s3_server.secret_access_key)  # type: ignore[attr-defined]
    user = f"no-listing-{bucket}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:ListBucketMultipartUploads", "Resource": "*"}]}))
    restricted = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name=S3_REGION,
                              aws_access_key_id=key["AccessKeyId"],
                              aws_secret_access_key=key["SecretAccessKey"])
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="AccessDenied"):
        restricted.list_multipart_uploads(Bucket=bucket)
    counting, run = upload(restricted, bucket, path)
    assert not run.resumed and sorted(counting.parts_sent) == [1, 2, 3]
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data


@pytest.mark.cloud
def test_two_runs_resuming_one_upload_both_succeed(s3: tuple[Any, str], tmp_path: Path
                                                   ) -> None:
    """The other run completes the upload just before this one does: on moto both succeed
    with the object whole (moto takes a second completion of a completed upload)."""
    client, bucket = s3
    path, data = big_file(tmp_path)
    left_upload(client, bucket, {1: data[:PART]})
    parts = Chunks(len(data), PART)

    class OtherRunFirst(CountingClient):
        def complete_multipart_upload(self, **kwargs: Any) -> Any:
            other = ResumableUpload(client, bucket, KEY, path, parts, {}, window=2)
            other.run()
            assert other.resumed
            return self.client.complete_multipart_upload(**kwargs)

    this = ResumableUpload(OtherRunFirst(client), bucket, KEY, path, parts, {}, window=2)
    this.run()
    assert this.resumed
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data
    assert incomplete(client, bucket) == []



@pytest.mark.cloud
def test_the_bucket_store_s_bulk_put_checks_large_objects_as_they_are_sent(
        s3_server: StorageServer, bucket_factory: Callable[[StorageServer], str],
        tmp_path: Path) -> None:
    """`BucketStore.put_files` hands a file from the multipart threshold (8 MiB) on to the
    upload unread, with its md5 (a `.dir` listing's without its suffix): the right bytes
    land, wrong ones never do."""
    from hdversion.datastore.records import open_url
    from hdversion.datastore.store import store_of
    from hdversion.errors import VerificationError
    from tests.test_store_contract import cloud_credentials, endpoint_of

    bucket = bucket_factory(s3_server)
    store = store_of("s3", open_url(s3_server.url_for(bucket, PREFIX), endpoint_of(s3_server),
                                    cloud_credentials(s3_server)))
    model, listing = tmp_path / "model", tmp_path / "listing"
    model.write_bytes(os.urandom(9 * MIB))
    listing.write_bytes(b"[" + b" " * (9 * MIB) + b"]")
    model_md5, listing_md5 = md5_file_bytes(model.read_bytes()), \
        md5_file_bytes(listing.read_bytes()) + ".dir"
    sent: list[int] = []
    store.put_files([(model_md5, model), (listing_md5, listing)], sent.append)
    assert sum(sent) == 2 * 9 * MIB + 2
    assert {name: o.size for name, o in store.list().items()} == {
        model_md5: 9 * MIB, listing_md5: 9 * MIB + 2}
    stranger = md5_file_bytes(b"another object")
    with pytest.raises(VerificationError, match=f"expected {stranger}; not written"):
        store.put_files([(stranger, model)])
    assert stranger not in store.list()
    client = s3_server.client  # type: ignore[attr-defined]
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
