"""hdversion restore"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import bucket, records, verbosity
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import (
    BACKUP_HELP,
    CLOUD,
    JSON,
    OFFLINE,
    REMOTE,
    STORAGE,
    WAIT,
    argument,
    cloud_remote,
    option,
)
from hdversion.errors import UsageError

BACKUP_NAMED = argument("T", BACKUP_HELP + " Default: latest.", required=False)
TIMESTAMP = option(None, "--timestamp", aliases=("-t",), metavar="T",
                   help="The same as T (the form of earlier versions).")
TARGET = option(None, "--target", metavar="DIR",
                help="Restore into this directory; the workspace is left alone.")
ONLY = option(None, "--only", metavar="PATH",
              help="Restore only this path (file or directory); repeatable.")
DRY_RUN = option(False, "--dry-run", help="Say what would change.")
FORCE = option(False, "--force", help="Skip the safety backup of unsaved workspace changes.")


def restore(
    backup: str | None = BACKUP_NAMED,
    timestamp: str | None = TIMESTAMP,
    target: Path | None = TARGET,
    only: list[str] | None = ONLY,
    dry_run: bool = DRY_RUN,
    force: bool = FORCE,
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
    if backup is not None and timestamp is not None and backup != timestamp:
        raise UsageError(f"two backups named: {backup} and --timestamp {timestamp}",
                         hint="name the backup once, as T")
    timestamp = backup if timestamp is None else timestamp
    bucket.refuse(remote_url, endpoint_url, credentials, cloud=cloud, storage=storage,
                  remote=remote, only=only, force=force, offline=offline)
    if remote_url is not None:
        return bucket.restore_bucket(remote_url, timestamp, target, endpoint_url, credentials,
                                     dry_run, as_json)
    source = cloud_remote(cloud, storage, remote)
    with progress.reporter_for(as_json) as reporter:
        result = api.restore(ref=timestamp, target=target, only=tuple(only or ()),
                             dry_run=dry_run, force=force, remote=source, reporter=reporter,
                             wait=wait, offline=offline)
    if as_json:
        records.emit_result(render.restore_json(result), result.failure())
    else:
        render.restore_summary(result, verbose=verbosity.verbose())
    finish(result.failure())
