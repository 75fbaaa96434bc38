"""Restoring a backup, verified before and after, never leaving a half-written file.

1. Every object the restore needs is re-hashed in the cache (DVC's checkout trusts its cache);
   a corrupt one is quarantined and fetched again. Nothing is touched until all are good.
2. Changes in the workspace that no backup holds are saved first in a safety backup.
3. Every file is staged beside its target, then all are renamed into place.
4. Every restored file is hashed again and compared with the manifest.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hdversion.atomic import commit_staged, discard, leftover_temp_files, stage_copy
from hdversion.backup import create_backup
from hdversion.catalog import Backup, Catalog
from hdversion.errors import HdversionError, UsageError, VerificationError
from hdversion.hashing import md5_bytes, md5_file
from hdversion.manifest import FileEntry
from hdversion.pausepoints import pause_point
from hdversion.progress import SILENT, Advance, Reporter
from hdversion.project import Project
from hdversion.timestamps import TAG_PREFIX, format_timestamp, now_utc, parse_timestamp

QUARANTINE = ".dvc/tmp/hdversion-quarantine"


@dataclass
class FileReport:
    path: str
    md5: str
    size: int
    action: str  # "restored", "unchanged", "would restore"
    verified: bool | None = None


@dataclass
class RestoreResult:
    backup: Backup
    target: Path
    dry_run: bool
    files: list[FileReport]
    safety_backup: Backup | None = None
    quarantined: list[str] = field(default_factory=list)

    @property
    def all_verified(self) -> bool:
        return self.dry_run or all(f.verified for f in self.files)


def restore_backup(
    project: Project,
    timestamp: str | None = None,
    target: Path | None = None,
    only: Iterable[str] = (),
    dry_run: bool = False,
    force: bool = False,
    remote: str | None = None,
    reporter: Reporter = SILENT,
) -> RestoreResult:
    """Restore a backup; the caller holds the repository lock."""
    remote = remote or project.settings.local_remote
    if target is not None and target.resolve() == project.root:
        target = None  # `--target .` is the workspace, with its safety backup
    catalog = _catalog_with(project, timestamp)
    backup = catalog.get(timestamp)
    dest = (target or project.root).resolve()
    entries = _select(backup, list(only))
    current = {e.path: _current_md5(dest / e.path, e.size) for e in entries}
    changing = [e for e in entries if current[e.path] != e.md5]
    reports = [
        FileReport(e.path, e.md5, e.size, "unchanged" if current[e.path] == e.md5 else
                   ("would restore" if dry_run else "restored"))
        for e in entries
    ]
    result = RestoreResult(backup, dest, dry_run, reports)
    if dry_run:
        return result

    sources = _verified_sources(project, backup, changing, remote, result, reporter)
    # A run killed between staging and renaming leaves temporary files; they are ours.
    discard(leftover_temp_files(dest, [e.path for e in entries]))

    if target is None and not force:
        known = catalog.known_md5s()
        unsaved = [e.path for e in changing
                   if current[e.path] is not None
                   and _full_md5(dest / e.path, current[e.path]) not in known]
        if unsaved:
            reporter.step(f"saving {len(unsaved)} unsaved file(s) in a safety backup")
            result.safety_backup = create_backup(
                project,
                message=f"before restoring {backup.timestamp}",
                allow_missing=True,
                kind="safety",
            ).backup

    _write_all(dest, changing, sources,
               reporter.bytes(f"writing {len(changing)} file(s)", _size(changing)))

    # Unchanged files were hashed against the manifest moments ago; restored ones now.
    advance = reporter.bytes(f"verifying {len(changing)} restored file(s)", _size(changing))
    for report in reports:
        if report.action == "unchanged":
            report.verified = True
            continue
        path = dest / report.path
        md5, _ = md5_file(path, advance) if path.is_file() else ("", 0)
        report.verified = md5 == report.md5
    return result


def _size(entries: Iterable[FileEntry]) -> int:
    return sum(e.size for e in entries)


def _catalog_with(project: Project, timestamp: str | None) -> Catalog:
    """The catalog, with the backup tags of the git remote fetched when the wanted backup is
    not known here (a fresh clone, or a backup made on another machine)."""
    if timestamp is not None:
        parse_timestamp(timestamp)
    catalog = Catalog.read(project.git)
    known = {b.timestamp for b in catalog.backups}
    if (timestamp in known) or (timestamp is None and known):
        return catalog
    remote = project.settings.git_remote
    if remote is not None and remote in project.git.remote_names():
        project.git.fetch_tags(remote, TAG_PREFIX + "*")
        catalog = Catalog.read(project.git)
    return catalog


def _select(backup: Backup, only: list[str]) -> list[FileEntry]:
    files = list(backup.manifest.files)
    if not only:
        return files
    chosen: list[FileEntry] = []
    for raw in only:
        path = raw.strip("/")
        matched = [f for f in files if f.path == path or f.path.startswith(path + "/")]
        if not matched:
            raise UsageError(f"backup {backup.timestamp} has no file {raw!r}")
        chosen += [f for f in matched if f not in chosen]
    return chosen


SIZE_DIFFERS = "size-differs"


def _current_md5(path: Path, expected_size: int) -> str | None:
    if not path.is_file():
        return None
    if path.stat().st_size != expected_size:
        return SIZE_DIFFERS  # no need to read it to know it differs
    return md5_file(path)[0]


def _full_md5(path: Path, known: str | None) -> str | None:
    """The file's md5, hashing it now if only its size was compared so far."""
    return md5_file(path)[0] if known == SIZE_DIFFERS else known


