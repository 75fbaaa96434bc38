"""hdversion restore"""

from __future__ import annotations

from pathlib import Path

import typer

from hdversion.cli import bucket
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import CLOUD, JSON, OFFLINE, REMOTE, STORAGE, WAIT, cloud_remote


def restore(
    timestamp: str | None = typer.Option(
        None, "--timestamp", "-t", help="YYYYMMDD_HHMMSS (UTC); default: the latest."
    ),
    target: Path | None = typer.Option(
        None, "--target", help="Restore into this directory; the workspace is left alone."
    ),
    only: list[str] | None = typer.Option(
        None, "--only", help="Restore only this path (file or directory); repeatable."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would change."),
    force: bool = typer.Option(
        False, "--force", help="Skip the safety backup of unsaved workspace changes."
    ),
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
        render.restore_summary(result)
    finish(result.failure())
