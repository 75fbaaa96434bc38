"""hdversion ls"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import bucket, records
from hdversion.cli.lazy import api
from hdversion.cli.options import BACKUP, JSON, OFFLINE, argument

PATH = argument("PATH", "Only this file, or the files in this folder (a path in the backup, "
                "whole components, never a pattern: `hdversion find` takes those).",
                required=False)


def ls(
    timestamp: str = BACKUP,
    path: str | None = PATH,
    offline: bool = OFFLINE,
    as_json: bool = JSON,
    remote_url: str | None = bucket.REMOTE_URL,
    endpoint_url: str | None = bucket.ENDPOINT_URL,
    credentials: Path | None = bucket.CREDENTIALS,
) -> None:
    """A backup's files: size, where each is stored (dvc: an object in the cache and the
    remotes; git: in the backup's commit), md5 and path. A PATH that names nothing is exit 4."""
    bucket.refuse(remote_url, endpoint_url, credentials, offline=offline)
    from hdversion.cli import render_browse

    listing = api.list_files(path, ref=timestamp, offline=offline, remote_url=remote_url,
                             endpoint_url=endpoint_url, credentials=credentials)
    if as_json:
        records.emit_result(render_browse.listing_json(listing), listing.failure())
    else:
        render_browse.listing_table(listing)
