"""hdversion sync"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import JSON, REMOTE, STORAGE, WAIT, required_remote


def sync(
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Push every backup that a remote lacks (checked against the remote's own listing)."""
    with progress.reporter_for(as_json) as reporter:
        report = api.sync(remote=required_remote(storage, remote, "sync"), wait=wait,
                          reporter=reporter)
    if as_json:
        records.emit_result(render.sync_json(report), report.failure())
    else:
        render.sync_summary(report)
    finish(report.failure())
