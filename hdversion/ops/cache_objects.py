"""Cache objects hdversion can trust: each re-hashed before use (DVC's checkout trusts any
read-only cache file), a corrupt one quarantined (moved aside, never deleted) and fetched
again from the remotes in turn, each fetched copy re-hashed once more. A restore, which hashes
every byte as it stages it, asks only for the sizes here (`deep=False`) and comes back for
an object whose bytes turned out wrong."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hdversion.errors import ConfigurationError
from hdversion.model.manifest import FileEntry
from hdversion.model.timestamps import format_timestamp
from hdversion.ops.project import Project
from hdversion.paths import QUARANTINE, TEMP_PREFIX
from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_bytes, md5_file
from hdversion.util.progress import Advance, Reporter


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


def object_ok(project: Project, entry: FileEntry, advance: Advance, check: CacheCheck,
              deep: bool = True) -> bool:
    """Re-hash a cache object (or, not `deep`, compare its size); quarantine it if corrupt so
    that a fetch can replace it."""
    path = project.store.cache_path(entry.md5)
    if not path.is_file():
        return False
    if path.stat().st_size == entry.size and (
            not deep or md5_file(path, advance)[0] == entry.md5):
        return True
    quarantine(project.root, path, entry.md5)
    check.quarantined.append(entry.md5)
    return False


def quarantine(root: Path, path: Path, md5: str) -> Path:
    """Move a damaged object aside; kept, not deleted: even a damaged copy is somebody's."""
    folder = root / QUARANTINE
    folder.mkdir(parents=True, exist_ok=True)
    moved = folder / f"{md5}.{format_timestamp(now_utc())}.{os.getpid()}"
    shutil.move(path, moved)
    return moved


def check_dir_objects(project: Project, dir_objects: list[str], check: CacheCheck) -> None:
    """DVC's `.dir` objects (a directory's listing) are named by the md5 of their bytes: a
    damaged one, even valid JSON, is quarantined so that a fetch brings a good copy instead
    of following a wrong listing."""
    for name in dir_objects:
        path = project.store.cache_path(name)
        if path.is_file() and md5_file(path)[0] != name.removesuffix(".dir"):
            quarantine(project.root, path, name)
            check.quarantined.append(name)


def ensure_cached(project: Project, commit: str, entries: list[FileEntry],
                  remotes: list[str], reporter: Reporter,
                  dir_objects: list[str] | None = None, deep: bool = True,
                  check: CacheCheck | None = None) -> CacheCheck:
    """Make every entry's object good in the cache, fetching what is missing or corrupt from
    each remote in turn until none is left: one damaged or unreachable store does not stop a
    restore that another can serve. What is still bad afterwards is reported, not raised.
    Not `deep`: objects are only compared by size (the caller hashes them as it reads)."""
    check = check or CacheCheck()
    check_dir_objects(project, dir_objects or [], check)
    total = sum(e.size for e in entries) if deep else 0
    advance = reporter.bytes(f"checking {len(entries)} object(s) in the cache", total)
    unusable = [e for e in entries if not object_ok(project, e, advance, check, deep)]
    for remote in remotes:
        if not unusable:
            break
        # A listing fetched from the previous remote may be the damaged one.
        check_dir_objects(project, dir_objects or [], check)
        reporter.step(f"fetching {len(unusable)} object(s) from remote '{remote}'")
        try:
            # Named objects: a bucket or container is asked for only what is missing here.
            wanted: dict[str, int | None] = {e.md5: e.size for e in unusable}
            wanted.update(dict.fromkeys(dir_objects or []))
            project.store.transfers.fetch(commit, remote, objects=wanted)
        except ConfigurationError as exc:  # a full disk (WriteError) stops everything
            check.unusable_remotes[remote] = exc
            continue
        advance = reporter.bytes(f"checking {len(unusable)} fetched object(s)",
                                 sum(e.size for e in unusable) if deep else 0)
        still = [e for e in unusable if not object_ok(project, e, advance, check, deep)]
        if len(still) < len(unusable):
            check.fetched_from[remote] = len(unusable) - len(still)
        unusable = still
    check.bad = unusable
    return check


def fallback_order(project: Project, first: str | None) -> list[str]:
    """The remotes a restore asks in turn: the one named (if any), the local remote, the
    default set of cloud remotes (`backup.remotes`), then every other DVC remote."""
    known = [r.name for r in project.store.session.remotes()]
    wanted = [*([first] if first else []), project.settings.local_remote,
              *project.settings.remotes, *sorted(known)]
    return [name for name in dict.fromkeys(wanted) if name in known or name == first]


def copy_listings(project: Project, dir_objects: list[str], remote: str) -> None:
    """Bring the directory listings (`.dir` objects) the cache lacks from a remote that is a
    directory, each checked against its name: a restore that reads that remote's objects in
    place, without DVC's fetch, still leaves the cache whole for DVC."""
    for name in dir_objects:
        cached = project.store.cache_path(name)
        stored = project.store.session.local_object_path(remote, name)
        if cached.is_file() or stored is None or not stored.is_file():
            continue
        _put_listing(cached, name, stored.read_bytes())


def rebuild_listings(project: Project, listings: dict[str, list[tuple[str, str]]]
                     ) -> list[str]:
    """Write into the cache each directory listing (`.dir` object) it lacks, made from the
    backup's own file list (name -> [(path in the directory, md5)]), when the bytes hash to
    the name: no store needs to hold a whole listing for DVC to find the cache complete
    after a restore. The names written."""
    from hdversion.datastore.workspace import dir_listing

    written = []
    for name, members in listings.items():
        cached = project.store.cache_path(name)
        if cached.is_file():
            continue
        if _put_listing(cached, name, dir_listing(members)):
            written.append(name)
    return written


def _put_listing(cached: Path, name: str, data: bytes) -> bool:
    """Put a listing's bytes in the cache, whole (renamed into place) and read-only as DVC
    keeps its objects, only if they hash to its name: nothing else can be written there."""
    if md5_bytes(data) != name.removesuffix(".dir"):
        return False
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{TEMP_PREFIX}{cached.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, cached)
    return True
