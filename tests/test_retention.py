"""Golden tests of the retention policy (model/retention), table-driven in the manner of
restic's snapshot_policy_test.go: each case is a history, a policy, a `now` and pins, and
states exactly which backups are kept and why. Then Policy.validate, the
`retention:` section of config/config.yaml, and properties that hold for any history."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from random import Random
from typing import Any

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from hdversion.config.settings import Hooks, Settings
from hdversion.errors import ConfigurationError, UsageError
from hdversion.model.catalog import Backup
from hdversion.model.durations import Duration
from hdversion.model.manifest import Kind, Manifest
from hdversion.model.retention import (
    BUCKETS,
    Plan,
    Policy,
    metric_value,
    plan,
    unrecorded_metric,
)
from hdversion.model.timestamps import CLOCK_SKEW, format_timestamp, parse_timestamp, tag_for

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # a Friday, ISO week 2026-W47
AUC = "ensemble.roc_auc"
PLUS_5 = timezone(timedelta(hours=5))
MINUS_8 = timezone(timedelta(hours=-8))


def backup(timestamp: str, kind: Kind = "backup",
           metrics: dict[str, Any] | None = None) -> Backup:
    manifest = Manifest(
        timestamp=timestamp, created_at=f"{timestamp}+00:00", host="host", user="user",
        hdversion_version="0", dvc_version="0", base_commit=None, branch="main",
        message="", outputs=(), total_files=0, total_size=0, files_md5="0123456789abcdef" * 2,
        metrics=metrics or {}, kind=kind)
    return Backup(tag_for(timestamp), timestamp, "0" * 40, manifest)


def auc(timestamp: str, value: Any, kind: Kind = "backup") -> Backup:
    return backup(timestamp, kind, {"metrics.json": {"ensemble": {"roc_auc": value}}})


def loss(timestamp: str, value: float) -> Backup:
    return backup(timestamp, metrics={"metrics.json": {"loss": value}})


def safety(timestamp: str) -> Backup:
    return backup(timestamp, "safety")


def regular(*timestamps: str) -> list[Backup]:
    return [backup(t) for t in timestamps]


def summary(result: Plan) -> list[tuple[str, bool, tuple[str, ...], float | None]]:
    return [(d.backup.tag, d.keep, d.reasons, d.metric) for d in result.decisions]


@dataclass(frozen=True)
class Case:
    id: str
    history: list[Backup]
    policy: Policy
    kept: set[str]  # timestamps; every other backup is removed
    reasons: dict[str, tuple[str, ...]]  # timestamp -> its exact reasons, for the key backups
    now: datetime = NOW
    pins: dict[str, str] = field(default_factory=dict)  # timestamp -> reason
    notes: tuple[str, ...] = ()  # one fragment per note the plan must carry, in order


NOT_KEPT = ("not kept by any rule",)
NEWEST = ("newest backup (always kept)",)
FUTURE = ("dated in the future",)
SAFETY_KEPT = ("safety backup within 14d",)
SAFETY_GONE = ("safety backup older than 14d",)
FIVE_DAYS = regular("20261116_120000", "20261117_120000", "20261118_120000",
                    "20261119_120000", "20261120_120000")
DAYS_WITH_REPEATS = regular("20261118_090000", "20261118_210000", "20261119_080000",
                            "20261120_070000", "20261120_170000")

CASES = [
    # --- each rule alone ---------------------------------------------------------------
    Case("last", FIVE_DAYS, Policy(last=3),
         kept={"20261120_120000", "20261119_120000", "20261118_120000"},
         reasons={"20261120_120000": ("last 1/3",), "20261118_120000": ("last 3/3",),
                  "20261116_120000": NOT_KEPT}),
    Case("last-more-than-history", FIVE_DAYS[2:], Policy(last=10),
         kept={"20261118_120000", "20261119_120000", "20261120_120000"},
         reasons={"20261118_120000": ("last 3/10",)}),
    Case("hourly-newest-of-each-hour",
         regular("20261120_130500", "20261120_134000", "20261120_141000", "20261120_155900",
                 "20261120_160000"),
         Policy(hourly=4),
         kept={"20261120_160000", "20261120_155900", "20261120_141000", "20261120_134000"},
         reasons={"20261120_160000": ("hourly 2026-11-20 16:00",),
                  "20261120_155900": ("hourly 2026-11-20 15:00",),
                  "20261120_134000": ("hourly 2026-11-20 13:00",),
                  "20261120_130500": NOT_KEPT}),
    Case("daily-newest-of-each-day", DAYS_WITH_REPEATS, Policy(daily=2),
         kept={"20261120_170000", "20261119_080000"},
         reasons={"20261120_170000": ("daily 2026-11-20",),
                  "20261119_080000": ("daily 2026-11-19",),
                  "20261120_070000": NOT_KEPT, "20261118_210000": NOT_KEPT}),
    Case("daily-more-than-history", DAYS_WITH_REPEATS, Policy(daily=30),
         kept={"20261120_170000", "20261119_080000", "20261118_210000"},
         reasons={"20261118_210000": ("daily 2026-11-18",),
                  "20261118_090000": NOT_KEPT}),
    # Days without a backup do not use up the count (restic's semantics too).
    Case("daily-counts-days-that-have-backups",
         regular("20261101_120000", "20261110_120000", "20261120_120000"), Policy(daily=2),
         kept={"20261120_120000", "20261110_120000"},
         reasons={"20261110_120000": ("daily 2026-11-10",), "20261101_120000": NOT_KEPT}),
    # 2020-12-28 (Mon) .. 2021-01-03 (Sun) is ISO week 2020-W53, across the new year.
    Case("weekly-iso-week-across-new-year",
         regular("20201228_120000", "20201231_120000", "20210103_120000", "20210104_120000",
                 "20210110_120000", "20210111_120000"),
         Policy(weekly=3), now=datetime(2021, 1, 12, 12, 0, tzinfo=UTC),
         kept={"20210111_120000", "20210110_120000", "20210103_120000"},
         reasons={"20210111_120000": ("weekly 2021-W02",),
                  "20210110_120000": ("weekly 2021-W01",),
                  "20210103_120000": ("weekly 2020-W53",),
                  "20210104_120000": NOT_KEPT, "20201231_120000": NOT_KEPT}),
    # 2024-12-30 (Mon) already belongs to ISO year 2025.
    Case("weekly-iso-year-ahead-of-calendar",
         regular("20241229_120000", "20241230_120000", "20250105_120000"),
         Policy(weekly=5), now=datetime(2025, 1, 6, tzinfo=UTC),
         kept={"20250105_120000", "20241229_120000"},
         reasons={"20250105_120000": ("weekly 2025-W01",),
                  "20241229_120000": ("weekly 2024-W52",),
                  "20241230_120000": NOT_KEPT}),
    Case("monthly",
         regular("20260831_235959", "20260901_000000", "20260930_120000", "20261015_120000",
                 "20261101_000000", "20261120_120000"),
         Policy(monthly=3),
         kept={"20261120_120000", "20261015_120000", "20260930_120000"},
         reasons={"20261120_120000": ("monthly 2026-11",),
                  "20261015_120000": ("monthly 2026-10",),
                  "20260930_120000": ("monthly 2026-09",),
                  "20261101_000000": NOT_KEPT, "20260901_000000": NOT_KEPT}),
    Case("yearly",
         regular("20230601_120000", "20240101_000000", "20241231_235959", "20250701_120000",
                 "20260101_000000", "20261120_120000"),
         Policy(yearly=3),
         kept={"20261120_120000", "20250701_120000", "20241231_235959"},
         reasons={"20261120_120000": ("yearly 2026",), "20250701_120000": ("yearly 2025",),
                  "20241231_235959": ("yearly 2024",), "20260101_000000": NOT_KEPT,
                  "20240101_000000": NOT_KEPT}),
    # Exactly 7 days old is still within 7d.
    Case("within-7d-boundary",
         regular("20261101_120000", "20261113_175959", "20261113_180000", "20261115_120000",
                 "20261120_120000"),
         Policy(within=Duration(days=7)),
         kept={"20261120_120000", "20261115_120000", "20261113_180000"},
         reasons={"20261120_120000": ("within 7d",), "20261113_180000": ("within 7d",),
                  "20261113_175959": NOT_KEPT}),
    # A `now` between two seconds: names hold whole seconds, so the one a half second too
    # old goes and the next second stays (the rules compare names, not moments).
    Case("within-7d-now-between-seconds",
         regular("20261113_180000", "20261113_180001", "20261120_120000"),
         Policy(within=Duration(days=7)), now=NOW + timedelta(milliseconds=500),
         kept={"20261120_120000", "20261113_180001"},
         reasons={"20261113_180001": ("within 7d",), "20261113_180000": NOT_KEPT}),
    Case("within-1mo-from-march-31",
         regular("20260227_120000", "20260228_115959", "20260228_120000", "20260315_120000"),
         Policy(within=Duration(months=1)), now=datetime(2026, 3, 31, 12, 0, tzinfo=UTC),
         kept={"20260315_120000", "20260228_120000"},
         reasons={"20260228_120000": ("within 1mo",), "20260228_115959": NOT_KEPT}),
    Case("within-1mo-from-march-31-leap-year",
         regular("20280228_120000", "20280229_115959", "20280229_120000"),
         Policy(within=Duration(months=1)), now=datetime(2028, 3, 31, 12, 0, tzinfo=UTC),
         kept={"20280229_120000"},
         reasons={"20280229_120000": ("within 1mo",), "20280229_115959": NOT_KEPT}),
    Case("best",
         [auc("20261116_120000", 0.90), auc("20261117_120000", 0.95),
          auc("20261118_120000", 0.93), auc("20261119_120000", 0.80),
          auc("20261120_120000", 0.85)],
         Policy(best=2, metric=AUC),
         kept={"20261117_120000", "20261118_120000", "20261120_120000"},
         reasons={"20261117_120000": ("best 1 by ensemble.roc_auc",),
                  "20261118_120000": ("best 2 by ensemble.roc_auc",),
                  "20261120_120000": NEWEST, "20261116_120000": NOT_KEPT}),
    Case("best-lower-is-better",
         [loss("20261116_120000", 0.30), loss("20261117_120000", 0.10),
          loss("20261118_120000", 0.20), loss("20261119_120000", 0.50),
          loss("20261120_120000", 0.40)],
         Policy(best=2, metric="-loss"),
         kept={"20261117_120000", "20261118_120000", "20261120_120000"},
         reasons={"20261117_120000": ("best 1 by -loss",),
                  "20261118_120000": ("best 2 by -loss",), "20261120_120000": NEWEST,
                  "20261116_120000": NOT_KEPT}),
    Case("best-tie-goes-to-the-newer",
         [auc("20261116_120000", 0.9), auc("20261117_120000", 0.9),
          auc("20261118_120000", 0.9), auc("20261119_120000", 0.8),
          backup("20261120_120000")],
         Policy(best=2, metric=AUC),
         kept={"20261118_120000", "20261117_120000", "20261120_120000"},
         reasons={"20261118_120000": ("best 1 by ensemble.roc_auc",),
                  "20261117_120000": ("best 2 by ensemble.roc_auc",),
                  "20261116_120000": NOT_KEPT}),
    Case("best-tie-lower-is-better-goes-to-the-newer",
         [loss("20261117_120000", 0.1), loss("20261118_120000", 0.1),
          loss("20261119_120000", 0.1), loss("20261120_120000", 0.5)],
         Policy(best=2, metric="-loss"),
         kept={"20261119_120000", "20261118_120000", "20261120_120000"},
         reasons={"20261119_120000": ("best 1 by -loss",),
                  "20261118_120000": ("best 2 by -loss",), "20261117_120000": NOT_KEPT}),
    # Non-numbers, booleans, NaN and infinities are "no metric"; the value in another file
    # counts, as a dotted name searches every file.
    Case("best-never-chooses-a-backup-lacking-the-metric",
         [backup("20261112_120000", metrics={"other.json": {"ensemble": {"roc_auc": 0.5}}}),
          auc("20261113_120000", {"value": 0.99}), auc("20261114_120000", 0.7),
          auc("20261115_120000", True), auc("20261116_120000", math.nan),
          auc("20261117_120000", math.inf), auc("20261118_120000", "0.99"),
          auc("20261119_120000", -math.inf), backup("20261120_120000")],
         Policy(best=3, metric=AUC),
         kept={"20261114_120000", "20261112_120000", "20261120_120000"},
         reasons={"20261114_120000": ("best 1 by ensemble.roc_auc",),
                  "20261112_120000": ("best 2 by ensemble.roc_auc",),
                  "20261120_120000": NEWEST, "20261115_120000": NOT_KEPT,
                  "20261116_120000": NOT_KEPT, "20261117_120000": NOT_KEPT}),
    Case("best-more-than-history",
         [auc("20261118_120000", 0.9), backup("20261119_120000"),
          auc("20261120_120000", 0.8)],
         Policy(best=10, metric=AUC),
         kept={"20261118_120000", "20261120_120000"},
         reasons={"20261120_120000": ("best 2 by ensemble.roc_auc",),
                  "20261119_120000": NOT_KEPT}),
    Case("best-by-file-and-key",
         [backup("20261118_120000", metrics={"metrics.json": {"ensemble": {"roc_auc": 0.99}},
                                             "eval.json": {"ensemble": {"roc_auc": 0.60}}}),
          backup("20261119_120000", metrics={"metrics.json": {"ensemble": {"roc_auc": 0.50}},
                                             "eval.json": {"ensemble": {"roc_auc": 0.90}}}),
          auc("20261120_120000", 0.70)],
         Policy(best=1, metric="eval.json:ensemble.roc_auc"),
         kept={"20261119_120000", "20261120_120000"},
         reasons={"20261119_120000": ("best 1 by eval.json:ensemble.roc_auc",),
                  "20261120_120000": NEWEST, "20261118_120000": NOT_KEPT}),
    Case("best-when-no-backup-has-the-metric", FIVE_DAYS[3:], Policy(best=2, metric=AUC),
         kept={"20261120_120000"},
         reasons={"20261120_120000": NEWEST, "20261119_120000": NOT_KEPT},
         notes=("--keep-best keeps nothing: no backup has the metric ensemble.roc_auc",)),
    # --- combinations: the union of the rules, every reason listed ------------------------
    Case("several-rules",
         regular("20261015_120000", "20261109_120000", "20261115_120000", "20261116_120000",
                 "20261118_120000", "20261119_120000", "20261120_080000", "20261120_120000"),
         Policy(last=2, daily=3, weekly=2, monthly=2, within=Duration(days=2)),
         kept={"20261120_120000", "20261120_080000", "20261119_120000", "20261118_120000",
               "20261115_120000", "20261015_120000"},
         reasons={"20261120_120000": ("last 1/2", "daily 2026-11-20", "weekly 2026-W47",
                                      "monthly 2026-11", "within 2d"),
                  "20261120_080000": ("last 2/2", "within 2d"),
                  "20261119_120000": ("daily 2026-11-19", "within 2d"),
                  "20261118_120000": ("daily 2026-11-18",),
                  "20261115_120000": ("weekly 2026-W46",),
                  "20261015_120000": ("monthly 2026-10",),
                  "20261116_120000": NOT_KEPT, "20261109_120000": NOT_KEPT}),
    Case("every-rule-and-a-pin",
         [auc("20251231_120000", 0.99), auc("20261020_120000", 0.70),
          auc("20261120_130000", 0.80), auc("20261120_140000", 0.75)],
         Policy(last=1, hourly=1, daily=1, weekly=1, monthly=1, yearly=1,
                within=Duration(hours=4), best=1, metric=AUC),
         pins={"20261120_140000": "prod"},
         kept={"20261120_140000", "20251231_120000"},
         reasons={"20261120_140000": ("pinned: prod", "last 1/1", "hourly 2026-11-20 14:00",
                                      "daily 2026-11-20", "weekly 2026-W47",
                                      "monthly 2026-11", "yearly 2026", "within 4h"),
                  "20251231_120000": ("best 1 by ensemble.roc_auc",),
                  "20261120_130000": NOT_KEPT, "20261020_120000": NOT_KEPT}),
    # --- edges --------------------------------------------------------------------------
    Case("empty-history", [], Policy(last=3, within=Duration(days=7), best=1, metric=AUC),
         kept=set(), reasons={}),
    Case("newest-kept-when-every-rule-misses",
         regular("20261001_120000", "20261015_120000", "20261020_120000"),
         Policy(within=Duration(days=7)),
         kept={"20261020_120000"},
         reasons={"20261020_120000": NEWEST, "20261015_120000": NOT_KEPT},
         notes=("--keep-within 7d keeps nothing: the newest backup, backup/20261020_120000, "
                "is 31d old (have backups stopped?); prune keeps the newest backup anyway",)),
    # A name more than CLOCK_SKEW (5 minutes) ahead of now is dated in the future.
    Case("dated-in-the-future",
         regular("20261118_120000", "20261119_120000", "20261120_180000", "20261120_180501",
                 "20991231_235959"),
         Policy(last=1),
         kept={"20991231_235959", "20261120_180501", "20261120_180000"},
         reasons={"20991231_235959": FUTURE, "20261120_180501": FUTURE,
                  "20261120_180000": ("last 1/1",), "20261119_120000": NOT_KEPT}),
    # A burst (backups in one second take consecutive seconds) is named ahead of the clock;
    # up to CLOCK_SKEW ahead, a backup is judged by the policy like any other.
    Case("a-burst-ahead-of-the-clock-is-judged-by-the-policy",
         regular("20261120_175959", "20261120_180000", "20261120_180001", "20261120_180500"),
         Policy(last=2),
         kept={"20261120_180500", "20261120_180001"},
         reasons={"20261120_180500": ("last 1/2",), "20261120_180001": ("last 2/2",),
                  "20261120_180000": NOT_KEPT, "20261120_175959": NOT_KEPT}),
    Case("future-backups-are-not-the-newest",
         [backup("20990101_000000"), safety("20980101_000000"),
          *regular("20260901_120000", "20261001_120000")],
         Policy(within=Duration(days=7)),
         kept={"20990101_000000", "20980101_000000", "20261001_120000"},
         reasons={"20990101_000000": FUTURE, "20980101_000000": FUTURE,
                  "20261001_120000": NEWEST, "20260901_120000": NOT_KEPT},
         notes=("keeps nothing: the newest backup, backup/20261001_120000, is 50d old",)),
    # --- safety backups -----------------------------------------------------------------
    # 14 days before NOW is 2026-11-06 18:00:00, itself still within.
    Case("safety-backups-do-not-count-for-last",
         [*regular("20261118_120000", "20261119_120000", "20261120_120000"),
          *map(safety, ("20261001_120000", "20261106_175959", "20261106_180000",
                        "20261110_120000", "20261115_120000", "20261119_130000",
                        "20261120_130000", "20261120_140000"))],
         Policy(last=3),
         kept={"20261118_120000", "20261119_120000", "20261120_120000", "20261106_180000",
               "20261110_120000", "20261115_120000", "20261119_130000", "20261120_130000",
               "20261120_140000"},
         reasons={"20261120_120000": ("last 1/3",), "20261118_120000": ("last 3/3",),
                  "20261120_140000": SAFETY_KEPT, "20261106_180000": SAFETY_KEPT,
                  "20261106_175959": SAFETY_GONE, "20261001_120000": SAFETY_GONE}),
    Case("safety-within-now-between-seconds",
         [*regular("20261120_120000"), *map(safety, ("20261106_180000", "20261106_180001"))],
         Policy(last=1), now=NOW + timedelta(microseconds=1),
         kept={"20261120_120000", "20261106_180001"},
         reasons={"20261106_180001": SAFETY_KEPT, "20261106_180000": SAFETY_GONE}),
    Case("safety-backups-are-not-chosen-by-buckets-or-best",
         [auc("20261119_120000", 0.80), auc("20261119_230000", 0.95, "safety"),
          auc("20261120_090000", 0.70), auc("20261120_120000", 0.99, "safety")],
         Policy(daily=1, best=1, metric=AUC, safety_within=Duration(hours=12)),
         kept={"20261120_090000", "20261119_120000", "20261120_120000"},
         reasons={"20261120_090000": ("daily 2026-11-20",),
                  "20261119_120000": ("best 1 by ensemble.roc_auc",),
                  "20261120_120000": ("safety backup within 12h",),
                  "20261119_230000": ("safety backup older than 12h",)}),
    # "The newest backup is always kept" is about regular backups only.
    Case("only-safety-backups", [safety("20261001_120000"), safety("20261119_120000")],
         Policy(last=3),
         kept={"20261119_120000"},
         reasons={"20261119_120000": SAFETY_KEPT, "20261001_120000": SAFETY_GONE}),
    # --- pins: keep anything, a safety backup too; a pin whose backup is gone is ignored ---
    Case("pins",
         [*regular("20261001_120000", "20261101_120000", "20261110_120000", "20261120_120000"),
          safety("20261002_120000")],
         Policy(last=1),
         pins={"20261120_120000": "release", "20261101_120000": "prod", "20261001_120000": "",
               "20261002_120000": "before migration", "20200101_000000": "gone"},
         kept={"20261120_120000", "20261101_120000", "20261001_120000", "20261002_120000"},
         reasons={"20261120_120000": ("pinned: release", "last 1/1"),
                  "20261101_120000": ("pinned: prod",), "20261001_120000": ("pinned",),
                  "20261002_120000": ("pinned: before migration",),
                  "20261110_120000": NOT_KEPT}),
    # --- UTC: now at 02:00 on the 21st in +05:00 is 21:00 UTC on the 20th ---------------
    Case("buckets-follow-utc-dates-whatever-the-timezone-of-now",
         regular("20261119_080000", "20261119_220000", "20261120_100000", "20261120_203000",
                 "20261120_213000"),
         Policy(daily=2), now=datetime(2026, 11, 21, 2, 0, tzinfo=PLUS_5),
         kept={"20261120_213000", "20261120_203000", "20261119_220000"},
         reasons={"20261120_213000": FUTURE, "20261120_203000": ("daily 2026-11-20",),
                  "20261119_220000": ("daily 2026-11-19",), "20261120_100000": NOT_KEPT,
                  "20261119_080000": NOT_KEPT}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_golden_plan(case: Case) -> None:
    result = plan(case.history, case.policy.validate(), case.now,
                  {tag_for(t): reason for t, reason in case.pins.items()})

    assert [d.backup.timestamp for d in result.decisions] == sorted(
        (b.timestamp for b in case.history), reverse=True)
    assert {b.timestamp for b in result.kept} == case.kept
    assert {b.timestamp for b in result.removed} == {b.timestamp for b in case.history} - case.kept
    reasons = {d.backup.timestamp: d.reasons for d in result.decisions}
    assert {t: reasons[t] for t in case.reasons} == case.reasons
    assert len(result.notes) == len(case.notes)
    for note, fragment in zip(result.notes, case.notes, strict=True):
        assert fragment in note


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@pytest.mark.parametrize("zone", [PLUS_5, MINUS_8], ids=["plus5", "minus8"])
def test_the_plan_depends_on_the_instant_not_on_the_timezone_of_now(case: Case,
                                                                    zone: tzinfo) -> None:
    pins = {tag_for(t): reason for t, reason in case.pins.items()}
    assert summary(plan(case.history, case.policy, case.now.astimezone(zone), pins)) == \
        summary(plan(case.history, case.policy, case.now, pins))


def test_decisions_carry_the_value_of_the_metric() -> None:
    history = [auc("20261118_120000", 0.9), auc("20261119_120000", math.nan),
               auc("20261120_120000", 3)]
    result = plan(history, Policy(best=1, metric=f"-{AUC}"), NOW)
    assert [d.metric for d in result.decisions] == [3.0, None, 0.9]
    assert [d.metric for d in plan(history, Policy(last=1), NOW).decisions] == [None] * 3


def test_within_months_do_not_depend_on_the_timezone_of_now() -> None:
    history = regular("20260130_120000", "20260228_120000")
    instant = datetime(2026, 2, 28, 21, 0, tzinfo=UTC)
    policy = Policy(within=Duration(months=1))
    assert summary(plan(history, policy, instant.astimezone(PLUS_5))) == \
        summary(plan(history, policy, instant))


def test_a_metric_too_large_for_a_float_is_lacking_not_a_crash() -> None:
    history = [auc("20261119_120000", 10**400), auc("20261120_120000", 0.5)]
    result = plan(history, Policy(best=1, metric=AUC), NOW)
    assert result.decisions[1].reasons == ("not kept by any rule",)


def test_a_duration_longer_than_the_calendar_is_refused_or_keeps_everything() -> None:
    try:
        policy = Policy(within=Duration.parse("3000y")).validate()
    except UsageError:
        return
    result = plan(FIVE_DAYS, policy, NOW)
    assert result.removed == []


# --- a metric no backup records ----------------------------------------------------------

@pytest.mark.parametrize(("backups", "policy", "refused"), [
    pytest.param([auc("20261119_120000", 0.9), auc("20261120_120000", 0.8)],
                 Policy(best=1, metric="ensemble.roc_acu"), "'ensemble.roc_auc'", id="typo"),
    pytest.param([auc("20261120_120000", 0.9)], Policy(best=1, metric="-ensemble.roc_acu"),
                 "'ensemble.roc_auc'", id="typo-lower-is-better"),
    pytest.param(regular("20261119_120000", "20261120_120000"), Policy(best=1, metric=AUC),
                 "the backups record no metric", id="no-metrics-at-all"),
    # Not a number, or not finite: absent, as the plan counts it.
    pytest.param([auc("20261120_120000", "high"), auc("20261119_120000", math.nan)],
                 Policy(best=1, metric=AUC), "the backups record no", id="no-number"),
    pytest.param([loss("20261120_120000", 0.2)], Policy(best=1, metric="eval.json:loss"),
                 "'loss'", id="another-file"),
    # Some backups record it and others do not: no typo.
    pytest.param([backup("20261120_120000"), auc("20261119_120000", 0.9)],
                 Policy(best=1, metric=AUC), None, id="only-an-older-backup"),
    pytest.param([auc("20261120_120000", 0.9)], Policy(best=1, metric=f"-{AUC}"), None,
                 id="recorded-lower-is-better"),
    pytest.param([loss("20261120_120000", 0.2)], Policy(best=1, metric="metrics.json:loss"),
                 None, id="recorded-in-its-file"),
    pytest.param([auc("20261120_120000", 0.9, "safety")], Policy(best=1, metric=AUC), None,
                 id="recorded-by-a-safety-backup"),
    pytest.param([], Policy(best=1, metric="anything"), None, id="no-backups"),
    pytest.param([backup("20261120_120000")], Policy(last=1), None, id="no-best-rule"),
])
def test_a_best_rule_by_a_metric_no_backup_records_is_refused(
        backups: list[Backup], policy: Policy, refused: str | None) -> None:
    error = unrecorded_metric(policy, backups)
    if refused is None:
        assert error is None
        return
    assert error is not None and error.exit_code == 2
    assert error.message == (f"no backup records the metric {policy.metric!r}; "
                             "nothing was removed")
    assert error.hint is not None and refused in error.hint


def test_the_names_shown_are_a_few_and_quoted() -> None:
    many = backup("20261120_120000", metrics={"m.json": {f"k{n:03d}\x1b": n for n in range(50)}})
    error = unrecorded_metric(Policy(best=1, metric="x"), [many])
    assert error is not None and error.hint is not None
    assert error.hint.count("'k") == 20 and "\x1b" not in error.hint


# --- metric_value ------------------------------------------------------------------------

TWO_FILES = {"b.json": {"x": 2, "nested": {"y": 5}}, "a.json": {"x": 1}}


@pytest.mark.parametrize(("metrics", "name", "expected"), [
    pytest.param({"metrics.json": {"ensemble": {"roc_auc": 0.95}}}, AUC, 0.95, id="dotted"),
    pytest.param({"metrics.json": {"ensemble": {"roc_auc": 0.95}}}, f"-{AUC}", 0.95,
                 id="sign-ignored"),
    pytest.param({"m.json": {"n": 3}}, "n", 3.0, id="int"),
    pytest.param({"m.json": {"n": True}}, "n", None, id="bool"),
    pytest.param({"m.json": {"n": math.nan}}, "n", None, id="nan"),
    pytest.param({"m.json": {"n": math.inf}}, "n", None, id="inf"),
    pytest.param({"m.json": {"n": -math.inf}}, "n", None, id="minus-inf"),
    pytest.param({"m.json": {"n": "0.9"}}, "n", None, id="string"),
    pytest.param({"m.json": {"n": None}}, "n", None, id="null"),
    pytest.param({"m.json": {"n": {"v": 1}}}, "n", None, id="mapping"),
    pytest.param({"m.json": {"n": 1}}, "n.v", None, id="too-deep"),
    pytest.param({"m.json": [1, 2]}, "n", None, id="file-not-a-mapping"),
    pytest.param({}, "n", None, id="no-metrics"),
    pytest.param(TWO_FILES, "x", 1.0, id="first-file-by-name"),
    pytest.param(TWO_FILES, "nested.y", 5.0, id="first-file-that-has-it"),
    pytest.param(TWO_FILES, "b.json:x", 2.0, id="file-and-key"),
    pytest.param(TWO_FILES, "-b.json:x", 2.0, id="file-and-key-lower-is-better"),
    pytest.param(TWO_FILES, "a.json:nested.y", None, id="file-lacking-the-key"),
    pytest.param(TWO_FILES, "c.json:x", None, id="no-such-file"),
    pytest.param({"m.json": {"n": 10**400}}, "n", None, id="huge-int"),
])
def test_metric_value(metrics: dict[str, Any], name: str, expected: float | None) -> None:
    assert metric_value(metrics, name) == expected


# --- Policy.validate ---------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "message"), [
    pytest.param(Policy(last=0), "keeps no backup", id="keep-0-alone"),
    pytest.param(Policy(), "keeps no backup", id="all-rules-absent"),
    pytest.param(Policy(safety_within=Duration(days=30)), "keeps no backup",
                 id="safety-rule-alone"),
    pytest.param(Policy(within=Duration()), "keeps no backup", id="within-zero"),
    pytest.param(Policy(last=-1), "cannot be negative: --keep-last -1", id="negative-last"),
    pytest.param(Policy(last=3, daily=-1), "--keep-daily -1", id="negative-daily"),
    pytest.param(Policy(yearly=-2), "--keep-yearly -2", id="negative-yearly"),
    pytest.param(Policy(best=-1, metric=AUC), "--keep-best -1", id="negative-best"),
    pytest.param(Policy(best=2), "needs --metric", id="best-without-metric"),
    pytest.param(Policy(best=2, metric=""), "needs --metric", id="best-with-empty-metric"),
    pytest.param(Policy(last=3, metric=AUC), "give both", id="metric-without-best"),
    pytest.param(Policy(metric="-"), "give both", id="minus-alone"),
    pytest.param(Policy(best=2, metric="-"), "needs a name", id="best-by-minus-alone"),
    pytest.param(Policy(last=3, metric=""), "needs a name", id="empty-metric"),
])
def test_a_policy_that_cannot_be_meant_is_a_usage_error(policy: Policy, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        policy.validate()
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("policy", [
    Policy(last=1), Policy(hourly=1), Policy(within=Duration(hours=1)),
    Policy(best=1, metric="-loss"), Policy(best=1, metric="metrics.json:ensemble.roc_auc"),
    Policy(daily=7, weekly=4, monthly=12, yearly=3),
    Policy(last=2, within=Duration()),  # a zero within is only "no within"
    Policy(last=1, safety_within=Duration()),
], ids=lambda policy: policy.describe())
def test_a_valid_policy_validates_to_itself(policy: Policy) -> None:
    assert policy.validate() is policy


def test_describe() -> None:
    policy = Policy(last=2, daily=7, yearly=1, within=Duration(years=1, months=6), best=3,
                    metric="-loss", safety_within=Duration(weeks=2))
    assert policy.describe() == ("last 2, daily 7, yearly 1, within 1y6mo, best 3 by -loss, "
                                 "safety backups within 2w")


# --- the retention: section of config/config.yaml ----------------------------------------

def load(root: Path, text: str) -> Settings:
    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "config.yaml").write_text(textwrap.dedent(text))
    return Settings.load(root)


def test_a_retention_section_is_a_policy(tmp_path: Path) -> None:
    settings = load(tmp_path, """\
        backup:
          local_remote: local
        retention:
          keep_last: 3
          keep_hourly: 24
          keep_daily: 7
          keep_weekly: 4
          keep_monthly: 12
          keep_yearly: 2
          keep_within: 1y6mo
          keep_best: 2
          metric: "-loss"
          keep_safety_within: 30d
        """)
    assert settings.retention == Policy(
        last=3, hourly=24, daily=7, weekly=4, monthly=12, yearly=2,
        within=Duration(years=1, months=6), best=2, metric="-loss",
        safety_within=Duration(days=30))


def test_a_short_retention_section_takes_the_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, """\
        retention:
          keep_daily: 7
          keep_within: 6mo
        """)
    assert settings.retention == Policy(daily=7, within=Duration(months=6))
    assert settings.retention.safety_within == Duration(days=14)


@pytest.mark.parametrize("text", [
    pytest.param("backup:\n  local_remote: local\n", id="no-section"),
    pytest.param("retention:\n", id="empty-section-is-no-section"),
])
def test_without_a_retention_section_there_is_no_policy(tmp_path: Path, text: str) -> None:
    assert load(tmp_path, text).retention is None
    assert Settings.load(tmp_path / "elsewhere").retention is None


@pytest.mark.parametrize(("section", "message"), [
    pytest.param("keep_dialy: 7", "unknown key(s): keep_dialy", id="typo"),
    pytest.param("keep_daily: 7\n  keep_dialy: 7\n  zzz: 1", "unknown key(s): keep_dialy, zzz",
                 id="typos"),
    pytest.param('keep_daily: "7"', "keep_daily must be a whole number", id="quoted-count"),
    pytest.param("keep_daily: 7.5", "keep_daily must be a whole number", id="fraction"),
    pytest.param("keep_daily: true", "keep_daily must be a whole number", id="bool"),
    pytest.param("keep_daily: null", "keep_daily must be a whole number", id="null-count"),
    pytest.param("keep_within: 7", "malformed duration", id="duration-without-unit"),
    pytest.param("keep_within: 7x", "malformed duration", id="bad-duration"),
    pytest.param("keep_within: 6m", "ambiguous duration '6m'", id="bare-m"),
    pytest.param("keep_last: 3\n  keep_safety_within: 30m", "ambiguous duration '30m'",
                 id="bare-m-safety"),
    pytest.param("keep_last: 3\n  keep_safety_within: 2 weeks", "malformed duration",
                 id="bad-safety-duration"),
    pytest.param("keep_daily: 0", "keeps no backup", id="keeps-nothing"),
    pytest.param("keep_within: 0d", "keeps no backup", id="within-zero"),
    pytest.param("{}", "keeps no backup", id="empty-mapping"),
    pytest.param("keep_daily: -1", "cannot be negative", id="negative"),
    pytest.param("keep_best: 2", "needs --metric", id="best-without-metric"),
    pytest.param("keep_last: 2\n  metric: loss", "give both", id="metric-without-best"),
    pytest.param("keep_best: 2\n  metric: null", "needs --metric", id="null-metric"),
])
def test_a_bad_retention_section_is_a_configuration_error(tmp_path: Path, section: str,
                                                          message: str) -> None:
    # (A `retention:` that is not a mapping is the project's own key in config/config.yaml,
    # refused in hdversion's own file: tests/test_settings.py.)
    with pytest.raises(ConfigurationError) as caught:
        load(tmp_path, f"retention:\n  {section}\n")
    assert caught.value.exit_code == 7
    assert caught.value.message.startswith("config/config.yaml: retention")
    assert message in caught.value.message



def test_a_command_that_changes_no_store_ignores_a_bad_section_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = ("backup:\n  local_remote: nas\nhooks:\n  on_succes: [true]\n  on_failure: [x]\n"
            "retention:\n  keep_daily: 7\n  keep_within: 6m\n")
    with pytest.raises(ConfigurationError, match="ambiguous duration"):
        load(tmp_path, text)
    with caplog.at_level("WARNING", logger="hdversion"):
        settings = Settings.load(tmp_path, strict=False)
    # Each section with a mistake is not used at all (not half of it); `backup:` is.
    assert settings.retention is None and settings.hooks == Hooks()
    assert settings.local_remote == "nas"
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert warned[0].startswith("config/config.yaml: retention: ambiguous duration '6m'")
    assert warned[1].startswith("config/config.yaml: hooks has unknown key(s): on_succes")
    # A mistake in `backup:` (which every command reads) is refused by every command.
    (tmp_path / "config" / "config.yaml").write_text("backup:\n  local_remot: nas\n")
    with pytest.raises(ConfigurationError, match="unknown key"):
        Settings.load(tmp_path, strict=False)


def test_an_unknown_key_hint_lists_the_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load(tmp_path, "retention:\n  keep_dialy: 7\n")
    assert caught.value.hint is not None
    assert all(key in caught.value.hint for key in (
        "keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
        "keep_yearly", "keep_within", "keep_best", "metric", "keep_safety_within"))


# --- properties --------------------------------------------------------------------------

BASE = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = 3 * 366 * 24 * 3600  # seconds: histories and `now` lie within three years of BASE
RULES = ("last", *BUCKETS, "within", "best")
METRICS = (AUC, f"-{AUC}", f"metrics.json:{AUC}", "-loss")
REMOVAL = ("not kept by any rule", "safety backup older than")
KINDS: tuple[Kind, ...] = ("backup", "backup", "safety")  # twice as many regular as safety

durations = st.builds(Duration, years=st.integers(0, 1), months=st.integers(0, 14),
                      weeks=st.integers(0, 6), days=st.integers(0, 40),
                      hours=st.integers(0, 48))
metric_values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                          st.integers(-10, 10), st.booleans(), st.just("0.5"))


def with_count(policy: Policy, rule: str, count: int) -> Policy:
    changes: dict[str, Any] = {rule: count}  # the rule's name is a field of Policy
    return replace(policy, **changes)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    # A few rules at a time, or the newest backup would nearly always be kept by one of them
    # and "always kept" would go untested. `last` and every bucket keep the newest, so half
    # the policies have only the rules that can miss it: `within` (a period of hours, shorter
    # than the newest's age in most scenarios) and `best`.
    policy = Policy(safety_within=draw(durations))
    may_miss = draw(st.booleans())
    rules = draw(st.sets(st.sampled_from(("within", "best")), min_size=1) if may_miss
                 else st.sets(st.sampled_from(RULES), min_size=1, max_size=3))
    for rule in rules:
        if rule == "within":
            policy = replace(policy, within=draw(
                st.builds(Duration, hours=st.integers(1, 48)) if may_miss else durations))
        elif rule == "best":
            policy = replace(policy, best=draw(st.integers(1, 3)),
                             metric=draw(st.sampled_from(METRICS)))
        else:
            policy = with_count(policy, rule, draw(st.integers(1, 4)))
    try:
        return policy.validate()
    except UsageError:
        assume(False)
        raise


@dataclass(frozen=True)
class Scenario:
    history: list[Backup]
    policy: Policy
    now: datetime
    pins: dict[str, str]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    entries = draw(st.lists(
        st.tuples(st.integers(0, SPAN), st.sampled_from(KINDS), metric_values, metric_values),
        max_size=25, unique_by=lambda entry: entry[0]))
    history = []
    for offset, kind, score, cost in entries:
        data: dict[str, Any] = {}
        if score is not None:
            data["ensemble"] = {"roc_auc": score}
        if cost is not None:
            data["loss"] = cost
        history.append(backup(format_timestamp(BASE + timedelta(seconds=offset)), kind,
                              {"metrics.json": data} if data else {}))
    # Few pins: a pin on the newest backup would keep it before "always kept" could.
    pinned = draw(st.sets(st.sampled_from(range(len(history))), max_size=2)) if history \
        else set()
    pins = {history[i].tag: draw(st.sampled_from(("", "prod"))) for i in pinned}
    # Half the time a little after the newest backup, as prune runs: a `now` anywhere in the
    # span leaves no backup in the past in half the histories.
    newest = max((entry[0] for entry in entries), default=0)
    now = BASE + timedelta(seconds=draw(st.integers(0, SPAN)
                                        | st.integers(newest, newest + 90 * 24 * 3600)),
                           microseconds=draw(st.integers(0, 999_999)))
    return Scenario(history, draw(policies()), now, pins)


def past_regular(scenario: Scenario) -> list[Backup]:
    return [b for b in scenario.history if b.manifest.kind != "safety"
            and parse_timestamp(b.timestamp) <= scenario.now + CLOCK_SKEW]


def kept_tags(result: Plan) -> set[str]:
    return {b.tag for b in result.kept}


PROPERTIES = settings(max_examples=100, deadline=None)


@given(scenarios())
@PROPERTIES
def test_every_decision_is_explained(scenario: Scenario) -> None:
    result = plan(scenario.history, scenario.policy, scenario.now, scenario.pins)
    by_tag = {d.backup.tag: d for d in result.decisions}
    assert len(by_tag) == len(scenario.history)
    assert [d.backup.timestamp for d in result.decisions] == sorted(
        (b.timestamp for b in scenario.history), reverse=True)
    assert all(by_tag[tag].keep for tag in scenario.pins)
    past = past_regular(scenario)
    if past:
        newest = by_tag[max(past, key=lambda b: b.timestamp).tag]
        assert newest.keep
        if newest.reasons == NEWEST:
            event("the newest backup is kept by no rule but 'always kept'")
    within = scenario.policy.within
    if within is not None:
        cutoff = within.before(scenario.now)
        assert all(by_tag[b.tag].keep for b in past if parse_timestamp(b.timestamp) >= cutoff)
    for decision in result.decisions:
        removed = [r for r in decision.reasons if r.startswith(REMOVAL)]
        assert decision.reasons
        assert decision.keep == (not removed)
        assert decision.keep or len(decision.reasons) == 1
        if decision.backup.manifest.kind == "safety":
            # The rules for regular backups never choose a safety backup.
            assert all(r.startswith(("pinned", "dated in the future", "safety backup"))
                       for r in decision.reasons)


@given(scenarios(), st.randoms(use_true_random=False), st.sampled_from([PLUS_5, MINUS_8]))
@PROPERTIES
def test_the_plan_is_deterministic_and_ignores_the_input_order(
        scenario: Scenario, random: Random, zone: tzinfo) -> None:
    expected = summary(plan(scenario.history, scenario.policy, scenario.now, scenario.pins))
    shuffled = list(scenario.history)
    random.shuffle(shuffled)
    assert summary(plan(shuffled, scenario.policy, scenario.now, scenario.pins)) == expected
    assert summary(plan(iter(shuffled), scenario.policy, scenario.now, scenario.pins)) == \
        expected
    assert summary(plan(scenario.history, scenario.policy, scenario.now.astimezone(zone),
                        scenario.pins)) == expected


@given(scenarios())
@PROPERTIES
def test_keeping_at_least_as_many_as_there_are_keeps_every_regular_backup(
        scenario: Scenario) -> None:
    regulars = [b for b in scenario.history if b.manifest.kind != "safety"]
    policy = replace(scenario.policy, last=max(scenario.policy.last, len(past_regular(scenario))))
    kept = kept_tags(plan(scenario.history, policy, scenario.now, scenario.pins))
    assert {b.tag for b in regulars} <= kept


def with_extra_rule(policy: Policy, rule: str, amount: int) -> Policy:
    if rule == "within":
        within = policy.within or Duration()
        return replace(policy, within=replace(within, days=within.days + amount))
    if rule == "best":
        return replace(policy, best=policy.best + amount, metric=policy.metric or AUC)
    return with_count(policy, rule, getattr(policy, rule) + amount)


@given(scenarios(), st.sampled_from(RULES), st.integers(1, 3))
@PROPERTIES
def test_an_extra_rule_never_removes_a_kept_backup(scenario: Scenario, rule: str,
                                                   amount: int) -> None:
    before = plan(scenario.history, scenario.policy, scenario.now, scenario.pins)
    wider = with_extra_rule(scenario.policy, rule, amount).validate()
    after = plan(scenario.history, wider, scenario.now, scenario.pins)
    assert kept_tags(before) <= kept_tags(after)
