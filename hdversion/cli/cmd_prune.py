"""hdversion prune"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli import retention as opt
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render
from hdversion.cli.options import CLOUD, JSON, REMOTE, STORAGE, WAIT, cloud_remote, option

DRY_RUN = option(False, "--dry-run", help="Print the plan; change nothing.")
PROFILE = option(
    None, "--profile", metavar="NAME",
    help="The AWS profile for the S3 remotes of this prune, over their own keys: prune with "
    "an admin key on a machine whose usual key may only write.")
ALLOW_INCOMPLETE = option(
    False, "--allow-incomplete",
    help="Prune even when a kept backup already lacks data in every store at hand.")


def prune(
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
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    dry_run: bool = DRY_RUN,
    offline: bool = opt.OFFLINE,
    grace: str = opt.GRACE,
    keep_deleted_within: str | None = opt.KEEP_DELETED_WITHIN,
    allow_incomplete: bool = ALLOW_INCOMPLETE,
    wait: float = WAIT,
    profile: str | None = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Remove the backups a retention policy does not keep, then the data nothing else uses.

    Without rules: `retention:` in config/config.yaml, else --keep-last 5. A backup is kept when
    any rule keeps it; pinned backups and the newest backup are always kept. A removed
    backup's data stays for the undelete window (`hdversion undelete T`)."""
    where = cloud_remote(cloud, storage, remote)
    policy = opt.policy_from(keep, keep_hourly, keep_daily, keep_weekly, keep_monthly,
                             keep_yearly, keep_within, keep_best, metric)
    result = api.prune(
        policy=policy, safety_within=opt.duration_or_none(keep_safety_within),
        remote=where, dry_run=dry_run, fetch_tags=not offline,
        grace=opt.grace_of(grace), allow_incomplete=allow_incomplete, wait=wait,
        keep_deleted_within=None if keep_deleted_within is None
        else opt.grace_of(keep_deleted_within), profile=profile)
    if as_json:
        records.emit_result(render.prune_json(result), result.failure())
    else:
        render.prune_summary(result)
    finish(result.failure())
