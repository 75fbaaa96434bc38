"""The one door for bytes: a store of DVC objects keyed by md5, and the only way hdversion
reads or writes one. Three kinds, one contract (`tests/test_store_contract.py`):

- `CacheStore`: DVC's cache (read-only objects, as DVC keeps them);
- `DirectoryStore`: a remote that is a directory (the local remote, a USB disk, an NFS share);
- `BucketStore`: a remote in an object store (S3, Azure Blob, GCS), through DVC's fsspec
  file systems and the credentials DVC's remote config (or the environment) gives.

Every `put` is verified (the bytes hash to the name and have the announced size, or nothing
is written) and atomic (a directory gets the object by rename, a bucket by one upload that
is visible only when complete). Every `open` is a plain stream: the caller that needs the
bytes verified reads them through `VerifiedReader` (or hashes them itself as it stages them).

A remote (directory or bucket) also holds hdversion's own records beside the objects (the
per-backup manifests and blobs of `model/remote_records.py`): `records` is that keyed view, the
`Records` of `datastore/records.py`. The cache holds none.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from hdversion.datastore.deletion import S3_DELETE_BATCH, delete_keys
from hdversion.datastore.records import DOWNLOADS, KeyMissing, Records, entry_mtime
from hdversion.errors import DeletionRefusedError, RemoteError, VerificationError, WriteError
from hdversion.model.leftovers import is_partial_name
from hdversion.model.remote_records import OBJECTS_DIR, is_object_name, object_key
from hdversion.paths import TEMP_PREFIX
from hdversion.util.atomic import (
    BATCH,
    FLUSH_ALONE,
    flush_together,
    fsync_path,
    make_durable,
    new_raw_beside,
    open_beside,
    read_only_from_creation,
    read_small,
    write_all,
)
from hdversion.util.hashing import CHUNK, copy_hashed, md5_bytes, md5_file, md5_stream
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.writeback import EarlyWriteback

if TYPE_CHECKING:
    from hdversion.datastore.gcs_resume import GcsResumer
    from hdversion.datastore.s3_requests import S3Requests

__all__ = [
    "DOWNLOADS",
    "BucketStore",
    "CacheStore",
    "Deleted",
    "DirectoryStore",
    "FolderListings",
    "KeyMissing",
    "ObjectDigest",
    "Records",
    "Store",
    "StoreInfo",
    "StoredObject",
    "VerifiedReader",
]

# Objects deleted from a bucket per request: as many as S3 takes in one.
DELETE_BATCH = S3_DELETE_BATCH
# Objects written at once by `put_files`: small objects wait on file creation (on a
# request) more than on the disk.
PUTS_AT_ONCE = 4

OnChunk = Callable[[int], None]
# What `Store.get_files` does with each object once it is whole in its local file.
Landed = Callable[[str, Path], None]
_Item = TypeVar("_Item")
_Done = TypeVar("_Done")


class Deleted(set[str]):
    """What `Store.delete` deleted (an object already gone counts), and what it left
    because the store keeps it locked (md5 -> until when; None: a legal hold, no date)."""

    def __init__(self, deleted: Iterable[str] = (),
                 locked: dict[str, datetime | None] | None = None) -> None:
        super().__init__(deleted)
        self.locked: dict[str, datetime | None] = dict(locked or {})


@dataclass(frozen=True)
class StoredObject:
    md5: str  # `<md5>` or `<md5>.dir`
    size: int | None
    mtime: float | None  # seconds since the epoch, by the store's own clock; None if unsaid


def _is_hex(text: str, length: int) -> bool:
    # strip: what is left is the first character that is no hex digit on (C, not a
    # generator: every object of a 100,000-object listing passes here)
    return len(text) == length and not text.strip("0123456789abcdef")


@dataclass(frozen=True)
class ObjectDigest:
    """What a store's copy of an object hashes to, read back whole."""

    md5: str | None  # None when it could not be read (see `error`)
    size: int
    error: str | None = None


@dataclass(frozen=True)
class StoreInfo:
    store: Store  # the cache or a remote's store; `store.name` says which, for messages
    url: str
    shared: bool  # outside this repository: other clones may be writing to it

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def is_cache(self) -> bool:
        return isinstance(self.store, CacheStore)


def check_name(md5: str) -> str:
    """A store key: 32 lower-case hex digits, optionally `.dir` (a directory's listing).
    Anything else (a path, `..`, upper case) is refused before it names a file or key."""
    if not _is_hex(md5.removesuffix(".dir"), 32):
        raise ValueError(f"not an object name: {md5!r}")
    return md5


def check_prefixes(prefixes: Iterable[str] | None) -> list[str] | None:
    """A listing's prefixes: two lower-case hex digits each (`..` would list another
    folder), all checked before the first is listed."""
    if prefixes is None:
        return None
    checked = list(prefixes)
    for prefix in checked:
        if not _is_hex(prefix, 2):
            raise ValueError(f"not an object prefix: {prefix!r}")
    return checked


def _objects_only(listed: dict[str, tuple[int | None, dict[str, Any]]],
                  mtime: Callable[[dict[str, Any]], float | None]
                  ) -> dict[str, StoredObject]:
    """A listing's objects: what else sits among them (a README, a `zz/` folder, a name in
    upper case, what a killed write left) is no object of this store."""
    return {name: StoredObject(name, size, mtime(entry))
            for name, (size, entry) in listed.items()
            if _is_hex(name[:2], 2) and is_object_name(name[2:])}


