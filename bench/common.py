"""What every part of the benchmark shares: running commands, timing them against a baseline
in the same run, the results table, and building throw-away projects (real git, real DVC)."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
# `-m` rather than the console script: a worktree's PYTHONPATH then picks the package.
HDVERSION = (sys.executable, "-m", "hdversion")
DVC = str(VENV_BIN / "dvc")
PYTHON_PASS = (sys.executable, "-c", "pass")
KIB = 1024
MIB = 1024 * KIB
CACHE = Path(".dvc") / "cache"
REMOTE = Path("backups")  # hdversion's default local remote


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
            target: float | None, detail: str = "", higher_is_better: bool = False) -> None:
        """A measure against its baseline; the ratio is hdversion's over the baseline's
        (for a throughput, `higher_is_better`: the target is a floor)."""
        ratio = seconds / baseline_seconds
        if target is None:
            verdict = ""
        elif higher_is_better:
            verdict = f"(target >= {target}) " + ("ok" if ratio >= target else "UNDER TARGET")
        else:
            verdict = f"(target <= {target}) " + ("ok" if ratio <= target else "OVER TARGET")
        label = f"{name} [{detail}]" if detail else name
        print(f"{label:<60} {seconds:9.3f} s   {baseline:<24} {baseline_seconds:9.3f} s   "
              f"ratio {ratio:7.2f} {verdict}", flush=True)
        self.rows.append({"name": name, "detail": detail, "seconds": seconds,
                          "baseline": baseline, "baseline_seconds": baseline_seconds,
                          "ratio": ratio, "target": target,
                          "higher_is_better": higher_is_better})

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


# -- projects ----------------------------------------------------------------------------
def new_project(root: Path) -> Path:
    """An empty git + DVC repository with one commit."""
    root.mkdir(parents=True, exist_ok=True)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh(DVC, "init", "-q", cwd=root)
    (root / "params.yaml").write_text("seed: 1\n")
    commit_all(root, "project")
    return root


def commit_all(root: Path, message: str) -> None:
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-q", "--allow-empty", "-m", message, cwd=root)


def write_random(path: Path, size: int, rng: random.Random | None = None) -> None:
    """`size` random bytes (reproducible from `rng` when given, so that two projects can hold
    the same data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = min(left, 16 * MIB)
            out.write(rng.randbytes(chunk) if rng else os.urandom(chunk))
            left -= chunk


def write_files(folder: Path, count: int, size: int, seed: int | None = None) -> None:
    """`count` files of `size` random bytes in `folder` (the same bytes for the same seed)."""
    rng = random.Random(seed) if seed is not None else None
    width = len(str(max(count - 1, 1)))
    for i in range(count):
        write_random(folder / f"f{i:0{width}d}.bin", size, rng)


def files_under(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            found.append(path)
    return found


def tree_sizes(root: Path, paths: Iterable[str]) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size
            for p in files_under(root / path for path in paths)}


def expect_tree(root: Path, paths: Iterable[str], at: Path | None = None
                ) -> Callable[[], None]:
    """A check that the files under `paths` (names and sizes) are back as they are now (in
    `root`, or under `at` for a restore elsewhere)."""
    paths = list(paths)
    expected = tree_sizes(root, paths)

    def check() -> None:
        found = tree_sizes(at or root, paths)
        if found != expected:
            wrong = sorted(set(found.items()) ^ set(expected.items()))[:3]
            raise CommandFailed(f"the files are not as expected after the run: {wrong}")
    return check


def forget_hashes(paths: Iterable[Path]) -> None:
    """Move every file's mtime forward, so that DVC's state database no longer knows its hash
    and the next command must read and hash the bytes (as for artifacts never seen)."""
    now = time.time()
    for path in files_under(paths):
        os.utime(path, (now, now))


def remove(*paths: Path) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def backup_tags(root: Path) -> list[str]:
    return sh("git", "tag", "-l", "backup/*", cwd=root).split()


def forget_backups(root: Path, keep_cache: bool = False) -> None:
    """Back to before the first backup: no tags, no local remote and (unless `keep_cache`,
    for data that `dvc add` put there) no cache."""
    tags = backup_tags(root)
    if tags:
        sh("git", "tag", "-d", *tags, cwd=root)
    remove(root / REMOTE, *([] if keep_cache else [root / CACHE]))


@dataclass
class CacheStash:
    """Switch a project between a warm cache and an empty one without copying: the warm cache
    is moved aside (one rename) and moved back."""

    root: Path
    aside: Path

    def warm(self) -> None:
        if self.aside.exists():
            remove(self.root / CACHE)
            self.aside.rename(self.root / CACHE)

    def empty(self) -> None:
        if self.aside.exists():
            remove(self.root / CACHE)
        elif (self.root / CACHE).exists():
            (self.root / CACHE).rename(self.aside)


def stored_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in files_under([folder]))


def add_tags(root: Path, source_tag: str, count: int, start: int = 0) -> None:
    """`count` more backup tags with `source_tag`'s manifest and commit, each its own
    timestamp (tags `start`... of a series). One `git fast-import` writes them all: a git
    process per tag would take minutes for 10,000."""
    message = sh("git", "for-each-ref", "--format=%(contents)", f"refs/tags/{source_tag}",
                 cwd=root).strip()
    manifest = json.loads(message)
    commit = sh("git", "rev-parse", f"{source_tag}^{{commit}}", cwd=root).strip()
    # Before any real backup (hdversion's clock is now): the real ones stay the latest.
    first = datetime(2020, 1, 1, tzinfo=UTC)
    stream = []
    for i in range(start, start + count):
        moment = first + timedelta(seconds=i)
        manifest["timestamp"] = moment.strftime("%Y%m%d_%H%M%S")
        manifest["created_at"] = moment.isoformat()
        text = json.dumps(manifest, separators=(",", ":"))
        stream.append(f"tag backup/{manifest['timestamp']}\nfrom {commit}\n"
                      f"tagger b <b@b> {int(moment.timestamp())} +0000\n"
                      f"data {len(text.encode())}\n{text}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, check=True,
                   input="".join(stream).encode())


@dataclass
class Listing:
    """`hdversion list --json` as a timing that checks it listed every backup."""

    root: Path
    expected: int
    output: str = ""

    def timing(self) -> Timing:
        return Timing(self.run, check=self.check)

    def run(self) -> None:
        self.output = sh(*hdversion("list", "--json"), cwd=self.root)

    def check(self) -> None:
        listed = len(json.loads(self.output))
        if listed != self.expected:
            raise CommandFailed(f"list showed {listed} backups, not {self.expected}")


def three_file_project(root: Path) -> str:
    """A project of three small files with one backup; its tag."""
    new_project(root)
    for name in ("model.bin", "scaler.bin", "metrics.bin"):
        write_random(root / "models" / name, 64 * KIB)
    sh(DVC, "add", "-q", "models/model.bin", "models/scaler.bin", "models/metrics.bin",
       cwd=root)
    commit_all(root, "three files")
    sh(*hdversion("backup"), cwd=root)
    return backup_tags(root)[-1]
