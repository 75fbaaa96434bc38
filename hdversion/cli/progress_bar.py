"""rich's live progress display for the API's Reporter, on stderr at a terminal. Apart from
cli/progress.py so that a run whose stderr is not a terminal (cron, CI, a pipe) never loads
rich's progress machinery."""

from __future__ import annotations

from types import TracebackType

from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hdversion.cli.render import err_console
from hdversion.util.progress import Advance


class RichReporter:
    def __init__(self) -> None:
        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"),
            *(_WithTotal(c) for c in (BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                      TimeRemainingColumn())),
            console=err_console, transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def step(self, text: str) -> None:
        self._new_task(text, None)

    def bytes(self, text: str, total: int) -> Advance:
        task = self._new_task(text, total)
        return lambda size: self._progress.advance(task, size)

    def _new_task(self, text: str, total: int | None) -> TaskID:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(text, total=total)
        return self._task


class _WithTotal(ProgressColumn):
    """A column shown only for steps that count bytes."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self._column = column

    def render(self, task: Task) -> RenderableType:
        return self._column.render(task) if task.total is not None else ""


