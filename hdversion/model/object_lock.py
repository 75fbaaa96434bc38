"""S3 Object Lock as hdversion uses it: the retention a remote's writes carry (a duration
and a mode, kept in the remote itself), when a retention ends, and what a bucket says about
its versioning and lock (for `remote test`). Plain data; the requests are the DVC seam's
(datastore/object_lock.py)."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hdversion.errors import UsageError
from hdversion.model.durations import Duration

SCHEMA = "hdversion/object-lock"
VERSION = 1
# Beside the backups' folders: read by every writer of the remote before its first write.
LOCK_KEY = "hdversion/object-lock.json"
MODES = ("governance", "compliance")
DEFAULT_MODE = "governance"


@dataclass(frozen=True)
class LockPolicy:
    """Every object, manifest and blob written to the remote is locked until the moment of
    its write (by the server's clock) plus `retention`, in `mode`."""

    retention: Duration
    mode: str = DEFAULT_MODE

    @classmethod
    def parse(cls, retention: str, mode: str | None = None) -> LockPolicy:
        """From the command line (`--lock 30d --lock-mode compliance`); UsageError (exit 2)
        for a malformed or zero duration, or an unknown mode."""
        duration = Duration.parse(retention)
        if duration.is_zero:
            raise UsageError(f"--lock {retention}: a lock needs a retention longer than 0",
                             hint="e.g. --lock 30d")
        chosen = (mode or DEFAULT_MODE).strip().lower()
        if chosen not in MODES:
            raise UsageError(f"unknown lock mode {mode!r}: use governance or compliance")
        return cls(duration, chosen)

    def until(self, now: datetime) -> datetime:
        """When a write made at `now` is unlocked: now + retention (years and months by the
        calendar), rounded up to the second (S3 keeps whole seconds)."""
        moment = _after(self.retention, now.astimezone(UTC))
        if moment.microsecond:
            moment = moment.replace(microsecond=0) + timedelta(seconds=1)
        return moment

    @property
    def s3_mode(self) -> str:
        return self.mode.upper()

    def to_json(self) -> bytes:
        return json.dumps({"schema": SCHEMA, "version": VERSION,
                           "retention": str(self.retention), "mode": self.mode},
                          sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LockPolicy:
        """The remote's record; ValueError when it is not one this version reads."""
        try:
            record = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            raise ValueError("not an object-lock record")
        if record.get("version") != VERSION:
            raise ValueError(f"object-lock record version {record.get('version')!r} is not "
                             f"{VERSION}")
        try:
            return cls.parse(str(record["retention"]), str(record["mode"]))
        except (KeyError, UsageError) as exc:
            raise ValueError(f"bad object-lock record: {exc}") from None


def _after(span: Duration, moment: datetime) -> datetime:
    month_index = moment.year * 12 + moment.month - 1 + span.years * 12 + span.months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    shifted = moment.replace(year=year, month=month + 1, day=day)
    return shifted + timedelta(weeks=span.weeks, days=span.days, hours=span.hours,
                               minutes=span.minutes, seconds=span.seconds)


@dataclass(frozen=True)
class BucketLock:
    """What a bucket (container) says about keeping its objects: for `remote test`."""

    kind: str  # "s3", "azure", "gs", "directory"
    versioning: str | None  # S3: "Enabled", "Suspended", or None (never enabled)
    object_lock: bool | None  # None: the store cannot tell (see `unsupported`)
    default_retention: str | None  # e.g. "GOVERNANCE 30 days"; a container's policy
    policy: LockPolicy | None  # hdversion's own record in the remote
    unsupported: str = ""  # what this kind of store does not report, said plainly

    def lines(self) -> list[str]:
        if self.unsupported and self.object_lock is None:
            facts = [self.unsupported]
        else:
            facts = [f"versioning: {(self.versioning or 'never enabled').lower()}",
                     f"object lock: {'enabled' if self.object_lock else 'not enabled'}",
                     f"default retention: {self.default_retention or 'none'}"]
            if self.unsupported:
                facts.append(self.unsupported)
        if self.policy is not None:
            facts.append(f"hdversion locks each write for {self.policy.retention} "
                         f"({self.policy.mode})")
        return facts

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "versioning": self.versioning,
                "object_lock": self.object_lock, "default_retention": self.default_retention,
                "lock": None if self.policy is None else {
                    "retention": str(self.policy.retention), "mode": self.policy.mode},
                "unsupported": self.unsupported or None}
