"""hdversion diff"""

from __future__ import annotations

from hdversion.cli import records, verbosity
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render_inspect
from hdversion.cli.options import BACKUP_HELP, EVERY_VALUE, JSON, OFFLINE, argument


def diff(
    old: str = argument("T1", BACKUP_HELP),
    new: str | None = argument("T2", "Another backup; default: the workspace.",
                               required=False),
    offline: bool = OFFLINE,
    every: bool = EVERY_VALUE,
    as_json: bool = JSON,
) -> None:
    """Compare a backup with another or with the workspace: artifacts added, removed and
    changed, params, metric deltas. Changes nothing."""
    result = api.diff(old, new=new, offline=offline)
    if as_json:
        records.emit_result(render_inspect.diff_json(result), result.failure())
    else:
        render_inspect.diff_summary(result, every=every or verbosity.verbose())
    finish(result.failure())
