"""Garbage collection, done by hdversion rather than `dvc gc`: what the refs DVC knows use,
what each store holds (with sizes and ages, from the store's own listing), and deleting
named objects from the cache or a remote.

`dvc gc` decides from the refs of this clone only and deletes without a grace period; on a
shared remote it has deleted other clones' backups (dvc-pitfalls.md). Here the caller decides
what is garbage, from every backup it knows, and only the deleting is left to this module.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hdversion.datastore.explain import check_reachable, damaged_pointer_file, explain
from hdversion.datastore.session import DvcSession, check_remote
from hdversion.datastore.transfers import listed_entries, listed_folder
from hdversion.datastore.workspace import check_single_stage_files
from hdversion.errors import DataStoreError, RemoteError, WriteError
from hdversion.model.storages import LOCAL_SCHEME, scheme_of
from hdversion.util.hashing import md5_bytes, md5_file, md5_stream
from hdversion.util.pausepoints import PausePoint, pause_point

CACHE = "cache"  # the store name of the DVC cache; every other name is a DVC remote
# Objects deleted from a cloud remote per request (S3 takes up to 1,000 keys in one).
CLOUD_BATCH = 500
# Objects read back at once from a cloud remote by `verify --read-data`.
READ_WORKERS = 8


@dataclass(frozen=True)
class StoredObject:
    md5: str  # `<md5>` or `<md5>.dir`
    size: int | None
    mtime: float | None  # seconds since the epoch; None when the store does not say


@dataclass(frozen=True)
class ObjectDigest:
    """What a store's copy of an object hashes to, read back whole."""

    md5: str | None  # None when it could not be read (see `error`)
    size: int
    error: str | None = None


