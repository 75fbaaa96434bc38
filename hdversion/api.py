"""The Python API: every command's work, behind the repository lock and into the journal.
The CLI only parses arguments, calls these and renders the results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from hdversion import journal
from hdversion.backup import BackupResult, create_backup
from hdversion.catalog import Catalog
from hdversion.errors import HdversionError
from hdversion.lock import repository_lock
from hdversion.project import Project
from hdversion.restore import RestoreResult, restore_backup

T = TypeVar("T")


@contextmanager
def _operation(project: Project, name: str, **details: object) -> Iterator[None]:
    """Hold the lock and journal the outcome, whatever it is."""
    with repository_lock(project.root, name):
        try:
            yield
        except HdversionError as exc:
            journal.record(project.root, project.settings.journal, name, "error",
                           error=exc.message, exit_code=int(exc.exit_code), **details)
            raise
        except KeyboardInterrupt:
            journal.record(project.root, project.settings.journal, name, "interrupted",
                           **details)
            raise
        except Exception as exc:
            journal.record(project.root, project.settings.journal, name, "error",
                           error=repr(exc), exit_code=1, **details)
            raise


def _run(project: Project, name: str, work: Callable[[], T], **details: object) -> T:
    with _operation(project, name, **details):
        return work()


def backup(
    path: Path | None = None,
    message: str = "",
    allow_missing: bool = False,
    cloud_remotes: tuple[str, ...] = (),
) -> BackupResult:
    project = Project.open(path)
    with _operation(project, "backup", message=message):
        result = create_backup(project, message, allow_missing, cloud_remotes=cloud_remotes)
        journal.record(
            project.root, project.settings.journal, "backup",
            "ok" if result.complete else "partial",
            tag=result.backup.tag, files=len(result.backup.manifest.files),
            remotes={r.name: r.ok for r in result.remotes},
        )
        return result


def list_backups(path: Path | None = None) -> Catalog:
    project = Project.open(path)
    return Catalog.read(project.git)


def restore(
    path: Path | None = None,
    timestamp: str | None = None,
    target: Path | None = None,
    only: tuple[str, ...] = (),
    dry_run: bool = False,
    force: bool = False,
    remote: str | None = None,
) -> RestoreResult:
    project = Project.open(path)
    with _operation(project, "restore", timestamp=timestamp, target=str(target or "")):
        result = restore_backup(project, timestamp, target, only, dry_run, force, remote)
        journal.record(
            project.root, project.settings.journal, "restore",
            "dry-run" if dry_run else ("ok" if result.all_verified else "verification-failed"),
            tag=result.backup.tag, files=len(result.files),
            safety_backup=result.safety_backup.tag if result.safety_backup else None,
        )
        return result
