"""The store contract (`hdversion/datastore/store.py`), run against every kind of store: the
DVC cache, a directory remote, and buckets on S3 (moto), Azure Blob (Azurite) and GCS (the
emulator). A new kind of store is added by passing this file.

Each test gets a fresh, empty store of each kind, opened the way hdversion opens one (a
remote from its URL, `datastore.bucket.open_url`; the facade `DataStore.remote(name)` for a
project's configured remote). What a store holds is damaged or planted behind its back,
through the SDK or the file system, never through the store."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO

import pytest

from hdversion.config.credentials import CloudCredentials
from hdversion.datastore import DataStore
from hdversion.datastore.records import KeyMissing, open_url
from hdversion.datastore.store import (
    BucketStore,
    CacheStore,
    DirectoryStore,
    Store,
    VerifiedReader,
    store_of,
)
from hdversion.errors import ExitCode, RemoteError, VerificationError
from hdversion.model.leftovers import is_partial_name
from hdversion.model.remote_records import OBJECTS_DIR, object_key
from hdversion.paths import DEFAULT_LOCAL_REMOTE, TEMP_PREFIX
from hdversion.util.hashing import CHUNK
from tests.conftest import REPO_ROOT, Project
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX, configure

KINDS = ["cache", "directory", "s3", "azure", "gcs"]
CLOUD_FIXTURE = {"s3": "s3_server", "azure": "azure_server", "gcs": "gcs_server"}
LOCAL_KINDS = ["cache", "directory"]
MANY = 10_000
PAGE = 1_000  # keys in one page of an S3 or GCS listing


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Subject:
    """A store under test, and a way around it to plant or damage what it holds."""

    kind: str
    store: Store
    raw_put: Callable[[str, bytes], None]  # a key relative to the store's root (its URL)
    raw_keys: Callable[[], set[str]]  # every key under the root, relative
    server: StorageServer | None = None
    bucket: str | None = None

    def plant(self, name: str, data: bytes) -> None:
        """An object written behind the store's back, at its place."""
        self.raw_put(object_key(name), data)


def directory_subject(kind: str, root: Path, store: Store) -> Subject:
    def raw_put(key: str, data: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o644)  # objects are read-only, as DVC keeps them
        path.write_bytes(data)

    def raw_keys() -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    return Subject(kind, store, raw_put, raw_keys)


def cloud_credentials(server: StorageServer) -> CloudCredentials:
    _, secrets = server.dvc_remote_config("any")
    names = {"access_key_id": "aws_access_key_id", "secret_access_key": "aws_secret_access_key",
             "connection_string": "azure_connection_string"}
    return CloudCredentials({names[k]: v for k, v in secrets.items()})


def endpoint_of(server: StorageServer) -> str | None:
    return None if server.name == "azure" else server.endpoint  # Azure's is in its string


def cloud_subject(kind: str, server: StorageServer, bucket: str, store: Store) -> Subject:
    def raw_put(key: str, data: bytes) -> None:
        server.corrupt_object(bucket, f"{PREFIX}/{key}", data)

    def raw_keys() -> set[str]:
        return {k.removeprefix(f"{PREFIX}/") for k in server.list_keys(bucket, f"{PREFIX}/")}

    return Subject(kind, store, raw_put, raw_keys, server, bucket)


@pytest.fixture(params=KINDS)
def subject(request: pytest.FixtureRequest, tmp_path: Path,
            bucket_factory: Callable[[StorageServer], str]) -> Subject:
    """A fresh, empty store of each kind, opened as hdversion opens one."""
    kind: str = request.param
    if kind == "cache":
        root = tmp_path / "cache"
        return directory_subject(kind, root, CacheStore(root / OBJECTS_DIR))
    if kind == "directory":
        root = tmp_path / "usb-disk"
        root.mkdir()
        return directory_subject(kind, root, store_of("usb", open_url(str(root))))
    server: StorageServer = request.getfixturevalue(CLOUD_FIXTURE[kind])
    bucket = bucket_factory(server)
    records = open_url(server.url_for(bucket, PREFIX), endpoint_of(server),
                       cloud_credentials(server))
    return cloud_subject(kind, server, bucket, store_of(kind, records))


def objects_of(subject: Subject) -> set[str]:
    """The keys under the objects' folder, partial writes included."""
    return {k for k in subject.raw_keys() if k.startswith(f"{OBJECTS_DIR}/")}


