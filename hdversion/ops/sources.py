"""One chain of verified sources: given the file entries of a backup, where each one's
verified bytes come from. Git-stored files come from the backup's commit (checked against the
manifest); DVC-stored ones from the cache (sizes compared up front, bytes hashed as they are
staged), else read in place from the first remote where it is a directory, else streamed
from it where it is a bucket, else fetched from each remote in the fallback order
(`cache_objects.fallback_order`). A source whose bytes turn out wrong is quarantined (a cache
object) and the next one is tried.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from hdversion.datastore.bucket import BoundedStream, bucket_of_remote
from hdversion.errors import ConfigurationError, VerificationError
from hdversion.model.bucket import object_key
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.ops.cache_objects import (
    CacheCheck,
    check_dir_objects,
    copy_listings,
    ensure_cached,
    fallback_order,
    quarantine,
    rebuild_listings,
)
from hdversion.ops.project import Project
from hdversion.ops.staging import Source
from hdversion.util.hashing import md5_bytes
from hdversion.util.log import log
from hdversion.util.progress import Reporter

if TYPE_CHECKING:
    from hdversion.ops.restore import RestoreResult


class CacheSources:
    """A backup's DVC-stored files, each read once as it is staged: from the cache (only sizes
    are compared up front), else from the first remote in place where it is a directory, else
    fetched. A source whose bytes are wrong is quarantined and the object fetched again."""

    def __init__(self, project: Project, backup: Backup, remote: str | None,
                 result: RestoreResult, reporter: Reporter,
                 listings: dict[str, list[tuple[str, str]]]) -> None:
        self.project, self.backup, self.remote = project, backup, remote
        self.result, self.reporter = result, reporter
        self.listings = listings
        self.remotes = fallback_order(project, remote)
        self.check = CacheCheck()

    @property
    def dir_objects(self) -> list[str]:
        return list(self.listings)

    def sources(self, entries: list[FileEntry]) -> tuple[dict[str, Source], list[str]]:
        """Each entry's source, and the entries no store can give (as messages)."""
        store = self.project.store
        sources: dict[str, Source] = {}
        # The listings are small: each is hashed, whatever the files need, so that a damaged
        # one is not left behind a restore that reads none of them.
        check_dir_objects(self.project, self.dir_objects, self.check)
        self._publish()
        missing = []
        for entry in entries:
            cached = store.cache_path(entry.md5)
            size = _size_of(cached)
            if size != entry.size:
                missing.append(entry)
                if size is not None:  # the wrong size: damaged, kept aside
                    quarantine(self.project.root, cached, entry.md5)
                    self.result.quarantined.append(entry.md5)
        if missing and self.remotes:
            first = self.remotes[0]
            in_place = {e.md5: path for e in missing
                        if (path := store.session.local_object_path(first, e.md5)) is not None
                        and _size_of(path) == e.size}
            if in_place:
                copy_listings(self.project, self.dir_objects, first)
                for entry in missing:
                    if entry.md5 in in_place:
                        sources[entry.path] = Source(path=in_place[entry.md5],
                                                     also=store.cache_path(entry.md5),
                                                     on_bad=self._recover(entry, first))
                self._count(first, len(in_place))
            missing = [e for e in missing if e.path not in sources]
        if missing and self.remotes and store.session.is_object_store(self.remotes[0]):
            sources.update(self._from_bucket(self.remotes[0], missing))
            missing = [e for e in missing if e.path not in sources]
        if missing:
            ensure_cached(self.project, self.backup.commit, missing, self.remotes,
                          self.reporter, self.dir_objects, deep=False, check=self.check)
            self._publish()
        for entry in entries:
            if entry.path not in sources:
                sources[entry.path] = Source(path=store.cache_path(entry.md5),
                                             on_bad=self._recover(entry, None))
        if self.listings:
            if self.remotes:
                copy_listings(self.project, self.dir_objects, self.remotes[0])
            # No store had one whole: made again from the file list, checked by its name.
            rebuilt = rebuild_listings(self.project, self.listings)
            if rebuilt:
                log.warning("rebuilt %d directory listing(s) from the backup's file list: "
                            "no store held them whole", len(rebuilt))
        return sources, self._unusable(self.check.bad)

    def _from_bucket(self, remote: str, missing: list[FileEntry]) -> dict[str, Source]:
        """Each object streamed from a bucket or container straight into its staged file,
        and into the cache in the same pass: one download, one hash, where a fetch would
        write the cache first and the restore read it back. Nothing when the remote cannot
        be used now: the fetch that follows tries it and says why."""
        store = self.project.store
        try:
            store.transfers.preflight(remote)
            bucket = bucket_of_remote(store.session, remote)
            # The directories' listings (checked by `sources`) come into the cache first,
            # as a fetch brings them: later pushes from this cache need them.
            listings = {name: None for name in self.dir_objects
                        if not store.cache_path(name).is_file()}
            if listings:
                store.transfers.fetch(self.backup.commit, remote, listings)
        except ConfigurationError:
            return {}
        self._publish()

        def reader(entry: FileEntry) -> Callable[[], contextlib.AbstractContextManager[
                BinaryIO]]:
            key = object_key(entry.md5)

            @contextlib.contextmanager
            def opened() -> Iterator[BinaryIO]:
                with bucket.open(key) as stream:
                    yield cast(BinaryIO, BoundedStream(stream, entry.size, bucket.where(key)))
                with counting:  # reached once the staged bytes hashed right
                    self._count(remote, 1)
            return opened

        counting = threading.Lock()  # files are staged on several threads
        return {entry.path: Source(remote=reader(entry), also=store.cache_path(entry.md5),
                                   on_bad=self._recover(entry, remote))
                for entry in missing}

    def _recover(self, entry: FileEntry, remote_read: str | None
                 ) -> Callable[[Source], Source | None]:
        def recover(bad: Source) -> Source | None:
            cached = self.project.store.cache_path(entry.md5)
            if remote_read is None and bad.path == cached and cached.is_file():
                quarantine(self.project.root, cached, entry.md5)
                self.result.quarantined.append(entry.md5)
            # Every store in turn, each copy re-hashed: the one just read is skipped by the
            # hash (DVC drops a corrupt download, and the cache copy is checked again).
            check = ensure_cached(self.project, self.backup.commit, [entry], self.remotes,
                                  self.reporter, self.dir_objects, check=CacheCheck())
            self.check.quarantined += check.quarantined
            self.result.quarantined += check.quarantined
            self.check.unusable_remotes.update(check.unusable_remotes)
            for name, count in check.fetched_from.items():
                self._count(name, count)
            self._publish()
            if check.bad:
                raise self._failure(check, [entry]) or VerificationError(
                    "cannot restore, no workspace file was changed; unusable data: "
                    + "; ".join(self._unusable(check.bad)))
            return Source(path=cached)
        return recover

    def _count(self, remote: str, objects: int) -> None:
        self.result.fetched_from[remote] = self.result.fetched_from.get(remote, 0) + objects

    def _publish(self) -> None:
        self.result.quarantined += [q for q in self.check.quarantined
                                    if q not in self.result.quarantined]
        for name, count in self.check.fetched_from.items():
            self._count(name, count)
        self.check.fetched_from = {}
        self.result.unusable_remotes.update({name: exc.message for name, exc in
                                             self.check.unusable_remotes.items()})

    def _unusable(self, bad: list[FileEntry]) -> list[str]:
        asked = ", ".join(f"'{r}'" for r in self.remotes
                          if r not in self.check.unusable_remotes)
        return [f"{e.path} (object {e.md5} missing or corrupt in the cache"
                + (f" and in remote(s) {asked}" if asked else "") + ")" for e in bad]

    def _failure(self, check: CacheCheck, bad: list[FileEntry]) -> ConfigurationError | None:
        """The remote asked for could not be used, or none could: a remote's failure (exit
        7), not the data's; the data may be fine there."""
        if bad and self.remote in check.unusable_remotes:
            return check.unusable_remotes[self.remote]
        return check.failure_of_every_remote(self.remotes)

    def skipped(self) -> str:
        return "; ".join(f"remote '{r}' skipped: {exc.message}"
                         for r, exc in self.check.unusable_remotes.items())


