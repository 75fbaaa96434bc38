"""How much a person asked to see: -1 for -q (errors and warnings only), 0, 1 for -v (every
row, not only what changed). Set once by the command line before a command runs; the
renderers read it. Machine output (--json) is the same at every level."""

from __future__ import annotations

level = 0


def set_level(value: int) -> None:
    global level
    level = max(-1, min(1, value))


def quiet() -> bool:
    return level < 0


def verbose() -> bool:
    return level > 0
