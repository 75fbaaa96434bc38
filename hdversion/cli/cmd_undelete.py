"""hdversion undelete"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api
from hdversion.cli.options import BACKUP, CLOUD, JSON, REMOTE, STORAGE, WAIT, cloud_remote


def undelete(
    timestamp: str = BACKUP,
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Bring back a backup that prune removed, while its data is kept (the undelete
    window, 7 days by default): the very same tag, here and on the git remote.

    T names one of `hdversion list --deleted`. Refused, with nothing changed, when its data
    is not whole in the cache, the local remote or the named remote (exit 5)."""
    from hdversion.cli import render_deleted

    result = api.undelete(timestamp, remote=cloud_remote(cloud, storage, remote), wait=wait)
    if as_json:
        records.emit_result(render_deleted.undelete_json(result), result.failure())
    else:
        render_deleted.undelete_summary(result)
    finish(result.failure())
