"""The seam to DVC: the only package that imports dvc. Split by job: opening DVC with its
in-memory config (session), the workspace (outputs, commit, metrics/params), transfers
(push, fetch, remote listing, verified upload), garbage collection (collect) and
explaining errors (explain).

This face imports none of them: a command that only reads backup tags (`list`) checks that
DVC is set up here, and needs nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hdversion.errors import NotARepositoryError

if TYPE_CHECKING:
    from hdversion.config.credentials import CloudCredentials
    from hdversion.datastore.collect import Collector
    from hdversion.datastore.session import DvcSession
    from hdversion.datastore.store import CacheStore, Store
    from hdversion.datastore.transfers import Transfers
    from hdversion.datastore.workspace import Workspace

__all__ = ["DataStore", "check_repository"]


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

    def cache_path(self, md5: str) -> Path:
        return self.session.cache_path(md5)

    def cache(self) -> CacheStore:
        """The DVC cache, as a store (`datastore/store.py`)."""
        from hdversion.datastore.store import CacheStore

        return CacheStore(self.session.cache_root())

    def remote(self, name: str) -> Store:
        """A configured DVC remote, as a store of its kind; ConfigurationError (exit 7) for
        a remote DVC does not know or cannot open."""
        from hdversion.datastore.bucket import bucket_of_remote
        from hdversion.datastore.store import store_of

        return store_of(name, bucket_of_remote(self.session, name))
