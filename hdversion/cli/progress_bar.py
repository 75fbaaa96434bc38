"""rich's live progress display for the API's Reporter, on stderr at a terminal. Apart from
cli/progress.py so that a run whose stderr is not a terminal (cron, CI, a pipe) never loads
rich's progress machinery.

A step is one line, built to the console's width by `progress_line` (a pure function): a
line that wrapped would leave a copy of itself behind at every refresh. What does not fit
is dropped, least useful first: the bar shrinks, the step's text is shortened, then the bar,
the rate, the time left and the byte counts go, the percentage last."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.progress import Progress, TaskID
from rich.text import Text

from hdversion.cli.render import err_console, human_size
from hdversion.util.progress import Advance

# The display is redrawn this often (rich's own thread): counting a chunk costs only an
# addition under rich's lock, whatever the number of chunks.
REFRESHES_PER_SECOND = 8
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
BAR_MIN, BAR_MAX = 10, 40
TEXT_MIN = 20  # the step's text is shortened to this before anything is dropped
ELLIPSIS = "…"
_ALL = ("pct", "sizes", "rate", "eta")
# (with a bar, the parts shown, the fewest cells of the step's text), widest first.
LAYOUTS = ((True, _ALL, TEXT_MIN), (False, _ALL, TEXT_MIN),
           (False, ("pct", "sizes", "eta"), TEXT_MIN), (False, ("pct", "sizes"), 12),
           (False, ("pct",), 12), (False, ("pct",), 2))


class RichReporter:
    def __init__(self, console: Console | None = None,
                 get_time: Callable[[], float] | None = None) -> None:
        self._progress = _Lines(console=console or err_console, transient=True,
                                refresh_per_second=REFRESHES_PER_SECOND, get_time=get_time)
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

    def renderable(self) -> RenderableType:
        """What the display shows now (for a test: one line per step)."""
        return self._progress.get_renderable()

    def _new_task(self, text: str, total: int | None) -> TaskID:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(text, total=total)
        return self._task


class _Lines(Progress):
    """rich's Progress (its refresh thread, its rate estimate), each task drawn as one line
    of `progress_line` instead of a table whose cells wrap."""

    def get_renderables(self) -> Iterable[RenderableType]:
        live = getattr(self, "live", None)  # rich asks once before it has made its Live
        width = live.console.width if live is not None else 80
        for task in self.tasks:
            frame = SPINNER[int(task.get_time() * REFRESHES_PER_SECOND) % len(SPINNER)]
            total = None if task.total is None else int(task.total)
            line = progress_line(task.description, int(task.completed), total, task.speed,
                                 width, frame)
            yield Text(line, no_wrap=True, overflow="ellipsis", end="\n")


def progress_line(text: str, done: int, total: int | None, speed: float | None,
                  width: int, frame: str = SPINNER[0]) -> str:
    """One step as one line of at most `width` cells: `frame text bar pct% done/total
    rate ETA`, in binary units (the tables' `human_size`). A step that counts no bytes
    (`total` None or 0) is its text alone."""
    width = max(width, 1)
    lead = f"{frame} " if width > 4 else ""
    if not total:
        return _fit(lead + text, width)
    done = min(done, total)
    parts = {"pct": f"{100 * done // total}%",
             "sizes": f"{human_size(done)}/{human_size(total)}",
             "rate": f"{human_size(int(speed))}/s" if speed else "",
             "eta": f"ETA {_duration((total - done) / speed)}" if speed else ""}
    # The first layout whose text keeps at least its shortest is drawn: the text is
    # shortened before the bar goes, the rate and the time left go before the byte counts.
    for bar, shown, shortest in LAYOUTS:
        tail = " ".join(parts[name] for name in shown if parts[name])
        room = width - cell_len(lead) - 1 - cell_len(tail) - (BAR_MIN + 1 if bar else 0)
        if room < min(shortest, cell_len(text)):
            continue
        label = _fit(text, room)
        if not bar:
            return f"{lead}{label} {tail}"
        spare = width - cell_len(lead) - cell_len(label) - cell_len(tail) - 2
        return f"{lead}{label} {_bar(done, total, min(spare, BAR_MAX))} {tail}"
    return _fit(parts["pct"], width)


def _bar(done: int, total: int, width: int) -> str:
    filled = width * done // total
    return "━" * filled + "─" * (width - filled)


def _fit(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text
    cut = text
    while cut and cell_len(cut) + 1 > width:
        cut = cut[:-1]
    return cut + ELLIPSIS if width >= 1 else ""


def _duration(seconds: float) -> str:
    """h:mm:ss (m:ss under an hour), as restic and DVC show a time left."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
