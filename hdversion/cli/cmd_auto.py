"""hdversion auto"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli import retention as opt
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render
from hdversion.cli.options import CLOUD, JSON, REMOTE, STORAGE_LIST, WAIT, cloud_remotes, option

MESSAGE = option("", "--message", aliases=("-m",), help="Say why (default: auto).")
# DVC's name for a stage that runs even when nothing changed (`always_changed`).
ALWAYS = option(False, "--always",
                help="Back up even when the newest backup already holds this state (by "
                "default auto skips the backup, and still prunes).")


def auto(
    message: str = MESSAGE,
    cloud: bool = CLOUD,
    storage: list[str] | None = STORAGE_LIST,
    remote: str | None = REMOTE,
    keep: int | None = opt.KEEP,
    keep_hourly: int | None = opt.KEEP_HOURLY,
    keep_daily: int | None = opt.KEEP_DAILY,
    keep_weekly: int | None = opt.KEEP_WEEKLY,
    keep_monthly: int | None = opt.KEEP_MONTHLY,
    keep_yearly: int | None = opt.KEEP_YEARLY,
    keep_within: str | None = opt.KEEP_WITHIN,
    keep_best: int | None = opt.KEEP_BEST,
    metric: str | None = opt.METRIC,
    keep_safety_within: str | None = opt.KEEP_SAFETY_WITHIN,
    offline: bool = opt.OFFLINE,
    grace: str = opt.GRACE,
    keep_deleted_within: str | None = opt.KEEP_DELETED_WITHIN,
    wait: float = WAIT,
    always: bool = ALWAYS,
    as_json: bool = JSON,
) -> None:
    """Back up (unless nothing changed since the newest backup), then prune with the
    retention policy: for cron and CI. One line of output; the exit code is the worse of the
    two steps (a failed backup prunes nothing)."""
    where = cloud_remotes(cloud, storage, remote)
    policy = opt.policy_from(keep, keep_hourly, keep_daily, keep_weekly, keep_monthly,
                             keep_yearly, keep_within, keep_best, metric)
    result = api.auto(message=message, remotes=where, require_cloud=cloud,
                      policy=policy, safety_within=opt.duration_or_none(keep_safety_within),
                      fetch_tags=not offline, grace=opt.grace_of(grace), wait=wait,
                      skip_if_unchanged=not always,
                      keep_deleted_within=None if keep_deleted_within is None
                      else opt.grace_of(keep_deleted_within))
    if as_json:
        records.emit_result(render.auto_json(result), result.failure())
    else:
        render.auto_line(result)
    finish(result.failure())