@dataclass(frozen=True)
class StoreInfo:
    name: str  # CACHE or a remote's name
    url: str
    shared: bool  # outside this repository: other clones may be writing to it


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

    def read_objects(self, md5s: Iterable[str], stores: list[str]) -> dict[str, bytes]:
        """Objects' bytes, each from the first store that holds it whole (its md5 checked);
        those no store has are left out. For `.dir` listings: small, and needed to know
        what a directory holds."""
        found: dict[str, bytes] = {}
        with self.session.open() as repo:
            for md5 in md5s:
                for name in stores:
                    try:
                        if name == CACHE:
                            data = (Path(repo.cache.local.path) / md5[:2] / md5[2:]
                                    ).read_bytes()
                        else:
                            check_remote(repo, name)
                            odb = self.session.remote_odb(repo, name)
                            data = bytes(odb.fs.cat_file(odb.oid_to_path(md5)))
                    except Exception:  # absent or unreadable here: try the next store
                        continue
                    if md5_bytes(data) == md5.removesuffix(".dir"):
                        found[md5] = data
                        break
        return found

    def store(self, name: str) -> StoreInfo:
        with self.session.open() as repo:
            if name == CACHE:
                path = Path(repo.cache.local.path)
                return StoreInfo(CACHE, str(path), not _inside(path, self.session.root))
            check_remote(repo, name)
            url = str(repo.config["remote"][name]["url"])
        shared = scheme_of(url) != LOCAL_SCHEME or not _inside(Path(url), self.session.root)
        return StoreInfo(name, url, shared)

    def listing(self, name: str) -> dict[str, StoredObject]:
        """Every object a store holds, from its own listing."""
        with self.session.open() as repo:
            if name == CACHE:
                return _local_listing(Path(repo.cache.local.path))
            check_remote(repo, name)
            check_reachable(repo, name)
            odb = self.session.remote_odb(repo, name)
            url = str(repo.config["remote"][name]["url"])
            if scheme_of(url) == LOCAL_SCHEME:
                return _local_listing(Path(odb.path))
            try:
                entries = listed_entries(odb, None)
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(f"cannot list remote '{name}': "
                                  + explain(repo, name, exc)) from None
        return {md5: StoredObject(md5, size, _mtime(entry))
                for md5, (size, entry) in entries.items()}

    def digests(self, name: str, md5s: Iterable[str], advance: Callable[[int], None],
                workers: int = READ_WORKERS) -> dict[str, ObjectDigest]:
        """Read objects back from a store and hash them (`restic check --read-data`): what
        the bytes there really are, whatever the listing says. Several at a time from a
        cloud remote, where each read waits on the network; streamed, never held whole."""
        wanted = sorted(set(md5s))
        lock = threading.Lock()

        def counted(size: int) -> None:
            with lock:  # the progress display is not thread-safe
                advance(size)

        with self.session.open() as repo:
            top: Path | None
            odb: Any = None
            if name == CACHE:
                top = Path(repo.cache.local.path)
            else:
                check_remote(repo, name)
                check_reachable(repo, name)
                odb = self.session.remote_odb(repo, name)
                url = str(repo.config["remote"][name]["url"])
                top = Path(odb.path) if scheme_of(url) == LOCAL_SCHEME else None

            def digest(md5: str) -> ObjectDigest:
                try:
                    if top is not None:
                        found, size = md5_file(top / md5[:2] / md5[2:], counted)
                    else:
                        with odb.fs.fs.open(odb.oid_to_path(md5), "rb") as stream:
                            found, size = md5_stream(stream, counted)
                except FileNotFoundError:
                    return ObjectDigest(None, 0, "missing")
                except Exception as exc:  # the SDKs raise anything; the verdict says what
                    return ObjectDigest(None, 0, f"unreadable: {type(exc).__name__}: {exc}")
                return ObjectDigest(found, size)

            if top is not None or len(wanted) < 2:
                return {md5: digest(md5) for md5 in wanted}
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return dict(zip(wanted, pool.map(digest, wanted), strict=True))

    def delete(self, name: str, md5s: Iterable[str]) -> set[str]:
        """Delete objects from a store; returns those deleted. A pause point lies between
        two deletions (between two batches in a cloud remote)."""
        wanted = sorted(set(md5s))
        deleted: set[str] = set()
        if not wanted:
            return deleted
        with self.session.open() as repo:
            if name == CACHE:
                return _delete_local(self.session.root, Path(repo.cache.local.path), wanted)
            check_remote(repo, name)
            odb = self.session.remote_odb(repo, name)
            url = str(repo.config["remote"][name]["url"])
            if scheme_of(url) == LOCAL_SCHEME:
                return _delete_local(self.session.root, Path(odb.path), wanted)
            check_reachable(repo, name)
            for start in range(0, len(wanted), CLOUD_BATCH):
                if deleted:
                    pause_point(self.session.root, PausePoint.BETWEEN_DELETES)
                batch = wanted[start:start + CLOUD_BATCH]
                try:
                    odb.fs.fs.rm([odb.oid_to_path(md5) for md5 in batch])
                except FileNotFoundError:
                    pass  # gone already: what a deletion wants
                except Exception as exc:  # DVC and the cloud SDKs raise anything
                    raise RemoteError(f"deleting from remote '{name}' failed after "
                                      f"{len(deleted)} object(s): "
                                      + explain(repo, name, exc)) from None
                deleted.update(batch)
        return deleted


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _local_listing(top: Path) -> dict[str, StoredObject]:
    return {md5: StoredObject(md5, size, _mtime(entry))
            for md5, (size, entry) in listed_folder(top).items()}


def _delete_local(root: Path, top: Path, md5s: list[str]) -> set[str]:
    deleted: set[str] = set()
    for md5 in md5s:
        if deleted:
            pause_point(root, PausePoint.BETWEEN_DELETES)
        try:
            (top / md5[:2] / md5[2:]).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise WriteError(f"cannot delete {md5} from {top}: {exc.strerror or exc}",
                             hint="check the permissions there, then prune again") from None
        deleted.add(md5)
    return deleted


def _mtime(entry: dict[str, Any]) -> float | None:
    """When an object was written, as each SDK's listing spells it."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = entry.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None
