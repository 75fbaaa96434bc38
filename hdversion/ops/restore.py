"""Restoring a backup, verified as it is written, never leaving a half-written file.

1. Every object the restore needs is found: in the cache, else read in place from a remote
   that is a directory (and copied into the cache in the same pass), else fetched from the
   remotes in turn. Nothing is touched until every file is staged and verified.
2. Changes in the workspace that no backup holds are saved first in a safety backup.
3. Every file is staged beside its target, hashed as it is written: one read of the source,
   one write. A cache object whose bytes turn out wrong is quarantined and fetched again
   (DVC's checkout trusts any read-only cache file). Then all are renamed into place.
4. Each file in place is checked to be the one staged (same inode, size and mtime): a
   change made after the rename, by another writer, fails the restore.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from hdversion.errors import (
    UsageError,
    VerificationError,
    WriteError,
)
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry, within
from hdversion.model.names import LATEST, check_name
from hdversion.model.pointers import declared_dir_objects, declared_outputs, is_pointer_file
from hdversion.ops.backup import create_backup
from hdversion.ops.backup_refs import refresh_catalog
from hdversion.ops.cache_objects import Cache, rebuild_listings
from hdversion.ops.catalog import files_of, find_backup, known_md5s, read_catalog
from hdversion.ops.operation import locked_operation, remove_leftovers
from hdversion.ops.project import Project
from hdversion.ops.sources import git_files, verified_sources
from hdversion.ops.staging import (
    Source,
    Writer,
    check_no_file_is_a_folder,
    check_targets,
    target_folder,
)
from hdversion.ops.trust import check_destination, check_paths
from hdversion.paths import TEMP_PREFIX
from hdversion.util.atomic import Identity
from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_file
from hdversion.util.log import log
from hdversion.util.progress import SILENT, Reporter


@dataclass
class FileReport:
    path: str
    md5: str
    size: int
    # "restored", "unchanged", "would restore"; for a file in a directory output that the
    # backup lacks: "removed", "would remove", or "extra, kept" (in a --target directory)
    action: str
    verified: bool | None = None


@dataclass
class RestoreResult:
    backup: Backup
    target: Path
    dry_run: bool
    files: list[FileReport]
    latest: bool = False  # the backup was picked as the latest, not named
    safety_backup: Backup | None = None
    would_make_safety_backup: bool = False  # --dry-run: unsaved changes would be saved first
    quarantined: list[str] = field(default_factory=list)
    fetched_from: dict[str, int] = field(default_factory=dict)  # remote -> objects it gave
    unusable_remotes: dict[str, str] = field(default_factory=dict)  # remote -> why skipped

    @property
    def all_verified(self) -> bool:
        return self.dry_run or all(f.verified for f in self.files if f.verified is not None)

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
    *,
    repo: Path | None = None,
    ref: str | None = None,
    target: Path | None = None,
    only: tuple[str, ...] = (),
    dry_run: bool = False,
    force: bool = False,
    remote: str | None = None,
    reporter: Reporter = SILENT,
    wait: float = 0,
    offline: bool = False,
    config: Path | None = None,
) -> RestoreResult:
    """Restore a backup of the project at `repo` (default: the current directory); the
    backup tags of the git remote are fetched first unless `offline`. `ref`: the
    backup's name in any form model/names.py reads; None is `latest`."""
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "restore", wait, timestamp=ref,
                          target=str(target or ""), only=list(only)):
        result = restore_backup(project, ref, target, only, dry_run, force, remote,
                                reporter, offline)
        project.journal(
            "restore",
            "dry-run" if dry_run else ("ok" if result.all_verified else "verification-failed"),
            tag=result.backup.tag, files=len(result.files),
            safety_backup=result.safety_backup.tag if result.safety_backup else None,
            target=str(target or ""), only=list(only),
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
    offline: bool = False,
) -> RestoreResult:
    """Restore a backup; the caller holds the repository lock."""
    project.store.ensure_idle()
    if target is not None and target.resolve() == project.root:
        target = None  # `--target .` is the workspace, with its safety backup
    if timestamp is not None:
        check_name(timestamp)
    refresh_catalog(project, offline)
    if remote is not None:
        project.store.ensure_remote(remote)
    backup = find_backup(project.git, timestamp, now_utc())
    dest = (target or project.root).resolve()
    files = files_of(project.git, backup)
    pointers = _pointer_files(project, backup, files)

    # Each directory listing of the backup, with what its file list says the directory
    # holds (a listing can be made again from it where no store has it whole). (Paths are
    # normalized, checked: a member's name is what follows `out/`.)
    listings = {md5: (out, [(e.path[len(out) + 1:], e.md5)
                            for e in files if e.store == "dvc" and e.path != out
                            and within(e.path, out)])
                for path, data in pointers.items()
                for out, md5 in declared_dir_objects(path, data).items()}

    def sources_for(changing: list[FileEntry], result: RestoreResult) -> dict[str, Source]:
        needed = {md5: members for md5, (out, members) in listings.items()
                  if any(within(e.path, out) for e in changing)}
        remove_leftovers(project)
        return verified_sources(project, backup, changing, remote, result, reporter, needed)

    workspace = (WorkspaceSteps(project, force, offline,
                                {md5: members for md5, (_, members) in listings.items()})
                 if target is None else None)
    with target_folder(dest):  # a refused or interrupted restore leaves no trace
        return restore_entries(
            backup, files, pointers, dest, project.settings.git_tracked_files, sources_for,
            writer_for(project), workspace=workspace, only=only, dry_run=dry_run,
            reporter=reporter, latest=timestamp in (None, LATEST))


