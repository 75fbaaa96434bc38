"""What `verify` reads back, and its verdicts: plain rules, no I/O.

`--read-data-subset` takes restic's two forms: `10%` (a random tenth of the objects; the
seed is printed so that the same tenth can be read again) and `n/t` (the n-th of t groups
that split every object by its hash: run `1/7` on Mondays ... `7/7` on Sundays and a week
reads everything once, whatever the seed).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from hdversion.errors import UsageError

_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
_GROUP = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True)
class Subset:
    text: str
    percent: float | None = None  # of the objects, at random
    group: tuple[int, int] | None = None  # (n, t): the n-th of t groups, by hash

    @classmethod
    def parse(cls, text: str) -> Subset:
        text = text.strip()
        if match := _PERCENT.match(text):
            percent = float(match.group(1))
            if 0 < percent <= 100:
                return cls(text, percent=percent)
        elif match := _GROUP.match(text):
            n, t = int(match.group(1)), int(match.group(2))
            if 1 <= n <= t:
                return cls(text, group=(n, t))
        raise UsageError(f"bad --read-data-subset {text!r}: give a percentage in (0, 100] "
                         "such as 10%, or n/t such as 2/7 (the 2nd of 7 groups)")

    @property
    def random(self) -> bool:
        return self.percent is not None

    def choose(self, objects: list[str], seed: int) -> list[str]:
        """The objects to read, sorted. A percentage rounds up, so that a small repository
        still reads at least one object."""
        pool = sorted(set(objects))
        if self.group is not None:
            n, t = self.group
            return [md5 for md5 in pool if int(md5[:32], 16) % t == n - 1]
        assert self.percent is not None
        count = min(len(pool), math.ceil(len(pool) * self.percent / 100))
        return sorted(random.Random(seed).sample(pool, count))


@dataclass(frozen=True)
class ObjectProblem:
    """One object of a backup that the store cannot give back as it was written."""

    md5: str
    paths: tuple[str, ...]  # the backup's files (or directory output) that need it
    problem: str  # "missing", "size differs: ...", "corrupt: ...", "unreadable: ..."

    @property
    def missing(self) -> bool:
        return self.problem == "missing"


def size_problem(expected: int | None, found: int | None) -> str | None:
    """The listing's verdict on an object: None when it looks whole. A size is unknown
    (None) for a directory listing not in the cache, or from a store that does not say."""
    if expected is None or found is None or expected == found:
        return None
    return f"size differs: {found} bytes, not {expected}"


def content_problem(expected_md5: str, found_md5: str | None, found_size: int,
                    error: str | None) -> str | None:
    """The verdict on an object read back whole and hashed."""
    if error is not None:
        return error
    if found_md5 != expected_md5.removesuffix(".dir"):
        return f"corrupt: its bytes hash to {found_md5} ({found_size} bytes)"
    return None
