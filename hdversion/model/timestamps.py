"""The backup name grammar, in one place: UTC `YYYYMMDD_HHMMSS`, tagged `backup/<timestamp>`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hdversion.errors import UsageError

TAG_PREFIX = "backup/"
TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
# ASCII digits (\d takes any script's), the whole text (`$` allows a final newline).
_TIMESTAMP_RE = re.compile(r"[0-9]{8}_[0-9]{6}")


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Parse a user-given timestamp; a clear UsageError for anything else."""
    if not _TIMESTAMP_RE.fullmatch(text):
        raise UsageError(
            f"malformed timestamp {text!r}: expected YYYYMMDD_HHMMSS (UTC), e.g. 20250331_120000"
        )
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise UsageError(f"invalid date or time in timestamp {text!r}") from None


def is_timestamp(text: str) -> bool:
    # Checked once or twice per tag by every `list`: datetime's own range checks, which are
    # strptime's without its cost (a thousand tags took 50 ms).
    if len(text) != 15 or not text.isascii() or not _TIMESTAMP_RE.fullmatch(text):
        return False
    try:
        datetime(int(text[:4]), int(text[4:6]), int(text[6:8]),
                 int(text[9:11]), int(text[11:13]), int(text[13:]))
    except ValueError:
        return False
    return True


def tag_for(timestamp: str) -> str:
    return TAG_PREFIX + timestamp


def timestamp_of(tag: str) -> str | None:
    """The timestamp a backup tag names, or None for a tag outside the grammar."""
    if not tag.startswith(TAG_PREFIX):
        return None
    name = tag[len(TAG_PREFIX):]
    return name if is_timestamp(name) else None


# How far a backup's name may run ahead of the clock and still count as made by now. Names
# run ahead honestly: a burst of backups in one second takes consecutive seconds, a name taken
# on the git remote moves to the next free one, and machines sharing a remote disagree by a
# few seconds. A clock gone wrong (a time zone, a dead battery) is off by far more, and so is
# a forged tag dated 2099. See docs/design-decisions.md, "The latest backup is not in the
# future".
CLOCK_SKEW = timedelta(minutes=5)


def newest_present(now: datetime) -> str:
    """The newest name a backup can have and not be dated in the future at `now`: the one
    rule for restore's and status's "latest" and for prune's future-dated backups. Names
    compare as strings: the grammar orders them as time does."""
    return format_timestamp(now + CLOCK_SKEW)


def next_second(timestamp: str) -> str:
    moment = datetime.strptime(timestamp, TIMESTAMP_FORMAT) + timedelta(seconds=1)
    return moment.strftime(TIMESTAMP_FORMAT)

