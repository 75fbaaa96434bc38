"""The Python API: every command's work, behind the repository lock and into the journal.
The CLI only parses arguments, calls these and renders the results."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hdversion import journal, remotes
from hdversion.backup import BackupResult, create_backup
from hdversion.catalog import Catalog
from hdversion.datastore import RemoteInfo
from hdversion.errors import HdversionError
from hdversion.lock import repository_lock
from hdversion.progress import SILENT, Reporter
from hdversion.project import Project
from hdversion.restore import RestoreResult, restore_backup


@contextmanager
def _operation(project: Project, name: str, wait: float = 0, **details: object
               ) -> Iterator[None]:
    """Hold the lock (waiting up to `wait` seconds for it) and journal the outcome, whatever
    it is, a refused lock included."""
    try:
        with repository_lock(project.root, name, timeout=wait):
            yield
    except HdversionError as exc:
        journal.record(project.root, project.settings.journal, name, "error",
                       error=exc.message, exit_code=int(exc.exit_code), **details)
        raise
    except KeyboardInterrupt:
        journal.record(project.root, project.settings.journal, name, "interrupted", **details)
        raise
    except Exception as exc:
        journal.record(project.root, project.settings.journal, name, "error",
                       error=repr(exc), exit_code=1, **details)
        raise


def backup(
    path: Path | None = None,
    message: str = "",
    allow_missing: bool = False,
    cloud_remotes: tuple[str, ...] = (),
    reporter: Reporter = SILENT,
    wait: float = 0,
) -> BackupResult:
    project = Project.open(path)
    with _operation(project, "backup", wait, message=message):
        result = create_backup(project, message, allow_missing, cloud_remotes=cloud_remotes,
                               reporter=reporter)
        journal.record(
            project.root, project.settings.journal, "backup",
            "ok" if result.complete else "partial",
            tag=result.backup.tag, files=len(result.backup.manifest.files),
            remotes={r.name: r.ok for r in result.remotes},
        )
        return result


def list_backups(path: Path | None = None, remote: str | None = None
                 ) -> tuple[Catalog, dict[str, int] | None]:
    """The catalog, and with a remote: how many objects each backup lacks there."""
    project = Project.open(path)
    catalog = Catalog.read(project.git)
    lacking = None if remote is None else remotes.completeness(project, remote, catalog.backups)
    journal.record(project.root, project.settings.journal, "list", "ok",
                   backups=len(catalog.backups), remote=remote)
    return catalog, lacking


def sync(path: Path | None = None, remote: str = "s3", wait: float = 0
         ) -> remotes.SyncReport:
    project = Project.open(path)
    with _operation(project, "sync", wait, remote=remote):
        report = remotes.sync(project, remote)
        journal.record(project.root, project.settings.journal, "sync",
                       "ok" if report.ok else "partial", remote=remote,
                       pushed={t: o.ok for t, o in report.pushed.items()})
        return report


def remote_add(name: str, url: str, endpoint_url: str | None = None,
               options: dict[str, str] | None = None, path: Path | None = None
               ) -> RemoteInfo:
    project = Project.open(path)
    with _operation(project, "remote-add", remote=name, url=url):
        info = remotes.add_remote(project, name, url, endpoint_url, options or {})
        journal.record(project.root, project.settings.journal, "remote-add", "ok",
                       remote=name, url=url)
        return info


def remote_list(path: Path | None = None) -> list[RemoteInfo]:
    return Project.open(path).store.remotes()


def remote_test(name: str, path: Path | None = None) -> remotes.ProbeReport:
    project = Project.open(path)
    report = remotes.probe(project, name)
    journal.record(project.root, project.settings.journal, "remote-test",
                   "ok" if report.ok else "error", remote=name)
    return report


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
    project = Project.open(path)
    with _operation(project, "restore", wait, timestamp=timestamp, target=str(target or "")):
        result = restore_backup(project, timestamp, target, only, dry_run, force, remote,
                                reporter)
        journal.record(
            project.root, project.settings.journal, "restore",
            "dry-run" if dry_run else ("ok" if result.all_verified else "verification-failed"),
            tag=result.backup.tag, files=len(result.files),
            safety_backup=result.safety_backup.tag if result.safety_backup else None,
        )
        return result
