"""Every operation that changes something runs under the repository lock and leaves one line
in the journal, whatever its outcome (a refused lock included)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from hdversion.errors import HdversionError, InterruptedAfterBackupError
from hdversion.ops.hooks import run_hooks
from hdversion.ops.project import Project
from hdversion.util.lock import repository_lock
from hdversion.util.log import log


@contextmanager
def locked_operation(project: Project, name: str, wait: float = 0, **details: object
                     ) -> Iterator[None]:
    """Hold the lock (waiting up to `wait` seconds for it) and journal a failure; the
    operation journals its own success. The hooks run once the lock is free."""
    try:
        try:
            with repository_lock(project.root, name, timeout=wait), \
                    project.store.shared():
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


def remove_leftovers(project: Project, remotes: Iterable[str] = ()) -> None:
    """What killed runs left in the cache, the local remote, the given remotes and `.dvc/tmp`
    removed (each named on stderr), before an operation under the lock writes there. Takes
    DVC's lock: LockedError (exit 6) while a dvc command runs."""
    left = project.store.remove_stale_temp(remotes)
    if left.rwlock is not None:
        log.warning("reset .dvc/tmp/rwlock: it was %s, as a kill while DVC rewrites it leaves "
                    "it, and held no valid lock", left.rwlock)
    for partial in left.partials:
        log.warning("removed %s, a partial file left by a killed run", partial)
