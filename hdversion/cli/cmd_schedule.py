"""hdversion schedule"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.lazy import api, render
from hdversion.cli.options import JSON, REMOTE, STORAGE, cloud_remote, option
from hdversion.errors import UsageError


def schedule(
    at: str | None = option(None, "--at", metavar="HH:MM",
                            help="Run daily at this time (the cron daemon's clock; default "
                            "02:30)."),
    every: str | None = option(None, "--every", metavar="DURATION",
                               help="Run every N hours (6h) or minutes (30min)."),
    prune_weekly: bool = option(
        False, "--prune-weekly", help="Run `backup` on the schedule and `prune` on Sundays at "
        "03:00, instead of `auto` (backup and prune) each time."),
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    install: bool = option(False, "--install", help="Add the lines to your crontab (again: "
                           "replaced, not doubled)."),
    uninstall: bool = option(False, "--uninstall",
                             help="Remove this repository's lines from your crontab."),
    systemd: bool = option(False, "--systemd", help="A systemd user service and timer "
                           "instead of crontab lines (--install writes them)."),
    as_json: bool = JSON,
) -> None:
    """Print (or install) the crontab lines that run `hdversion auto` from this repository,
    logging to logs/backup_cron.log."""
    if install and uninstall:
        raise UsageError("give --install or --uninstall, not both")
    where = cloud_remote(bool(storage or remote), storage, remote)
    result = api.schedule(at=at, every=every, prune_weekly=prune_weekly, remote=where,
                          install=install, uninstall=uninstall, systemd=systemd)
    if as_json:
        records.emit_result(render.schedule_json(result), None)
    else:
        render.schedule_summary(result)
