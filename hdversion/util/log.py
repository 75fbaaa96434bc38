"""hdversion's logger (warnings on stderr), with the logging module loaded on first use:
`list --json` served from its cache never warns, and importing logging costs a tenth of
that run. The command line asks for the stderr handler (`to_stderr`) before any command
runs; it is attached when the logger is first used. Every hdversion module logs through
`log` here, never through logging.getLogger("hdversion") (tests/test_architecture.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

NAME = "hdversion"
_format: str | None = None  # of the stderr handler asked for
_attached = False


def to_stderr(fmt: str) -> None:
    """Send hdversion's warnings to stderr, each line formatted by `fmt`."""
    global _format
    _format = fmt
    if "logging" in sys.modules:  # loaded already (by DVC, say): attach now
        _logger()


def _logger() -> logging.Logger:
    global _attached
    import logging

    logger = logging.getLogger(NAME)
    if _format is not None and not _attached:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_format))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
        _attached = True
    return logger


class _Log:
    """Stands for logging.getLogger("hdversion"), loaded on the first call."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_logger(), name)


log: logging.Logger = _Log()  # type: ignore[assignment]
