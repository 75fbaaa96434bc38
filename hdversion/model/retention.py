"""Retention: which backups a policy keeps, and why. A pure function of (backups, policy, pins,
now), in the manner of restic's `forget`:

- a backup is kept when any rule keeps it; each rule says why ("daily 2026-11-20");
- `last N` keeps the N newest; each bucket rule (hourly ... yearly) walks the backups newest
  first and keeps the newest of each period (UTC; weeks are ISO weeks) until it has kept N;
- `within D` keeps the backups younger than D, counted from now;
- `best N by METRIC` keeps the N with the highest value (`-METRIC`: the lowest); a backup
  without the metric is never chosen by it; a tie goes to the newer backup;
- pinned backups, and backups dated in the future (a clock gone wrong: no age to judge),
  are always kept; so is the newest regular backup, whatever the policy;
- safety backups (the state a restore replaced) have their own rule, `safety_within`, and
  never count in, or are chosen by, the rules for regular backups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hdversion.errors import UsageError
from hdversion.model.catalog import Backup
from hdversion.model.durations import Duration
from hdversion.model.timestamps import newest_present

# A forged tag may carry thousands of metric names: an error names a few.
_MAX_NAMES_SHOWN = 20


DEFAULT_SAFETY_WITHIN = Duration(days=14)

# name -> (option, period key of a UTC moment)
BUCKETS: dict[str, tuple[str, Callable[[datetime], str]]] = {
    "hourly": ("--keep-hourly", lambda t: t.strftime("%Y-%m-%d %H:00")),
    "daily": ("--keep-daily", lambda t: t.strftime("%Y-%m-%d")),
    "weekly": ("--keep-weekly", lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2])),
    "monthly": ("--keep-monthly", lambda t: t.strftime("%Y-%m")),
    "yearly": ("--keep-yearly", lambda t: t.strftime("%Y")),
}


@dataclass(frozen=True)
class Policy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | None = None
    best: int = 0
    metric: str | None = None
    safety_within: Duration = DEFAULT_SAFETY_WITHIN

    def validate(self) -> Policy:
        """UsageError (exit 2) for a policy that cannot be meant: negative counts, a metric
        without `best` or the reverse, or rules that keep nothing (the original's `keep=0`
        deleted every backup)."""
        counts = {"--keep-last": self.last, "--keep-best": self.best,
                  **{option: getattr(self, name) for name, (option, _) in BUCKETS.items()}}
        negative = [f"{option} {value}" for option, value in counts.items() if value < 0]
        if negative:
            raise UsageError(f"retention counts cannot be negative: {', '.join(negative)}")
        if self.best and not self.metric:
            raise UsageError("--keep-best needs --metric NAME (e.g. ensemble.roc_auc, or "
                             "-loss when lower is better)")
        if self.metric and not self.best:
            raise UsageError("--metric is used by --keep-best N: give both")
        if self.metric is not None and not self.metric.removeprefix("-"):
            raise UsageError("--metric needs a name, e.g. ensemble.roc_auc")
        if not any(counts.values()) and (self.within is None or self.within.is_zero):
            raise UsageError(
                "this retention policy keeps no backup: every rule is 0 or absent",
                hint="keep at least one, e.g. --keep-last 5 or --keep-daily 7; prune always keeps "
                     "the newest backup, but a policy of nothing is a mistake",
            )
        return self

    def describe(self) -> str:
        parts = [f"last {self.last}"] if self.last else []
        parts += [f"{name} {getattr(self, name)}" for name in BUCKETS if getattr(self, name)]
        if self.within is not None and not self.within.is_zero:
            parts.append(f"within {self.within}")
        if self.best:
            parts.append(f"best {self.best} by {self.metric}")
        parts.append(f"safety backups within {self.safety_within}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Decision:
    backup: Backup
    keep: bool
    reasons: tuple[str, ...]
    metric: float | None = None  # the value the policy's metric has in this backup


@dataclass(frozen=True)
class Plan:
    policy: Policy
    now: datetime
    decisions: list[Decision]  # newest first, as the catalog lists them
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[Backup]:
        return [d.backup for d in self.decisions if d.keep]

    @property
    def removed(self) -> list[Backup]:
        return [d.backup for d in self.decisions if not d.keep]


def metric_value(metrics: Mapping[str, Any], name: str) -> float | None:
    """The number a dotted key names in a backup's metrics ({file: data}); `file:key` picks
    the file. None when absent, not a number, or not finite."""
    name = name.removeprefix("-")
    files: Iterable[tuple[str, Any]] = sorted(metrics.items())
    for file, _ in files:
        if name.startswith(f"{file}:"):
            files, name = [(file, metrics[file])], name[len(file) + 1:]
            break
    for _, data in files:
        value: Any = data
        for key in name.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        number = _finite(value)
        if number is not None:
            return number
    return None


def _finite(value: Any) -> float | None:
    """`value` as a finite float; None for anything else (booleans, text, NaN...)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits: no usable value
        return None
    return number if math.isfinite(number) else None


def metric_names(metrics: Iterable[Mapping[str, Any]]) -> list[str]:
    """The dotted names of the numeric metrics the backups record (as --metric takes
    them), sorted. A value that is not a finite number is not recorded (as metric_value
    reads it)."""
    names: set[str] = set()

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif _finite(value) is not None:
            names.add(prefix)

    for per_file in metrics:
        for data in per_file.values():
            walk("", data)
    return sorted(names)


def unknown_metric(metric: str, names: Sequence[str], consequence: str) -> UsageError:
    """The refusal of a metric no backup records, naming a few of those they do record
    (quoted: a forged tag's metric name must not reach the terminal as control codes)."""
    shown = ", ".join(repr(name[:80]) for name in names[:_MAX_NAMES_SHOWN])
    return UsageError(f"no backup records the metric {metric!r}; {consequence}",
                      hint=f"metrics the backups record: {shown}" if shown else
                      "the backups record no metric (metrics: in dvc.yaml)")


