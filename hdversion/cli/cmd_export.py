"""hdversion export"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import records
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


def export(
    timestamp: str = BACKUP,
    output: Path = option(None, "--output", aliases=("-o",), metavar="FILE", required=True,
                          help="The archive to write, as its name says: .tar.gz or .tgz, "
                          ".tar.zst or .tzst, or .tar (not compressed)."),
    # Not --force: that skips restore's safety backup; one name, one meaning.
    overwrite: bool = option(False, "--overwrite", help="Replace FILE if it exists."),
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    wait: float = WAIT,
    offline: bool = OFFLINE,
    as_json: bool = JSON,
) -> None:
    """Write one backup into one archive (its files and manifest), to carry it anywhere."""
    source = cloud_remote(False, storage, remote)
    with progress.reporter_for(as_json) as reporter:
        result = api.export(timestamp, out=output, remote=source, force=overwrite,
                            reporter=reporter,
                            wait=wait, offline=offline)
    if as_json:
        records.emit_result(render_archive.export_json(result), result.failure())
    else:
        render_archive.export_summary(result)
    finish(result.failure())
