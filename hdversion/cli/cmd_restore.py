"""hdversion restore

Its options are all `Opt`: a plain `hdversion restore ...` runs without typer (cli/app.py)."""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import bucket
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import (
    CLOUD,
    JSON,
    OFFLINE,
    REMOTE,
    STORAGE,
    WAIT,
    cloud_remote,
    option,
)

TIMESTAMP = option(None, "--timestamp", aliases=("-t",),
                   help="YYYYMMDD_HHMMSS (UTC); default: the latest.")
TARGET = option(None, "--target",
                help="Restore into this directory; the workspace is left alone.")
ONLY = option(None, "--only", help="Restore only this path (file or directory); repeatable.")
DRY_RUN = option(False, "--dry-run", help="Say what would change.")
FORCE = option(False, "--force", help="Skip the safety backup of unsaved workspace changes.")
VERBOSE = option(False, "--verbose", aliases=("-v",),
                 help="List every file, the unchanged ones too.")


def restore(
    timestamp: str | None = TIMESTAMP,
    target: Path | None = TARGET,
    only: list[str] | None = ONLY,
    dry_run: bool = DRY_RUN,
    force: bool = FORCE,
    verbose: bool = VERBOSE,
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    wait: float = WAIT,
    offline: bool = OFFLINE,
    as_json: bool = JSON,
    remote_url: str | None = bucket.REMOTE_URL,
    endpoint_url: str | None = bucket.ENDPOINT_URL,
    credentials: Path | None = bucket.CREDENTIALS,
) -> None:
    """Restore a backup, verified: nothing is touched until every object checks out."""
    bucket.refuse(remote_url, endpoint_url, credentials, cloud=cloud, storage=storage,
                  remote=remote, only=only, force=force, offline=offline)
    if remote_url is not None:
        return bucket.restore_bucket(remote_url, timestamp, target, endpoint_url, credentials,
                                     dry_run, as_json)
    source = cloud_remote(cloud, storage, remote)
    with progress.reporter_for(as_json) as reporter:
        result = api.restore(timestamp=timestamp, target=target, only=tuple(only or ()),
                             dry_run=dry_run, force=force, remote=source, reporter=reporter,
                             wait=wait, offline=offline)
    if as_json:
        render.emit_json(render.restore_json(result))
    else:
        render.restore_summary(result, verbose=verbose)
    finish(result.failure())
