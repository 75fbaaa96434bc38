"""The retention options that `prune` and `auto` share, and the policy they make."""

from __future__ import annotations

from typing import Any

from hdversion.cli.options import option
from hdversion.model.durations import Duration
from hdversion.model.retention import Policy


def _count(name: str, what: str, aliases: tuple[str, ...] = ()) -> Any:
    return option(None, name, metavar="N", help=what, aliases=aliases)


# restic's name, and the settings file's (`retention: keep_last`); --keep is the seed's.
KEEP = _count("--keep-last", "Keep the N newest backups (--keep N is the same).",
              aliases=("--keep",))
KEEP_HOURLY = _count("--keep-hourly", "Keep the newest backup of each of the last N hours "
                     "that have one.")
KEEP_DAILY = _count("--keep-daily", "... of each of the last N days (UTC).")
KEEP_WEEKLY = _count("--keep-weekly", "... of each of the last N ISO weeks.")
KEEP_MONTHLY = _count("--keep-monthly", "... of each of the last N months.")
KEEP_YEARLY = _count("--keep-yearly", "... of each of the last N years.")
KEEP_WITHIN = option(
    None, "--keep-within", metavar="DURATION",
    help="Keep every backup younger than this (e.g. 7d, 12h, 2w, 6mo, 1y), from now.")
KEEP_BEST = _count("--keep-best", "Keep the N backups with the best --metric.")
METRIC = option(
    None, "--metric", metavar="NAME",
    help="Metric for --keep-best, dotted (ensemble.roc_auc); prefix - when lower is better "
    "(--metric=-loss).")
KEEP_SAFETY_WITHIN = option(
    None, "--keep-safety-within", metavar="DURATION",
    help="Keep safety backups (made by restore) younger than this (default 14d).")
OFFLINE = option(
    False, "--offline", aliases=("--no-fetch-tags",),
    help="Do not fetch backup tags and pins from the git remote first: only when this clone "
    "is the only one making backups (--no-fetch-tags is the same).")
KEEP_DELETED_WITHIN = option(
    None, "--keep-deleted-within", metavar="DURATION",
    help="Keep the data of pruned backups this long, for `hdversion undelete` (default: "
    "retention.keep_deleted_within, else 7d); 0 sweeps it now.")
GRACE = option(
    "1h", "--grace", metavar="DURATION",
    help="In a store other clones may share, keep unused objects younger than this (an "
    "upload whose tag is not pushed yet; e.g. 90s, 30min, 1h); 0 for none.")


def policy_from(keep: int | None, hourly: int | None, daily: int | None, weekly: int | None,
                monthly: int | None, yearly: int | None, within: str | None,
                best: int | None, metric: str | None) -> Policy | None:
    """The policy the options give, or None when they give no rule (then the settings'
    `retention:` decides, else --keep-last 5)."""
    counts = (keep, hourly, daily, weekly, monthly, yearly, best)
    if all(v is None for v in counts) and not within and not metric:
        return None
    return Policy(last=keep or 0, hourly=hourly or 0, daily=daily or 0, weekly=weekly or 0,
                  monthly=monthly or 0, yearly=yearly or 0, best=best or 0,
                  within=Duration.parse(within) if within else None, metric=metric)


def duration_or_none(text: str | None) -> Duration | None:
    return Duration.parse(text) if text else None


def grace_of(text: str) -> Duration:
    return Duration() if text.strip() == "0" else Duration.parse(text)
