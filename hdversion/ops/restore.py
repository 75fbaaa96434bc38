"""Restoring a backup, verified before and after, never leaving a half-written file.

1. Every object the restore needs is re-hashed in the cache (DVC's checkout trusts its cache);
   a corrupt one is quarantined and fetched again. Nothing is touched until all are good.
2. Changes in the workspace that no backup holds are saved first in a safety backup.
3. Every file is staged beside its target, then all are renamed into place.
4. Every restored file is hashed again and compared with the manifest.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hdversion.errors import UsageError, VerificationError, WriteError
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.ops.backup import create_backup
from hdversion.ops.cache_objects import ensure_cached
from hdversion.ops.catalog import catalog_with, files_of, known_md5s
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.util.atomic import commit_staged, discard, leftover_temp_files, stage_copy
from hdversion.util.hashing import md5_bytes, md5_file
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Advance, Reporter


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

    def failure(self) -> VerificationError | None:
        bad = [f.path for f in self.files if f.verified is False]
        if not bad:
            return None
        return VerificationError(
            f"{len(bad)} restored file(s) do not match backup {self.backup.tag}: "
            + ", ".join(bad),
            hint="something changed them after writing; run the restore again",
        )


def restore(
    path: Path | None = None,
    timestamp: str | None = None,
    target: Path | None = None,
    only: tuple[str, ...] = (),
    dry_run: bool = False,
    force: bool = False,
    remote: str | None = None,
    reporter: Reporter = SILENT,
    wait: float = 0,
) -> RestoreResult:
    """Restore a backup of the project at `path` (default: the current directory)."""
    project = Project.open(path)
    with locked_operation(project, "restore", wait, timestamp=timestamp,
                          target=str(target or "")):
        result = restore_backup(project, timestamp, target, only, dry_run, force, remote,
                                reporter)
        project.journal(
            "restore",
            "dry-run" if dry_run else ("ok" if result.all_verified else "verification-failed"),
            tag=result.backup.tag, files=len(result.files),
            safety_backup=result.safety_backup.tag if result.safety_backup else None,
        )
        return result


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
    catalog = catalog_with(project, timestamp)
    backup = catalog.get(timestamp)
    dest = (target or project.root).resolve()
    entries = _select(backup, files_of(project.git, backup), list(only))
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
        present = {e.path: _full_md5(dest / e.path, current[e.path]) for e in changing
                   if current[e.path] is not None}
        known = known_md5s(project.git, catalog, {m for m in present.values() if m})
        unsaved = [p for p, md5 in present.items() if md5 not in known]
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


def _select(backup: Backup, files: tuple[FileEntry, ...], only: list[str]) -> list[FileEntry]:
    if not only:
        return list(files)
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
    check = ensure_cached(project, backup.commit, dvc_entries, remote, reporter)
    result.quarantined += check.quarantined
    bad += [f"{e.path} (object {e.md5} missing or corrupt in cache and in remote "
            f"'{remote}')" for e in check.bad]
    for entry in dvc_entries:
        sources.setdefault(entry.path, _Source(path=project.store.cache_path(entry.md5)))
    if bad:
        raise VerificationError(
            "cannot restore, no workspace file was changed; unusable data: " + "; ".join(bad),
            hint="try another remote (--remote / --cloud) or another backup",
        )
    return sources


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
        raise WriteError(f"restore failed while writing, no file was changed: {exc}") from None
    except BaseException:
        discard(tmp for tmp, _ in staged)
        raise
    renamed = 0
    try:
        pause_point(dest, PausePoint.BEFORE_RENAME)
        for tmp, target in staged:
            commit_staged(tmp, target)
            renamed += 1
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) between renames: each file is whole, old or new;
        # the staged copies not yet in place are removed.
        discard(tmp for tmp, _ in staged[renamed:])
        raise
