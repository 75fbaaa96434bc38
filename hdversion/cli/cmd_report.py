"""hdversion report"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render_report
from hdversion.cli.options import JSON, OFFLINE, cloud_remotes, option
from hdversion.model.storages import STORAGES


def report(
    output: Path = option(None, "--output", aliases=("-o",), metavar="FILE.html",
                          required=True, help="Write the page here (an .html file; an "
                          "existing one is replaced only if it is an HTML page)."),
    metric: str | None = option(None, "--metric", metavar="NAME",
                                help="The metric to chart across backups (a dotted key of "
                                "metrics.json; `file:key` picks the file). Default: "
                                "list.metric in the settings."),
    storages: list[str] | None = option(
        None, "--storage", metavar="NAME",
        help=f"Show what this cloud storage holds ({', '.join(STORAGES)}); repeatable. "
        "Default: the local remote."),
    remotes: list[str] | None = option(
        None, "--remote", metavar="NAME", help="Show what this DVC remote holds; repeatable."),
    offline: bool = OFFLINE,
    as_json: bool = JSON,
) -> None:
    """Write one self-contained HTML page about the backups: a timeline, a metric across
    backups, sizes, pins, safety backups and what each remote holds."""
    cloud_remotes(False, storages, None)  # validates the storage names
    names = tuple(dict.fromkeys([*(storages or []), *(remotes or [])]))
    result = api.report(output, render=render_report.page, metric=metric, remotes=names,
                        offline=offline)
    if as_json:
        records.emit_result(render_report.result_json(result), result.failure())
    else:
        render_report.summary(result)
    finish(result.failure())
