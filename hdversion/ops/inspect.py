"""Inspecting backups without changing anything: one backup in full (`show`), two states
compared (`diff`: two backups, or a backup and the workspace). Nothing here takes the
repository lock or writes the cache: the workspace is hashed, never committed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdversion.errors import ConfigurationError, DataStoreError, HdversionError, PartialError
from hdversion.model.catalog import Backup
from hdversion.model.compare import Comparison, FileState, compare
from hdversion.model.manifest import FileEntry
from hdversion.model.names import check_name
from hdversion.model.pins import Pin
from hdversion.model.pointers import is_pointer_file
from hdversion.ops.backup_refs import read_pins
from hdversion.ops.catalog import backup_named, catalog_with, files_of
from hdversion.ops.project import Project
from hdversion.ops.remotes import completeness
from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_file


@dataclass(frozen=True)
class RemoteHolding:
    """How much of a set of backups one remote holds; `error` when it could not be read."""

    remote: str
    lacking: dict[str, int] = field(default_factory=dict)  # tag -> objects missing there
    error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.error is None

    def complete(self, tag: str) -> bool:
        return self.error is None and self.lacking.get(tag) == 0


@dataclass
class ShowResult:
    backup: Backup
    files: tuple[FileEntry, ...]
    pin: Pin | None
    remotes: list[RemoteHolding]  # empty with --offline: no remote was asked

    def failure(self) -> HdversionError | None:
        unread = [r for r in self.remotes if not r.reachable]
        if not unread:
            return None
        # The backup was shown, but "which remotes hold it" is not fully answered.
        return PartialError(
            f"could not tell whether {', '.join(r.remote for r in unread)} hold(s) "
            f"{self.backup.tag}: " + "; ".join(f"{r.remote}: {r.error}" for r in unread),
            hint="`hdversion remote test NAME` checks a remote; --offline skips them")


@dataclass(frozen=True)
class WorkspaceState:
    """The workspace described the way a backup would record it, without recording it."""

    files: dict[str, FileState]
    params: dict[str, Any]
    metrics: dict[str, Any]
    missing: tuple[str, ...]  # outputs DVC declares (and named git-kept files) that are absent


@dataclass
class DiffResult:
    old: Backup
    new: Backup | None  # None: the workspace
    comparison: Comparison
    missing: tuple[str, ...] = ()  # the new side's missing artifacts

    def failure(self) -> HdversionError | None:
        return None


def show(ref: str, *, repo: Path | None = None, offline: bool = False,
         config: Path | None = None) -> ShowResult:
    """One backup in full: its manifest, its files, its pin, and (unless `offline`) how
    completely each configured remote holds it."""
    check_name(ref)
    project = Project.open(repo, strict=False, config=config)
    backup = backup_named(project, ref, now_utc(), offline)
    files = files_of(project.git, backup)
    remotes = [] if offline else holdings(project, all_remotes(project), [backup])
    result = ShowResult(backup, files, read_pins(project.git).get(backup.tag), remotes)
    project.journal("show", "ok" if result.failure() is None else "partial", tag=backup.tag)
    return result


def diff(old: str, *, new: str | None = None, repo: Path | None = None,
         offline: bool = False, config: Path | None = None) -> DiffResult:
    """Compare backup `old` with backup `new`, or with the workspace when `new` is None."""
    for name in (old, new):
        if name is not None:
            check_name(name)
    project = Project.open(repo, strict=False, config=config)
    catalog = catalog_with(project, old, offline)
    now = now_utc()
    result = compare_with(project, catalog.get(old, now),
                          None if new is None else catalog.get(new, now))
    project.journal("diff", "ok", old=result.old.tag,
                    new=result.new.tag if result.new else "workspace")
    return result


def compare_with(project: Project, old: Backup, new: Backup | None) -> DiffResult:
    before = backup_files(project, old)
    if new is not None:
        after = backup_files(project, new)
        return DiffResult(old, new, compare(
            before, after, old.manifest.params, new.manifest.params,
            old.manifest.metrics, new.manifest.metrics), new.manifest.missing)
    state = workspace_state(project)
    return DiffResult(old, None, compare(
        before, state.files, old.manifest.params, state.params,
        old.manifest.metrics, state.metrics), state.missing)


def backup_files(project: Project, backup: Backup) -> dict[str, FileState]:
    """A backup's artifacts and git-kept files. Pointer files (dvc.lock, *.dvc) are left
    out: they only restate the artifacts' hashes, and the workspace's own copies are not
    rewritten by a backup, so comparing them would report a change that is not one."""
    return {f.path: FileState(f.md5, f.size) for f in files_of(project.git, backup)
            if not (f.store == "git" and is_pointer_file(f.path))}


def workspace_state(project: Project) -> WorkspaceState:
    """The workspace's artifacts hashed as DVC hashes them (nothing committed, nothing
    written to the cache), the git-kept files a backup would take (the critical files the
    settings name, `cache: false` outputs), params and metrics."""
    workspace, settings = project.store, project.settings
    view = workspace.describe()
    files = {f.path: FileState(f.md5, f.size) for _, members in view.outputs
             for f in members}
    uncached, absent = view.uncached, list(view.missing)
    for name, required in ([(p, settings.git_tracked_explicit)
                            for p in settings.git_tracked_files]
                           + [(p, True) for p in uncached]):
        top = project.root / name
        members = [top] if top.is_file() else (
            sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [])
        if not members and required and name not in absent:
            absent.append(name)
        for member in members:
            relative = member.relative_to(project.root).as_posix()
            if not is_pointer_file(relative):
                md5, size = md5_file(member)
                files[relative] = FileState(md5, size)
    return WorkspaceState(files, view.params, view.metrics, tuple(absent))


def all_remotes(project: Project) -> list[str]:
    """Every DVC remote, the local one first."""
    names = [r.name for r in project.store.remotes()]
    local = project.settings.local_remote
    return [local, *(n for n in names if n != local)]


def holdings(project: Project, remotes: list[str], backups: list[Backup]
             ) -> list[RemoteHolding]:
    """How many objects each backup lacks in each remote; a remote that cannot be read is
    reported with why, never taken for one that lacks everything."""
    result = []
    for remote in remotes:
        try:
            project.store.preflight(remote)
            result.append(RemoteHolding(remote, completeness(project, remote, backups)))
        except (ConfigurationError, DataStoreError) as exc:
            result.append(RemoteHolding(remote, error=exc.message))
    return result
