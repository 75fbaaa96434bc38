"""The requests moto's S3 server answered, by kind (LIST, a bulk DELETE, PUT, GET, HEAD...),
read from the line werkzeug logs for each request once it has answered: in this process
(`requests_seen`, a server started here, as the tests do) or in another (`RequestLog`, the
server's log file, as the bench does).

The bench and the tests both import this module: the bench as `moto_requests` (bench/ is the
first entry of its path, as for `common`), the tests as `bench.moto_requests` (the repository's
root is on theirs). It imports nothing of either, so that neither needs the other's path."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# A terminal's colours around a status (werkzeug colours a 404) are not the request's.
COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def request_kind(line: str) -> str | None:
    """A request's kind from werkzeug's log line (`"GET /bucket/key?query HTTP/1.1" 200`);
    None for any other line and for moto's own API."""
    _, quote, rest = COLOURS.sub("", line).partition('"')
    if not quote or " HTTP/" not in rest:
        return None
    method, _, target = rest.partition(" ")
    path, _, query = target.split(" ", 1)[0].partition("?")
    if path.startswith("/moto-api"):
        return None
    if method == "GET" and ("list-type" in query or "versions" in query):
        return "LIST"
    if method == "POST" and query.startswith("delete"):
        return "DELETE (bulk)"
    if path.strip("/").count("/") == 0:
        return f"{method} (bucket)"
    return method


def kinds(lines: Iterable[str]) -> Counter[str]:
    return Counter(kind for line in lines if (kind := request_kind(line)))


def said(counts: Counter[str]) -> str:
    """`3 LIST, 2 PUT`, for a row's report."""
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none"


def others(counts: Counter[str], *kinds_: str) -> int:
    """The requests of any kind but `kinds_`."""
    return sum(n for kind, n in counts.items() if kind not in kinds_)


@contextmanager
def requests_seen() -> Iterator[Counter[str]]:
    """The requests a moto server in this process answers meanwhile, by kind."""
    seen: Counter[str] = Counter()
    logger = logging.getLogger("werkzeug")

    class Counting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kind = request_kind(record.getMessage())
            if kind is not None:
                seen[kind] += 1

    handler, level = Counting(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class RequestLog:
    """The requests a moto server in another process answered between `start` and `counts`,
    from its log file."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def _settled(self) -> int:
        """The log's size once no line has come for 0.2 s (the last answer's line follows
        the answer)."""
        size = -1
        while (now := self.path.stat().st_size) != size:
            size = now
            time.sleep(0.2)
        return size

    def start(self) -> None:
        self.offset = self._settled()

    def counts(self) -> Counter[str]:
        end = self._settled()
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read(end - self.offset).decode(errors="replace")
        return kinds(text.splitlines())