def unrecorded_metric(policy: Policy, backups: Sequence[Backup]) -> UsageError | None:
    """The refusal of a `best` rule by a metric that no backup records: a typo, which would
    keep nothing and let the other rules remove the best models. None when some backup
    records it (one that others lack is no typo) or when there is no backup to judge."""
    if not (policy.best and policy.metric) or not backups:
        return None
    if any(metric_value(b.manifest.metrics, policy.metric) is not None for b in backups):
        return None
    return unknown_metric(policy.metric, metric_names(b.manifest.metrics for b in backups),
                          "nothing was removed")


def plan(backups: Iterable[Backup], policy: Policy, now: datetime,
         pins: Mapping[str, str] | None = None,
         aliases: Mapping[str, Iterable[str]] | None = None) -> Plan:
    """Keep or remove each backup, with the reasons. `pins`: tag -> reason (may be empty);
    `aliases`: tag -> the aliases that name it (each keeps it, as a pin does)."""
    pins = pins or {}
    aliases = aliases or {}
    ordered = sorted(backups, key=lambda b: b.timestamp, reverse=True)
    reasons: dict[str, list[str]] = {b.tag: [] for b in ordered}
    # A backup's moment is made only where a period needs it: the bucket rules stop after a
    # few periods, and the age rules compare names (100,000 moments took seconds).
    moments: dict[str, datetime] = {}

    def moment(backup: Backup) -> datetime:
        found = moments.get(backup.tag)
        if found is None:
            found = moments[backup.tag] = _moment_of(backup.timestamp)
        return found

    notes: list[str] = []

    limit = newest_present(now)
    future = [b for b in ordered if b.timestamp > limit]
    regular = [b for b in ordered if b.manifest.kind != "safety" and b.timestamp <= limit]
    safety = [b for b in ordered if b.manifest.kind == "safety" and b.timestamp <= limit]

    for backup in ordered:
        if backup.tag in pins:
            reasons[backup.tag].append(f"pinned: {pins[backup.tag]}" if pins[backup.tag]
                                       else "pinned")
        reasons[backup.tag].extend(f"alias {name}" for name in aliases.get(backup.tag, ()))
    for backup in future:
        reasons[backup.tag].append("dated in the future")

    for rank, backup in enumerate(regular[:policy.last], start=1):
        reasons[backup.tag].append(f"last {rank}/{policy.last}")
    for name, (_, period_of) in BUCKETS.items():
        left, previous = getattr(policy, name), None
        for backup in regular:
            if left <= 0:
                break
            period = period_of(moment(backup))
            if period != previous:
                reasons[backup.tag].append(f"{name} {period}")
                previous, left = period, left - 1
    if policy.within is not None and not policy.within.is_zero:
        cutoff = _first_name_from(policy.within.before(now))
        young = [b for b in regular if b.timestamp >= cutoff]
        for backup in young:
            reasons[backup.tag].append(f"within {policy.within}")
        if regular and not young:
            notes.append(f"--keep-within {policy.within} keeps nothing: the newest backup, "
                         f"{regular[0].tag}, is {_age(now - moment(regular[0]))} old "
                         "(have backups stopped?); prune keeps the newest backup anyway")
    values: dict[str, float | None] = {}
    if policy.metric:
        values = {b.tag: metric_value(b.manifest.metrics, policy.metric) for b in ordered}
    if policy.best and policy.metric:
        sign = -1.0 if policy.metric.startswith("-") else 1.0
        scored = [b for b in regular if values[b.tag] is not None]
        # Highest first; a tie goes to the newer backup (`regular` is newest first and the
        # sort is stable).
        scored.sort(key=lambda b: -sign * (values[b.tag] or 0.0))
        for rank, backup in enumerate(scored[:policy.best], start=1):
            reasons[backup.tag].append(f"best {rank} by {policy.metric}")
        if regular and not scored:
            notes.append(f"--keep-best keeps nothing: no backup has the metric "
                         f"{policy.metric.removeprefix('-')}")
    if regular and not reasons[regular[0].tag]:
        reasons[regular[0].tag].append("newest backup (always kept)")
    safety_cutoff = _first_name_from(policy.safety_within.before(now))
    for backup in safety:
        if backup.timestamp >= safety_cutoff:
            reasons[backup.tag].append(f"safety backup within {policy.safety_within}")

    decisions = []
    for backup in ordered:
        why = reasons[backup.tag]
        if not why:
            why = [f"safety backup older than {policy.safety_within}"
                   if backup.manifest.kind == "safety" else "not kept by any rule"]
            keep = False
        else:
            keep = True
        decisions.append(Decision(backup, keep, tuple(why), values.get(backup.tag)))
    return Plan(policy, now, decisions, notes)


def _moment_of(timestamp: str) -> datetime:
    """The UTC moment of a backup's name (valid: the catalog checked it), without strptime's
    cost."""
    t = timestamp
    return datetime(int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]),
                    int(t[13:15]), tzinfo=UTC)


def _first_name_from(moment: datetime) -> str:
    """The earliest name whose moment is `moment` or later: a backup is that old or younger
    when its name sorts at or after it (names hold whole seconds; the grammar orders them as
    time does)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    # Padded by hand: strftime writes year 1 (the earliest cutoff) as "1".
    return (f"{moment.year:04d}{moment.month:02d}{moment.day:02d}_"
            f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}")


def _age(span: timedelta) -> str:
    if span >= timedelta(days=2):
        return f"{span.days}d"
    return f"{int(span.total_seconds() // 3600)}h"
