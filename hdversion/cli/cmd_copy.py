"""hdversion copy"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import JSON, WAIT, argument, option


def copy(
    timestamps: list[str] | None = argument(
        "T", "Backups to copy (default: every one the destination lacks).", required=False),
    source: str = option(None, "--from", metavar="REMOTE", help="Copy from this remote.",
                         required=True),
    target: str = option(None, "--to", metavar="REMOTE", help="Copy to this remote.",
                         required=True),
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Copy backups from one remote to another, re-hashing every object on the way."""
    with progress.reporter_for(as_json) as reporter:
        report = api.copy(source=source, target=target, refs=tuple(timestamps or ()),
                          reporter=reporter,
                          wait=wait)
    if as_json:
        records.emit_result(render.copy_json(report), report.failure())
    else:
        render.copy_summary(report)
    finish(report.failure())