class Store(ABC):
    """A place that holds DVC objects by md5."""

    name: str  # for messages: "cache", a remote's name, or a URL (redacted)
    records: Records | None  # a remote's own records beside its objects; None for the cache

    @abstractmethod
    def where(self, md5: str | None = None) -> str:
        """Where the store (or one of its objects) is, fit for a message."""

    @abstractmethod
    def size(self, md5: str) -> int:
        """The size of an object; KeyMissing when there is none."""

    @abstractmethod
    def open(self, md5: str) -> AbstractContextManager[IO[bytes]]:
        """A stream of an object's bytes, unverified; KeyMissing when there is none, and
        RemoteError (never an SDK's own exception) when the store cannot be read."""

    @abstractmethod
    def put(self, md5: str, source: IO[bytes], size: int | None = None,
            on_chunk: OnChunk | None = None) -> None:
        """Write an object whole or not at all: VerificationError (nothing written) unless
        the bytes hash to `md5` (a `.dir` listing: to its md5 part) and, given, have `size`.
        Replaces what the store held under that name."""

    def put_file(self, md5: str, path: Path, on_chunk: OnChunk | None = None) -> None:
        """`put` from a local file (the cache's copy, most often)."""
        with path.open("rb") as source:
            self.put(md5, source, os.fstat(source.fileno()).st_size, on_chunk)

    def put_files(self, files: Iterable[tuple[str, Path]], on_chunk: OnChunk | None = None
                  ) -> None:
        """`put_file` of many objects (md5, local file), a few at once; the first failure
        is raised once the others have stopped. `on_chunk` is called from those threads,
        with the bytes of each chunk written."""
        with ThreadPoolExecutor(max_workers=PUTS_AT_ONCE) as pool:
            list(pool.map(lambda item: self.put_file(item[0], item[1], on_chunk), files))

    @abstractmethod
    def list(self, prefixes: Iterable[str] | None = None) -> dict[str, StoredObject]:
        """Every object under the given two-hex-digit prefixes (or all of them), with its
        size and modification time, from the store's own listing. What a killed write left
        (`model/leftovers.py`) is not an object."""

    @abstractmethod
    def delete(self, md5s: Iterable[str], between: Callable[[], None] | None = None
               ) -> Deleted:
        """Delete objects; those deleted (an object already gone counts), and those the
        store keeps locked (S3 Object Lock), which it never tries to delete. `between`
        runs between two deletions (two batches in a bucket): a test's pause point."""

    def keep_locked(self, md5s: Iterable[str]) -> int:
        """Lock objects a backup reuses as long as the store locks what it writes now (S3
        Object Lock); how many were extended. Nothing in a store that does not lock."""
        return 0

    def flush(self, objects: Mapping[str, int]) -> None:
        """Make these objects (md5 -> size) survive a power cut, where puts are not durable
        one by one (a directory store written with `durable=False`: ingest's tee). Nothing
        where each write is durable once it returns (a bucket's upload)."""
        return None

    def get_file(self, md5: str, path: Path, limit: int | None,
                 on_chunk: OnChunk | None = None) -> None:
        """The object copied into a local file (`path`, created), unverified but stopped
        past `limit` (VerificationError); KeyMissing when there is none; `on_chunk` counts
        the bytes received. The store is only read."""
        with self.open(md5) as stream:
            reader = VerifiedReader(stream, None, limit, self.where(md5))
            with _writing(str(path)):
                out = path.open("wb")
            with out:
                _copy_hashed(cast(IO[bytes], reader), out, on_chunk, str(path))

    def get_files(self, files: Iterable[tuple[str, Path, int | None]], jobs: int,
                  on_chunk: OnChunk | None = None, landed: Landed | None = None) -> set[str]:
        """`get_file` of many objects (md5, local file, limit), `jobs` at once, each then
        handed to `landed` (md5, file) in the thread that got it, while the others are on
        their way (a fetch hashes and keeps it there). Returns the objects the store lacks
        or holds past their limit (what landed of them left for the caller to remove); the
        first other failure is raised once the others have stopped. `on_chunk` is called
        from those threads."""
        return _get_many(files, jobs, self.get_file, on_chunk, landed)

    def list_known(self, known: Iterable[str]) -> dict[str, StoredObject]:
        """`list` of every object, where a store whose names are keyed (an encrypted
        remote) gives the `known` md5s' objects by their md5 (the others by their stored
        names, which `delete` takes back as given)."""
        return self.list()

    def present(self, md5s: Iterable[str]) -> dict[str, StoredObject]:
        """Which of these objects the store holds, from its own listing: one listing per
        key prefix for a few objects, else one of the whole store."""
        wanted = set(md5s)
        listed = self.list(listing_prefixes(wanted))
        return {md5: listed[md5] for md5 in wanted if md5 in listed}

    def has(self, md5: str) -> bool:
        try:
            self.size(md5)
        except KeyMissing:
            return False
        return True

    def read(self, md5: str, limit: int) -> bytes:
        """An object's bytes, checked against its name; for small objects (a `.dir`
        listing). KeyMissing, or VerificationError when they are wrong or over `limit`."""
        with self.open(md5) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise VerificationError(f"{self.where(md5)} holds more than {limit} bytes")
        if md5_bytes(data) != md5.removesuffix(".dir"):
            raise VerificationError(f"{self.where(md5)} does not hash to its name")
        return bytes(data)


