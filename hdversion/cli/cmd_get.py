"""hdversion get"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import bucket, records
from hdversion.cli.lazy import api, progress
from hdversion.cli.options import (
    BACKUP,
    JSON,
    OFFLINE,
    REMOTE,
    STORAGE,
    argument,
    cloud_remote,
    option,
)

FILE = argument("PATH", "The file: its path in the backup (`hdversion ls T` lists them).")


def get(
    timestamp: str = BACKUP,
    path: str = FILE,
    output: Path = option(None, "--output", aliases=("-o",), metavar="FILE", required=True,
                          help="Write the file here; a folder: the file's own name in it."),
    overwrite: bool = option(False, "--overwrite", help="Replace FILE if it exists."),
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    offline: bool = OFFLINE,
    as_json: bool = JSON,
    remote_url: str | None = bucket.REMOTE_URL,
    endpoint_url: str | None = bucket.ENDPOINT_URL,
    credentials: Path | None = bucket.CREDENTIALS,
) -> None:
    """Write one file of a backup to FILE, verified and atomic: staged beside FILE, checked
    against the manifest's size and md5, made durable, then renamed into place. The
    workspace is left alone; a damaged copy gives way to the next store, none good is exit 5
    with no FILE and no temporary file."""
    bucket.refuse(remote_url, endpoint_url, credentials, storage=storage, remote=remote,
                  offline=offline)
    first = cloud_remote(False, storage, remote)
    from hdversion.cli import render_browse

    with progress.reporter_for(as_json) as reporter:
        result = api.get(path, ref=timestamp, out=output, overwrite=overwrite,
                         remote=first, offline=offline, remote_url=remote_url,
                         endpoint_url=endpoint_url, credentials=credentials,
                         reporter=reporter)
    if as_json:
        records.emit_result(render_browse.get_json(result), result.failure())
    else:
        render_browse.get_summary(result)
