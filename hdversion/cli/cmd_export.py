"""hdversion export"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import age_keys, records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render_archive
from hdversion.cli.options import (
    BACKUP,
    JSON,
    OFFLINE,
    REMOTE,
    STORAGE,
    WAIT,
    cloud_remote,
    option,
)
from hdversion.util.tarstream import archive_kind


def export(
    timestamp: str = BACKUP,
    output: Path = option(None, "--output", aliases=("-o",), metavar="FILE", required=True,
                          help="The archive to write, as its name says: .tar.gz or .tgz, "
                          ".tar.zst or .tzst, or .tar (not compressed); then .age when "
                          "encrypted (b.tar.gz.age)."),
    # Not --force: that skips restore's safety backup; one name, one meaning.
    overwrite: bool = option(False, "--overwrite", help="Replace FILE if it exists."),
    encrypt: bool = option(False, "--encrypt", help="Encrypt the archive (age) to "
                           "--recipient/--recipients-file, or with --passphrase."),
    recipient: list[str] | None = option(
        None, "--recipient", metavar="AGE_PUBLIC_KEY", help="An age recipient (age1...) "
        "who can open the archive; repeat for several."),
    recipients_file: Path | None = option(
        None, "--recipients-file", metavar="FILE", help="A file of age recipients, one a "
        "line."),
    passphrase: bool = option(False, "--passphrase", help="Encrypt with a passphrase, read "
                              "from HDVERSION_PASSPHRASE or asked twice on the terminal."),
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    wait: float = WAIT,
    offline: bool = OFFLINE,
    as_json: bool = JSON,
) -> None:
    """Write one backup into one archive (its files and manifest), to carry it anywhere."""
    source = cloud_remote(False, storage, remote)
    recipients = age_keys.recipients_of(recipient, recipients_file)
    secret = None
    if passphrase:
        # Asked only once the name is known good (export checks the rest before any work).
        encrypted = archive_kind(output.name)[1]
        secret = age_keys.new_passphrase() if encrypt and encrypted and not recipients else ""
    with progress.reporter_for(as_json) as reporter:
        result = api.export(timestamp, out=output, remote=source, force=overwrite,
                            reporter=reporter, wait=wait, offline=offline, encrypt=encrypt,
                            recipients=recipients, passphrase=secret)
    if as_json:
        records.emit_result(render_archive.export_json(result), result.failure())
    else:
        render_archive.export_summary(result)
    finish(result.failure())
