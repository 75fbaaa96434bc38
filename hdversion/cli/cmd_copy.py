"""hdversion copy"""

from __future__ import annotations

import typer

from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import JSON, WAIT


def copy(
    timestamps: list[str] | None = typer.Argument(
        None, metavar="[TIMESTAMP]...", help="Backups to copy (default: every one the target "
        "lacks)."),
    source: str = typer.Option(..., "--from", metavar="REMOTE", help="Copy from this remote."),
    target: str = typer.Option(..., "--to", metavar="REMOTE", help="Copy to this remote."),
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Copy backups from one remote to another, re-hashing every object on the way."""
    with progress.reporter_for(as_json) as reporter:
        report = api.copy(source, target, tuple(timestamps or ()), reporter=reporter,
                          wait=wait)
    if as_json:
        render.emit_json(render.copy_json(report))
    else:
        render.copy_summary(report)
    finish(report.failure())
