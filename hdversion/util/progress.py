"""Progress of long steps. The API reports to a Reporter; the CLI shows it with rich on a
terminal and stays silent for --json and pipes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    def step(self, text: str) -> None:
        """A new step begins (replaces the previous one)."""

    def bytes(self, text: str, total: int) -> Advance:
        """A step over `total` bytes; call the result with each chunk's size."""


class SilentReporter:
    def step(self, text: str) -> None:
        pass

    def bytes(self, text: str, total: int) -> Advance:
        return _ignore


def _ignore(_: int) -> None:
    pass


SILENT = SilentReporter()


class Transferred:
    """The bytes of one transfer so far, as an SDK reports them, passed on to `advance` only
    as they pass the most ever reached: a part sent or received again after a failed
    request (s3transfer reports the undone bytes as a negative count, fsspec may start a
    file's count again from zero) is not counted twice. Thread-safe: s3transfer sends one
    file's parts from many threads."""

    def __init__(self, advance: Advance | None) -> None:
        self.advance = advance
        self.now = self.counted = 0
        self.lock = threading.Lock()

    def add(self, count: int) -> None:
        """`count` bytes more (fewer when negative) than before."""
        with self.lock:
            self.now += count
            new = self._new()
        if new and self.advance is not None:
            self.advance(new)

    def reach(self, value: int) -> None:
        """`value` bytes in all so far."""
        with self.lock:
            self.now = value
            new = self._new()
        if new and self.advance is not None:
            self.advance(new)

    def _new(self) -> int:
        new = self.now - self.counted
        if new <= 0:
            return 0
        self.counted = self.now
        return new
