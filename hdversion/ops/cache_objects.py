"""The cache, first store of the chain of verified sources (`ops/sources.py`), kept
trustworthy: each object re-hashed before use (DVC's checkout trusts any read-only cache
file), a damaged one quarantined (moved aside, never deleted) so that the next store can
replace it, and directory listings (`.dir` objects) put into it only when their bytes hash to
their name."""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hdversion.datastore.store import CacheStore
from hdversion.errors import ConfigurationError
from hdversion.model.manifest import FileEntry
from hdversion.model.timestamps import format_timestamp
from hdversion.ops.project import Project
from hdversion.paths import QUARANTINE
from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_bytes, md5_file
from hdversion.util.progress import Advance


@dataclass
class CacheCheck:
    bad: list[FileEntry] = field(default_factory=list)  # still missing or corrupt
    quarantined: list[str] = field(default_factory=list)  # md5s moved aside
    fetched_from: dict[str, int] = field(default_factory=dict)  # remote -> objects it gave
    # Remotes that could not be used (unreachable, no credentials, not configured): why.
    unusable_remotes: dict[str, ConfigurationError] = field(default_factory=dict)

    def failure_of_every_remote(self, remotes: list[str]) -> ConfigurationError | None:
        """The first remote's error when objects are still bad and no remote could even be
        asked: the data may be fine there, so this is not a verification failure."""
        if self.bad and remotes and all(r in self.unusable_remotes for r in remotes):
            return self.unusable_remotes[remotes[0]]
        return None

    def failure(self, asked: str | None, remotes: list[str]) -> ConfigurationError | None:
        """A remote's failure (exit 7), not the data's, when objects are still bad: the
        remote asked for could not be used, or none could."""
        if self.bad and asked in self.unusable_remotes:
            return self.unusable_remotes[asked]
        return self.failure_of_every_remote(remotes)


class Cache:
    """The project's DVC cache as the chain reads it: a `CacheStore` and the folder damaged
    objects are moved aside into."""

    def __init__(self, project: Project) -> None:
        self.store: CacheStore = project.store.cache()
        self.root = project.root

    def path(self, md5: str) -> Path:
        return self.store.path(md5)

    def object_ok(self, entry: FileEntry, advance: Advance, check: CacheCheck,
                  deep: bool = True) -> bool:
        """Re-hash an object (or, not `deep`, compare its size); quarantine it if damaged so
        that the next store can replace it."""
        path = self.path(entry.md5)
        if not path.is_file():
            return False
        if path.stat().st_size == entry.size and (
                not deep or md5_file(path, advance)[0] == entry.md5):
            return True
        self.quarantine(entry.md5, check)
        return False

    def quarantine(self, md5: str, check: CacheCheck) -> None:
        """Move a damaged object aside (the one way the chain does it), noted in `check`."""
        path = self.path(md5)
        if not path.is_file():
            return
        # Kept, not deleted: even a damaged copy is somebody's.
        folder = self.root / QUARANTINE
        folder.mkdir(parents=True, exist_ok=True)
        shutil.move(path, folder / f"{md5}.{format_timestamp(now_utc())}.{os.getpid()}")
        check.quarantined.append(md5)

    def check_listings(self, names: list[str], check: CacheCheck) -> None:
        """DVC's `.dir` objects (a directory's listing) are named by the md5 of their bytes:
        a damaged one, even valid JSON, is quarantined so that the next store gives a good
        copy instead of a wrong listing being followed."""
        for name in names:
            path = self.path(name)
            if path.is_file() and md5_file(path)[0] != name.removesuffix(".dir"):
                self.quarantine(name, check)

    def put_listing(self, name: str, data: bytes) -> bool:
        """Put a listing's bytes into the cache (whole, read-only as DVC keeps its objects)
        only if they hash to its name: nothing else can be written there (checked before
        any folder is made for it)."""
        if md5_bytes(data) != name.removesuffix(".dir"):
            return False
        self.store.put(name, io.BytesIO(data), len(data))
        return True


def rebuild_listings(project: Project, listings: dict[str, list[tuple[str, str]]]
                     ) -> list[str]:
    """Write into the cache each directory listing (`.dir` object) it lacks, made from the
    backup's own file list (name -> [(path in the directory, md5)]), when the bytes hash to
    the name: no store needs to hold a whole listing for DVC to find the cache complete
    after a restore. The names written."""
    from hdversion.datastore import dir_listing

    cache = Cache(project)
    written = []
    for name, members in listings.items():
        try:
            if cache.store.has(name):
                continue
        except ValueError:  # not an object's name: nothing to write
            continue
        if cache.put_listing(name, dir_listing(members)):
            written.append(name)
    return written