class VerifiedReader:
    """A stream of an object that stops as soon as it yields more bytes than expected (a
    hostile or damaged object never fills a disk), and at its end raises VerificationError
    unless the bytes had the expected size and md5: nothing read from it is trusted until
    it returned b"" once. Without an md5, only the size is checked: for a reader that
    hashes the bytes itself as it writes them (the engine's stager), once is enough."""

    def __init__(self, stream: IO[bytes], md5: str | None, size: int | None, where: str
                 ) -> None:
        self.stream, self.md5, self.size, self.where = stream, md5, size, where
        self.count = 0
        self.digest = hashlib.md5(usedforsecurity=False)

    def read(self, size: int = CHUNK) -> bytes:
        chunk = self.stream.read(min(size, CHUNK) if size > 0 else CHUNK)
        self.count += len(chunk)
        if self.size is not None and self.count > self.size:
            raise VerificationError(f"{self.where} holds more than the {self.size} bytes "
                                    "its manifest records")
        if chunk:
            if self.md5 is not None:
                self.digest.update(chunk)
            return bytes(chunk)
        if self.size is not None and self.count < self.size:
            raise VerificationError(f"{self.where} holds {self.count} bytes, its manifest "
                                    f"records {self.size}")
        if self.md5 is not None and self.digest.hexdigest() != self.md5.removesuffix(".dir"):
            raise VerificationError(f"{self.where}: data hashes to "
                                    f"{self.digest.hexdigest()}, expected {self.md5}")
        return b""


def _get_many(files: Iterable[tuple[str, Path, int | None]], jobs: int,
              get: Callable[[str, Path, int | None, OnChunk | None], None],
              on_chunk: OnChunk | None, landed: Landed | None) -> set[str]:
    """`Store.get_files` with `get` for each object's download."""
    def one(item: tuple[str, Path, int | None]) -> str | None:
        md5, path, limit = item
        try:
            get(md5, path, limit, on_chunk)
        except (KeyMissing, VerificationError):
            return md5
        if landed is not None:
            landed(md5, path)
        return None

    return {md5 for md5 in _each(jobs, one, files) if md5 is not None}


