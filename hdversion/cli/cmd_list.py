"""hdversion list"""

from __future__ import annotations

import typer

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
) -> None:
    """List backups, newest first; with a remote, whether each is complete there."""
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
        render.err_console.print(f"[yellow]warning:[/] skipped tag {tag}: {why}")
