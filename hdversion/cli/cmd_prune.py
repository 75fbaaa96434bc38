"""hdversion prune"""

from __future__ import annotations

from typing import Any

import typer

from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render
from hdversion.cli.options import CLOUD, JSON, REMOTE, STORAGE, WAIT, cloud_remote
from hdversion.model.retention import Duration, Policy


def _count(option: str, what: str) -> Any:
    return typer.Option(None, option, metavar="N", help=what)


def prune(
    keep: int | None = _count("--keep", "Keep the N newest backups."),
    keep_hourly: int | None = _count("--keep-hourly", "Keep the newest backup of each of the "
                                     "last N hours that have one."),
    keep_daily: int | None = _count("--keep-daily", "... of each of the last N days (UTC)."),
    keep_weekly: int | None = _count("--keep-weekly", "... of each of the last N ISO weeks."),
    keep_monthly: int | None = _count("--keep-monthly", "... of each of the last N months."),
    keep_yearly: int | None = _count("--keep-yearly", "... of each of the last N years."),
    keep_within: str | None = typer.Option(
        None, "--keep-within", metavar="DURATION",
        help="Keep every backup younger than this (e.g. 7d, 12h, 2w, 6m, 1y), from now."),
    keep_best: int | None = _count("--keep-best", "Keep the N backups with the best --metric."),
    metric: str | None = typer.Option(
        None, "--metric", metavar="NAME",
        help="Metric for --keep-best, dotted (ensemble.roc_auc); prefix - when lower is better "
        "(--metric=-loss)."),
    keep_safety_within: str | None = typer.Option(
        None, "--keep-safety-within", metavar="DURATION",
        help="Keep safety backups (made by restore) younger than this (default 14d)."),
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    no_fetch_tags: bool = typer.Option(
        False, "--no-fetch-tags",
        help="Do not fetch backup tags and pins from the git remote first: only when this "
        "clone is the only one making backups."),
    grace: str = typer.Option(
        "1h", "--grace", metavar="DURATION",
        help="In a store other clones may share, keep unused objects younger than this (an "
        "upload whose tag is not pushed yet); 0 for none."),
    allow_incomplete: bool = typer.Option(
        False, "--allow-incomplete",
        help="Prune even when a kept backup already lacks data in every store at hand."),
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Remove the backups a retention policy does not keep, then the data nothing else uses.

    Without rules: `retention:` in config/config.yaml, else --keep 5. A backup is kept when
    any rule keeps it; pinned backups and the newest backup are always kept."""
    where = cloud_remote(cloud, storage, remote)
    counts = (keep, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_best)
    policy = None
    if any(v is not None for v in counts) or keep_within or metric:
        policy = Policy(last=keep or 0, hourly=keep_hourly or 0, daily=keep_daily or 0,
                        weekly=keep_weekly or 0, monthly=keep_monthly or 0,
                        yearly=keep_yearly or 0, best=keep_best or 0,
                        within=Duration.parse(keep_within) if keep_within else None,
                        metric=metric)
    result = api.prune(
        policy=policy,
        safety_within=Duration.parse(keep_safety_within) if keep_safety_within else None,
        remote=where, dry_run=dry_run, fetch_tags=not no_fetch_tags,
        grace=Duration() if grace.strip() == "0" else Duration.parse(grace),
        allow_incomplete=allow_incomplete, wait=wait)
    if as_json:
        render.emit_json(render.prune_json(result))
    else:
        render.prune_summary(result)
    finish(result.failure())