def _each(jobs: int, work: Callable[[_Item], _Done], items: Iterable[_Item]) -> list[_Done]:
    """`work` on each item from `jobs` threads, the answers in the items' order; the first
    failure is raised once the running ones have stopped, and those not started never
    start (an outage fails a transfer of 20,000 objects once, not 20,000 times)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _copy_hashed(source: IO[bytes], target: IO[bytes], on_chunk: OnChunk | None,
                 where: str) -> tuple[str, int]:
    """Copy and hash; what the source raises passes untouched (a reader's own failure, a
    remote's RemoteError), a failure to write the copy is a WriteError naming `where`."""
    def write(chunk: bytes) -> None:
        with _writing(where):
            target.write(chunk)

    found = copy_hashed(source, write, on_chunk)
    with _writing(where):
        target.flush()
    return found


@contextmanager
def _writing(where: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise WriteError(f"cannot write {where}: {exc.strerror or exc}") from None


def _check_put(where: str, md5: str, size: int | None, found: tuple[str, int]) -> None:
    digest, count = found
    if size is not None and count != size:
        raise VerificationError(f"{where}: {count} bytes given, {size} expected; not written")
    if digest != md5.removesuffix(".dir"):
        raise VerificationError(f"{where}: data hashes to {digest}, expected {md5}; not "
                                "written")


# Up to this many small objects are fsynced one by one (many at once) rather than by one
# syncfs of their file system, which waits for everything else written there too.
FSYNC_FEW = 64


def _make_lasting(files: list[tuple[str | Path, int]], folders: bool) -> None:
    """Make files (path, size) survive a power cut, by the one rule of a directory store's
    flush: each big one (`FLUSH_ALONE` bytes or more) fsynced alone, many at once, and the
    small ones too while they are at most `FSYNC_FEW`; more small ones by one syncfs of
    their file system. `folders`: each file's folder with it (its rename into it)."""
    big = [path for path, size in files if size >= FLUSH_ALONE]
    small = [path for path, size in files if size < FLUSH_ALONE]
    alone, together = (big + small, []) if len(small) <= FSYNC_FEW else (big, small)

    def with_folders(paths: list[str | Path]) -> list[str | Path]:
        if not folders:
            return paths
        return [*paths, *dict.fromkeys(
            path.parent if isinstance(path, Path) else os.path.dirname(path) for path in paths)]

    make_durable(with_folders(alone))
    # One syncfs per file system: one file of each folder names it (20,000 paths handed on
    # cost 0.4 s of the backup after an `add`).
    flush_together(with_folders(list({os.path.dirname(path): path
                                      for path in map(str, together)}.values())))


@dataclass(frozen=True)
class StagedPut:
    """An object written and verified beside its place in a directory store, under a
    temporary name (`model/leftovers.py` knows it), not yet renamed: `DirectoryStore.put_staged`."""

    tmp: str
    target: str
    size: int


# Stages one object (md5, local file) of `DirectoryStore.put_staged`: verified, or raises
# and leaves nothing.
Stager = Callable[[str, Path], StagedPut]


class DirectoryStore(Store):
    """Objects in a folder, DVC 3's layout (`xx/yyyy...`): a directory remote's
    `<url>/files/md5`, or the cache. Objects are read-only files, as DVC keeps them; a put
    is staged beside its place and renamed (fsynced first where `durable`)."""

    def __init__(self, name: str, objects: Path, records: Records | None = None,
                 durable: bool = True, lasting: bool = True) -> None:
        self.name, self.objects, self.records, self.durable = name, objects, records, durable
        # Whether its objects are made to last (fsynced as written where `durable`, else
        # by `flush`): a staged write has the disk write it back as it comes. Not the cache.
        self.lasting = lasting
        self._created_read_only: bool | None = None  # asked at the first write_new

    def path(self, md5: str) -> Path:
        check_name(md5)
        return self.objects / md5[:2] / md5[2:]

    def path_text(self, md5: str) -> str:
        """`path` as a string: a restore names 100,000 objects, and pathlib's joins cost it
        seconds."""
        check_name(md5)
        return f"{self.objects}{os.sep}{md5[:2]}{os.sep}{md5[2:]}"

    def where(self, md5: str | None = None) -> str:
        return str(self.objects if md5 is None else self.path(md5))

    def size(self, md5: str) -> int:
        try:
            info = os.stat(self.path(md5))
        except (FileNotFoundError, NotADirectoryError):
            raise KeyMissing(md5) from None
        if not stat.S_ISREG(info.st_mode):
            raise KeyMissing(md5)
        return info.st_size

    @contextmanager
    def open(self, md5: str) -> Iterator[IO[bytes]]:
        try:
            stream = self.path(md5).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise KeyMissing(md5) from None
        with stream:
            yield stream

    def put(self, md5: str, source: IO[bytes], size: int | None = None,
            on_chunk: OnChunk | None = None) -> None:
        target, where = self.path(md5), self.where(md5)
        try:
            tmp, stream = open_beside(target)
        except (FileExistsError, NotADirectoryError):  # a file where the store needs a folder
            raise WriteError(f"cannot write {where}: {target.parent} is a file") from None
        except OSError as exc:
            raise WriteError(f"cannot write {where}: {exc.strerror or exc}") from None
        try:
            try:
                found = _copy_hashed(source, stream, on_chunk, where)
                _check_put(where, md5, size, found)
                with _writing(where):
                    if self.durable:
                        os.fsync(stream.fileno())
            finally:
                with _writing(where):  # NFS reports some write errors at close only
                    stream.close()
            with _writing(where):
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.durable:
            with contextlib.suppress(OSError):
                fsync_path(target.parent)

    def put_files(self, files: Iterable[tuple[str, Path]], on_chunk: OnChunk | None = None
                  ) -> None:
        """Every object staged, then made durable at once, then renamed into place
        (`put_staged`), each read and hashed from its local file before it is written."""
        self.put_staged(files, lambda md5, path: self._stage_file(md5, path, on_chunk))

    def put_staged(self, files: Iterable[tuple[str, Path]], stage: Stager) -> None:
        """Many puts in two phases, as a restore writes its files: every object staged
        beside its place by `stage` (verified, read-only, not fsynced), a few threads at
        once, `BATCH` to a task; then, where `durable`, all made durable by the flush's rule
        (`_make_lasting`: one syncfs for many small ones, where 20,000 fsyncs cost most of a
        first backup after `dvc add`); then each renamed into place. So no object is under
        its name before its bytes are on disk. The renames (the folders) are left to the
        flush every push ends with before a tag names the objects (`ops/push.py`'s
        `confirm_pushed`): a power cut before it loses a rename, never bytes, and the object
        is missing, not short. Any failure (or an interrupt) removes every staged file not
        yet renamed, and nothing more is staged; the first failure is raised."""
        items = list(files)
        if self._created_read_only is None:  # asked once, not by each thread
            self._created_read_only = read_only_from_creation()
        staged: list[StagedPut | None] = [None] * len(items)
        failed = threading.Event()

        def run(indexes: range) -> None:
            for index in indexes:
                if failed.is_set():
                    return
                try:
                    staged[index] = stage(*items[index])
                except BaseException:
                    failed.set()
                    raise

        renamed = 0
        try:
            _each(PUTS_AT_ONCE, run, [range(start, min(start + BATCH, len(items)))
                                      for start in range(0, len(items), BATCH)])
            done = cast(list[StagedPut], staged)
            if self.durable:
                with _writing(self.where()):
                    _make_lasting([(put.tmp, put.size) for put in done], folders=False)
            for put in done:
                with _writing(put.target):
                    os.replace(put.tmp, put.target)
                renamed += 1
                if renamed == 1 and len(done) > 1:
                    pause_point(Path.cwd(), PausePoint.BETWEEN_OBJECT_RENAMES)
        except BaseException:
            for left in staged[renamed:]:
                if left is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(left.tmp)
            raise

    def _stage_file(self, md5: str, path: Path, on_chunk: OnChunk | None) -> StagedPut:
        """One object of `put_files`, from its local file: a small one read whole and
        hashed before anything is written, then written with one call (8 system calls an
        object, the rename included); a big one hashed as it is copied. Created read-only
        beside its place. The local file's own errors pass untouched (as `put_file`'s); the
        store's are WriteError, a wrong object VerificationError, as `put` says them."""
        target = self.path_text(md5)
        folder = os.path.dirname(target)
        # One open and read of a small file (no stat: a read short of the limit is all of
        # it); a big one is read again as a stream.
        data = read_small(path, FLUSH_ALONE)
        if len(data) >= FLUSH_ALONE:
            with path.open("rb") as source:
                size = os.fstat(source.fileno()).st_size
                return self._copy_staged(md5, source, size, folder, target, on_chunk)
        _check_put(target, md5, None, (md5_bytes(data), len(data)))
        tmp, fd = self._new_staged(folder, target)
        try:
            try:
                with _writing(target):
                    if not self._created_read_only:
                        os.fchmod(fd, 0o444)
                    write_all(fd, data)
            finally:
                with _writing(target):  # NFS reports some write errors at close only
                    os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if on_chunk:
            on_chunk(len(data))
        return StagedPut(tmp, target, len(data))

    def _copy_staged(self, md5: str, source: IO[bytes], size: int, folder: str, target: str,
                     on_chunk: OnChunk | None) -> StagedPut:
        """`_stage_file` of a big object: hashed as it is copied, checked once copied."""
        tmp, fd = self._new_staged(folder, target)
        try:
            stream = os.fdopen(fd, "wb")
            try:
                with _writing(target):
                    if not self._created_read_only:
                        os.fchmod(fd, 0o444)
                found = _copy_hashed(source, stream, on_chunk, target)
            finally:
                with _writing(target):  # NFS reports some write errors at close only
                    stream.close()
            _check_put(target, md5, size, found)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return StagedPut(tmp, target, found[1])

    def stage_at(self, md5: str, where: str) -> Staged:
        """A write whose name is known, staged beside its place as `put_files` stages
        (an encrypted remote's sealed objects: `EncryptedStore.put_files`); `where` names
        it in errors. The caller closes its stream and hands it to `put_staged`."""
        tmp, fd = self._new_staged(os.path.dirname(self.path_text(md5)), where)
        try:
            if not self._created_read_only:
                with _writing(where):
                    os.fchmod(fd, 0o444)
            return Staged(self, Path(tmp), os.fdopen(fd, "wb"))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _new_staged(self, folder: str, where: str) -> tuple[str, int]:
        """A new read-only temporary file in an object's folder (made if missing), as
        `put` says its failures."""
        if self._created_read_only is None:
            self._created_read_only = read_only_from_creation()
        try:
            return new_raw_beside(folder, 0o444)
        except (FileExistsError, NotADirectoryError):  # a file where the store needs a folder
            raise WriteError(f"cannot write {where}: {folder} is a file") from None
        except OSError as exc:
            raise WriteError(f"cannot write {where}: {exc.strerror or exc}") from None

    def adopt(self, md5: str, path: Path, size: int | None = None) -> None:
        """`put_file` of a file written beside the object's place (a download): hashed,
        then renamed into place rather than copied; removed either way, and
        VerificationError unless it hashes to `md5` (and, given, has `size`)."""
        try:
            _check_put(self.where(md5), md5, size, md5_file(path))
            if self.durable:
                fsync_path(path)
            os.chmod(path, 0o444)
            os.replace(path, self.path(md5))
        except OSError as exc:
            raise WriteError(f"cannot write {self.where(md5)}: {exc.strerror or exc}"
                             ) from None
        finally:
            path.unlink(missing_ok=True)

    def stage(self) -> Staged:
        """A write whose name is not known yet: the writer hashes the bytes as it writes
        them (ingest's tee), then commits them under their md5 or discards them."""
        tmp, stream = open_beside(self.objects / "object")
        return Staged(self, tmp, EarlyWriteback(stream) if self.lasting else stream)

    def write_new(self, md5: str, data: bytes, listed: FolderListings | None = None) -> None:
        """A small object whose bytes are in memory and whose md5 the caller computed from
        these very bytes (ingest's tee of a file read whole), unless the store holds it:
        staged beside its place, created read-only, renamed. Raw descriptors and string
        paths: 20,000 files of 4 KiB went through `stage` at 30 system calls and two
        Python file objects each (docs/design-decisions.md, "A first backup of many small
        files"). With `listed`, whether the store holds it is read from its folder's
        listing (taken once for the run), not asked of the file system for each object."""
        folder = f"{self.objects}{os.sep}{md5[:2]}"
        target = f"{folder}{os.sep}{md5[2:]}"
        if listed.holds(md5) if listed is not None else os.path.isfile(target):
            return
        if self._created_read_only is None:
            self._created_read_only = read_only_from_creation()
        # Read-only, as DVC keeps its objects, whatever the umask: from the creation where
        # the umask allows (no chmod: one system call less per object).
        tmp, fd = new_raw_beside(folder, 0o444)
        try:
            try:
                write_all(fd, data)
                if not self._created_read_only:
                    os.fchmod(fd, 0o444)
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if listed is not None:
            listed.wrote(md5)
        if self.durable:
            with contextlib.suppress(OSError):
                fsync_path(Path(folder))

    def flush(self, objects: Mapping[str, int]) -> None:
        """As a restore makes its files last: each big object fsynced on its own (many at
        once), and the small ones too while they are few; many small ones by one `syncfs`
        of the store's file system (one journal commit; each fsynced where there is no
        syncfs). Ingest's tee renames objects in without an fsync each (20,000 small files
        fsynced one by one cost seconds), and the backup's tag must not name objects a
        power cut could empty. A syncfs waits for every dirty page of the file system: a
        backup of one 10 GiB file waited for the cache's copy of its bytes, and a backup of
        a few files for whatever else was being written there (a training run's
        checkpoints). An object already on disk costs an fsync with nothing to write."""
        with _writing(self.where()):
            try:
                # The folders too: an fsync of a file does not make its rename into them
                # last.
                _make_lasting([(self.path_text(md5), size) for md5, size in objects.items()],
                              folders=True)
            except FileNotFoundError as exc:
                # Listed there a moment ago: deleted since (a prune from another clone).
                raise RemoteError(f"{exc.filename or self.where()} is gone from {self.name} "
                                  "since it was checked: it was deleted meanwhile",
                                  hint="run the backup again: it puts the object back"
                                  ) from None

    def list(self, prefixes: Iterable[str] | None = None) -> dict[str, StoredObject]:
        listed = _listed_folder(self.objects, check_prefixes(prefixes))
        return _objects_only(listed, lambda entry: entry.get("mtime"))

    def present(self, md5s: Iterable[str]) -> dict[str, StoredObject]:
        """`Store.present` read folder by folder, the wanted objects alone stat'ed (their
        sizes) and made records: a backup's check of 100,000 objects built a record for
        every object of the listing first (1.2 s of a 6 s backup, profiled)."""
        wanted: dict[str, set[str]] = {}
        for md5 in md5s:
            if _is_hex(md5[:2], 2) and is_object_name(md5[2:]):
                wanted.setdefault(md5[:2], set()).add(md5[2:])
        found: dict[str, StoredObject] = {}
        for prefix, names in wanted.items():
            for entry, info in _regular_files(self.objects / prefix, names.__contains__):
                md5 = prefix + entry.name
                found[md5] = StoredObject(md5, info.st_size, info.st_mtime)
        return found

    def delete(self, md5s: Iterable[str], between: Callable[[], None] | None = None
               ) -> Deleted:
        deleted = Deleted()
        for md5 in sorted({check_name(m) for m in md5s}):
            if deleted and between is not None:
                between()
            try:
                self.path(md5).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise WriteError(f"cannot delete {md5} from {self.objects}: "
                                 f"{exc.strerror or exc}",
                                 hint="check the permissions there, then try again") from None
            deleted.add(md5)
        return deleted


class FolderListings:
    """Which objects a directory store holds, read folder by folder (one listing of each
    two-letter folder, the first time an object of it is written) for one run that writes
    many new objects: a first backup of 20,000 small files asked the file system 40,000
    times (a stat per object per store, each a point where ingest's threads hand over the
    interpreter); it now lists at most 512 folders. A listing goes stale only towards
    writing again an object another writer put there meanwhile (the same bytes, renamed
    over it) or skipping one deleted meanwhile, which the backup's check that every object
    is in the local remote before its tag finds, as it would after a stat. Ingest's
    threads share one."""

    def __init__(self, store: DirectoryStore) -> None:
        self.objects = str(store.objects)
        self._names: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def holds(self, md5: str) -> bool:
        # Read without the lock: a set's lookup and add are each atomic under the GIL.
        names = self._names.get(md5[:2])
        if names is None:
            with self._lock:
                if (names := self._names.get(md5[:2])) is None:
                    names = self._names[md5[:2]] = self._read(md5[:2])
        return md5[2:] in names

    def wrote(self, md5: str) -> None:
        with self._lock:
            self._names.setdefault(md5[:2], set()).add(md5[2:])

    def _read(self, prefix: str) -> set[str]:
        try:
            with os.scandir(f"{self.objects}{os.sep}{prefix}") as entries:
                # As `os.path.isfile` answered: a regular file, or a link to one.
                return {entry.name for entry in entries if entry.is_file()}
        except (FileNotFoundError, NotADirectoryError):
            return set()


class Staged:
    """An object being written into a directory store (`DirectoryStore.stage`). `commit`
    names it by the md5 its writer computed from the very bytes written, unless the store
    holds that object already; `discard` removes it. Either leaves no temporary file; an
    OSError of either is the store's (the caller decides whether the write mattered)."""

    def __init__(self, store: DirectoryStore, tmp: Path, stream: IO[bytes] | EarlyWriteback
                 ) -> None:
        self.store, self.tmp, self.stream = store, tmp, stream

    def write(self, chunk: bytes) -> None:
        self.stream.write(chunk)

    def commit(self, md5: str) -> None:
        try:
            target = self.store.path(md5)
            if target.is_file():
                return
            if self.store.durable:
                self.stream.flush()
                os.fsync(self.stream.fileno())
            self.stream.close()
            target.parent.mkdir(exist_ok=True)
            os.chmod(self.tmp, 0o444)  # as DVC keeps its objects
            os.replace(self.tmp, target)
        finally:
            self.discard()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        self.tmp.unlink(missing_ok=True)


class CacheStore(DirectoryStore):
    """DVC's cache. Not made durable object by object (DVC does not either): what needs to
    last is in a remote; a restore makes its own files durable."""

    def __init__(self, objects: Path) -> None:
        super().__init__("cache", objects, None, durable=False, lasting=False)


class BucketStore(Store):
    """Objects in a bucket or container, under `<url>/files/md5/xx/yyyy...`. A put is
    hashed from a local file first, then sent in one upload (multipart on S3, a block list
    on Azure, a resumable upload on GCS): none is visible before it is whole.

    A bucket deleted under an open store: its listing and a put raise RemoteError; `size`
    and `open` say KeyMissing (one request cannot tell a missing object from a missing
    bucket, and a second for every missing object would cost each reader that falls back
    to another store)."""

    records: Records

    def __init__(self, name: str, records: Records) -> None:
        self.name, self.records = name, records

    def key(self, md5: str) -> str:
        return object_key(check_name(md5))

    def where(self, md5: str | None = None) -> str:
        return self.records.where("" if md5 is None else self.key(md5))

    def size(self, md5: str) -> int:
        return self.records.size(self.key(md5))

    def open(self, md5: str) -> AbstractContextManager[IO[bytes]]:
        return self.records.open(self.key(md5))

    def put(self, md5: str, source: IO[bytes], size: int | None = None,
            on_chunk: OnChunk | None = None) -> None:
        # Spooled to a local file, hashed on the way: the upload starts only once the bytes
        # are known good, and the SDK's own multipart machinery sends a file.
        where = self.where(md5)
        with _writing(f"a spool of {where}"):
            spool = tempfile.NamedTemporaryFile(prefix=TEMP_PREFIX)  # noqa: SIM115
        with spool:
            found = _copy_hashed(source, spool, on_chunk, f"a spool of {where}")
            _check_put(where, md5, size, found)
            self.upload(Path(spool.name), md5)

    def put_file(self, md5: str, path: Path, on_chunk: OnChunk | None = None) -> None:
        """Hashed where it is, then sent from there (no spool: the cache's objects are not
        written after DVC made them); a file that changed between the hash and the end of the
        upload (a hard-linked cache written in place) has what was sent deleted."""
        where = self.where(md5)
        with path.open("rb") as source:
            before = os.fstat(source.fileno())
            found = md5_stream(source)
        _check_put(where, md5, None, found)
        self.upload(path, md5)
        if _identity(before) != _identity(os.stat(path)):
            with contextlib.suppress(RemoteError):
                self.delete([md5])
            raise VerificationError(f"{where}: {path} changed while it was sent; what was "
                                    "sent is deleted")
        if on_chunk:
            on_chunk(found[1])

    def put_files(self, files: Iterable[tuple[str, Path]], on_chunk: OnChunk | None = None
                  ) -> None:
        """Many objects, each hashed before its own upload starts: the larger ones in one
        bulk upload (`s3_upload.upload_files`: boto3's threads on S3, s3fs elsewhere),
        hashed a few at once, the largest first, each handed to the upload as soon as it
        hashes to its name, so that one is on its way while the next is read; then, on S3,
        the small ones (up to `s3_requests.SMALL_PUT`), each read once, hashed and sent by
        one put_object, `jobs` at once (never more requests at once than the bulk upload
        makes). One that does not hash to its name is sent by no one: VerificationError,
        the upload stopped. A large file the uploader hashes as it sends it
        (`checked_in_flight`: S3's resumable uploads) is handed over first, unread, with its
        md5: its upload completes only if the bytes sent hash to it, so it is read once.
        `on_chunk` counts the bytes sent (not those hashed), as the SDK reports them, a part
        sent again not twice."""
        from hdversion.datastore.gcs_resume import RESUME_FROM
        from hdversion.datastore.s3_requests import SMALL_PUT
        from hdversion.datastore.s3_upload import checked_in_flight, upload_files

        sized = sorted(((md5, path, path.stat().st_size) for md5, path in files),
                       key=lambda item: -item[2])
        requests = self._requests()
        small = [(md5, path) for md5, path, size in sized
                 if requests is not None and size <= SMALL_PUT]
        large = [(md5, path, size) for md5, path, size in sized
                 if requests is None or size > SMALL_PUT]
        in_flight = checked_in_flight(self.records.fs)
        resumer = self._resumer()

        def hashed() -> Iterator[tuple[Path, str, int, str | None]]:
            for md5, path, size in large:
                if in_flight is not None and size >= in_flight:
                    yield path, self.records.path(self.key(md5)), size, md5.removesuffix(".dir")
            with ThreadPoolExecutor(max_workers=PUTS_AT_ONCE) as pool:
                futures = {pool.submit(md5_file, path): (md5, path)
                           for md5, path, size in large
                           if in_flight is None or size < in_flight}
                for future in as_completed(futures):
                    md5, path = futures[future]
                    found = future.result()
                    _check_put(self.where(md5), md5, None, found)
                    if resumer is not None and found[1] >= RESUME_FROM:
                        resumer.upload(path, self.records.path(self.key(md5)), found[1],
                                       md5.removesuffix(".dir"), on_chunk)
                        continue
                    yield path, self.records.path(self.key(md5)), found[1], None

        def put_small(item: tuple[str, Path]) -> None:
            assert requests is not None
            md5, path = item
            data = path.read_bytes()
            _check_put(self.where(md5), md5, None, (md5_bytes(data), len(data)))
            requests.put(self.records.path(self.key(md5)), data, self.records.put_args())
            if on_chunk:
                on_chunk(len(data))

        with self.records._errors("cannot write to"):
            # The remote's Object Lock is read here once, not by every thread at once.
            self.records.put_args()
            if large:
                upload_files(self.records.fs, hashed(), on_chunk, self.records.put_args)
            if small:
                try:
                    _each(self.records.fs.jobs, put_small, small)
                finally:
                    self.records.fs.fs.invalidate_cache()  # its listings are out of date

    def get_files(self, files: Iterable[tuple[str, Path, int | None]], jobs: int,
                  on_chunk: OnChunk | None = None, landed: Landed | None = None) -> set[str]:
        """On S3, each object one GET sent from its own thread (`s3_requests`: s3fs sends
        every request from its one event-loop thread, the bottleneck of many small
        objects); elsewhere `get_file` from `jobs` threads."""
        requests = self._requests()
        if requests is None:
            return super().get_files(files, jobs, on_chunk, landed)

        def get(md5: str, path: Path, limit: int | None, counted: OnChunk | None) -> None:
            key = self.key(md5)
            with self.records._errors("cannot read", missing=key):
                requests.get(self.records.path(key), path, limit, self.where(md5), counted)

        return _get_many(files, jobs, get, on_chunk, landed)

    def _requests(self) -> S3Requests | None:
        """The single-request transfers of an S3 remote (`s3_requests`); None elsewhere, or
        where its client cannot be made. Connects once, not in every thread."""
        from hdversion.datastore.s3_requests import s3_requests

        fs = self.records.fs
        with self.records._errors("cannot reach"):
            _ = fs.fs
            return s3_requests(fs) if fs.protocol == "s3" else None

    def _resumer(self) -> GcsResumer | None:
        """A project's GCS remote: its large files in sessions a later run resumes
        (`gcs_resume`); None elsewhere."""
        from hdversion.datastore.gcs_resume import GcsResumer, UploadSessions

        if self.records.uploads is None or self.records.fs.protocol != "gs":
            return None
        with self.records._errors("cannot reach"):
            return GcsResumer(self.records.fs.fs, self.records.url,
                              UploadSessions(self.records.uploads))

    def upload(self, path: Path, md5: str) -> None:
        """Send a local file as the object named `md5`, as it is (its caller checked it)."""
        with self.records._errors("cannot write to"):
            args = self.records.put_args()
            self.records.fs.put_file(str(path), self.records.path(self.key(md5)), **args)

    def list(self, prefixes: Iterable[str] | None = None) -> dict[str, StoredObject]:
        checked = check_prefixes(prefixes)
        with self.records._errors("cannot list"):
            listed = _listed_keys(self.records.fs.fs, self.records.path(OBJECTS_DIR), checked)
        if not listed:
            # A bucket that is gone lists as empty: only then, one more request tells.
            self.records.check()
        return _objects_only(listed, entry_mtime)

    def delete(self, md5s: Iterable[str], between: Callable[[], None] | None = None
               ) -> Deleted:
        """On a bucket with Object Lock, version by version and never a locked one
        (`object_lock.delete_unlocked`); elsewhere in batches of plain deletes."""
        wanted = sorted({check_name(m) for m in md5s})
        deleted = Deleted()
        locked = bool(wanted) and self.records.locked_bucket()
        for start in range(0, len(wanted), DELETE_BATCH):
            if (deleted or deleted.locked) and between is not None:
                between()
            batch = wanted[start:start + DELETE_BATCH]
            if locked:
                self._delete_unlocked(batch, deleted)
                continue
            try:
                delete_keys(self.records, [self.key(m) for m in batch])
            except DeletionRefusedError as exc:
                raise DeletionRefusedError(f"deleting from {self.where()} stopped after "
                                           f"{len(deleted)} object(s): {exc.message}",
                                           hint=exc.hint) from None
            except Exception as exc:  # the SDKs raise anything
                raise RemoteError(f"deleting from {self.where()} failed after "
                                  f"{len(deleted)} object(s): "
                                  + self.records.explain("cannot delete from", exc)) from None
            deleted.update(batch)
        return deleted

    def keep_locked(self, md5s: Iterable[str]) -> int:
        from hdversion.datastore.object_lock import extend_retention

        return extend_retention(self.records, [self.key(m) for m in md5s])

    def _delete_unlocked(self, batch: Iterable[str], deleted: Deleted) -> None:
        from hdversion.datastore.object_lock import delete_unlocked

        keys = {self.key(md5): md5 for md5 in batch}
        outcome = delete_unlocked(self.records, keys)
        deleted.update(keys[key] for key in outcome.deleted)
        deleted.locked.update((keys[key], until) for key, until in outcome.locked.items())


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    """What changes when a file's bytes do (DVC's own state database trusts the same)."""
    return info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def store_of(name: str, records: Records) -> Store:
    """The store of a remote, of the kind its URL names; sealed where the remote is
    encrypted (`datastore/encrypted.py`)."""
    from hdversion.datastore.encrypted import encrypted_store

    if records.local:
        return encrypted_store(DirectoryStore(name, Path(records.path(OBJECTS_DIR)), records))
    return encrypted_store(BucketStore(name, records))


# Up to this many key prefixes are listed one by one; more, and the whole store is listed.
PER_PREFIX_LISTINGS = 4


def listing_prefixes(names: Iterable[str]) -> list[str] | None:
    """The two-hex-digit prefixes to list for these objects, or None (list them all)."""
    prefixes = sorted({name[:2] for name in names})
    return prefixes if len(prefixes) <= PER_PREFIX_LISTINGS else None


# -- listings: what a store holds, from its own listing ---------------------------------
def _listed_keys(fs: Any, top: str, prefixes: list[str] | None
                ) -> dict[str, tuple[int | None, dict[str, Any]]]:
    """md5 -> (size, the listing's entry) of a bucket's objects under `top` (its
    `files/md5`) and the given key prefixes, or all of them (one recursive listing) when
    `prefixes` is None, through the fsspec file system `fs`, whose listings carry sizes.
    What a killed write left (`model/leftovers.py`) is not an object."""
    entries: list[dict[str, Any]] = []
    if prefixes is None:
        with contextlib.suppress(FileNotFoundError):
            found = fs.find(top, detail=True)
            # fsspec gives {path: info}; DVC's local file system yields plain paths.
            entries = list(found.values()) if isinstance(found, dict) else [
                item if isinstance(item, dict) else {"name": item, "size": fs.size(item)}
                for item in found
            ]
    else:
        for prefix in prefixes:
            try:
                entries += fs.ls(f"{top.rstrip('/')}/{prefix}", detail=True)
            except FileNotFoundError:
                continue
    objects: dict[str, tuple[int | None, dict[str, Any]]] = {}
    for entry in entries:
        parts = PurePosixPath(str(entry["name"])).parts
        if len(parts) >= 2 and len(parts[-2]) == 2 and not is_partial_name(parts[-1]):
            size = entry.get("size")
            objects[parts[-2] + parts[-1]] = (int(size) if size is not None else None, entry)
    return objects


def _listed_folder(root: Path, prefixes: list[str] | None = None
                  ) -> dict[str, tuple[int | None, dict[str, Any]]]:
    """A store that is a directory (the cache, a local remote), listed like `_listed_keys`
    but with scandir: DVC's local file system lists names only, and a `stat` through fsspec
    per object cost 0.3 ms (3 s for 10,000). Partial writes are not objects."""
    objects: dict[str, tuple[int | None, dict[str, Any]]] = {}
    try:
        folders = prefixes if prefixes is not None else [
            e.name for e in os.scandir(root)
            if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return objects
    for prefix in folders:
        for entry, info in _regular_files(root / prefix,
                                          lambda name: not is_partial_name(name)):
            objects[prefix + entry.name] = (info.st_size, {
                "name": entry.path, "size": info.st_size, "mtime": info.st_mtime})
    return objects


def _regular_files(folder: Path, keep: Callable[[str], bool]
                   ) -> Iterator[tuple[os.DirEntry[str], os.stat_result]]:
    """The regular files of one object folder whose names `keep` takes, with their stats
    (nothing for a folder that is missing or a file)."""
    try:
        listing = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in listing:
        if not keep(entry.name):
            continue
        # One lstat: the type and the size (is_file then stat were two calls); try, not a
        # context manager entered for every object.
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode):
            yield entry, info