def read_all(stream: IO[bytes] | VerifiedReader) -> bytes:
    data = bytearray()
    while chunk := stream.read(CHUNK):
        data += chunk
    return bytes(data)


# -- put, size, open, list, delete -------------------------------------------------------


def test_put_then_size_open_list_and_delete(subject: Subject) -> None:
    store, data = subject.store, b"the model's weights\n" * 1000
    name = md5(data)
    before = time.time()
    store.put(name, BytesIO(data), len(data))
    assert store.size(name) == len(data)
    assert store.has(name)
    with store.open(name) as stream:
        assert read_all(stream) == data
    listed = store.list()
    assert set(listed) == {name}
    assert listed[name].md5 == name and listed[name].size == len(data)
    # The store's own clock (a server's, a file system's): present and plausible, no more.
    mtime = listed[name].mtime
    assert mtime is not None and before - 3600 < mtime < time.time() + 3600, mtime
    assert set(store.list([name[:2]])) == {name}
    other = "00" if name[:2] != "00" else "01"
    assert store.list([other]) == {}
    # A second put of the same object replaces it with the same bytes.
    store.put(name, BytesIO(data))
    assert store.size(name) == len(data)
    assert store.delete([name]) == {name}
    assert not store.has(name)
    assert store.list() == {}
    with pytest.raises(KeyMissing):
        store.size(name)
    # Deleting an object that is not there: done, nothing to say.
    assert store.delete([name]) == {name}
    assert store.delete([]) == set()


def test_put_file_and_dir_objects(subject: Subject, tmp_path: Path) -> None:
    listing = b'[{"md5": "0123456789abcdef0123456789abcdef", "relpath": "a.pkl"}]'
    name = md5(listing) + ".dir"
    source = tmp_path / "listing.dir"
    source.write_bytes(listing)
    chunks: list[int] = []
    subject.store.put_file(name, source, chunks.append)
    assert sum(chunks) == len(listing)
    assert subject.store.read(name, 1000) == listing
    assert subject.store.list()[name].size == len(listing)
    assert objects_of(subject) == {object_key(name)}
    assert subject.store.delete([name]) == {name}
    assert not subject.store.has(name)


def test_delete_many_with_a_step_between(subject: Subject) -> None:
    names = []
    for i in range(3):
        data = f"object {i}".encode()
        subject.store.put(md5(data), BytesIO(data))
        names.append(md5(data))
    steps: list[int] = []
    assert subject.store.delete(names, between=lambda: steps.append(1)) == set(names)
    assert subject.store.list() == {}
    # Two deletions at least in a directory (one per object); a bucket deletes in batches.
    assert len(steps) == (2 if isinstance(subject.store, DirectoryStore) else 0)


def test_get_files_gets_many_at_once_and_names_what_it_could_not(subject: Subject,
                                                                  tmp_path: Path) -> None:
    """The bulk download: each object whole in its file and handed to `landed`; one the
    store lacks, and one past its limit, named in the answer and never landed."""
    datas = [f"object {i}\n".encode() * (i + 1) for i in range(12)]
    for data in datas:
        subject.store.put(md5(data), BytesIO(data))
    got = tmp_path / "got"
    got.mkdir()
    missing, oversized = md5(b"never put"), md5(datas[3])
    files = [(md5(d), got / md5(d), len(d) - (d == datas[3])) for d in datas]
    chunks: list[int] = []
    landed: dict[str, bytes] = {}
    not_got = subject.store.get_files([*files, (missing, got / missing, 10)], 4,
                                      chunks.append,
                                      lambda name, path: landed.update({name: path.read_bytes()}))
    assert not_got == {missing, oversized}
    assert landed == {md5(d): d for d in datas if d != datas[3]}
    assert sum(chunks) >= sum(len(d) for d in datas if d != datas[3])


# -- a put that must write nothing --------------------------------------------------------


