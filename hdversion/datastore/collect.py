"""Garbage collection, done by hdversion rather than `dvc gc`: what the refs DVC knows use,
what each store holds (with sizes and ages, from the store's own listing), and deleting
named objects from the cache or a remote.

`dvc gc` decides from the refs of this clone only and deletes without a grace period; on a
shared remote it has deleted other clones' backups (dvc-pitfalls.md). Here the caller decides
what is garbage, from every backup it knows, and only the deleting is left to this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hdversion.datastore.explain import check_reachable, damaged_pointer_file
from hdversion.datastore.records import KeyMissing
from hdversion.datastore.session import DvcSession, check_remote
from hdversion.datastore.store import (
    CacheStore,
    Deleted,
    ObjectDigest,
    Store,
    StoredObject,
    StoreInfo,
)
from hdversion.datastore.workspace import check_single_stage_files
from hdversion.errors import DataStoreError, HdversionError, RemoteError
from hdversion.model.storages import LOCAL_SCHEME, scheme_of
from hdversion.util.hashing import md5_stream
from hdversion.util.pausepoints import PausePoint, pause_point

# Objects read back at once from a bucket by `verify --read-data`.
READ_WORKERS = 8
# The most a directory listing (`.dir` object) read whole may hold: 1 GiB, some millions of
# files' entries.
LISTING_LIMIT = 1 << 30


class Collector:
    def __init__(self, session: DvcSession) -> None:
        self.session = session

    def used_by_refs(self, revisions: Iterable[str]) -> set[str]:
        """Every object that the outputs of the workspace, of every branch head and of the
        given revisions name, as DVC reads their pointer files: file objects, and `.dir`
        listings unexpanded (a listing may be in no local store; the caller expands it)."""
        used: set[str] = set()
        with self.session.open() as repo:
            # What the workspace's pointer files name is kept too: one that names nothing
            # because it is damaged stops the prune.
            check_single_stage_files(self.session.root, repo.index.stages)
            try:
                for _rev in repo.brancher(revs=sorted(set(revisions)) or None,
                                          all_branches=True):
                    for out in repo.index.outs:
                        if out.use_cache and out.hash_info and out.hash_info.value:
                            used.add(str(out.hash_info.value))
            except Exception as exc:  # DVC raises its own and anything under it
                damaged = damaged_pointer_file(self.session.root, exc)
                if damaged is not None:
                    raise damaged from None
                raise DataStoreError(
                    f"cannot tell which data the branches, the workspace and the other tags "
                    f"use ({type(exc).__name__}: {exc}); nothing was removed",
                    hint="fix what DVC complains about (a broken dvc.yaml in a branch?), "
                         "then prune again",
                ) from None
        return used

    def read_objects(self, md5s: Iterable[str], stores: list[Store]) -> dict[str, bytes]:
        """Objects' bytes, each from the first store that holds it whole (its md5 checked);
        those no store has are left out. For `.dir` listings: small, and needed to know
        what a directory holds."""
        found: dict[str, bytes] = {}
        for md5 in md5s:
            for store in stores:
                try:
                    found[md5] = store.read(md5, LISTING_LIMIT)
                    break
                except (KeyMissing, HdversionError, OSError):
                    continue  # absent, damaged or unreadable here: try the next store
        return found

    def store(self, store: Store) -> StoreInfo:
        """Where a store is, and whether other clones may share it."""
        if isinstance(store, CacheStore):
            return StoreInfo(store, str(store.objects),
                             not _inside(store.objects, self.session.root))
        with self.session.open() as repo:
            check_remote(repo, store.name)
            url = str(repo.config["remote"][store.name]["url"])
        shared = scheme_of(url) != LOCAL_SCHEME or not _inside(Path(url), self.session.root)
        return StoreInfo(store, url, shared)

    def listing(self, store: Store, known: Iterable[str]) -> dict[str, StoredObject]:
        """Every object a store holds, from its own listing; an encrypted remote's by md5
        where the caller `known`s it (`Store.list_known`)."""
        self._reachable(store)
        try:
            return store.list_known(known)
        except RemoteError as exc:
            raise RemoteError(f"cannot list remote '{store.name}': {exc.message}") from None

    def digests(self, store: Store, md5s: Iterable[str], advance: Callable[[int], None],
                workers: int = READ_WORKERS) -> dict[str, ObjectDigest]:
        """Read objects back from a store and hash them (`restic check --read-data`): what
        the bytes there really are, whatever the listing says. Several at a time from a
        bucket, where each read waits on the network; streamed, never held whole."""
        wanted = sorted(set(md5s))
        lock = threading.Lock()
        self._reachable(store)

        def counted(size: int) -> None:
            with lock:  # the progress display is not thread-safe
                advance(size)

        def digest(md5: str) -> ObjectDigest:
            try:
                with store.open(md5) as stream:
                    found, size = md5_stream(stream, counted)  # type: ignore[arg-type]
            except KeyMissing:
                return ObjectDigest(None, 0, "missing")
            except HdversionError as exc:
                return ObjectDigest(None, 0, f"unreadable: {exc.message}")
            except Exception as exc:  # an OS error; the verdict says what
                return ObjectDigest(None, 0, f"unreadable: {type(exc).__name__}: {exc}")
            return ObjectDigest(found, size)

        if store.records is None or store.records.local or len(wanted) < 2:
            return {md5: digest(md5) for md5 in wanted}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(zip(wanted, pool.map(digest, wanted), strict=True))

    def delete(self, store: Store, md5s: Iterable[str]) -> Deleted:
        """Delete objects from a store; returns those deleted, and those it keeps locked. A
        pause point lies between two deletions (between two batches in a bucket)."""
        wanted = set(md5s)
        if not wanted:
            return Deleted()
        self._reachable(store)
        try:
            return store.delete(wanted, lambda: pause_point(self.session.root,
                                                            PausePoint.BETWEEN_DELETES))
        except RemoteError as exc:
            raise RemoteError(f"remote '{store.name}': {exc.message}") from None

    def _reachable(self, store: Store) -> None:
        """A remote's endpoint answers (RemoteError in seconds, not after the SDK's
        retries)."""
        if isinstance(store, CacheStore):
            return
        with self.session.open() as repo:
            check_remote(repo, store.name)
            check_reachable(repo, store.name)


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())
