"""hdversion import"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import age_keys, records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render_archive
from hdversion.cli.options import JSON, WAIT, argument, option


def import_archive(
    archive: Path = argument("FILE", "An archive made by export (encrypted or not)."),
    target: Path | None = option(
        None, "--target", metavar="DIR", help="Restore into this directory (no repository "
        "needed); the workspace is left alone."),
    dry_run: bool = option(False, "--dry-run", help="Check the archive and say what would "
                           "change."),
    identity: Path | None = option(
        None, "--identity", metavar="FILE", help="An age identity file (AGE-SECRET-KEY-1...) "
        "to open an encrypted archive; default: HDVERSION_AGE_IDENTITY. A passphrase comes "
        "from HDVERSION_PASSPHRASE, or is asked on the terminal."),
    force: bool = option(
        False, "--force", help="Skip the safety backup of unsaved workspace changes."),
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Restore a backup from an archive, verified: nothing is touched until every file
    checks out."""
    key_file, passphrase = age_keys.keys_for(archive, identity)
    with progress.reporter_for(as_json) as reporter:
        result = api.import_archive(archive, target=target, force=force, dry_run=dry_run,
                                    reporter=reporter, wait=wait, identity=key_file,
                                    passphrase=passphrase)
    if as_json:
        records.emit_result(render_archive.import_json(result), result.failure())
    else:
        render_archive.import_summary(result)
    finish(result.failure())
