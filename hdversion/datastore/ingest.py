"""New artifact bytes read once before DVC's commit: every file of the cached outputs that
DVC's state database does not know is hashed on every core (DVC hashes a single file, and a
directory's files under 2 MiB, one after another) and, where DVC would copy it into the cache,
written there in the same read. DVC's commit then finds each hash in its state database and
each object already in place, and only writes the pointer files' entries and `.dir` listings.

The cache object is written beside its place and renamed only when its name is the md5 of the
bytes just written, read-only as DVC keeps its objects: a kill leaves a temporary file (removed
by the next run), never a wrong object. A hash goes into the state database only when the file
is unchanged (size, mtime, inode) across its read; otherwise DVC hashes it again itself and the
backup's own before/after comparison reports the change."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hdversion.datastore.store import DirectoryStore, FolderListings
from hdversion.paths import TEMP_PREFIX
from hdversion.util.atomic import BATCH, FLUSH_ALONE
from hdversion.util.progress import SILENT, Advance, Reporter
from hdversion.util.readahead import ReadAhead, WriteBehind

if TYPE_CHECKING:
    from dvc.repo import Repo

HASH_NAME = "md5"  # DVC 3's; an output with DVC 2's md5-dos2unix is left to DVC
# Files smaller than this are read whole and written to each store in one call (the
# restore's staging threshold: a file this small costs more in system calls than in bytes).
READ_WHOLE = FLUSH_ALONE
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def ingest_new_files(repo: Repo, remote: Stager | None = None,
                     reporter: Reporter = SILENT, skip: frozenset[str] = frozenset()) -> int:
    """Hash (and, where DVC copies, cache) the cached outputs' files DVC has not hashed yet;
    the number of files read. `remote`, the store of a local remote that is a directory
    (sealing, where it is encrypted), receives a copy of each in the same read (best effort:
    at the first error there, the backup's push fills it instead, and reports what fails).
    The bytes read are reported as one step. Outputs whose path is in `skip` are left out."""
    infos = dict(_output_files(repo, skip))
    if not infos:
        return 0
    unknown = [path for path, _, hash_info in repo.state.get_many(list(infos), repo.fs, infos)
               if hash_info is None or hash_info.name != HASH_NAME]
    if not unknown:
        return 0
    hashed = read_files({path: infos[path] for path in unknown},
                        ingest_stores(repo, remote), reporter)
    repo.state.save_many([(path, _hash_info(md5), infos[path])
                          for path, md5 in hashed.items() if md5 is not None], repo.fs)
    return len(unknown)


def ingest_stores(repo: Repo, remote: Stager | None) -> list[_Store]:
    """The stores new bytes are teed into as they are read: the cache where DVC would copy
    a new file into it (none otherwise), then `remote` (best effort)."""
    cache = Path(repo.cache.local.path)
    # Atomic, not fsynced object by object, as DVC writes its cache and its push a
    # directory remote: 10,000 small files fsynced one by one cost 6 s (util/atomic.py).
    stores = [_Store(DirectoryStore(str(cache), cache, durable=False, lasting=False))] \
        if _cache_copies(repo.cache.local.cache_types, cache) else []
    if stores and remote is not None:
        stores.append(_Store(remote, best_effort=True))
    return stores


def read_files(infos: dict[str, dict[str, Any]], stores: list[_Store],
               reporter: Reporter = SILENT) -> dict[str, str | None]:
    """Each file's md5 (None where it changed while read, or vanished), read once on every
    core and teed into `stores`; `infos` are their stats as DVC's file infos give them
    (size, ino, mtime) or with `mtime_ns` instead."""
    if not infos:
        return {}
    # The biggest first: one long file then overlaps with all the small ones.
    paths = sorted(infos, key=lambda p: -int(infos[p].get("size") or 0))
    workers = min(len(paths), os.cpu_count() or 1)
    advance = reporter.bytes(
        f"{'hashing and caching' if stores else 'hashing'} {len(paths)} new file(s)",
        sum(int(infos[p].get("size") or 0) for p in paths))
    big = [p for p in paths if int(infos[p].get("size") or 0) >= READ_WHOLE]
    small = paths[len(big):]
    # Small files go 64 to a task: a future per 4 KiB file cost more than its copy.
    batches = [small[i:i + BATCH] for i in range(0, len(small), BATCH)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Both submitted before either is waited for: one long file overlaps the small ones.
        big_md5s = pool.map(lambda path: _read(path, infos[path], stores, advance), big)
        small_md5s = pool.map(lambda batch: _read_small(batch, infos, stores, advance),
                              batches)
        hashed = dict(zip(big, big_md5s, strict=True))
        for batch, md5s in zip(batches, small_md5s, strict=True):
            hashed.update(zip(batch, md5s, strict=True))
        return hashed


def tee_bytes(stores: list[_Store], name: str, data: bytes) -> None:
    """`data`, whose md5 is `name`'s (a `.dir` listing made here), into each store that lacks
    it, as a file read is teed."""
    for store in stores:
        if (staged := store.open()) is None:
            continue
        try:
            staged.write(data)
        except OSError:
            staged.discard()
            store.give_up()
            continue
        store.put(staged, name)


def remember_hashes(repo: Repo, hashes: dict[str, str],
                    read: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Tell DVC's state database the md5 of files just written and verified (a restore's),
    or just read (`read`: their stats as `read_files` was given them, which it checked on
    each file's descriptor once read: not asked again), so that neither DVC nor the next
    backup reads them again to learn what they hold."""
    infos = []
    for path, md5 in hashes.items():
        if read is not None and (known := read.get(path)) is not None and "mtime_ns" in known:
            info = {"size": known["size"], "ino": known["ino"],
                    "mtime": float_seconds(known["mtime_ns"])}
        else:
            try:
                info = _state_info(repo, path)
            except FileNotFoundError:
                continue
        infos.append((path, _hash_info(md5), info))
    repo.state.save_many(infos, repo.fs)


def _state_info(repo: Repo, path: str) -> dict[str, Any]:
    """What DVC's state database keys a file by (fsspec's `info` of it), from one stat:
    fsspec's own call costs four times the stat (20,000 restored files: 1.2 s)."""
    info = os.stat(path, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        return dict(repo.fs.info(path))  # a link's target's size, as fsspec reports it
    return {"size": info.st_size, "ino": info.st_ino, "mtime": info.st_mtime}


def float_seconds(ns: int) -> float:
    """`st_mtime` as `os.stat` makes it from `st_mtime_ns` (seconds + nanoseconds * 1e-9,
    as CPython's fill_time does): DVC's state database keys a file by that very float, and
    `ns / 1e9` differs from it in the last bit for some times."""
    return ns // 1_000_000_000 + (ns % 1_000_000_000) * 1e-9


class StagedWrite(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self, md5: str) -> None: ...
    def discard(self) -> None: ...


class Stager(Protocol):
    """A store that takes writes named once written: `DirectoryStore`, or the
    `EncryptedStore` of an encrypted directory remote (sealed as written)."""

    def stage(self) -> StagedWrite: ...
    def write_new(self, md5: str, data: bytes, listed: FolderListings | None = None
                  ) -> None: ...


class _Store:
    """A directory store (the cache, the local remote) that new objects are teed into,
    each through a staged write (`stage()`) named by its md5 once read."""

    def __init__(self, store: Stager, best_effort: bool = False) -> None:
        self.store = store
        self.best_effort, self.usable = best_effort, True
        # Which objects a directory store holds, listed once per folder for this run.
        self.listed = FolderListings(store) if isinstance(store, DirectoryStore) else None

    def open(self) -> StagedWrite | None:
        if not self.usable:
            return None
        try:
            return self.store.stage()
        except OSError:
            self.give_up()
            return None

    def write_new(self, md5: str, data: bytes) -> None:
        """A small file's bytes, read whole and hashed, as its object (unless there)."""
        if not self.usable:
            return
        try:
            self.store.write_new(md5, data, self.listed)
        except OSError:
            self.give_up()

    def put(self, staged: StagedWrite, md5: str) -> None:
        """Name the written copy by its md5, unless that object is there already."""
        try:
            staged.commit(md5)
        except OSError:
            self.give_up()

    def give_up(self) -> None:
        """Called while an OSError is handled: re-raised for the cache (the backup cannot go
        on without it), swallowed for a best-effort store, which is then left alone."""
        if not self.best_effort:
            raise  # the OSError being handled
        self.usable = False


def _output_files(repo: Repo, skip: frozenset[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, DVC's file info) of every file of the outputs DVC caches (but `skip`), walked
    the way DVC's own build walks them (.dvcignore applied), so that the infos key its state
    database."""
    fs = repo.fs
    for out in repo.index.outs:
        if not out.use_cache or out.hash_name != HASH_NAME or out.fs_path in skip:
            continue
        path = out.fs_path
        with contextlib.suppress(FileNotFoundError):
            info = fs.info(path)
            if info["type"] == "file":
                yield path, info
                continue
            if info["type"] != "directory":
                continue
            for root, _dirs, files in repo.dvcignore.walk(fs, path, detail=True):
                for name, file_info in files.items():
                    yield f"{root}{fs.sep}{name}", file_info


def _read(path: str, info: dict[str, Any], stores: list[_Store],
          advance: Advance | None = None) -> str | None:
    """The md5 of the file's bytes, None if it changed while read (or vanished). The bytes
    also become the object of that md5 in each store, unless it is there already; each
    chunk read is counted once by `advance`, however many stores it is written to."""
    digest = hashlib.md5(usedforsecurity=False)
    copies: list[tuple[_Store, StagedWrite]] = []
    try:
        with open(path, "rb") as source:
            if not _same(os.fstat(source.fileno()), info):
                return None
            for store in stores:
                if (staged := store.open()) is not None:
                    copies.append((store, staged))
            def tee(chunk: bytes) -> None:
                for store, staged in list(copies):
                    try:
                        staged.write(chunk)
                    except OSError:
                        copies.remove((store, staged))
                        staged.discard()
                        store.give_up()

            with ReadAhead(source) as chunks, WriteBehind(tee) as put:
                for chunk in chunks:
                    digest.update(chunk)
                    if advance is not None:
                        advance(len(chunk))
                    put(chunk)
            # The descriptor's own stat: a write to this file while it was read changes it.
            if not _same(os.fstat(source.fileno()), info):
                return None
        md5 = digest.hexdigest()
        while copies:
            store, staged = copies.pop()
            store.put(staged, md5)
        return md5
    except FileNotFoundError:
        return None
    finally:
        for _store, staged in copies:
            staged.discard()


def _read_small(paths: list[str], infos: dict[str, dict[str, Any]], stores: list[_Store],
                advance: Advance | None) -> list[str | None]:
    """`_read` of files smaller than READ_WHOLE, each read whole with one descriptor and
    hashed before it is written to the stores in one call each."""
    md5s: list[str | None] = []
    count = 0
    for path in paths:
        info = infos[path]
        data = _read_whole(path, info)
        if data is None:
            md5s.append(None)
            continue
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        for store in stores:
            store.write_new(md5, data)
        md5s.append(md5)
        count += len(data)
    if advance is not None:
        advance(count)
    return md5s


def _read_whole(path: str, info: dict[str, Any]) -> bytes | None:
    """The file's bytes, None if it is not the file of `info` once read (changed while
    read, or replaced since it was walked) or vanished."""
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        # One byte more than the file had: a read that fills it says the file grew. A
        # local file's read returns less than asked only at its end: one read, and more
        # only where a file system returns less (a network one's read size).
        size = int(info.get("size") or 0)
        data = os.read(fd, size + 1)
        if 0 < len(data) < size:
            parts, got = [data], len(data)
            while got <= size and (part := os.read(fd, size + 1 - got)):
                parts.append(part)
                got += len(part)
            data = b"".join(parts)
        # The descriptor's own stat: a write to this file while it was read changes it.
        seen = os.fstat(fd)
    finally:
        os.close(fd)
    if not _same(seen, info) or len(data) != seen.st_size:
        return None
    return data


def _same(seen: os.stat_result, info: dict[str, Any]) -> bool:
    if "mtime_ns" in info:
        return (seen.st_size, seen.st_ino, seen.st_mtime_ns) == (
            info["size"], info["ino"], info["mtime_ns"])
    return (seen.st_size == info.get("size") and seen.st_ino == info.get("ino")
            and seen.st_mtime == info.get("mtime"))


def _cache_copies(cache_types: list[str], cache_dir: Path) -> bool:
    """Whether DVC would copy a new file into the cache: its first link type that works is
    `copy`. A reflink (free on a copy-on-write file system) or a link is left to DVC."""
    for link in cache_types:
        if link == "copy":
            return True
        if link == "reflink" and not _reflink_works(cache_dir):
            continue
        return False
    return False


def _reflink_works(cache_dir: Path) -> bool:
    from dvc_objects.fs.system import reflink

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    probe = cache_dir / f"{TEMP_PREFIX}{os.getpid()}-reflink"
    clone = probe.with_name(probe.name + "-clone")
    try:
        probe.write_bytes(b"hdversion")
        reflink(str(probe), str(clone))  # type: ignore[no-untyped-call]
        return True
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)
        clone.unlink(missing_ok=True)


def _hash_info(md5: str) -> Any:
    from dvc_data.hashfile.hash_info import HashInfo

    return HashInfo(HASH_NAME, md5)