def test_a_put_of_wrong_bytes_writes_nothing_and_keeps_the_good_object(
        subject: Subject, tmp_path: Path) -> None:
    store, good = subject.store, b"good bytes" * 100
    name = md5(good)
    store.put(name, BytesIO(good), len(good))
    before = objects_of(subject)
    # Bytes that do not hash to the name, at the announced size.
    bad = bytearray(good)
    bad[5] ^= 0xFF
    with pytest.raises(VerificationError, match=f"hashes to {md5(bytes(bad))}, expected "
                                                f"{name}; not written") as caught:
        store.put(name, BytesIO(bytes(bad)), len(good))
    assert caught.value.exit_code == ExitCode.VERIFICATION_FAILED
    # The right bytes, another size announced.
    with pytest.raises(VerificationError, match=f"{len(good)} bytes given, {len(good) + 1} "
                                                "expected; not written"):
        store.put(name, BytesIO(good), len(good) + 1)
    # From a file (the cache's copy): its bytes are hashed too.
    wrong_file = tmp_path / "wrong"
    wrong_file.write_bytes(bytes(bad))
    with pytest.raises(VerificationError, match="not written"):
        store.put_file(name, wrong_file)
    # A new name with bytes that are not its own: nothing appears.
    stranger = md5(b"another object")
    with pytest.raises(VerificationError, match="not written"):
        store.put(stranger, BytesIO(good))
    assert objects_of(subject) == before
    assert not store.has(stranger)
    with store.open(name) as stream:
        assert read_all(stream) == good
    assert set(store.list()) == {name}


class Broken(IOError):
    """What a source raises half-way (a disk read error, a dropped connection)."""


class FailingSource:
    """A stream that gives `good` bytes, then fails."""

    def __init__(self, good: bytes) -> None:
        self.stream = BytesIO(good)

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if not chunk:
            raise Broken("the source failed half-way")
        return chunk


def test_a_put_whose_source_fails_half_way_leaves_no_object(subject: Subject) -> None:
    store, whole = subject.store, os.urandom(CHUNK * 2 + 10)
    name = md5(whole)
    kept = b"an object put before"
    store.put(md5(kept), BytesIO(kept))
    with pytest.raises(Broken):
        store.put(name, FailingSource(whole[:CHUNK + 5]), len(whole))  # type: ignore[arg-type]
    assert not store.has(name)
    with pytest.raises(KeyMissing):
        store.open(name).__enter__()
    assert set(store.list()) == {md5(kept)}
    assert objects_of(subject) == {object_key(md5(kept))}  # no leftover either
    store.put(name, BytesIO(whole), len(whole))  # and the next put succeeds
    assert store.size(name) == len(whole)


KILLED_PUT = """
import sys
from pathlib import Path
from hdversion.datastore.records import open_url
from hdversion.datastore.store import CacheStore, store_of
kind, root, name, size = sys.argv[1:]
store = CacheStore(Path(root) / "files/md5") if kind == "cache" else \\
    store_of("usb", open_url(root))
store.put(name, sys.stdin.buffer, int(size))
"""


@pytest.mark.parametrize("kind", LOCAL_KINDS)
def test_a_put_killed_half_way_leaves_only_a_partial_name(kind: str, tmp_path: Path) -> None:
    """kill -9 while a put waits on its source, half of the bytes written: what is left is a
    partial name (`model/leftovers.py`) that no listing shows, and the next put succeeds."""
    root = tmp_path / kind
    root.mkdir()
    store: Store = CacheStore(root / OBJECTS_DIR) if kind == "cache" else \
        store_of("usb", open_url(str(root)))
    whole = os.urandom(CHUNK * 3)
    name = md5(whole)
    folder = root / OBJECTS_DIR / name[:2]
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PUT, kind, str(root), name,
                             str(len(whole))], stdin=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.stdin is not None
    try:
        proc.stdin.write(whole[:CHUNK * 2])
        proc.stdin.flush()
        deadline = time.monotonic() + 60  # a bound on a hang, not a measure
        while not (folder.is_dir() and any(p.stat().st_size >= CHUNK
                                           for p in folder.iterdir())):
            assert proc.poll() is None and time.monotonic() < deadline, "no put under way"
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdin.close()
    left = [p.name for p in folder.iterdir()]
    assert left and all(is_partial_name(n) for n in left), left
    assert not store.has(name)
    with pytest.raises(KeyMissing):
        store.open(name).__enter__()
    assert store.list() == {}
    store.put(name, BytesIO(whole), len(whole))
    assert set(store.list()) == {name}


# -- what a store holds that is not what was put --------------------------------------------


def test_a_missing_object_is_key_missing(subject: Subject) -> None:
    store, name = subject.store, md5(b"never put")
    with pytest.raises(KeyMissing):
        store.size(name)
    with pytest.raises(KeyMissing), store.open(name) as stream:
        stream.read()
    with pytest.raises(KeyMissing):
        store.read(name, 100)
    assert not store.has(name)
    assert not store.has(name + ".dir")


