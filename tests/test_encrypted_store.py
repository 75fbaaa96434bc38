"""An encrypted remote's store and records (hdversion/datastore/encrypted.py, the sealing
hook of datastore/records.py), on a directory and on every bucket kind: what goes in comes
out, nothing stored reveals it, and every change made behind the store's back is caught,
each by its own rule."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest

from hdversion.crypto.master import MasterKey
from hdversion.datastore.encrypted import EncryptedStore
from hdversion.datastore.records import KeyMissing, Records, open_url
from hdversion.datastore.store import store_of
from hdversion.errors import TamperedError, VerificationError
from hdversion.model.remote_records import OBJECTS_DIR, object_key
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX
from tests.test_store_contract import CLOUD_FIXTURE, cloud_credentials, endpoint_of

KINDS = ["directory", "s3", "azure", "gcs"]
MASTER = MasterKey("ab" * 16, bytes(range(32)))


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Remote:
    records: Records
    store: EncryptedStore
    raw_get: Callable[[str], bytes]
    raw_put: Callable[[str, bytes], None]
    raw_keys: Callable[[], set[str]]


def opened(records: Records) -> EncryptedStore:
    records.use_master(MASTER)
    store = store_of("vault", records)
    assert isinstance(store, EncryptedStore)
    return store


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path,
           bucket_factory: Callable[[StorageServer], str]) -> Remote:
    kind: str = request.param
    if kind == "directory":
        root = tmp_path / "vault"
        root.mkdir()
        records = open_url(str(root))

        def put(key: str, data: bytes) -> None:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.chmod(0o644)
            path.write_bytes(data)

        return Remote(records, opened(records), lambda k: (root / k).read_bytes(), put,
                      lambda: {p.relative_to(root).as_posix() for p in root.rglob("*")
                               if p.is_file()})
    server: StorageServer = request.getfixturevalue(CLOUD_FIXTURE[kind])
    bucket = bucket_factory(server)
    records = open_url(server.url_for(bucket, PREFIX), endpoint_of(server),
                       cloud_credentials(server))
    return Remote(records, opened(records),
                  lambda k: server.read_object(bucket, f"{PREFIX}/{k}"),
                  lambda k, d: server.corrupt_object(bucket, f"{PREFIX}/{k}", d),
                  lambda: {k.removeprefix(f"{PREFIX}/")
                           for k in server.list_keys(bucket, f"{PREFIX}/")})


def test_objects_round_trip_under_keyed_names_revealing_nothing(remote: Remote,
                                                              tmp_path: Path) -> None:
    store = remote.store
    model = os.urandom(200_000) + b"weights" * 1000
    listing = b'[{"md5": "0123456789abcdef0123456789abcdef", "relpath": "a.pkl"}]'
    name, dir_name = md5(model), md5(listing) + ".dir"
    store.put(name, BytesIO(model), len(model))
    path = tmp_path / "listing"
    path.write_bytes(listing)
    store.put_file(dir_name, path)
    assert store.size(name) == len(model) and store.size(dir_name) == len(listing)
    with store.open(name) as stream:
        assert stream.read() == model
    out = tmp_path / "got"
    store.get_file(name, out, len(model))
    assert out.read_bytes() == model
    keys = {k for k in remote.raw_keys() if k.startswith(OBJECTS_DIR)}
    # Neither md5 names a key, and no listing is marked as one.
    assert len(keys) == 2 and not any(name in k or md5(listing) in k or k.endswith(".dir")
                                      for k in keys), keys
    for key in keys:
        stored = remote.raw_get(key)
        for start in range(0, len(model) - 64, 4096):
            assert model[start:start + 64] not in stored
        assert b"relpath" not in stored
    # A listing names what the caller knows by md5; the rest by stored names.
    assert set(store.list_known([name, dir_name])) == {name, dir_name}
    assert store.present([name, md5(b"absent")]).keys() == {name}
    assert store.present([name])[name].size == len(model)


def test_a_listing_gives_unknown_objects_by_stored_name_and_delete_takes_them_back(
        remote: Remote) -> None:
    store = remote.store
    kept, garbage = b"kept", b"garbage"
    for data in (kept, garbage):
        store.put(md5(data), BytesIO(data))
    # A later run (a new store) that knows only what it keeps: prune's view.
    later = opened(remote.records)
    listed = later.list_known([md5(kept)])
    unknown = set(listed) - {md5(kept)}
    assert len(unknown) == 1 and md5(garbage) not in listed
    assert later.delete(unknown) == unknown
    assert set(later.list_known([md5(kept)])) == {md5(kept)}
    assert store.has(md5(kept)) and not store.has(md5(garbage))


def test_a_changed_object_is_caught_by_its_rule(remote: Remote) -> None:
    store = remote.store
    one, two = b"model one" * 1000, b"model two" * 1000
    for data in (one, two):
        store.put(md5(data), BytesIO(data))
    key_one, key_two = (object_key(store.stored_name(md5(d))) for d in (one, two))
    sealed_one, sealed_two = remote.raw_get(key_one), remote.raw_get(key_two)
    # Object two's sealed bytes under object one's name: the name is in the key.
    remote.raw_put(key_one, sealed_two)
    with pytest.raises(TamperedError, match="fails its authentication"), \
            store.open(md5(one)) as stream:
        stream.read()
    # A flipped bit, and bytes cut off at the end.
    flipped = bytearray(sealed_one)
    flipped[len(flipped) // 2] ^= 1
    remote.raw_put(key_one, bytes(flipped))
    with pytest.raises(TamperedError, match="chunk 0 fails"), store.open(md5(one)) as stream:
        stream.read()
    remote.raw_put(key_one, sealed_one[:-1])
    assert store.size(md5(one)) == len(one) - 1  # not the manifest's size: damaged
    with pytest.raises(TamperedError), store.open(md5(one)) as stream:
        stream.read()
    # Plain bytes put there by someone without the key.
    remote.raw_put(key_one, one)
    with pytest.raises(TamperedError, match="not sealed by hdversion"), \
            store.open(md5(one)) as stream:
        stream.read()
    # Another repository's key opens nothing: it names the object otherwise, and cannot
    # open its sealed bytes under this name.
    remote.raw_put(key_one, sealed_one)
    stranger = EncryptedStore(store.inner, MasterKey("cd" * 16, MASTER.secret))
    with pytest.raises(KeyMissing):
        stranger.size(md5(one))
    with pytest.raises(TamperedError, match="fails its authentication"):
        stranger.sealer.open_bytes(store.stored_name(md5(one)), sealed_one, "there")
    with store.open(md5(one)) as stream:  # and the right key still does
        assert stream.read() == one


def test_a_put_that_does_not_hash_to_its_name_stores_nothing(remote: Remote) -> None:
    before = remote.raw_keys()
    with pytest.raises(VerificationError, match="hashes to"):
        remote.store.put(md5(b"expected"), BytesIO(b"something else"))
    with pytest.raises(VerificationError, match="bytes given"):
        remote.store.put(md5(b"expected"), BytesIO(b"expected"), size=99)
    assert remote.raw_keys() == before


def test_records_are_sealed_but_the_encryption_records_and_lock_setting(
        remote: Remote) -> None:
    records = remote.records
    manifest = b'{"schema": "hdversion/remote-manifest", "metrics": {"roc_auc": 0.91}}'
    records.write("hdversion/backups/20261207_010000/manifest.json", manifest)
    records.write("hdversion/encryption/config.json", b'{"version": 1}')
    stored = remote.raw_get("hdversion/backups/20261207_010000/manifest.json")
    assert b"roc_auc" not in stored and b"schema" not in stored
    assert remote.raw_get("hdversion/encryption/config.json") == b'{"version": 1}'
    assert records.read("hdversion/backups/20261207_010000/manifest.json", 1000) == manifest
    assert records.size("hdversion/backups/20261207_010000/manifest.json") == len(manifest)
    # A record moved to another record's name is caught: its name is in its key.
    remote.raw_put("hdversion/aliases/prod.json", stored)
    with pytest.raises(TamperedError):
        records.read("hdversion/aliases/prod.json", 1000)
    # And a record over its limit stops at the limit, opened or not.
    with pytest.raises(ValueError, match="more than 10 bytes"):
        records.read("hdversion/backups/20261207_010000/manifest.json", 10)
