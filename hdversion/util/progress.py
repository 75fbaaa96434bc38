"""Progress of long steps. The API reports to a Reporter; the CLI shows it with rich on a
terminal and stays silent for --json and pipes."""

from __future__ import annotations

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