SourcesFor = Callable[[list[FileEntry], RestoreResult], "dict[str, Source]"]


def writer_for(project: Project) -> Writer:
    """The engine that writes files, in a project: DVC's lock is checked once more before the
    first byte is written."""
    return Writer(project.root, ready=project.store.ensure_idle)


@dataclass
class WorkspaceSteps:
    """What a restore into the project's own workspace does beyond writing files: files whose
    content no backup holds are saved in a safety backup first (unless `force`; `offline`: its
    tag is not pushed to the git remote), files inside directory outputs that the backup
    lacks are removed, and the restored files' hashes are given to DVC."""

    project: Project
    force: bool = False
    offline: bool = False
    # The backup's directory listings: name -> [(path in the directory, md5)].
    listings: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def unsaved(self, dest: Path, changing: list[FileEntry],
                current: dict[str, str | None], extras: list[str]) -> list[str]:
        """The files about to be replaced or removed whose content is in no backup."""
        if self.force:
            return []
        # Pointer files are not unsaved work: a backup makes them from the outputs (it never
        # keeps the bytes in place), so a safety backup could not hold them, and DVC cannot
        # even read an emptied or conflicted one to make it.
        present = {e.path: _full_md5(dest / e.path, current[e.path]) for e in changing
                   if current[e.path] is not None and not is_pointer_file(e.path)}
        present.update({path: md5_file(dest / path)[0] for path in extras})
        git = self.project.git
        # The whole catalog only here: a restore that replaces no unsaved file reads the
        # one tag it restores.
        known = known_md5s(git, read_catalog(git), {m for m in present.values() if m})
        unsaved = [p for p, md5 in present.items() if md5 not in known]
        # A file that HEAD holds as it is (params.yaml in a fresh clone) is saved in git.
        in_git = git.unchanged_since_head(unsaved)
        return [p for p in unsaved if p not in in_git]

    def save(self, unsaved: list[str], backup: Backup, reporter: Reporter) -> Backup:
        reporter.step(f"saving {len(unsaved)} unsaved file(s) in a safety backup")
        return create_backup(self.project, message=f"before restoring {backup.timestamp}",
                             allow_missing=True, kind="safety", offline=self.offline).backup

    def remember(self, dest: Path, restored: list[FileEntry],
                 placed: dict[str, Identity]) -> None:
        """Verified as written: the next backup (and DVC) need not read them again. Their
        stats are those the engine checked in place (`Writer.placed`)."""
        folder = str(dest)
        hashes, stats = {}, {}
        for e in restored:
            if e.store == "dvc" and (known := placed.get(e.path)) is not None:
                path = os.path.join(folder, e.path)
                hashes[path], stats[path] = e.md5, known
        self.project.store.remember_hashes(hashes, stats)

    def complete_cache(self, dest: Path, unchanged: list[FileEntry]) -> None:
        """The cache made whole for the backup, as `dvc pull` leaves it (DVC's status
        reports an object it lacks): the objects of the files left as they are come from
        the workspace, where they hashed right moments ago (checked again as copied; one
        changed since is left out), and the directory listings from the file list. No
        remote is read for bytes the workspace holds: a whole-revision fetch did that,
        and DVC's fetch from a directory remote deletes a damaged object there."""
        cache = Cache(self.project)
        try:
            for entry in unchanged:
                if entry.store == "dvc" and not cache.store.has(entry.md5):
                    with contextlib.suppress(VerificationError, FileNotFoundError):
                        cache.store.put_file(entry.md5, dest / entry.path)
            rebuild_listings(self.project, self.listings)
        except (WriteError, OSError) as exc:  # the files are restored: said, not raised
            log.warning("the restored files are in place, but the DVC cache could not be "
                        "completed (%s): `dvc status` may report objects not in the cache",
                        getattr(exc, "message", exc))


