"""A large file's upload to GCS resumes the session an interrupted run left
(hdversion/datastore/gcs_resume.py), against the GCS emulator (tests/gcs_emulator.py, which
answers a session's status as GCS does and counts the bytes each object's sessions received):
only the rest is sent; a record that fails a rule (another endpoint, expired) or a session
the server forgot starts a new upload; bytes that do not hash to the name never land (each
under a second: 4 MiB chunks in this process). The kill -9 of a real backup between two
32 MiB chunks, then a sync sending only the rest, is in the long tier."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from hdversion.datastore import gcs_resume
from hdversion.datastore.gcs_resume import (
    CHUNK,
    RESUME_FROM,
    SESSION_LIFETIME,
    GcsResumer,
    SessionRecord,
    UploadSessions,
)
from hdversion.datastore.records import open_url
from hdversion.datastore.store import BucketStore, store_of
from hdversion.errors import VerificationError
from hdversion.paths import GCS_UPLOADS
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, start_paused
from tests.storage_servers import GcsServer
from tests.test_s3_upload import MODEL, PREFIX, add_remote, md5_file_bytes
from tests.test_store_contract import cloud_credentials, endpoint_of

MIB = 1024 * 1024
# In this process chunks are of 4 MiB (a file of three chunks costs the emulator, which copies
# a session's bytes at each chunk, a quarter of what three of 32 MiB do); the CLI's are
# CHUNK.
TEST_CHUNK = 4 * MIB
SIZE = 2 * TEST_CHUNK + 3 * MIB  # three chunks, the last of 3 MiB, above RESUME_FROM


class Interrupted(BaseException):
    """Stands for the kill of a run: not an Exception, so nothing in the store catches it."""


@pytest.fixture
def gcs(gcs_server: GcsServer, bucket_factory: Callable[[GcsServer], str],
        monkeypatch: pytest.MonkeyPatch) -> tuple[GcsServer, str]:
    assert SIZE >= RESUME_FROM  # in a recorded session
    monkeypatch.setattr(gcs_resume, "CHUNK", TEST_CHUNK)
    return gcs_server, bucket_factory(gcs_server)


def store_in(server: GcsServer, bucket: str, uploads: Path) -> BucketStore:
    records = open_url(server.url_for(bucket, PREFIX), endpoint_of(server),
                       cloud_credentials(server))
    records.uploads = uploads
    store = store_of("gcs", records)
    assert isinstance(store, BucketStore)
    return store


def received(server: GcsServer, bucket: str, md5: str) -> int:
    """The bytes the server's sessions of this object received, as the server counts."""
    counts = requests.get(f"{server.endpoint}/_hdversion/received", timeout=10).json()
    return int(counts.get(f"{bucket}/{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}", 0))


def big_file(tmp_path: Path, name: str = "big.bin") -> tuple[Path, bytes, str]:
    data = os.urandom(SIZE)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data, md5_file_bytes(data)


