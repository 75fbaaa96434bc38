"""hdversion backup"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import CLOUD, JSON, REMOTE, STORAGE_LIST, WAIT, cloud_remotes, option

MESSAGE = option("", "--message", aliases=("-m",), help="Say why (kept in the tag).")
ALLOW_MISSING = option(False, "--allow-missing",
                       help="Record missing artifacts instead of failing.")
SKIP_IF_UNCHANGED = option(
    False, "--skip-if-unchanged",
    help="Make no backup when the newest one already holds this state (the artifacts, the "
    "critical git-tracked files, the params); exit 0, naming it.")
ADD = option(None, "--add", metavar="PATH",
             help="Track a new folder or file first, as `hdversion add` does, in the same "
             "run; repeat for several. Commit the .dvc files it writes with git.")


def backup(
    message: str = MESSAGE,
    allow_missing: bool = ALLOW_MISSING,
    cloud: bool = CLOUD,
    storage: list[str] | None = STORAGE_LIST,
    remote: str | None = REMOTE,
    wait: float = WAIT,
    skip_if_unchanged: bool = SKIP_IF_UNCHANGED,
    add: list[str] | None = ADD,
    as_json: bool = JSON,
) -> None:
    """Back up every critical artifact: DVC cache + local remote, then a git tag."""
    extra = cloud_remotes(cloud, storage, remote)
    with progress.reporter_for(as_json) as reporter:
        result = api.backup(message=message, allow_missing=allow_missing,
                            remotes=extra, reporter=reporter, wait=wait,
                            require_cloud=cloud, skip_if_unchanged=skip_if_unchanged,
                            add=tuple(add or ()))
    if as_json:
        records.emit_result(render.backup_json(result), result.failure())
    else:
        render.backup_summary(result)
    finish(result.failure())
