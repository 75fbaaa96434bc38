"""hdversion backup"""

from __future__ import annotations

import typer

from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import CLOUD, JSON, REMOTE, STORAGE_LIST, WAIT, cloud_remotes


def backup(
    message: str = typer.Option("", "-m", "--message", help="Say why (kept in the tag)."),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Record missing artifacts instead of failing."
    ),
    cloud: bool = CLOUD,
    storage: list[str] | None = STORAGE_LIST,
    remote: str | None = REMOTE,
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Back up every critical artifact: DVC cache + local remote, then a git tag."""
    extra = cloud_remotes(cloud, storage, remote)
    with progress.reporter_for(as_json) as reporter:
        result = api.backup(message=message, allow_missing=allow_missing,
                            cloud_remotes=extra, reporter=reporter, wait=wait,
                            require_cloud=cloud)
    if as_json:
        render.emit_json(render.backup_json(result))
    else:
        render.backup_summary(result)
    finish(result.failure())
