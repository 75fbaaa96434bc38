"""The seam to DVC: the only package that imports dvc. Split by job: opening DVC with its
in-memory config (session), the workspace (outputs, commit, metrics/params), transfers
(push, fetch, remote listing, verified upload), garbage collection (collect) and
explaining errors (explain).

This face imports none of them: a command that only reads backup tags (`list`) checks that
DVC is set up here, and needs nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdversion.errors import NotARepositoryError
from hdversion.util.progress import SILENT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from contextlib import AbstractContextManager

    from hdversion.config.credentials import CloudCredentials
    from hdversion.datastore.collect import Collector
    from hdversion.datastore.keyring import Keyring
    from hdversion.datastore.records import Records
    from hdversion.datastore.session import DvcSession, Leftovers
    from hdversion.datastore.store import (
        CacheStore,
        Deleted,
        ObjectDigest,
        Store,
        StoredObject,
        StoreInfo,
    )
    from hdversion.datastore.transfers import Transfers
    from hdversion.datastore.workspace import Output, Snapshot, Workspace, WorkspaceView
    from hdversion.model.encryption_at_rest import AtRest
    from hdversion.model.object_lock import BucketLock, LockPolicy
    from hdversion.model.storages import RemoteInfo
    from hdversion.util.progress import Reporter

__all__ = ["DataStore", "check_repository", "dir_listing", "missing_plugin", "open_remote_url"]


def check_repository(root: Path) -> None:
    """NotARepositoryError unless DVC is set up in `root`."""
    if not (root / ".dvc").is_dir():
        raise NotARepositoryError(
            f"not a DVC repository: {root}", hint="run `dvc init` in the project first"
        )


@dataclass(frozen=True)
class DataStore:
    session: DvcSession
    workspace: Workspace
    transfers: Transfers
    collector: Collector

    @classmethod
    def open(cls, root: Path, local_remote: str,
             credentials: CloudCredentials | None = None) -> DataStore:
        from hdversion.datastore.collect import Collector
        from hdversion.datastore.session import DvcSession
        from hdversion.datastore.transfers import Transfers
        from hdversion.datastore.workspace import Workspace

        session = DvcSession(root, local_remote, credentials)
        return cls(session, Workspace(session), Transfers(session), Collector(session))

    # -- the stores (datastore/store.py): every byte in or out goes through one ------------
    def cache_path(self, md5: str) -> Path:
        return self.session.cache_path(md5)

    def cache(self) -> CacheStore:
        """The DVC cache, as a store."""
        return self.transfers.cache_store()

    def remote(self, name: str) -> Store:
        """A configured DVC remote, as a store of its kind, once its endpoint answers;
        ConfigurationError (exit 7) for a remote DVC does not know, cannot open or reach."""
        return self.transfers.remote_store(name)

    # -- DVC's repository: its lock, its remotes' configuration -----------------------------
    def shared(self) -> AbstractContextManager[None]:
        return self.session.shared()

    def ensure_idle(self) -> None:
        self.session.ensure_idle()

    def ensure_remote(self, name: str) -> None:
        self.session.ensure_remote(name)

    def remotes(self) -> list[RemoteInfo]:
        return self.session.remotes()

    def remote_url(self, name: str) -> str | None:
        return self.session.remote_url(name)

    def add_remote(self, name: str, url: str, options: dict[str, str]
                   ) -> dict[str, Any] | None:
        return self.session.add_remote(name, url, options)

    def put_back_remote(self, name: str, previous: dict[str, Any] | None) -> None:
        self.session.put_back_remote(name, previous)

    # -- S3 Object Lock (datastore/object_lock.py) -------------------------------------------
    def lock_remote(self, name: str, policy: LockPolicy) -> None:
        """Lock every write to a configured remote from now on (its record written): exit 2
        for a remote that is not S3, exit 7 for a bucket without Object Lock."""
        from hdversion.datastore.object_lock import set_policy

        set_policy(_records(self.remote(name)), policy)

    def lock_report(self, name: str) -> BucketLock:
        """What a remote's bucket or container says about keeping its objects."""
        from hdversion.datastore.object_lock import bucket_lock

        return bucket_lock(self.transfers.remote_records(name))

    def at_rest(self, name: str) -> AtRest:
        """How a remote's bytes are encrypted at rest (datastore/at_rest.py): told without
        its key (an encrypted remote's config record is plain)."""
        from hdversion.datastore.at_rest import at_rest

        return at_rest(self.transfers.remote_records(name))

    # -- client-side encryption: the keys of a remote (datastore/keyring.py) ---------------
    def keyring(self, name: str) -> Keyring:
        from hdversion.datastore.keyring import Keyring

        return Keyring(self.transfers.remote_records(name), name)

    def remove_stale_temp(self, remotes: Iterable[str] = ()) -> Leftovers:
        return self.session.remove_stale_temp(remotes)

    # -- moving objects between the cache and the remotes -----------------------------------
    def preflight(self, remote: str) -> None:
        self.transfers.preflight(remote)

    def check_may_delete(self, remote: str) -> None:
        """DeletionRefusedError (exit 7) when the remote refuses these credentials the
        right to delete (a backup-only key), asked without deleting anything."""
        from hdversion.datastore.deletion import check_may_delete

        records = self.remote(remote).records
        if records is not None:
            check_may_delete(records)

    def push(self, remote: str, objects: Mapping[str, int], reporter: Reporter = SILENT
             ) -> None:
        self.transfers.push(remote, objects, reporter)

    def fetch(self, remote: str, objects: Mapping[str, int | None],
              reporter: Reporter = SILENT) -> None:
        self.transfers.fetch(remote, objects, reporter)

    def upload_verified(self, remote: str, md5s: Iterable[str], reporter: Reporter = SILENT
                        ) -> set[str]:
        return self.transfers.upload_verified(remote, md5s, reporter)

    def missing_in_remote(self, remote: str, objects: Mapping[str, int]) -> set[str]:
        return self.transfers.missing_in_remote(remote, objects)

    def keep_locked(self, remote: str, md5s: Iterable[str]) -> int:
        return self.remote(remote).keep_locked(md5s)

    def flush(self, remote: str, objects: Mapping[str, int]) -> None:
        """`Store.flush` of a remote: these objects, if written there without an fsync
        each, last."""
        self.remote(remote).flush(objects)

    def probe(self, name: str) -> list[tuple[str, bool, str]]:
        return self.transfers.probe(name)

    # -- the workspace's outputs, as DVC sees them ------------------------------------------
    def outputs(self) -> list[Output]:
        return self.workspace.outputs()

    def snapshot(self, outputs: list[Output], reporter: Reporter = SILENT) -> Snapshot:
        return self.workspace.snapshot(outputs, reporter)

    def add(self, paths: list[str], reporter: Reporter = SILENT) -> list[str]:
        return self.workspace.add(paths, reporter)

    def remember_hashes(self, hashes: dict[str, str],
                        stats: dict[str, tuple[int, int, int]] | None = None) -> None:
        self.workspace.remember_hashes(hashes, stats)

    def describe(self) -> WorkspaceView:
        return self.workspace.describe()

    def metrics_and_params(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.workspace.metrics_and_params()

    # -- what the stores hold, for prune and verify -----------------------------------------
    def used_by_refs(self, revisions: Iterable[str]) -> set[str]:
        return self.collector.used_by_refs(revisions)

    def store_info(self, store: Store) -> StoreInfo:
        return self.collector.store(store)

    def listing(self, store: Store, known: Iterable[str]) -> dict[str, StoredObject]:
        return self.collector.listing(store, known)

    def read_objects(self, md5s: Iterable[str], stores: list[Store]) -> dict[str, bytes]:
        return self.collector.read_objects(md5s, stores)

    def digests(self, store: Store, md5s: Iterable[str], advance: Callable[[int], None]
                ) -> dict[str, ObjectDigest]:
        return self.collector.digests(store, md5s, advance)

    def delete(self, store: Store, md5s: Iterable[str]) -> Deleted:
        return self.collector.delete(store, md5s)


def _records(store: Store) -> Records:
    assert store.records is not None, "a remote's store has its records"
    return store.records


def dir_listing(members: list[tuple[str, str]]) -> bytes:
    """The bytes of DVC's listing (`.dir` object) of a directory whose files are (path in
    the directory, md5)."""
    from hdversion.datastore.workspace import dir_listing as listing

    return listing(members)


def missing_plugin(name: str, url: str) -> str | None:
    """What a remote lacks when DVC's plugin for its scheme is not installed, else None."""
    from hdversion.datastore.session import missing_plugin as missing

    return missing(name, url)


def open_remote_url(url: str, endpoint_url: str | None = None,
                    credentials: CloudCredentials | None = None) -> Store:
    """A remote from its URL alone (no project, no DVC config), as a store of its kind;
    RemoteError (exit 7) when it cannot be used, UsageError (exit 2) for a URL of no known
    kind."""
    from hdversion.datastore.records import open_url
    from hdversion.datastore.store import store_of

    records = open_url(url, endpoint_url, credentials)
    records.unlock()
    return store_of(records.where(), records)
