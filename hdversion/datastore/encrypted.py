"""An encrypted remote's store: a `Store` that wraps the remote's directory or bucket
store and seals every object on its way in and opens it on its way out (issue 27), so that
every path that moves bytes through the store interface (backup's push, sync, copy, verify
`--read-data` and `--repair`, prune, restore, `cat`/`get`, the bucket-alone recovery) is
covered by construction. The remote's records are sealed by `Records` itself.

Objects are stored under keyed names: the first 32 hex digits of HMAC-SHA256(names key,
md5), in DVC's layout (`files/md5/xx/yyyy...`), so that nobody holding a known model file
can confirm by its md5 that it is in the bucket, and a directory's listing (`.dir`) looks
like any object. The md5 a name stands for is known only to who computes it: a listing
gives back the md5s of the objects the caller names (`list_known`), and every other object
under its keyed name, which `delete` takes back as it was given.
"""

from __future__ import annotations

import hashlib
import hmac
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from hdversion.crypto.master import MasterKey
from hdversion.crypto.sealing import Sealer, plain_size
from hdversion.datastore.store import (
    BucketStore,
    Deleted,
    DirectoryStore,
    FolderListings,
    OnChunk,
    Staged,
    StagedPut,
    Store,
    StoredObject,
    _check_put,
    _writing,
    check_name,
    listing_prefixes,
)
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import CHUNK

KEYED_NAME_DIGITS = 32


class EncryptedStore(Store):
    def __init__(self, inner: DirectoryStore | BucketStore, master: MasterKey) -> None:
        self.inner, self.name, self.records, self.master = inner, inner.name, inner.records, master
        self.sealer = Sealer(master.subkey("objects"))
        self._names_key = master.subkey("names")
        self._md5_of: dict[str, str] = {}  # keyed name -> the md5 it was computed from
        self._listed_unnamed: set[str] = set()  # keyed names a listing could not name

    # -- names ------------------------------------------------------------------------
    def stored_name(self, md5: str) -> str:
        """The keyed name an object is stored under."""
        digest = hmac.new(self._names_key, check_name(md5).encode(), hashlib.sha256)
        name = digest.hexdigest()[:KEYED_NAME_DIGITS]
        self._md5_of[name] = md5
        return name

    def _given(self, name: str) -> str:
        """A name given back to `delete`: a keyed name a listing gave as it was, else an
        md5."""
        return name if name in self._listed_unnamed else self.stored_name(name)

    def where(self, md5: str | None = None) -> str:
        if md5 is None:
            return self.inner.where()
        return f"{self.inner.where(self.stored_name(md5))} (object {md5}, encrypted)"

    # -- reading ----------------------------------------------------------------------
    def size(self, md5: str) -> int:
        sealed = self.inner.size(self.stored_name(md5))
        plain = plain_size(sealed)
        # A size no plaintext seals to: damaged; a size no manifest records (-1) says so.
        return -1 if plain is None else plain

    @contextmanager
    def open(self, md5: str) -> Iterator[IO[bytes]]:
        name = self.stored_name(md5)
        with self.inner.open(name) as sealed:
            yield self.sealer.opening(name, sealed, self.where(md5))  # type: ignore[misc]

    # -- writing ----------------------------------------------------------------------
    def put(self, md5: str, source: IO[bytes], size: int | None = None,
            on_chunk: OnChunk | None = None) -> None:
        """Sealed as it is read, the plaintext hashed on the way: stored under its keyed
        name only when it hashed to `md5` (and, given, has `size`), else nothing is."""
        name, where = self.stored_name(md5), self.where(md5)
        if isinstance(self.inner, DirectoryStore):
            with _writing(where):
                staged = self.inner.stage()
            try:
                with _writing(where):
                    found = _seal_hashed(self.sealer, source, staged.write, on_chunk, name)
                _check_put(where, md5, size, found)
            except BaseException:
                staged.discard()
                raise
            with _writing(where):
                staged.commit(name)
            return
        with _writing(f"a spool of {where}"):
            spool = tempfile.NamedTemporaryFile(prefix=TEMP_PREFIX)  # noqa: SIM115
        with spool:
            with _writing(f"a spool of {where}"):
                found = _seal_hashed(self.sealer, source, spool.write, on_chunk, name)
                spool.flush()
            _check_put(where, md5, size, found)
            self.inner.upload(Path(spool.name), name)

    def stage(self) -> SealedStaged:
        """A write whose name is not known yet, sealed as written (ingest's tee into an
        encrypted local remote): committed under the keyed name of the md5 its writer
        computed, or discarded. Only over a directory store."""
        assert isinstance(self.inner, DirectoryStore), "staged writes are a directory's"
        return SealedStaged(self, self.inner.stage())

    def write_new(self, md5: str, data: bytes, listed: FolderListings | None = None) -> None:
        """`DirectoryStore.write_new` sealed: staged, sealed and named as `stage` does (its
        objects are under keyed names: `listed`, of md5 names, does not apply)."""
        staged = self.stage()
        try:
            staged.write(data)
        except BaseException:
            staged.discard()
            raise
        staged.commit(md5)

    def put_file(self, md5: str, path: Path, on_chunk: OnChunk | None = None) -> None:
        # What is sealed is what was hashed: a file changing meanwhile fails the check.
        with path.open("rb") as source:
            self.put(md5, source, None, on_chunk)

    def put_files(self, files: Iterable[tuple[str, Path]], on_chunk: OnChunk | None = None
                  ) -> None:
        """Into a directory store, by its two phases (`DirectoryStore.put_staged`: all
        staged, made durable at once, then renamed), each object sealed into its staged
        file; into a bucket, as every store does."""
        if not isinstance(self.inner, DirectoryStore):
            super().put_files(files, on_chunk)
            return
        self.inner.put_staged(files, lambda md5, path: self._stage_sealed(md5, path, on_chunk))

    def _stage_sealed(self, md5: str, path: Path, on_chunk: OnChunk | None) -> StagedPut:
        assert isinstance(self.inner, DirectoryStore)
        name, where = self.stored_name(md5), self.where(md5)
        with path.open("rb") as source:
            staged = self.inner.stage_at(name, where)
            try:
                with _writing(where):
                    found = _seal_hashed(self.sealer, source, staged.write, on_chunk, name)
                    staged.stream.close()
                _check_put(where, md5, None, found)
            except BaseException:
                staged.discard()
                raise
        return StagedPut(str(staged.tmp), self.inner.path_text(name), found[1])

    # -- listing and deleting -----------------------------------------------------------
    def list(self, prefixes: Iterable[str] | None = None) -> dict[str, StoredObject]:
        """Every object under its keyed name (the prefixes are of keyed names); the md5s a
        caller knows come from `list_known` and `present`."""
        return self._named(self.inner.list(prefixes))

    def list_known(self, known: Iterable[str]) -> dict[str, StoredObject]:
        for md5 in known:
            self.stored_name(md5)
        return self._named(self.inner.list())

    def present(self, md5s: Iterable[str]) -> dict[str, StoredObject]:
        names = {self.stored_name(m): m for m in md5s}
        listed = self.inner.list(listing_prefixes(names))
        return {md5: StoredObject(md5, plain_size(listed[name].size), listed[name].mtime)
                for name, md5 in names.items() if name in listed}

    def _named(self, listed: dict[str, StoredObject]) -> dict[str, StoredObject]:
        named: dict[str, StoredObject] = {}
        for name, stored in listed.items():
            md5 = self._md5_of.get(name)
            if md5 is None:
                self._listed_unnamed.add(name)
            key = md5 or name
            named[key] = StoredObject(key, plain_size(stored.size), stored.mtime)
        return named

    def delete(self, md5s: Iterable[str], between: Callable[[], None] | None = None
               ) -> Deleted:
        names = {self._given(m): m for m in md5s}
        done = self.inner.delete(names, between)
        return Deleted((names.get(n, n) for n in done),
                       {names.get(n, n): until for n, until in done.locked.items()})

    def keep_locked(self, md5s: Iterable[str]) -> int:
        return self.inner.keep_locked(self.stored_name(m) for m in md5s)

    def flush(self, objects: Mapping[str, int]) -> None:
        # Sealed sizes differ from the plain ones by a few bytes a chunk: close enough to
        # tell a big object from a small one.
        self.inner.flush({self.stored_name(md5): size for md5, size in objects.items()})


