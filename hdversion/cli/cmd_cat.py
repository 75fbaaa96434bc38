"""hdversion cat"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hdversion.cli import bucket
from hdversion.cli.lazy import api
from hdversion.cli.options import BACKUP, OFFLINE, REMOTE, STORAGE, argument, cloud_remote

FILE = argument("PATH", "The file: its path in the backup (`hdversion ls T` lists them).")


def cat(
    timestamp: str = BACKUP,
    path: str = FILE,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    offline: bool = OFFLINE,
    remote_url: str | None = bucket.REMOTE_URL,
    endpoint_url: str | None = bucket.ENDPOINT_URL,
    credentials: Path | None = bucket.CREDENTIALS,
) -> None:
    """Write one file of a backup to stdout, verified: its bytes are read whole (in memory
    up to 64 MiB, then in a temporary file) and checked against the manifest's size and md5
    before the first is written. A damaged copy gives way to the next store; none good is
    exit 5 with nothing on stdout. A folder PATH is exit 2, a PATH of nothing exit 4."""
    bucket.refuse(remote_url, endpoint_url, credentials, storage=storage, remote=remote,
                  offline=offline)
    first = cloud_remote(False, storage, remote)
    with api.open(path, ref=timestamp, remote=first, offline=offline, remote_url=remote_url,
                  endpoint_url=endpoint_url, credentials=credentials) as opened:
        shutil.copyfileobj(opened, sys.stdout.buffer, 1024 * 1024)
        sys.stdout.buffer.flush()
