"""The one duration grammar (model/durations.py), and `schedule --every` read through it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hdversion.errors import UsageError
from hdversion.model.durations import Duration
from hdversion.model.schedule import Schedule

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", Duration(days=7)),
    ("12h", Duration(hours=12)),
    ("2w", Duration(weeks=2)),
    ("6mo", Duration(months=6)),
    ("1y", Duration(years=1)),
    ("1y6mo", Duration(years=1, months=6)),
    ("1y2mo3w4d5h", Duration(1, 2, 3, 4, 5)),
    ("30min", Duration(minutes=30)),
    ("1h30min", Duration(hours=1, minutes=30)),
    ("1y2mo3w4d5h6min", Duration(1, 2, 3, 4, 5, 6)),
    ("30d", Duration(days=30)),
    (" 7d ", Duration(days=7)),
    ("0d", Duration()),
    # Seconds, the smallest unit, last.
    ("30s", Duration(seconds=30)),
    ("1s", Duration(seconds=1)),
    ("1min30s", Duration(minutes=1, seconds=30)),
    ("1y2mo3w4d5h6min7s", Duration(1, 2, 3, 4, 5, 6, 7)),
])
def test_duration_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "7", "7x", "d7", "1h2d", "-1d", "1.5d", "1D",
                                  "7 d", "1y1y", "6M", "y", "6mon", "30mins", "1min1h", "mo",
                                  "1s1min", "30sec", "1S", "s", "1.5s", "-1s"])
def test_a_malformed_duration_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="malformed duration") as caught:
        Duration.parse(text)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("text", "minutes", "months"), [
    ("30m", "30min", "30mo"),
    ("6m", "6min", "6mo"),
    ("1y6m", "1y6min", "1y6mo"),
    (" 2m ", "2min", "2mo"),
    # Minutes cannot come before days: only the reading that parses is offered.
    ("1m1d", None, "1mo1d"),
    ("1m1min", None, "1mo1min"),
    ("1d1m1h", None, None),
])
def test_a_bare_m_is_refused_with_both_spellings(text: str, minutes: str | None,
                                                 months: str | None) -> None:
    # `status --max-age 30m` meant 30 months while `schedule --every 30m` meant 30 minutes.
    with pytest.raises(UsageError) as caught:
        Duration.parse(text)
    assert caught.value.exit_code == 2
    assert caught.value.message == (f"ambiguous duration {text.strip()!r}: 'm' could be "
                                    "minutes or months")
    if minutes and months:
        assert caught.value.hint == f"write {minutes} for minutes or {months} for months"
    else:
        assert caught.value.hint == "; ".join(
            [*([f"write {months} for months"] if months else []),
             "minutes are min (30min), months mo (6mo)"])
    for reading in (minutes, months):
        if reading:
            assert Duration.parse(reading)


@pytest.mark.parametrize(("moment", "span", "expected"), [
    (datetime(2026, 3, 31, 12, tzinfo=UTC), "1mo", datetime(2026, 2, 28, 12, tzinfo=UTC)),
    (datetime(2028, 3, 31, 12, tzinfo=UTC), "1mo", datetime(2028, 2, 29, 12, tzinfo=UTC)),
    (datetime(2026, 5, 31, tzinfo=UTC), "3mo", datetime(2026, 2, 28, tzinfo=UTC)),
    (datetime(2024, 2, 29, tzinfo=UTC), "1y", datetime(2023, 2, 28, tzinfo=UTC)),
    (datetime(2026, 1, 15, tzinfo=UTC), "2mo", datetime(2025, 11, 15, tzinfo=UTC)),
    (datetime(2026, 5, 31, tzinfo=UTC), "1y3mo", datetime(2025, 2, 28, tzinfo=UTC)),
    (datetime(2026, 3, 1, tzinfo=UTC), "1d", datetime(2026, 2, 28, tzinfo=UTC)),
    (datetime(2026, 3, 8, tzinfo=UTC), "1w", datetime(2026, 3, 1, tzinfo=UTC)),
    (datetime(2026, 11, 20, 2, tzinfo=UTC), "5h", datetime(2026, 11, 19, 21, tzinfo=UTC)),
    # Months first, then weeks, days and hours.
    (datetime(2026, 3, 31, tzinfo=UTC), "1mo1d", datetime(2026, 2, 27, tzinfo=UTC)),
    (NOW, "1y2mo3w4d5h", datetime(2025, 8, 26, 13, tzinfo=UTC)),
    (NOW, "0h", NOW),
    (datetime(2026, 11, 20, 2, tzinfo=UTC), "30min", datetime(2026, 11, 20, 1, 30, tzinfo=UTC)),
    (datetime(2026, 3, 1, tzinfo=UTC), "1d1min", datetime(2026, 2, 27, 23, 59, tzinfo=UTC)),
    (datetime(2026, 3, 1, tzinfo=UTC), "1s", datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)),
    (datetime(2026, 3, 1, tzinfo=UTC), "1mo30s", datetime(2026, 1, 31, 23, 59, 30, tzinfo=UTC)),
])
def test_duration_before(moment: datetime, span: str, expected: datetime) -> None:
    assert Duration.parse(span).before(moment) == expected


@pytest.mark.parametrize("text", ["7d", "12h", "2w", "6mo", "1y6mo", "1y2mo3w4d5h", "0h",
                                  "30min", "1h30min", "30s", "1h1s"])
def test_a_duration_prints_as_it_is_written(text: str) -> None:
    assert str(Duration.parse(text)) == text


@given(st.builds(Duration, *(st.integers(0, 99) for _ in "ymwdhns")))
def test_a_duration_round_trips_through_its_text(duration: Duration) -> None:
    assert Duration.parse(str(duration)) == duration
    assert duration.is_zero == (str(duration) == "0h")


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("1min30s", 90), ("2h", 7200), ("1w1d", 8 * 86400), ("0h", 0),
    ("1mo", None), ("1y1s", None),
])
def test_a_duration_in_seconds_unless_the_calendar_decides(text: str,
                                                          seconds: int | None) -> None:
    assert Duration.parse(text).fixed_seconds == seconds


# --- schedule --every: the grammar, then what cron can repeat ----------------------------

@pytest.mark.parametrize(("every", "minute", "hour", "describe"), [
    ("30min", "*/30", "*", "every 30min"),
    ("1min", "*/1", "*", "every 1min"),
    ("6h", "0", "*/6", "every 6h"),
    ("60min", "0", "*/1", "every 1h"),  # the same span as 1h
    ("120s", "*/2", "*", "every 2min"),
    (" 12h ", "0", "*/12", "every 12h"),
])
def test_every_takes_whole_minutes_or_hours(every: str, minute: str, hour: str,
                                            describe: str) -> None:
    schedule = Schedule.parse(None, every)
    assert (schedule.minute, schedule.hour, schedule.describe) == (minute, hour, describe)


@pytest.mark.parametrize(("every", "message"), [
    ("30m", "ambiguous --every '30m': 'm' could be minutes or months"),
    ("", "malformed --every '': write it like 6h or 30min"),
    ("6 hours", "malformed --every '6 hours': write it like 6h or 30min"),
    ("30s", "--every 30s: a schedule runs on whole minutes (cron's smallest step)"),
    ("90s", "--every 90s: a schedule runs on whole minutes"),
    ("1mo", "--every 1mo: a schedule repeats within a day"),
    ("1d", "--every 1d: a schedule repeats within a day"),
    ("24h", "--every 24h: a schedule repeats within a day"),
    ("7h", "--every 7h: the number must divide 24"),
    ("45min", "--every 45min: the number must divide 60"),
    ("90min", "--every 90min: the number must divide 60"),
    ("0h", "--every 0h: the number must divide 60"),
])
def test_every_refuses_what_cron_cannot_repeat(every: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        Schedule.parse(None, every)
    assert caught.value.message.startswith(message)
    assert caught.value.exit_code == 2


def test_every_with_a_bare_m_names_the_minutes() -> None:
    with pytest.raises(UsageError) as caught:
        Schedule.parse(None, "30m")
    assert caught.value.hint == "write 30min for minutes (a schedule takes min or h)"
