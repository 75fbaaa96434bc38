"""The backups newest first, read from their tags in windows of time, so that what a command
wants of the newest few (`latest`, `list --last N`, `status`) costs what those few cost,
not what every backup costs.

Names order as time does (model/timestamps.py), and git keeps packed refs sorted: a glob
such as `backup/202612*` makes git read only the tags under it. A window is every tag named
at or after a moment cut to a day, a month, a year, a decade, then everything: the day's
tags and every later one (`backup/20261208*`... `backup/9*`: a tag dated in the future sorts
first, as it does in `list`). Each wider window holds only tags older than every tag of the
narrower ones, so the backups come out newest first across windows, each read once. Tags
stay the only source: each is read and validated from its own message here, as
Catalog.from_tags does for all of them (no index to trust or to keep in step with another
clone's tags)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from hdversion.gitrepo import GitRepo
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.timestamps import TAG_PREFIX, format_timestamp, newest_present

# How much of a timestamp each window keeps: a day, a month, a year, a decade, nothing.
WINDOWS = (8, 6, 4, 3, 0)
_DIGITS = "0123456789"
# Tags read in the first page, and at most in one (each page reads twice the one before).
FIRST_PAGE = 32
LAST_PAGE = 4096


class Page(NamedTuple):
    """The tags of one window not read before: their backups newest first, and the tags
    skipped with why."""

    backups: list[Backup]
    invalid: list[tuple[str, str]]


def since_patterns(moment: str, length: int) -> list[str]:
    """Glob patterns (under refs/tags/) for every backup tag named at or after `moment`'s
    first `length` characters (all digits: a date or part of one): that head itself, and
    for each of its digits every greater digit after the same start."""
    head = moment[:length]
    starts = [head[:i] + digit for i in range(len(head)) for digit in _DIGITS
              if digit > head[i]]
    return [f"{TAG_PREFIX}{start}*" for start in [*starts, head]]


def pages(git: GitRepo, now: datetime) -> Iterator[Page]:
    """The backup tags newest first (see the module's doc), page by page: a caller stops
    reading once it has what it wants. Each window's names are read first (no tag object),
    then the tag objects of the newest few, twice as many each page: a window that holds
    years of backups costs its names, and the messages of the pages read."""
    moment = format_timestamp(now)
    seen: set[str] = set()
    size = FIRST_PAGE
    for length in WINDOWS:
        ids = git.tag_object_ids(*since_patterns(moment, length))
        names = sorted((name for name in ids if name not in seen), reverse=True)
        seen.update(names)
        while names:
            chosen, names = names[:size], names[size:]
            size = min(2 * size, LAST_PAGE)
            catalog = Catalog.from_tags(git.tag_records({n: ids[n] for n in chosen}))
            yield Page(catalog.backups, catalog.invalid)


def newest(git: GitRepo, now: datetime) -> Iterator[Backup]:
    """Every valid backup, newest first, read a window at a time."""
    for page in pages(git, now):
        yield from page.backups


def present(git: GitRepo, now: datetime) -> Iterator[Backup]:
    """Catalog.present's backups, newest first, read a window at a time: the regular ones
    not dated in the future at `now`."""
    limit = newest_present(now)
    return (b for b in newest(git, now) if b.manifest.kind != "safety" and b.timestamp <= limit)


def newest_regular(git: GitRepo, now: datetime) -> Backup | None:
    """Catalog.latest's backup, or None where there is none."""
    return next(present(git, now), None)
