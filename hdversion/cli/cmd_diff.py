"""hdversion diff"""

from __future__ import annotations

import typer

from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render, render_inspect
from hdversion.cli.options import EVERY_VALUE, JSON, OFFLINE


def diff(
    old: str = typer.Argument(..., metavar="T1", help="A backup: YYYYMMDD_HHMMSS or "
                              "backup/YYYYMMDD_HHMMSS."),
    new: str | None = typer.Argument(None, metavar="[T2]",
                                     help="Another backup; default: the workspace."),
    offline: bool = OFFLINE,
    every: bool = EVERY_VALUE,
    as_json: bool = JSON,
) -> None:
    """Compare a backup with another or with the workspace: artifacts added, removed and
    changed, params, metric deltas. Changes nothing."""
    result = api.diff(old, new, offline=offline)
    if as_json:
        render.emit_json(render_inspect.diff_json(result))
    else:
        render_inspect.diff_summary(result, every=every)
    finish(result.failure())
