"""An append-only journal: one JSON line per operation (when, who, what, result)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hdversion import __version__
from hdversion.util.clock import now_utc
from hdversion.util.identity import host_name, user_name
from hdversion.util.redact import redact


def record(root: Path, journal: str, operation: str, result: str, **details: Any
           ) -> dict[str, Any]:
    """Append one line; returns the entry as written."""
    path = root / journal
    entry = {
        "time": now_utc().isoformat(timespec="milliseconds"),
        "user": user_name(),
        "host": host_name(),
        "pid": os.getpid(),
        "hdversion": __version__,
        "operation": operation,
        "result": result,
        **details,
    }
    line = redact(json.dumps(entry, sort_keys=True, default=str)) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() of a line opened with O_APPEND: concurrent writers never interleave bytes.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return entry
