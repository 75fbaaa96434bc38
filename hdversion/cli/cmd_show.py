"""hdversion show"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render_inspect
from hdversion.cli.options import BACKUP, JSON, option


def show(
    timestamp: str = BACKUP,
    offline: bool = option(
        False, "--offline", help="Do not fetch tags from the git remote, nor list the "
        "storage remotes."),
    as_json: bool = JSON,
) -> None:
    """One backup in full: manifest, files by output, metrics, params, pin, and which
    remotes hold it completely."""
    result = api.show(timestamp, offline=offline)
    if as_json:
        records.emit_result(render_inspect.show_json(result), result.failure())
    else:
        render_inspect.show_summary(result)
    finish(result.failure())
