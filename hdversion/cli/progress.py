"""The API's Reporter for a command: rich's live progress on the terminal (cli/progress_bar.py),
silent for --json and pipes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

from hdversion.cli import verbosity
from hdversion.util.progress import SILENT, Reporter

if TYPE_CHECKING:
    from hdversion.cli.progress_bar import RichReporter


class _Quiet:
    def __enter__(self) -> Reporter:
        return SILENT

    def __exit__(self, *exc: object) -> None:
        pass


def reporter_for(as_json: bool) -> RichReporter | _Quiet:
    """A live display only for a person at a terminal: stderr itself, not what rich takes
    for one (FORCE_COLOR, which CI jobs set for coloured logs, would draw every frame into
    the log)."""
    if as_json or verbosity.quiet() or not _is_terminal(sys.stderr):
        return _Quiet()
    from hdversion.cli.progress_bar import RichReporter

    return RichReporter()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):  # replaced, detached or closed
        return False
