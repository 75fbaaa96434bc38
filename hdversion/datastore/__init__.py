"""The seam to DVC: the only package that imports dvc. Split by job: opening DVC with its
in-memory config (session), the workspace (outputs, commit, metrics/params), transfers
(push, fetch, remote listing, verified upload), garbage collection (collect) and
explaining errors (explain)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hdversion.config.credentials import CloudCredentials
from hdversion.datastore.collect import CACHE, Collector, ObjectDigest, StoredObject, StoreInfo
from hdversion.datastore.session import DvcSession
from hdversion.datastore.transfers import Transfers
from hdversion.datastore.workspace import Output, Snapshot, TrackedFile, TrackedOutput, Workspace

__all__ = ["CACHE", "DataStore", "ObjectDigest", "Output", "Snapshot", "StoreInfo", "StoredObject",
           "TrackedFile", "TrackedOutput"]


@dataclass(frozen=True)
class DataStore:
    session: DvcSession
    workspace: Workspace
    transfers: Transfers
    collector: Collector

    @classmethod
    def open(cls, root: Path, local_remote: str,
             credentials: CloudCredentials | None = None) -> DataStore:
        session = DvcSession(root, local_remote, credentials)
        return cls(session, Workspace(session), Transfers(session), Collector(session))

    def cache_path(self, md5: str) -> Path:
        return self.session.cache_path(md5)
