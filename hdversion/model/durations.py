"""The one duration grammar: `1y6mo`, `2w`, `7d`, `12h`, `30min`, `30s`, or a mix, largest
unit first. Every duration a user gives reads through it: `--keep-within`,
`--keep-safety-within`, `--grace`, `status --max-age`, `schedule --every` and the settings.

Months are `mo` and minutes `min`; a bare `m` (restic's months, cron's minutes) is refused
with both readings offered: `status --max-age 30m` once meant 30 months while `schedule
--every 30m` meant 30 minutes."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hdversion.errors import UsageError

_UNITS = ("y", "mo", "w", "d", "h", "min", "s")
_DURATION_RE = re.compile("^" + "".join(f"(?:([0-9]+){unit})?" for unit in _UNITS) + "$")
# A bare `m`: neither `mo` nor `min`.
_BARE_M = re.compile(r"([0-9]+)m(?!o|in)")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
# Seconds in a unit of fixed length (years and months follow the calendar).
FIXED_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "min": 60, "s": 1}


class AmbiguousDuration(UsageError):
    """A bare `m`: minutes or months."""


@dataclass(frozen=True)
class Duration:
    """A span: `1y6mo` (years, months), `2w`, `7d`, `12h`, `30min`, `30s`, or a mix."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        text = text.strip()
        match = _DURATION_RE.match(text)
        if text and match is None and _BARE_M.search(text):
            # Each reading offered only if it is itself well formed (1m1d: not 1min1d).
            readings = [f"{spelt} for {what}" for unit, what in ((r"\1min", "minutes"),
                                                                 (r"\1mo", "months"))
                        if _DURATION_RE.match(spelt := _BARE_M.sub(unit, text))]
            raise AmbiguousDuration(f"ambiguous duration {text!r}: 'm' could be minutes or months",
                             hint=f"write {' or '.join(readings)}" if len(readings) == 2 else
                             "; ".join([*(f"write {r}" for r in readings),
                                        "minutes are min (30min), months mo (6mo)"]))
        if not text or match is None:
            raise UsageError(f"malformed duration {text!r}: write it like 7d, 12h, 2w, 6mo "
                             "(months), 30min, 30s, 1y or 1y6mo (y, mo, w, d, h, min, s, "
                             "largest first)")
        return cls(*(int(part or 0) for part in match.groups()))

    @property
    def is_zero(self) -> bool:
        return not any(self._parts())

    @property
    def fixed_seconds(self) -> int | None:
        """The span in seconds, or None when it counts years or months (their length
        depends on the calendar)."""
        if self.years or self.months:
            return None
        return sum(n * FIXED_SECONDS[unit] for n, unit in zip(self._parts(), _UNITS,
                                                               strict=True) if n)

    def before(self, moment: datetime) -> datetime:
        """`moment` minus this span, in UTC (the same instant gives the same answer whatever
        zone it is written in); years and months by the calendar (Mar 31 - 1mo is the last day
        of February). A span longer than the calendar reaches back gives its first day."""
        moment = moment.astimezone(UTC)
        try:
            return self._before(moment)
        except (ValueError, OverflowError):
            return _EARLIEST

    def _before(self, moment: datetime) -> datetime:
        month_index = moment.year * 12 + moment.month - 1 - self.years * 12 - self.months
        year, month = divmod(month_index, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        shifted = moment.replace(year=year, month=month + 1, day=day)
        return shifted - timedelta(weeks=self.weeks, days=self.days, hours=self.hours,
                                   minutes=self.minutes, seconds=self.seconds)

    def _parts(self) -> tuple[int, ...]:
        return (self.years, self.months, self.weeks, self.days, self.hours, self.minutes,
                self.seconds)

    def __str__(self) -> str:
        return "".join(f"{n}{unit}" for n, unit in zip(self._parts(), _UNITS, strict=True)
                       if n) or "0h"
