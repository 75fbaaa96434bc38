"""One chain of verified sources: given the file entries of a backup, where each one's
verified bytes come from, every read through the store interface (`datastore/store.py`).

- Git-stored files come from the backup's commit, checked against the manifest
  (`git_files`).
- DVC-stored ones come from the cache (`project.store.cache()`), else from the remotes in the
  fallback order (`fallback_order`: the one asked for, the local remote, the configured
  remotes, every other remote), each `project.store.remote(name)`: a `DirectoryStore` read
  in place, a `BucketStore` streamed, their `.dir` listings through `Store.read`. Bytes are
  hashed as they are read (by the stager, or re-hashed in the cache); a damaged cache object
  is quarantined and the next store tried. A remote that cannot be used is recorded with why.
- Where many objects are missing, `fill_cache` brings them into the cache from each remote in
  turn (the bulk fetch: one listing, downloads at once, each hashed as it lands). Restore,
  export, verify `--repair` and copy fill the cache through it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from hdversion.datastore.store import (
    DirectoryStore,
    KeyMissing,
    Store,
    VerifiedReader,
)
from hdversion.errors import ConfigurationError, VerificationError
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.ops.cache_objects import Cache, CacheCheck, rebuild_listings
from hdversion.ops.project import Project
from hdversion.ops.staging import Source
from hdversion.util.hashing import md5_bytes
from hdversion.util.log import log
from hdversion.util.progress import Reporter


class Tally(Protocol):
    """What the chain tells its caller as it reads (a restore's result holds it)."""

    quarantined: list[str]  # md5s moved aside
    fetched_from: dict[str, int]  # remote -> objects it gave
    unusable_remotes: dict[str, str]  # remote -> why it was skipped

# The most bytes a directory's listing (`.dir` object) read from a remote may have: some
# 100 bytes per file, a million files.
LISTING_LIMIT = 128 * 1024 * 1024


def fallback_order(project: Project, first: str | None) -> list[str]:
    """The remotes asked in turn: the one named (if any), the local remote, the default set
    of cloud remotes (`backup.remotes`), then every other DVC remote."""
    known = [r.name for r in project.store.remotes()]
    wanted = [*([first] if first else []), project.settings.local_remote,
              *project.settings.remotes, *sorted(known)]
    return [name for name in dict.fromkeys(wanted) if name in known or name == first]


@dataclass
class GitFiles:
    found: dict[str, bytes] = field(default_factory=dict)  # path -> its checked bytes
    bad: list[FileEntry] = field(default_factory=list)  # in the order asked
    missing: set[str] = field(default_factory=set)  # paths of the bad not in the commit


def git_files(project: Project, backup: Backup, entries: list[FileEntry]) -> GitFiles:
    """A backup's git-stored files, read from its commit in one go, each checked against
    the manifest (md5): the one reader of them."""
    read = GitFiles()
    blobs = project.git.read_files([(backup.commit, e.path) for e in entries])
    for entry, data in zip(entries, blobs, strict=True):
        if data is None:
            read.bad.append(entry)
            read.missing.add(entry.path)
        elif md5_bytes(data) != entry.md5:
            read.bad.append(entry)
        else:
            read.found[entry.path] = data
    return read


def fill_cache(project: Project, entries: list[FileEntry],
               remotes: list[str], reporter: Reporter,
               dir_objects: list[str] | None = None, deep: bool = True,
               check: CacheCheck | None = None) -> CacheCheck:
    """Make every entry's object good in the cache, bringing what is missing or damaged
    from each remote in turn until none is left: one damaged or unreachable store does not
    stop what another can serve. What is still bad afterwards is reported, not raised.
    Not `deep`: objects are only compared by size (the caller hashes them as it reads)."""
    check = check or CacheCheck()
    cache = Cache(project)
    cache.check_listings(dir_objects or [], check)
    advance = reporter.bytes(f"checking {len(entries)} object(s) in the cache",
                             _to_hash(cache, entries) if deep else 0)
    unusable = [e for e in entries if not cache.object_ok(e, advance, check, deep)]
    for remote in remotes:
        if not unusable:
            break
        # A listing brought from the previous remote may be the damaged one.
        cache.check_listings(dir_objects or [], check)
        reporter.step(f"fetching {len(unusable)} object(s) from remote '{remote}'")
        try:
            # Named objects: a bucket or container is asked for only what is missing here;
            # each download is hashed as it lands and enters the cache only when good.
            wanted: dict[str, int | None] = {e.md5: e.size for e in unusable}
            wanted.update(dict.fromkeys(dir_objects or []))
            project.store.fetch(remote, wanted, reporter=reporter)
        except ConfigurationError as exc:  # a full disk (WriteError) stops everything
            check.unusable_remotes[remote] = exc
            continue
        advance = reporter.bytes(f"checking {len(unusable)} fetched object(s)",
                                 _to_hash(cache, unusable) if deep else 0)
        still = [e for e in unusable if not cache.object_ok(e, advance, check, deep)]
        if len(still) < len(unusable):
            check.fetched_from[remote] = len(unusable) - len(still)
        unusable = still
    check.bad = unusable
    return check


def _to_hash(cache: Cache, entries: list[FileEntry]) -> int:
    """The bytes `Cache.object_ok` will hash: those of the objects the cache holds at their
    size (a step's total is what it reads, not what it might have)."""
    return sum(e.size for e in entries if _size_of(cache.path(e.md5)) == e.size)


def listings_into_cache(cache: Cache, names: list[str], store: Store) -> None:
    """Bring the directory listings (`.dir` objects) the cache lacks from a remote, each
    checked against its name: later pushes from this cache need them, and DVC finds the
    cache whole. One missing or damaged there is left to the next store (or rebuilt)."""
    for name in names:
        if cache.store.has(name):
            continue
        try:
            data = store.read(name, LISTING_LIMIT)
        except (KeyMissing, VerificationError):
            continue
        cache.put_listing(name, data)


def streamed_source(store: Store, entry: FileEntry, also: Path | None = None,
                    on_bad: Callable[[Source], Source | None] | None = None,
                    after: Callable[[], None] | None = None) -> Source:
    """An object streamed from a store straight into its staged file (and into the cache
    at `also`): bounded by the manifest's size as it is read, hashed by the stager as it is
    written; `after` runs once the staged bytes hashed right."""
    @contextlib.contextmanager
    def opened() -> Iterator[BinaryIO]:
        with store.open(entry.md5) as stream:
            yield cast(BinaryIO, VerifiedReader(stream, None, entry.size,
                                                store.where(entry.md5)))
        if after is not None:
            after()
    local = store.records is not None and store.records.local
    return Source(remote=opened, also=also, on_bad=on_bad, over_network=not local)


class ObjectSources:
    """A backup's DVC-stored files, each read once as it is staged: from the cache (only
    sizes are compared up front), else from the first remote in place where it is a
    directory, streamed where it is a bucket, else filled into the cache from the remotes
    in turn. A source whose bytes are wrong is quarantined and the next store tried."""

    def __init__(self, project: Project, backup: Backup, remote: str | None,
                 result: Tally, reporter: Reporter,
                 listings: dict[str, list[tuple[str, str]]]) -> None:
        self.project, self.backup, self.remote = project, backup, remote
        self.result, self.reporter = result, reporter
        self.listings = listings
        self.remotes = fallback_order(project, remote)
        self.cache = Cache(project)
        self.check = CacheCheck()
        self._first: Store | None = None
        self._first_opened = False
        # How a refusal starts when no store has the bytes (`cat` and `get` say their own).
        self.refusal = f"cannot restore {backup.tag}, no workspace file was changed"

    @property
    def dir_objects(self) -> list[str]:
        return list(self.listings)

    def first_store(self) -> Store | None:
        """The first remote's store, opened once; None where there is none or it cannot
        be opened (the fill that follows tries it and says why)."""
        if not self._first_opened:
            self._first_opened = True
            if self.remotes:
                with contextlib.suppress(ConfigurationError):
                    self._first = self.project.store.remote(self.remotes[0])
        return self._first

    def sources(self, entries: list[FileEntry]) -> tuple[dict[str, Source], list[str]]:
        """Each entry's source, and the entries no store can give (as messages)."""
        cache = self.cache
        sources: dict[str, Source] = {}
        # The listings are small: each is hashed, whatever the files need, so that a damaged
        # one is not left behind a restore that reads none of them.
        cache.check_listings(self.dir_objects, self.check)
        missing = []
        # Each object's place in the cache, named once, as a string (a directory output has
        # 100,000: pathlib's joins cost seconds).
        cached = {entry.md5: cache.store.path_text(entry.md5) for entry in entries}
        for entry in entries:
            size = _size_of(cached[entry.md5])
            if size != entry.size:
                missing.append(entry)
                if size is not None:  # the wrong size: damaged, kept aside
                    cache.quarantine(entry.md5, self.check)
        self._publish()
        first = self.first_store() if missing else None
        if isinstance(first, DirectoryStore):
            in_place = {e.md5: path for e in missing
                        if _size_of(path := first.path_text(e.md5)) == e.size}
            if in_place:
                listings_into_cache(cache, self.dir_objects, first)
                for entry in missing:
                    if entry.md5 in in_place:
                        sources[entry.path] = Source(path=in_place[entry.md5],
                                                     also=cached[entry.md5],
                                                     on_bad=self._recover(entry, first.name))
                self._count(first.name, len(in_place))
            missing = [e for e in missing if e.path not in sources]
        elif first is not None:  # a bucket, or an encrypted remote: streamed and opened
            sources.update(self._from_bucket(first, missing))
            missing = [e for e in missing if e.path not in sources]
        if missing:
            fill_cache(self.project, missing, self.remotes,
                       self.reporter, self.dir_objects, deep=False, check=self.check)
            self._publish()
        for entry in entries:
            if entry.path not in sources:
                sources[entry.path] = Source(path=cached[entry.md5],
                                             on_bad=self._recover(entry, None))
        if self.listings:
            if isinstance(first := self.first_store(), DirectoryStore):
                listings_into_cache(cache, self.dir_objects, first)
            # No store had one whole: made again from the file list, checked by its name.
            rebuilt = rebuild_listings(self.project, self.listings)
            if rebuilt:
                log.warning("rebuilt %d directory listing(s) from the backup's file list: "
                            "no store held them whole", len(rebuilt))
        return sources, self._unusable(self.check.bad)

    def _from_bucket(self, store: Store, missing: list[FileEntry]
                     ) -> dict[str, Source]:
        """Each object streamed from a bucket or container straight into its staged file,
        and into the cache in the same pass: one download, one hash, where a fetch would
        write the cache first and the restore read it back. Nothing when the remote cannot
        be used now: the fill that follows tries it and says why."""
        try:
            self.project.store.preflight(store.name)
            # The directories' listings (checked by `sources`) come into the cache first,
            # as a fetch brings them: later pushes from this cache need them.
            listings_into_cache(self.cache, self.dir_objects, store)
        except ConfigurationError:
            return {}

        counting = threading.Lock()  # files are staged on several threads

        def counted() -> None:  # reached once the staged bytes hashed right
            with counting:
                self._count(store.name, 1)

        return {entry.path: streamed_source(store, entry, also=self.cache.path(entry.md5),
                                            on_bad=self._recover(entry, store.name),
                                            after=counted)
                for entry in missing}

    def _recover(self, entry: FileEntry, remote_read: str | None
                 ) -> Callable[[Source], Source | None]:
        def recover(bad: Source) -> Source | None:
            cached = self.cache.path(entry.md5)
            check = CacheCheck()
            if remote_read is None and bad.path is not None \
                    and os.fspath(bad.path) == os.fspath(cached):
                self.cache.quarantine(entry.md5, check)
            # Every store in turn, each copy re-hashed: the one just read is skipped by the
            # hash (a damaged download never enters the cache, which is checked again).
            fill_cache(self.project, [entry], self.remotes,
                       self.reporter, self.dir_objects, check=check)
            self.check.quarantined += check.quarantined
            self.result.quarantined += check.quarantined
            self.check.unusable_remotes.update(check.unusable_remotes)
            for name, count in check.fetched_from.items():
                self._count(name, count)
            self._publish()
            if check.bad:
                raise check.failure(self.remote, self.remotes) or VerificationError(
                    f"{self.refusal}; unusable data: " + "; ".join(self._unusable(check.bad)))
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

    def skipped(self) -> str:
        return "; ".join(f"remote '{r}' skipped: {exc.message}"
                         for r, exc in self.check.unusable_remotes.items())


def verified_sources(
    project: Project, backup: Backup, entries: list[FileEntry], remote: str | None,
    result: Tally, reporter: Reporter, listings: dict[str, list[tuple[str, str]]],
) -> dict[str, Source]:
    """Every entry's source for a restore; VerificationError (or the failure of the remote
    asked for, exit 7) when one has none, before any file is touched."""
    read = git_files(project, backup, [e for e in entries if e.store == "git"])
    bad = [f"{entry.path} (git blob of {backup.tag})" for entry in read.bad]
    sources = {path: Source(data=data) for path, data in read.found.items()}

    objects = ObjectSources(project, backup, remote, result, reporter, listings)
    found, unusable = objects.sources([e for e in entries if e.store == "dvc"])
    if not bad and (failure := objects.check.failure(remote, objects.remotes)) is not None:
        raise failure
    bad += unusable
    sources.update(found)
    if bad:
        skipped = objects.skipped()
        raise VerificationError(
            f"cannot restore {backup.tag}, no workspace file was changed; unusable data: "
            + "; ".join(bad)
            + (f" ({skipped})" if skipped else ""),
            hint="run `hdversion verify` to see what each remote holds, or restore another "
                 "backup",
        )
    return sources


def _size_of(path: str | Path) -> int | None:
    """The size of a regular file; None where there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