def verified_sources(
    project: Project, backup: Backup, entries: list[FileEntry], remote: str | None,
    result: RestoreResult, reporter: Reporter, listings: dict[str, list[tuple[str, str]]],
) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    bad: list[str] = []
    git_entries = [e for e in entries if e.store == "git"]
    blobs = project.git.read_files([(backup.commit, e.path) for e in git_entries])
    for entry, data in zip(git_entries, blobs, strict=True):
        if data is None or md5_bytes(data) != entry.md5:
            bad.append(f"{entry.path} (git blob of {backup.tag})")
        else:
            sources[entry.path] = Source(data=data)

    cache = CacheSources(project, backup, remote, result, reporter, listings)
    found, unusable = cache.sources([e for e in entries if e.store == "dvc"])
    if not bad and (failure := cache._failure(cache.check, cache.check.bad)) is not None:
        raise failure
    bad += unusable
    sources.update(found)
    if bad:
        skipped = cache.skipped()
        raise VerificationError(
            "cannot restore, no workspace file was changed; unusable data: " + "; ".join(bad)
            + (f" ({skipped})" if skipped else ""),
            hint="run `hdversion verify` to see what each remote holds, or restore another "
                 "backup",
        )
    return sources


def _size_of(path: Path) -> int | None:
    """The size of a regular file; None where there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
