"""Throw-away projects (real git, real DVC) and the states a measure starts from: files
written, hashes forgotten, backups forgotten, the cache emptied, many backup tags."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import DVC, KIB, MIB, CommandFailed, Timing, hdversion, sh

CACHE = Path(".dvc") / "cache"
REMOTE = Path("backups")  # hdversion's default local remote


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


def set_aside(trash: Path, *paths: Path) -> None:
    """Move each path that exists into `trash` (one rename each), to be deleted later,
    untimed: a mass deletion just before a timed run slows it on some disks."""
    for path in paths:
        if path.exists() or path.is_symlink():
            trash.mkdir(parents=True, exist_ok=True)
            path.rename(trash / f"{path.name}-{time.time_ns()}")


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
    human, manifest = message.splitlines()[0], json.loads(message.splitlines()[-1])
    # Before any real backup (hdversion's clock is now): the real ones stay the latest.
    first = datetime(2020, 1, 1, tzinfo=UTC)
    _write_tags(root, source_tag, human, manifest,
                (first + timedelta(seconds=i) for i in range(start, start + count)))


def _write_tags(root: Path, source_tag: str, human: str, manifest: dict[str, object],
                moments: Iterable[datetime]) -> None:
    """A backup tag per moment, with `manifest` retimed and `source_tag`'s commit, all in
    one `git fast-import`."""
    commit = sh("git", "rev-parse", f"{source_tag}^{{commit}}", cwd=root).strip()
    stream = []
    for moment in moments:
        manifest["timestamp"] = moment.strftime("%Y%m%d_%H%M%S")
        manifest["created_at"] = moment.isoformat()
        text = f"{human}\n\n" + json.dumps(manifest, separators=(",", ":"))
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


def add_hourly_tags(root: Path, source_tag: str, count: int, start: int = 0) -> None:
    """`count` more backup tags with `source_tag`'s manifest and commit, one an hour before
    it (tags `start`... of a series going back in time: 100,000 are eleven years of hourly
    backups, the newest on the day of `source_tag`). One `git fast-import` writes them all."""
    message = sh("git", "for-each-ref", "--format=%(contents)", f"refs/tags/{source_tag}",
                 cwd=root).strip()
    human, manifest = message.splitlines()[0], json.loads(message.splitlines()[-1])
    newest = datetime.strptime(str(manifest["timestamp"]), "%Y%m%d_%H%M%S").replace(
        tzinfo=UTC)
    _write_tags(root, source_tag, human, manifest,
                (newest - timedelta(hours=i + 1) for i in range(start, start + count)))
