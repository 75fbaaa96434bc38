"""hdversion list"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import bucket, records
from hdversion.cli.lazy import api, render
from hdversion.cli.options import CLOUD, JSON, OFFLINE, REMOTE, STORAGE, cloud_remote, option

LAST = option(None, "--last", min=1, metavar="N", help="Only the N newest (after --kind).")
METRIC = option(None, "--metric", metavar="NAME",
                help="The metric column: a dotted key of metrics.json (default: list.metric "
                "in the settings, else ensemble.roc_auc); hidden where no backup has it.")
KIND = option(None, "--kind", metavar="backup|safety",
           help="Only regular backups, or only safety backups.")
DELETED = option(False, "--deleted",
                 help="The backups prune removed: when, by whom, until when `hdversion "
                 "undelete` can bring each back, whether its data is whole here.")


def list_backups(
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    offline: bool = OFFLINE,
    last: int | None = LAST,
    kind: str | None = KIND,
    metric: str | None = METRIC,
    deleted: bool = DELETED,
    as_json: bool = JSON,
    remote_url: str | None = bucket.REMOTE_URL,
    endpoint_url: str | None = bucket.ENDPOINT_URL,
    credentials: Path | None = bucket.CREDENTIALS,
) -> None:
    """List backups, newest first; with a remote, whether each is complete there."""
    bucket.refuse(remote_url, endpoint_url, credentials, cloud=cloud, storage=storage,
                  remote=remote, offline=offline, last=last, kind=kind, deleted=deleted)
    if remote_url is not None:
        return bucket.list_bucket(remote_url, endpoint_url, credentials, as_json)
    where = cloud_remote(cloud, storage, remote)
    if deleted:
        return _list_deleted(where, offline, last, kind, as_json)
    if as_json and where is None:
        if last is None:
            # The whole output, from its cache when no ref it is made from has changed
            # (ops/list_output.py); else each record from the cache of records.
            text, invalid = api.list_output(render=records.backup_record_text,
                                            join=records.list_text,
                                            layout=records.LIST_LAYOUT, offline=offline,
                                            kind=kind)
            records.emit_json_bytes(text)
        else:
            texts, invalid = api.list_rendered(render=records.backup_record_text,
                                               layout=records.LIST_LAYOUT, offline=offline,
                                               last=last, kind=kind)
            records.emit_json_text(records.list_text(texts))
        for tag, why in invalid:
            render.warn(f"skipped tag {tag}: {why}")
        return None
    catalog, lacking, pins = api.list_backups(remote=where, offline=offline, last=last,
                                              kind=kind)
    from hdversion.model.aliases import aliases_by_tag

    aliases = aliases_by_tag(catalog.aliases)
    if as_json:
        listed = [records.backup_record(b, pins.get(b.tag), aliases.get(b.tag, []))
                  for b in catalog.backups]
        if lacking is not None:
            for record in listed:
                record["remote"] = where
                record["missing_objects"] = lacking[record["tag"]]
                record["complete"] = lacking[record["tag"]] == 0
        records.emit_json(listed)
    else:
        name = metric if metric is not None else api.list_metric()
        render.list_summary(catalog, lacking, where, pins, name, chosen=metric is not None,
                            aliases=aliases)
    for tag, why in catalog.invalid:
        render.warn(f"skipped tag {tag}: {why}")


def _list_deleted(where: str | None, offline: bool, last: int | None, kind: str | None,
                  as_json: bool) -> None:
    from hdversion.cli import render_deleted
    from hdversion.errors import UsageError

    if kind is not None:
        raise UsageError("--kind does not go with --deleted")
    found = api.list_deleted(remote=where, offline=offline)[:last]
    if as_json:
        records.emit_json([render_deleted.deleted_record(item) for item in found])
    else:
        render_deleted.deleted_summary(found)
