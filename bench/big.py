"""Issue 28's big artifact: one file of `--big-gib` GiB (10 in `make bench`), backed up and
restored (cache warm, and empty cache from the local remote), each against `md5sum` then
`cp` of the same bytes in the same run (throughput: target >= 0.8x), and the peak resident
memory of each hdversion run from `/usr/bin/time -v` (target <= 300 MB)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from common import (
    DVC,
    HDVERSION,
    MIB,
    CommandFailed,
    Context,
    Results,
    Timing,
    header,
    medians,
    sh,
)
from projects import CACHE, REMOTE, commit_all, forget_backups, new_project, remove, write_random

GIB = 1024 * MIB
DEFAULT_GIB = 10.0  # `make bench`'s size (issue 28)
OUTPUT = Path("models") / "huge.bin"
# The file, the cache's copy, the local remote's copy and the baseline's copy, and room.
DISK_FACTOR = 4.5
RSS_TARGET_MB = 300
THROUGHPUT_TARGET = 0.8
TIME = "/usr/bin/time"


class PeakMemory:
    """hdversion run under `/usr/bin/time -v`: the largest "Maximum resident set size" of
    the runs of one measure (kilobytes, as GNU time prints it)."""

    def __init__(self, report: Path) -> None:
        self.report = report
        self.peak_kib = 0

    def run(self, *args: str, cwd: Path) -> None:
        sh(TIME, "-v", "-o", self.report, *HDVERSION, *args, cwd=cwd)
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                          self.report.read_text())
        if found is None:
            raise CommandFailed(f"{TIME} -v gave no maximum resident set size")
        self.peak_kib = max(self.peak_kib, int(found.group(1)))

    def add(self, results: Results, name: str) -> None:
        megabytes = self.peak_kib * 1024 / 1e6
        verdict = "ok" if megabytes <= RSS_TARGET_MB else "OVER TARGET"
        print(f"{'peak RSS, ' + name:<60} {megabytes:9.1f} MB  {'':<24} {'':>11}     "
              f"{'':13} (target <= {RSS_TARGET_MB} MB) {verdict}", flush=True)
        results.rows.append({"name": f"peak RSS, {name}", "megabytes": megabytes,
                             "target": RSS_TARGET_MB})


def evict(path: Path) -> None:
    """Drop a file's pages from the page cache (written back first): every timed run reads
    its source from the disk. Without it the first run of a round read 10 GiB from the disk
    and the runs after it from memory (this machine has 23 GB of it): the baselines,
    measured after hdversion, looked twice as fast."""
    os.sync()
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def run(ctx: Context) -> None:
    args, results = ctx.args, ctx.results
    size = int(args.big_gib * GIB)
    names = ("big: backup", "big: restore, cache warm", "big: restore, empty cache")
    work = ctx.scratch("big")
    free = shutil.disk_usage(work).free
    header(f"big: one file of {args.big_gib:g} GiB; median of {args.repeat}")
    if free < DISK_FACTOR * size:
        reason = (f"{free / GIB:.1f} GiB free in {work}, the part needs {DISK_FACTOR}x "
                  f"{args.big_gib:g} GiB (the file, the cache, the local remote, the "
                  "baseline's copy); try a smaller --big-gib")
        for name in names:
            results.skip(name, reason)
        return
    if not Path(TIME).exists():
        for name in names:
            results.skip(name, f"{TIME} is not installed (GNU time: the peak RSS)")
        return
    root = work / "project"
    try:
        _measure(root, work, size, args.repeat, results, names)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(root: Path, work: Path, size: int, repeat: int, results: Results,
             names: tuple[str, ...]) -> None:
    new_project(root)
    write_random(root / OUTPUT, size)
    sh(DVC, "add", "-q", "--no-commit", str(OUTPUT), cwd=root)
    commit_all(root, "artifact")
    huge, copy = root / OUTPUT, work / "copy.bin"

    def md5sum_then_cp(source: Path, target: Path) -> Timing:
        def action() -> None:
            sh("md5sum", source, cwd=root)
            sh("cp", source, target, cwd=root)
        def setup() -> None:
            remove(copy)
            evict(source)
        return Timing(action, setup=setup, check=lambda: _same_size(target, size))

    def floor(source: Path, copies: int) -> Timing:
        # What the guarantees cost at least: the bytes hashed, written `copies` times (a
        # backup: the cache and the local remote; a restore: the file, and the cache's copy
        # from the local remote), and flushed to the disk (fsync: old or new after a crash).
        targets = [work / f"floor-{n}.bin" for n in range(copies)]

        def action() -> None:
            sh("md5sum", source, cwd=root)
            for target in targets:
                sh("cp", source, target, cwd=root)
            sh("sync", *targets, cwd=root)
        def setup() -> None:
            remove(*targets)
            evict(source)
        return Timing(action, setup=setup)

    def check_restored() -> None:
        _same_size(huge, size)

    backup_rss = PeakMemory(work / "time-backup.txt")
    with results.group(names[0]):
        def backup_setup() -> None:
            forget_backups(root)
            remove(copy)
            # A new mtime: DVC's state database must read the bytes again.
            subprocess.run(["touch", str(huge)], check=True)
            evict(huge)
        seconds = medians(repeat, hdversion=Timing(
            lambda: backup_rss.run("backup", cwd=root), setup=backup_setup),
            baseline=md5sum_then_cp(huge, copy), floor=floor(huge, 2))
        results.add(names[0], seconds["hdversion"], "md5sum + cp", seconds["baseline"],
                    THROUGHPUT_TARGET, "artifact never hashed, cache empty", throughput=True)
        results.add(f"{names[0]} / its floor", seconds["hdversion"], "md5sum + 2 cp + sync",
                    seconds["floor"], None, "two durable copies", throughput=True)
        backup_rss.add(results, "backup")
    remove(copy, *work.glob("floor-*"))
    sh(*HDVERSION, "backup", cwd=root)  # what the restores restore
    for name, empty_cache in ((names[1], False), (names[2], True)):
        rss = PeakMemory(work / "time-restore.txt")
        with results.group(name):
            # The baseline copies what restore reads: the cache's object, or the remote's.
            source = _object(root / (REMOTE / "files" / "md5" if empty_cache else
                                     CACHE / "files" / "md5"))

            def restore_setup(empty_cache: bool = empty_cache, source: Path = source
                              ) -> None:
                remove(huge, copy)
                if empty_cache:
                    remove(root / CACHE)
                evict(source)
            seconds = medians(repeat, hdversion=Timing(
                lambda rss=rss: rss.run("restore", "--force", cwd=root), setup=restore_setup,
                check=check_restored), baseline=md5sum_then_cp(source, copy),
                floor=floor(source, 2 if empty_cache else 1))
            results.add(name, seconds["hdversion"], "md5sum + cp", seconds["baseline"],
                        THROUGHPUT_TARGET, "from the local remote" if empty_cache else
                        "object in the cache", throughput=True)
            results.add(f"{name} / its floor", seconds["hdversion"],
                        "md5sum + 2 cp + sync" if empty_cache else "md5sum + cp + sync",
                        seconds["floor"], None, "file and cache copy" if empty_cache else
                        "the file durable", throughput=True)
            rss.add(results, name.removeprefix("big: "))
        remove(copy, *work.glob("floor-*"))


def _object(objects: Path) -> Path:
    found = [p for p in objects.rglob("*") if p.is_file()]
    if len(found) != 1:
        raise CommandFailed(f"{objects} holds {len(found)} objects, not the one big file")
    return found[0]


def _same_size(path: Path, size: int) -> None:
    if not path.is_file() or path.stat().st_size != size:
        raise CommandFailed(f"{path} is not there with its {size} bytes after the run")
