"""Who and where a run is: user and host names with the fallbacks that cron and containers
need (no passwd entry, no hostname)."""

from __future__ import annotations

import getpass
import os


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def host_name() -> str:
    # os.uname where there is one: gethostname's answer without importing socket, which
    # `list` would load for its journal line alone.
    if hasattr(os, "uname"):
        return os.uname().nodename or "localhost"
    import socket

    return socket.gethostname() or "localhost"