def restore_entries(
    backup: Backup,
    files: tuple[FileEntry, ...],
    pointers: dict[str, bytes],
    dest: Path,
    git_tracked: Iterable[str],
    sources_for: SourcesFor,
    writer: Writer,
    *,
    workspace: WorkspaceSteps | None = None,
    only: Iterable[str] = (),
    dry_run: bool = False,
    reporter: Reporter = SILENT,
    latest: bool = False,
) -> RestoreResult:
    """Restore `files` (already checked against their manifest) into `dest`: the paths are
    checked, only differing files are written (by `writer`), their verified bytes coming from
    `sources_for(changing files, result)` (a backup's cache objects and git blobs, an
    archive's members, a remote's objects). Into a project's `workspace`, its steps too:
    the safety backup first, extras inside directory outputs removed, hashes remembered."""
    check_paths(files, pointers, git_tracked, backup.tag)
    check_no_file_is_a_folder(backup.tag, (f.path for f in files))
    entries = _select(backup, files, list(only))
    check_destination(dest, [e.path for e in entries])
    folder = str(dest)
    current = {e.path: _current_md5(os.path.join(folder, e.path), e.size) for e in entries}
    changing = [e for e in entries if current[e.path] != e.md5]
    extras = _extra_files(dest, files, pointers, list(only))
    remove_extras = workspace is not None
    reports = [
        FileReport(e.path, e.md5, e.size, "unchanged" if current[e.path] == e.md5 else
                   ("would restore" if dry_run else "restored"))
        for e in entries
    ] + [
        FileReport(path, "", (dest / path).stat().st_size,
                   ("would remove" if dry_run else "removed") if remove_extras
                   else "extra, kept")
        for path in extras
    ]
    result = RestoreResult(backup, dest, dry_run, reports, latest=latest)
    check_targets(dest, changing)
    unsaved = workspace.unsaved(dest, changing, current, extras) if workspace else []
    if dry_run:
        result.would_make_safety_backup = bool(unsaved)
        return result

    sources = sources_for(changing, result)
    if workspace is not None and unsaved:
        result.safety_backup = workspace.save(unsaved, backup, reporter)

    def remove_the_extras() -> None:
        if remove_extras:
            for path in extras:
                (dest / path).unlink(missing_ok=True)
            _remove_empty_folders(dest, extras)

    verdicts = writer.write(dest, changing, sources,
                            reporter.bytes(f"writing {len(changing)} file(s)", _size(changing)),
                            after_renames=remove_the_extras,
                            flushing=lambda: reporter.step(
                                f"making the {len(changing)} file(s) durable on disk"))
    # Unchanged files were hashed against the manifest moments ago, restored ones as they were
    # written; what is in place now must be the very file that was staged.
    for report in reports:
        if report.action == "unchanged":
            report.verified = True
        elif report.action == "restored":
            report.verified = verdicts[report.path]
        elif report.action == "removed":
            report.verified = not (dest / report.path).exists()
    if workspace is not None:
        workspace.remember(dest, [e for e, report in zip(entries, reports, strict=False)
                                  if report.action == "restored" and report.verified],
                           writer.placed)
        workspace.complete_cache(dest, [e for e, report in zip(entries, reports, strict=False)
                                        if report.action == "unchanged"])
    return result


