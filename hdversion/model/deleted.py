"""Deleted backups (borg 2's soft delete): a pruned backup's tag is gone, but its tombstone
says when and by whom, its tag object is kept under `refs/hdversion/deleted/<timestamp>`,
and its data stays in the stores for the undelete window. Pure rules, no git.

- Within the window (`retention.keep_deleted_within`, `prune --keep-deleted-within`,
  default 7 days from the tombstone's `pruned_at`), prune keeps a deleted backup's data as it
  keeps a kept backup's: `hdversion undelete T` brings it back whole.
- After the window the next prune sweeps the data; undelete then refuses (the data is
  gone), unless no prune has swept it yet.
- A tombstone (and its kept tag) goes once it is older than the window and
  TOMBSTONE_MARGIN more: long after its data was swept, and late enough that a clone that
  still holds the tag has fetched it (and deleted the tag) unless it stayed away longer.
- Undelete replaces the tombstone with its mark (schema `hdversion/undeleted`), which
  buries nothing and expires the same way, counted from the undelete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from hdversion.model.durations import Duration
from hdversion.model.pins import UNDELETED_SCHEMA, tombstone_target

DEFAULT_KEEP_DELETED_WITHIN = Duration(days=7)
# How long a tombstone outlives the undelete window: the time a clone may go without
# fetching and still have the tag it holds deleted instead of pushed back without data.
TOMBSTONE_MARGIN = Duration(days=30)


@dataclass(frozen=True)
class Tombstone:
    """A tombstone as read from its ref (`refs/hdversion/pruned/<timestamp>`)."""

    timestamp: str
    tag_object: str  # the tag object the prune removed
    pruned_at: datetime | None  # None: not recorded, or not a time (untrusted input)
    by: str = ""
    policy: str = ""
    # An undelete's mark in the tombstone's place (`pruned_at`: when it was brought back):
    # no deleted backup, only a ref that expires as a tombstone does.
    undeleted: bool = False

    @classmethod
    def parse(cls, timestamp: str, data: bytes | None) -> Tombstone | None:
        """The tombstone (or undelete's mark) a ref's blob holds; None for anything else
        (a malformed or forged tombstone buries nothing: model/pins.tombstone_target). Its
        other fields are untrusted text, bounded."""
        try:
            parsed = json.loads(data or b"")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(parsed, dict):
            return None
        undeleted = parsed.get("schema") == UNDELETED_SCHEMA
        target = tombstone_target(data) if not undeleted else str(parsed.get("tag_object"))
        if target is None:
            return None
        text = {key: value[:200] if isinstance(value, str) else ""
                for key in ("pruned_at", "by", "policy")
                for value in (parsed.get(key),)}
        return cls(timestamp, target[:64], _moment(text["pruned_at"]), text["by"],
                   text["policy"], undeleted)

    def undeletable_until(self, window: Duration, now: datetime) -> datetime | None:
        """When the window ends (the data may be swept from then on), for people; None when
        the tombstone records no time."""
        if self.pruned_at is None:
            return None
        return self.pruned_at + (now - window.before(now))

    def within(self, window: Duration, now: datetime) -> bool:
        """Whether prune still keeps its data at `now`. A tombstone that records no time is
        within, and so is one dated in the future (a clock gone wrong): keeping too much is
        the safe mistake."""
        return self.pruned_at is None or self.pruned_at > window.before(now)

    def expired(self, window: Duration, now: datetime) -> bool:
        """Whether the tombstone itself can go: older than the window and TOMBSTONE_MARGIN
        more. One that records no time never expires by age."""
        return (self.pruned_at is not None
                and self.pruned_at <= TOMBSTONE_MARGIN.before(window.before(now)))


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