class SealedStaged:
    """`Staged` (store.py) of an encrypted directory remote: each chunk sealed as it is
    written; `commit(md5)` seals the last one under the object's keyed name and names the
    file by it."""

    def __init__(self, store: EncryptedStore, staged: Staged) -> None:
        self.store, self.staged = store, staged
        self.sealing = store.sealer.writer(staged.write)

    def write(self, chunk: bytes) -> None:
        self.sealing.write(chunk)

    def commit(self, md5: str) -> None:
        name = self.store.stored_name(md5)
        try:
            self.sealing.finish(name)
        except BaseException:
            self.staged.discard()
            raise
        self.staged.commit(name)

    def discard(self) -> None:
        self.staged.discard()


def _seal_hashed(sealer: Sealer, source: IO[bytes], out: Callable[[bytes], object],
                 on_chunk: OnChunk | None, name: str) -> tuple[str, int]:
    """Seal what `source` yields into `out`, hashing the plaintext: (md5, size)."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    writer = sealer.writer(out)
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        writer.write(chunk)
        size += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    writer.finish(name)
    return digest.hexdigest(), size


def encrypted_store(inner: DirectoryStore | BucketStore) -> Store:
    """The store of a remote as hdversion uses it: sealed when its records say the remote
    is encrypted (the master key was unlocked when they were opened)."""
    master = inner.records.master if inner.records is not None else None
    return inner if master is None else EncryptedStore(inner, master)