class _Source:
    """Where a file's verified bytes come from: a cache object or a git blob."""

    def __init__(self, path: Path | None = None, data: bytes | None = None) -> None:
        self.path, self.data = path, data

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")


def _verified_sources(
    project: Project, backup: Backup, entries: list[FileEntry], remote: str,
    result: RestoreResult, reporter: Reporter,
) -> dict[str, _Source]:
    sources: dict[str, _Source] = {}
    bad: list[str] = []
    for entry in (e for e in entries if e.store == "git"):
        data = project.git.read_file(backup.commit, entry.path)
        if data is None or md5_bytes(data) != entry.md5:
            bad.append(f"{entry.path} (git blob of {backup.tag})")
        else:
            sources[entry.path] = _Source(data=data)

    dvc_entries = [e for e in entries if e.store == "dvc"]
    advance = reporter.bytes(f"checking {len(dvc_entries)} object(s) in the cache",
                             _size(dvc_entries))
    unusable = [e for e in dvc_entries if not _cache_object_ok(project, e, result, advance)]
    if unusable:
        reporter.step(f"fetching {len(unusable)} object(s) from remote '{remote}'")
        project.store.fetch(backup.commit, remote)
        advance = reporter.bytes(f"checking {len(unusable)} fetched object(s)", _size(unusable))
        still = [e for e in unusable if not _cache_object_ok(project, e, result, advance)]
        bad += [f"{e.path} (object {e.md5} missing or corrupt in cache and in remote "
                f"'{remote}')" for e in still]
    for entry in dvc_entries:
        sources.setdefault(entry.path, _Source(path=project.store.cache_path(entry.md5)))
    if bad:
        raise VerificationError(
            "cannot restore, no workspace file was changed; unusable data: " + "; ".join(bad),
            hint="try another remote (--remote / --cloud) or another backup",
        )
    return sources


def _cache_object_ok(project: Project, entry: FileEntry, result: RestoreResult,
                     advance: Advance) -> bool:
    """Re-hash a cache object; quarantine it if corrupt so that a fetch can replace it."""
    path = project.store.cache_path(entry.md5)
    if not path.is_file():
        return False
    if path.stat().st_size == entry.size and md5_file(path, advance)[0] == entry.md5:
        return True
    quarantine = project.root / QUARANTINE
    quarantine.mkdir(parents=True, exist_ok=True)
    # Kept, not deleted: even a damaged copy is somebody's data.
    shutil.move(path, quarantine / f"{entry.md5}.{format_timestamp(now_utc())}.{os.getpid()}")
    result.quarantined.append(entry.md5)
    return False


def _write_all(dest: Path, entries: list[FileEntry], sources: dict[str, _Source],
               advance: Advance) -> None:
    staged: list[tuple[Path, Path]] = []
    try:
        for entry in entries:
            target = dest / entry.path
            with sources[entry.path].open() as stream:
                staged.append((stage_copy(stream, target, entry.md5, advance), target))
    except VerificationError:
        discard(tmp for tmp, _ in staged)
        raise
    except OSError as exc:
        discard(tmp for tmp, _ in staged)
        raise HdversionError(f"restore failed while writing, no file was changed: {exc}") from None
    except BaseException:
        discard(tmp for tmp, _ in staged)
        raise
    renamed = 0
    try:
        pause_point(dest, "before-rename")
        for tmp, target in staged:
            commit_staged(tmp, target)
            renamed += 1
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) between renames: each file is whole, old or new;
        # the staged copies not yet in place are removed.
        discard(tmp for tmp, _ in staged[renamed:])
        raise
