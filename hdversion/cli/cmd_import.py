"""hdversion import"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render_archive
from hdversion.cli.options import JSON, WAIT, argument, option


def import_archive(
    archive: Path = argument("FILE", "An archive made by export."),
    target: Path | None = option(
        None, "--target", metavar="DIR", help="Restore into this directory (no repository "
        "needed); the workspace is left alone."),
    dry_run: bool = option(False, "--dry-run", help="Check the archive and say what would "
                           "change."),
    force: bool = option(
        False, "--force", help="Skip the safety backup of unsaved workspace changes."),
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Restore a backup from an archive, verified: nothing is touched until every file
    checks out."""
    with progress.reporter_for(as_json) as reporter:
        result = api.import_archive(archive, target=target, force=force, dry_run=dry_run,
                                    reporter=reporter, wait=wait)
    if as_json:
        records.emit_result(render_archive.import_json(result), result.failure())
    else:
        render_archive.import_summary(result)
    finish(result.failure())