def _pointer_files(project: Project, backup: Backup, files: tuple[FileEntry, ...]
                   ) -> dict[str, bytes]:
    """The backup's own pointer files, from its commit, checked against the manifest."""
    read = git_files(project, backup,
                     [f for f in files if f.store == "git" and is_pointer_file(f.path)])
    if read.bad:
        raise VerificationError(
            f"backup {backup.tag}: its commit's {read.bad[0].path} does not match the "
            "manifest; no file was changed")
    return read.found


def _extra_files(dest: Path, files: tuple[FileEntry, ...], pointers: dict[str, bytes],
                 only: list[str]) -> list[str]:
    """Files inside the backup's directory outputs that the backup lacks (a restored
    directory output must equal the backup, as `dvc checkout` makes it)."""
    listed = {f.path for f in files}
    declared = {out for path, data in pointers.items() for out in declared_outputs(path, data)}
    folders = [out for out in declared
               if any(within(p, out) and p != out for p in listed)
               and (not only or any(within(out, o.strip("/")) for o in only))]
    extras: list[str] = []
    for folder in folders:
        top = dest / folder
        if not top.is_dir() or top.is_symlink():
            continue
        for member in top.rglob("*"):
            relative = member.relative_to(dest).as_posix()
            if (member.is_file() or member.is_symlink()) and relative not in listed \
                    and not member.name.startswith(TEMP_PREFIX):
                extras.append(relative)
    return sorted(extras)


def _remove_empty_folders(dest: Path, removed: list[str]) -> None:
    for path in sorted(removed, key=lambda p: p.count("/"), reverse=True):
        for parent in (dest / path).parents:
            if parent == dest:
                break
            with contextlib.suppress(OSError):  # not empty, or already gone
                parent.rmdir()


def _size(entries: Iterable[FileEntry]) -> int:
    return sum(e.size for e in entries)


def _select(backup: Backup, files: tuple[FileEntry, ...], only: list[str]) -> list[FileEntry]:
    if not only:
        return list(files)
    chosen: list[FileEntry] = []
    for raw in only:
        path = raw.strip("/")
        matched = [f for f in files if within(f.path, path)]
        if not matched:
            raise UsageError(f"backup {backup.timestamp} has no file {raw!r}")
        chosen += [f for f in matched if f not in chosen]
    return chosen


SIZE_DIFFERS = "size-differs"


def _current_md5(path: str, expected_size: int) -> str | None:
    # One stat, on a string (a restore asks it of 100,000 files; pathlib's is_file then
    # stat were two, and the join cost more than either).
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno in _NO_FILE:
            return None
        raise
    if not S_ISREG(info.st_mode):
        return None
    if info.st_size != expected_size:
        return SIZE_DIFFERS  # no need to read it to know it differs
    return md5_file(Path(path))[0]


# What pathlib's is_file() takes for "not a file" rather than an error.
_NO_FILE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def _full_md5(path: Path, known: str | None) -> str | None:
    """The file's md5, hashing it now if only its size was compared so far."""
    return md5_file(path)[0] if known == SIZE_DIFFERS else known


