"""One hdversion run per repository at a time.

The lock is an OS-level file lock (flock), so the kernel releases it when its holder dies:
a lock left by a killed process is free at once, and the next run takes it over. The holder
writes who it is beside the lock, for the message another run prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hdversion.errors import ConfigurationError, LockedError
from hdversion.paths import LOCK
from hdversion.util.clock import now_utc
from hdversion.util.identity import host_name
from hdversion.util.log import log


@contextmanager
def repository_lock(root: Path, operation: str, timeout: float = 0) -> Iterator[None]:
    # Imported here: filelock brings asyncio, which `--help` and `list` do not need.
    from filelock import FileLock, Timeout

    path = root / LOCK
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot use {path.parent.relative_to(root)} for the lock: "
            f"{exc.strerror or exc}",
            hint=f"{path.parent.relative_to(root)} must be a folder DVC and hdversion can "
                 "write; move away whatever is there",
        ) from None
    info = path.with_suffix(".owner")
    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if timeout <= 0:
                raise
            # Unattended runs wait by default; a person reading the log sees why it is slow.
            log.warning("another hdversion run holds the repository lock (%s); waiting up to "
                        "%.0f s (--wait)", _describe(info), timeout)
            lock.acquire(timeout=timeout)
    except Timeout:
        waited = f" after {timeout:.0f} s of waiting" if timeout > 0 else ""
        raise LockedError(
            f"another hdversion run holds the repository lock{waited} ({_describe(info)})",
            hint="wait for it to finish; a lock left by a killed run is released automatically",
        ) from None
    try:
        info.write_text(json.dumps({
            "pid": os.getpid(), "host": host_name(), "operation": operation,
            "since": now_utc().isoformat(timespec="seconds"),
        }))
        yield
    finally:
        info.unlink(missing_ok=True)
        lock.release()


def _describe(info: Path) -> str:
    try:
        owner = json.loads(info.read_text())
        return (f"{owner['operation']} by pid {owner['pid']} on {owner['host']} "
                f"since {owner['since']}")
    except (OSError, ValueError, KeyError):
        return "owner unknown"
