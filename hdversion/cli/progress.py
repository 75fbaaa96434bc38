"""The API's Reporter for a command: rich's live progress on the terminal (cli/progress_bar.py),
silent for --json and pipes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hdversion.util.progress import SILENT, Reporter

if TYPE_CHECKING:
    from hdversion.cli.progress_bar import RichReporter


class _Quiet:
    def __enter__(self) -> Reporter:
        return SILENT

    def __exit__(self, *exc: object) -> None:
        pass


def reporter_for(as_json: bool) -> RichReporter | _Quiet:
    """A live display only for a person at a terminal."""
    if as_json:
        return _Quiet()
    from hdversion.cli.render import err_console

    if not err_console.is_terminal:
        return _Quiet()
    from hdversion.cli.progress_bar import RichReporter

    return RichReporter()
