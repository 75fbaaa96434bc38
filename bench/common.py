"""What every part of the benchmark shares: running commands, timing them against a baseline
in the same run, and the results table."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
# `-m` rather than the console script: a worktree's PYTHONPATH then picks the package.
HDVERSION = (sys.executable, "-m", "hdversion")
DVC = str(VENV_BIN / "dvc")
PYTHON_PASS = (sys.executable, "-c", "pass")
KIB = 1024
MIB = 1024 * KIB


class CommandFailed(Exception):
    """A command of the benchmark exited non-zero: its rows are reported as failed."""


def sh(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; its stdout, or CommandFailed with the end of its stderr."""
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **env} if env else None)
    if result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip())[-600:]
        raise CommandFailed(f"`{' '.join(map(str, cmd))}` exited {result.returncode}: {tail}")
    return result.stdout


def hdversion(*args: str) -> tuple[str, ...]:
    return (*HDVERSION, *args)


# -- timing ------------------------------------------------------------------------------
@dataclass
class Timing:
    """One timed command: `setup` (untimed) brings it to its starting state, `check`
    (untimed) confirms it did its work, so that a silent no-op cannot look fast."""

    action: Callable[[], object]
    setup: Callable[[], object] | None = None
    check: Callable[[], object] | None = None


def medians(repeat: int, **timings: Timing) -> dict[str, float]:
    """The median seconds of each timing over `repeat` rounds. The rounds interleave the
    timings (a b c a b c...), so that a noisy neighbour slows each about as much."""
    runs: dict[str, list[float]] = {name: [] for name in timings}
    for _ in range(repeat):
        for name, timing in timings.items():
            if timing.setup:
                timing.setup()
            # Every run starts with nothing left to write back: otherwise the gigabytes that
            # the run before wrote (a backup's two copies, cp's one) are flushed during the
            # next, and slow whichever comes after the bigger writer.
            os.sync()
            start = time.perf_counter()
            timing.action()
            runs[name].append(time.perf_counter() - start)
            if timing.check:
                timing.check()
    return {name: statistics.median(seconds) for name, seconds in runs.items()}


# -- results -----------------------------------------------------------------------------
@dataclass
class Results:
    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, name: str, seconds: float, baseline: str, baseline_seconds: float,
            target: float | None, detail: str = "", throughput: bool = False) -> None:
        """A measure against its baseline: the ratio is hdversion's time over the baseline's,
        with `target` its ceiling; or, for a `throughput` (the same bytes moved by both),
        hdversion's throughput over the baseline's (the baseline's time over hdversion's),
        with `target` its floor."""
        ratio = baseline_seconds / seconds if throughput else seconds / baseline_seconds
        if target is None:
            verdict = "(no target)"
        elif throughput:
            verdict = f"(target >= {target}) " + ("ok" if ratio >= target else "UNDER TARGET")
        else:
            verdict = f"(target <= {target}) " + ("ok" if ratio <= target else "OVER TARGET")
        label = f"{name} [{detail}]" if detail else name
        print(f"{label:<60} {seconds:9.3f} s   {baseline:<24} {baseline_seconds:9.3f} s   "
              f"ratio {ratio:7.2f} {verdict}", flush=True)
        self.rows.append({"name": name, "detail": detail, "seconds": seconds,
                          "baseline": baseline, "baseline_seconds": baseline_seconds,
                          "ratio": ratio, "target": target, "throughput": throughput})

    def add_storage(self, stored: int, unique: int, detail: str) -> None:
        ratio = stored / unique
        verdict = "ok" if ratio <= 1.05 else "OVER TARGET"
        print(f"{'storage / unique bytes [' + detail + ']':<60} {stored:>11} B   "
              f"{'unique bytes':<24} {unique:>11} B   ratio {ratio:7.3f} (target <= 1.05) "
              f"{verdict}", flush=True)
        self.rows.append({"name": "storage", "detail": detail, "stored_bytes": stored,
                          "unique_bytes": unique, "ratio": ratio, "target": 1.05})

    def fail(self, name: str, error: str) -> None:
        print(f"{name:<60} FAILED: {error}", flush=True)
        self.rows.append({"name": name, "error": error})

    def skip(self, name: str, reason: str) -> None:
        print(f"{name:<60} skipped: {reason}", flush=True)
        self.rows.append({"name": name, "skipped": reason})

    @contextmanager
    def group(self, *names: str) -> Iterator[None]:
        """Rows measured together: if a command fails, each of `names` not yet added is
        reported as failed with its error, and the benchmark goes on with the next group."""
        try:
            yield
        except CommandFailed as exc:
            done = {row["name"] for row in self.rows}
            for name in names:
                if name not in done:
                    self.fail(name, str(exc))


@dataclass
class Context:
    """What a part gets: its scratch directory, the options and the results to add to."""

    work: Path
    args: argparse.Namespace
    results: Results

    def scratch(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True)
        return path


def header(text: str) -> None:
    print(f"\n== {text}", flush=True)


def size_text(size: int) -> str:
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} B"
