"""Every operation that changes something runs under the repository lock and leaves one line
in the journal, whatever its outcome (a refused lock included)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hdversion.errors import HdversionError, InterruptedAfterBackupError
from hdversion.ops.hooks import run_hooks
from hdversion.ops.project import Project
from hdversion.util.lock import repository_lock


@contextmanager
def locked_operation(project: Project, name: str, wait: float = 0, **details: object
                     ) -> Iterator[None]:
    """Hold the lock (waiting up to `wait` seconds for it) and journal a failure; the
    operation journals its own success. The hooks run once the lock is free."""
    try:
        try:
            with repository_lock(project.root, name, timeout=wait), \
                    project.store.session.shared():
                yield
        except InterruptedAfterBackupError as exc:
            project.journal(name, "interrupted", tag=exc.tag, error=exc.message,
                            exit_code=int(exc.exit_code), **details)
            raise
        except HdversionError as exc:
            project.journal(name, "error", error=exc.message, exit_code=int(exc.exit_code),
                            **details)
            raise
        except KeyboardInterrupt:
            project.journal(name, "interrupted", **details)
            raise
        except Exception as exc:
            project.journal(name, "error", error=repr(exc), exit_code=1, **details)
            raise
    finally:
        run_hooks(project)