def interrupted_put(store: BucketStore, md5: str, path: Path) -> None:
    """A put stopped once the first chunk is in the session (as a kill would stop it)."""
    def stop(_: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        store.put_files([(md5, path)], stop)


def recorded_session(store: BucketStore, md5: str, held: bytes = b""
                     ) -> tuple[GcsResumer, str]:
    """What a run killed before it sent the file leaves: a session of the object `md5`,
    holding `held` (any bytes), and its record in the store's uploads folder. The store's
    resumer and the object's path."""
    resumer = store._resumer()
    assert resumer is not None and store.records.uploads is not None
    key = store.records.path(store.key(md5))
    uri = resumer._start(key, md5)
    if held:
        requests.put(uri, data=held, timeout=60,
                     headers={"Content-Range": f"bytes 0-{len(held) - 1}/*"})
    UploadSessions(store.records.uploads).keep(
        SessionRecord(store.records.url, key, SIZE, md5, uri, time.time()))
    return resumer, key


def record_files(uploads: Path) -> list[Path]:
    return sorted(uploads.glob("*.json"))


def stored(server: GcsServer, bucket: str, md5: str) -> bytes:
    return server.read_object(bucket, f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}")


@pytest.mark.cloud
@pytest.mark.parametrize("forgotten", [False, True], ids=["kept", "forgotten"])
def test_an_interrupted_upload_sends_the_rest_or_all_where_the_server_forgot_it(
        gcs: tuple[GcsServer, str], tmp_path: Path, forgotten: bool) -> None:
    """Only the rest goes into the session an interrupted run left; a session the server
    forgot (GCS: expired, or cancelled) starts a new upload of the whole file."""
    server, bucket = gcs
    path, data, md5 = big_file(tmp_path)
    store = store_in(server, bucket, tmp_path / "uploads")
    interrupted_put(store, md5, path)
    assert received(server, bucket, md5) == TEST_CHUNK
    assert len(record_files(tmp_path / "uploads")) == 1
    if forgotten:
        server.wipe(keep_buckets=True)  # every session gone
    sent: list[int] = []
    store_in(server, bucket, tmp_path / "uploads").put_files([(md5, path)], sent.append)
    # Kept: the first chunk was not sent again.
    assert received(server, bucket, md5) == (TEST_CHUNK if forgotten else 0) + SIZE
    assert sum(sent) == SIZE  # what the session held counts, as S3's kept parts
    assert stored(server, bucket, md5) == data
    assert record_files(tmp_path / "uploads") == []


@pytest.mark.cloud
def test_a_changed_local_file_goes_in_a_new_session(gcs: tuple[GcsServer, str],
                                                    tmp_path: Path) -> None:
    """The file changed after a run was interrupted: its md5 is another, so is its record;
    the other file's session is not used and the object is the new bytes."""
    server, bucket = gcs
    path, _, old_md5 = big_file(tmp_path)
    store = store_in(server, bucket, tmp_path / "uploads")
    interrupted_put(store, old_md5, path)
    data = os.urandom(SIZE)
    path.write_bytes(data)
    md5 = md5_file_bytes(data)
    store_in(server, bucket, tmp_path / "uploads").put_files([(md5, path)])
    assert received(server, bucket, md5) == SIZE
    assert stored(server, bucket, md5) == data
    assert received(server, bucket, old_md5) == TEST_CHUNK
    assert old_md5 not in store.list()


@pytest.mark.cloud
def test_a_record_pointing_at_another_endpoint_is_ignored(
        gcs: tuple[GcsServer, str], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The record is local state but read as untrusted: a session elsewhere (where a run
    would send the rest of the file) is never asked; a new upload starts."""
    server, bucket = gcs
    path, data, md5 = big_file(tmp_path)
    store = store_in(server, bucket, tmp_path / "uploads")
    interrupted_put(store, md5, path)
    [record] = record_files(tmp_path / "uploads")
    fields = json.loads(record.read_text())
    elsewhere = "127.0.0.1:1" if not server.endpoint.endswith(":1") else "127.0.0.1:2"
    fields["uri"] = fields["uri"].replace(server.endpoint.split("//")[1], elsewhere)
    record.write_text(json.dumps(fields))
    with caplog.at_level(logging.WARNING, logger="hdversion"):
        store_in(server, bucket, tmp_path / "uploads").put_files([(md5, path)])
    assert f"its session is on another endpoint (http://{elsewhere}), not the remote's " \
           f"({server.endpoint})" in caplog.text
    assert received(server, bucket, md5) == TEST_CHUNK + SIZE
    assert stored(server, bucket, md5) == data


@pytest.mark.cloud
def test_a_session_killed_before_its_first_chunk_is_resumed_from_byte_0(
        gcs: tuple[GcsServer, str], tmp_path: Path) -> None:
    """A session that holds nothing answers 308 without a Range (GCS's "no bytes have
    been persisted"): the next run sends everything into it, from byte 0."""
    server, bucket = gcs
    path, data, md5 = big_file(tmp_path)
    resumer, key = recorded_session(store_in(server, bucket, tmp_path / "uploads"), md5)
    resumer.upload(path, key, SIZE, md5)
    assert resumer.resumed
    assert received(server, bucket, md5) == SIZE
    assert stored(server, bucket, md5) == data


@pytest.mark.cloud
def test_a_session_holding_more_than_the_file_is_not_continued(
        gcs: tuple[GcsServer, str], tmp_path: Path) -> None:
    """The record names a session of this object that holds more bytes than this file has
    (another file's, under a record rewritten with this file's size). The status query
    (`bytes */SIZE`) is refused: the emulator completes the session there and GCS refuses
    the object (its md5 given at the start), GCS itself answers 400. Either way that
    session is not continued (not a failed put, run after run): a new one starts."""
    server, bucket = gcs
    path, data, md5 = big_file(tmp_path)
    more = SIZE + TEST_CHUNK
    resumer, key = recorded_session(store_in(server, bucket, tmp_path / "uploads"), md5,
                                    os.urandom(more))
    resumer.upload(path, key, SIZE, md5)
    assert not resumer.resumed
    assert received(server, bucket, md5) == more + SIZE
    assert stored(server, bucket, md5) == data


@pytest.mark.cloud
def test_a_session_of_other_bytes_never_lands(gcs: tuple[GcsServer, str], tmp_path: Path
                                              ) -> None:
    """A session holding other bytes under this file's record (a file written while an
    earlier run sent it): GCS refuses the object (its md5 was given when the session
    started), nothing is at the key, the record is gone and the next put sends it whole."""
    server, bucket = gcs
    path, data, md5 = big_file(tmp_path)
    store = store_in(server, bucket, tmp_path / "uploads")
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(TEST_CHUNK) + data[TEST_CHUNK:])  # a first chunk of others
    resumer = store._resumer()
    assert resumer is not None

    def stop(_: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):  # the resumer trusts its caller's md5 (put_files')
        resumer.upload(other, store.records.path(store.key(md5)), SIZE, md5, stop)
    with pytest.raises(VerificationError, match="do not hash to its name"):
        store_in(server, bucket, tmp_path / "uploads").put_files([(md5, path)])
    assert md5 not in store.list()
    assert record_files(tmp_path / "uploads") == []
    store_in(server, bucket, tmp_path / "uploads").put_files([(md5, path)])
    assert stored(server, bucket, md5) == data


def test_an_expired_or_misplaced_record_is_ignored(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Each rule, by the message that names it; a record that passes them all is used."""
    sessions = UploadSessions(tmp_path)
    endpoint = "https://storage.googleapis.com"
    uri = f"{endpoint}/upload/storage/v1/b/bk/o?uploadType=resumable&name=p/k&upload_id=u"
    good = SessionRecord("gs://bk/p", "bk/p/k", 10, "a" * 32, uri, 1000.0)
    sessions.keep(good)
    assert sessions.find(good, endpoint, 1000.0 + SESSION_LIFETIME - 1) == uri
    for record, now, rule in (
            (good, 1000.0 + SESSION_LIFETIME, "its session has expired"),
            (good, 999.0, "its session has expired"),
            (SessionRecord(**{**good.__dict__, "uri": uri.replace("b/bk/", "b/other/")}),
             1000.0, "its session is not one of gs://bk/p/k"),
            (SessionRecord(**{**good.__dict__, "uri": uri.replace("name=p/k", "name=p/x")}),
             1000.0, "its session is not one of gs://bk/p/k"),
            (SessionRecord(**{**good.__dict__, "uri": uri.replace("https", "http")}),
             1000.0, "its session is on another endpoint")):
        sessions.keep(record)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hdversion"):
            assert sessions.find(good, endpoint, now) is None
        assert rule in caplog.text
    where = sessions.record_path(good.remote, good.path, good.size, good.md5)
    where.write_bytes(b"{" + b" " * 5000 + b"}")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hdversion"):
        assert sessions.find(good, endpoint, 1000.0) is None
    assert "larger than 4096 bytes" in caplog.text
    other = SessionRecord(**{**good.__dict__, "md5": "b" * 32})
    where.write_text(json.dumps(other.__dict__))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hdversion"):
        assert sessions.find(good, endpoint, 1000.0) is None
    assert "another file's session" in caplog.text
    stale = tmp_path / "stale.json"
    stale.write_text("{}")
    os.utime(stale, (0, 0))
    sessions.keep(SessionRecord(**{**good.__dict__, "started": SESSION_LIFETIME + 1.0}))
    assert not stale.exists()  # no server keeps its session: forgotten
    assert sessions.find(good, endpoint, SESSION_LIFETIME + 2.0) == uri


@pytest.mark.reliability
@pytest.mark.cloud
@pytest.mark.parametrize("cloud_backend", ["gcp"], indirect=True)
def test_a_backup_killed_between_two_chunks_is_resumed_by_sync(
        project: Project, cloud_backend: Any, bucket: str) -> None:
    """kill -9 of `backup --cloud` once the first of three chunks of the model is in its
    session: the record is in .dvc/tmp; `sync` sends only the rest (counted at the
    server) and the object restores byte for byte."""
    server: GcsServer = cloud_backend
    add_remote(project, server, bucket, secrets=False)
    size = 2 * CHUNK + 3 * MIB
    data = os.urandom(size)
    project.damage(MODEL, data)
    md5 = md5_file_bytes(data)
    proc = start_paused(project.root, PausePoint.BETWEEN_PARTS, "backup", "--cloud",
                        f"--storage={server.name}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert received(server, bucket, md5) == CHUNK
    assert len(record_files(project.root / GCS_UPLOADS)) == 1
    result = project.cli("sync", f"--storage={server.name}")
    assert result.returncode == 0, result.stderr
    assert received(server, bucket, md5) == size
    assert record_files(project.root / GCS_UPLOADS) == []
    (project.root / MODEL).unlink()
    result = project.cli("restore", "latest", "--remote-url",
                         server.url_for(bucket, PREFIX), "--endpoint-url", server.endpoint,
                         "--target", str(project.root / "restored"))
    assert result.returncode == 0, result.stderr
    assert (project.root / "restored" / MODEL).read_bytes() == data
