"""hdversion list"""

from __future__ import annotations

from pathlib import Path

import typer

from hdversion.cli import bucket
from hdversion.cli.lazy import api, render
from hdversion.cli.options import CLOUD, JSON, OFFLINE, REMOTE, STORAGE, cloud_remote


def list_backups(
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    offline: bool = OFFLINE,
    last: int | None = typer.Option(None, "--last", min=1, metavar="N",
                                    help="Only the N newest (after --kind)."),
    kind: str | None = typer.Option(None, "--kind", metavar="backup|safety",
                                    help="Only regular backups, or only safety backups."),
    as_json: bool = JSON,
    remote_url: str | None = bucket.REMOTE_URL,
    endpoint_url: str | None = bucket.ENDPOINT_URL,
    credentials: Path | None = bucket.CREDENTIALS,
) -> None:
    """List backups, newest first; with a remote, whether each is complete there."""
    bucket.refuse(remote_url, endpoint_url, credentials, cloud=cloud, storage=storage,
                  remote=remote, offline=offline, last=last, kind=kind)
    if remote_url is not None:
        return bucket.list_bucket(remote_url, endpoint_url, credentials, as_json)
    where = cloud_remote(cloud, storage, remote)
    catalog, lacking, pins = api.list_backups(remote=where, offline=offline, last=last,
                                              kind=kind)
    if as_json:
        records = [render.backup_record(b, pins.get(b.tag)) for b in catalog.backups]
        if lacking is not None:
            for record in records:
                record["remote"] = where
                record["missing_objects"] = lacking[record["tag"]]
                record["complete"] = lacking[record["tag"]] == 0
        render.emit_json(records)
    else:
        render.console.print(render.catalog_table(catalog, lacking, where, pins))
    for tag, why in catalog.invalid:
        render.warn(f"skipped tag {tag}: {why}")