def damaged(good: bytes, how: str) -> bytes:
    if how == "truncated":
        return good[: len(good) // 2]
    if how == "longer":
        return good + b"\0"
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    return bytes(flipped)


@pytest.mark.parametrize("how", ["truncated", "longer", "same-size"])
def test_a_damaged_object_is_caught_by_the_verified_reader(subject: Subject, how: str) -> None:
    store, good = subject.store, os.urandom(CHUNK + 1000)
    name = md5(good)
    store.put(name, BytesIO(good), len(good))
    subject.plant(name, damaged(good, how))
    assert store.size(name) == len(damaged(good, how))  # the store says what it holds
    where = store.where(name)
    assert name[2:] in where
    with store.open(name) as stream, pytest.raises(VerificationError) as caught:
        read_all(VerifiedReader(stream, name, len(good), where))
    assert where in caught.value.message
    assert {"truncated": f"holds {len(good) // 2} bytes", "longer": "holds more than",
            "same-size": f"expected {name}"}[how] in caught.value.message
    with pytest.raises(VerificationError) as caught:
        store.read(name, len(good))
    assert ("holds more than" if how == "longer" else "does not hash to its name") in \
        caught.value.message
    assert where in caught.value.message
    # The whole object, good again, passes.
    store.put(name, BytesIO(good), len(good))
    with store.open(name) as stream:
        assert read_all(VerifiedReader(stream, name, len(good), where)) == good


# -- listings -------------------------------------------------------------------------------


def test_what_is_not_an_object_is_not_listed(subject: Subject) -> None:
    data = b"the one object"
    name = md5(data)
    subject.store.put(name, BytesIO(data))
    rest = name[2:]
    for key, content in [
        ("README", b"not an object"),
        (f"{OBJECTS_DIR}/README", b"not an object"),
        (f"{OBJECTS_DIR}/zz/{rest}", b"no hex folder"),
        (f"{OBJECTS_DIR}/{name[:2]}/short", b"no md5"),
        (f"{OBJECTS_DIR}/{name[:2]}/{rest.upper()}", b"upper case"),
        (f"{OBJECTS_DIR}/{name[:2]}/{rest}.0123456789abcdefghijkl.tmp", b"dvc's partial"),
        (f"{OBJECTS_DIR}/{name[:2]}/{TEMP_PREFIX}123-4", b"hdversion's partial"),
        (f"{OBJECTS_DIR}/{name[:3]}/{rest[1:]}", b"a three-digit folder"),
        ("hdversion/backups/20260101_000000/manifest.json", b"{}"),
    ]:
        subject.raw_put(key, content)
    assert set(subject.store.list()) == {name}
    assert set(subject.store.list([name[:2]])) == {name}


def plant_many(subject: Subject, count: int) -> dict[str, int]:
    """`count` objects planted at once (threads through the SDK, or files): name -> size."""
    planted = {md5(str(i).encode()): len(str(i)) for i in range(count)}
    # The GCS emulator serves one request at a time: more waiting ones time out.
    with ThreadPoolExecutor(2 if subject.kind == "gcs" else 16) as pool:
        list(pool.map(lambda i: subject.plant(md5(str(i).encode()), str(i).encode()),
                      range(count)))
    return planted


def check_listing(subject: Subject, planted: dict[str, int]) -> None:
    listed = subject.store.list()
    assert {n: o.size for n, o in listed.items()} == planted
    assert all(o.mtime is not None for o in listed.values())
    some = sorted({n[:2] for n in planted})[:3]
    assert {n: o.size for n, o in subject.store.list(some).items()} == {
        n: size for n, size in planted.items() if n[:2] in some}


# 10,000 objects take 2.5 s in a directory or the cache; 52 to 66 s on moto and 109 s on
# Azurite (measured on 2 shared cores): the buckets' run in the long tier. The GCS emulator
# rewrites all its metadata on every write: 1,050 objects take 19 s, 10,000 did not fit in
# pytest's 600 s.
@pytest.mark.parametrize("subject", [*LOCAL_KINDS, *(
    pytest.param(kind, marks=pytest.mark.reliability) for kind in ("s3", "azure")),
    pytest.param("gcs", marks=pytest.mark.skip(
        reason="the GCS emulator cannot hold 10,000 objects in 600 s (measured)"))],
    indirect=True)
def test_a_listing_of_10000_objects(subject: Subject) -> None:
    check_listing(subject, plant_many(subject, MANY))


@pytest.mark.parametrize("subject", list(CLOUD_FIXTURE), indirect=True)
def test_a_listing_longer_than_a_page(subject: Subject) -> None:
    """The fast tier's listing of a bucket: more than one page of S3's and GCS's 1,000 keys
    (Azure's pages hold 5,000: one page here, several in the 10,000 above)."""
    check_listing(subject, plant_many(subject, PAGE + 50))


# -- names ----------------------------------------------------------------------------------

BAD_NAMES = ["../x", "../" + "a" * 30, "A" * 32, "a" * 31, "a" * 33, "abc.dir/..",
             "a" * 32 + "/..", "a" * 32 + ".DIR", "a" * 32 + ".tmp", "", "g" * 32,
             "a" * 31 + "\n", " " + "a" * 31]
BAD_PREFIXES = ["..", "zz", "A0", "0", "000", "", "./", "0/"]


class NoIO:
    """Stands for a store's file system: any use of it is a test failure."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the store used its file system ({name}) for a bad name")


def every_method(store: Store, name: str, source: Path) -> list[Callable[[], object]]:
    """Every method of a store that takes an object's name, called with `name`."""
    return [lambda: store.size(name), lambda: store.open(name).__enter__(),
            lambda: store.has(name), lambda: store.read(name, 10),
            lambda: store.put(name, BytesIO(b"x")), lambda: store.put_file(name, source),
            lambda: store.delete([md5(b"kept"), name]), lambda: store.where(name)]


def test_names_that_are_not_an_md5_are_refused_before_any_io(
        subject: Subject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = subject.store
    good = b"kept"
    store.put(md5(good), BytesIO(good))
    before = subject.raw_keys()
    source = tmp_path / "source"
    source.write_bytes(good)
    if isinstance(store, BucketStore):
        monkeypatch.setattr(store.records, "fs", NoIO())
    for bad in BAD_NAMES:
        for call in every_method(store, bad, source):
            with pytest.raises(ValueError, match="not an object name"):
                call()
    for prefix in BAD_PREFIXES:
        with pytest.raises(ValueError, match="not an object prefix"):
            store.list(["00", prefix])
    monkeypatch.undo()
    assert subject.raw_keys() == before  # the good object too: a bad name deletes nothing


# -- failures of the store itself -----------------------------------------------------------


def dead_endpoint() -> str:
    from tests.storage_servers import free_port

    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.mark.parametrize("kind", ["directory", "s3", "azure", "gcs"])
def test_a_store_unreachable_or_missing_is_a_remote_error_naming_it(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if kind == "directory":
        cases = [(str(tmp_path / "unplugged"), None, None, "does not exist")]
        (tmp_path / "a-file").write_text("not a directory")
        cases.append((str(tmp_path / "a-file"), None, None, "is a file"))
    else:
        server: StorageServer = request.getfixturevalue(CLOUD_FIXTURE[kind])
        url = server.url_for("hdv-no-such-bucket", PREFIX)
        credentials = cloud_credentials(server)
        dead = CloudCredentials({"azure_connection_string": server.connection_string()
                                 .replace(server.endpoint, dead_endpoint())}) \
            if kind == "azure" else credentials  # type: ignore[attr-defined]
        cases = [(url, dead_endpoint() if kind != "azure" else None, dead, "cannot reach"),
                 (url, endpoint_of(server), credentials, "does not exist")]
    for url, endpoint, credentials, why in cases:
        with pytest.raises(RemoteError) as caught:
            open_url(url, endpoint, credentials)
        assert caught.value.exit_code == ExitCode.CONFIGURATION
        assert url in caught.value.message and why in caught.value.message, \
            caught.value.message


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_a_bucket_deleted_under_an_open_store_is_a_remote_error(
        kind: str, request: pytest.FixtureRequest,
        bucket_factory: Callable[[StorageServer], str]) -> None:
    server: StorageServer = request.getfixturevalue(CLOUD_FIXTURE[kind])
    bucket = bucket_factory(server)
    store = store_of(kind, open_url(server.url_for(bucket, PREFIX), endpoint_of(server),
                                    cloud_credentials(server)))
    data = b"put before the bucket went"
    store.put(md5(data), BytesIO(data))
    server.delete_bucket(bucket)
    for call in (store.list, lambda: store.put(md5(data), BytesIO(data))):
        with pytest.raises(RemoteError) as caught:
            call()
        assert store.where() in caught.value.message, caught.value.message
        assert "does not exist" in caught.value.message, caught.value.message
    # One request cannot tell a missing object from a missing bucket: an object is missing
    # (its reader moves on to the next store), and what is gone needs no deleting.
    for call in (lambda: store.size(md5(data)), lambda: store.open(md5(data)).__enter__()):
        with pytest.raises(KeyMissing):
            call()
    assert store.delete([md5(data)]) == {md5(data)}


def test_a_server_that_stops_answering_is_a_remote_error(
        s3_server: StorageServer, bucket_factory: Callable[[StorageServer], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 only: the other SDKs retry a stopped server for a minute (test_cloud.py's outage
    test says the same); the translation of their errors is tested by the missing bucket."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    bucket = bucket_factory(s3_server)
    store = store_of("s3", open_url(s3_server.url_for(bucket, PREFIX), s3_server.endpoint,
                                    cloud_credentials(s3_server)))
    data = b"put before the outage"
    store.put(md5(data), BytesIO(data))
    s3_server.stop()
    try:
        for call in (store.list, lambda: store.size(md5(data)),
                     lambda: store.open(md5(data)).__enter__().read(),
                     lambda: store.put(md5(data), BytesIO(data)),
                     lambda: store.delete([md5(data)])):
            with pytest.raises(RemoteError) as caught:
                call()
            assert "cannot reach" in caught.value.message, caught.value.message
            assert store.where() in caught.value.message
    finally:
        s3_server.start()


# -- the facade: a project's own stores -----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_stores_of_a_project(kind: str, project: Project, request: pytest.FixtureRequest,
                                 bucket_factory: Callable[[StorageServer], str]) -> None:
    """`DataStore.cache()` and `DataStore.remote(name)`: the stores a command opens, of the
    kind the project's configuration names."""
    from hdversion.ops.project import Project as Opened

    name = DEFAULT_LOCAL_REMOTE
    if kind not in LOCAL_KINDS:
        server: StorageServer = request.getfixturevalue(CLOUD_FIXTURE[kind])
        configure(project, server, bucket_factory(server))
        name = server.name
    datastore: DataStore = Opened.open(project.root).store
    store = datastore.cache() if kind == "cache" else datastore.remote(name)
    assert type(store) is {"cache": CacheStore, "directory": DirectoryStore}.get(
        kind, BucketStore)
    if kind == "cache":  # what `dvc add` and `dvc repro` put there
        pointer = (project.root / "data/raw/heart.csv.dvc").read_text()
        committed = pointer.split("md5: ")[1].split()[0]
        assert store.size(committed) == len(b"age,target\n63,1\n")
        assert committed in store.list()
    else:
        assert store.list() == {}
    data = b"through the facade"
    store.put(md5(data), BytesIO(data), len(data))
    assert store.list([md5(data)[:2]])[md5(data)].size == len(data)
    assert store.read(md5(data), 100) == data
    assert store.delete([md5(data)]) == {md5(data)}
    assert not store.has(md5(data))


def test_a_file_that_changes_while_it_is_put_is_not_kept(
        subject: Subject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hard-linked cache object written in place while a put sends it. A directory copies
    and hashes at once: the bytes read are checked. A bucket sends the file after hashing
    it: the file's identity is checked after the upload (the write is injected into the
    upload, the one instant no real process can be made to hit)."""
    whole = os.urandom(CHUNK * 2 + 3)
    name = md5(whole)
    source = tmp_path / "hard-linked"
    source.write_bytes(whole)

    def write_in_place() -> None:
        with source.open("r+b") as stream:
            stream.seek(CHUNK + 1)
            stream.write(b"changed")

    on_chunk = None
    if isinstance(subject.store, BucketStore):
        fs = subject.store.records.fs
        real = fs.put_file

        def put_file(*args: object, **kwargs: object) -> object:
            write_in_place()
            return real(*args, **kwargs)

        monkeypatch.setattr(fs, "put_file", put_file)
    else:
        chunks: list[int] = []

        def on_chunk(n: int) -> None:
            chunks.append(n)
            if len(chunks) == 1:
                write_in_place()

    with pytest.raises(VerificationError) as caught:
        subject.store.put_file(name, source, on_chunk)
    assert ("changed while it was sent" if isinstance(subject.store, BucketStore)
            else "; not written") in caught.value.message
    monkeypatch.undo()
    assert not subject.store.has(name)
    assert objects_of(subject) == set()
