"""Atomic file replacement in two phases: stage (write beside the target, verify), then commit
(make every staged file durable at once, rename each, fsync each folder once). A crash leaves
each file old or new, never partial; staging every file before renaming any means a write
error (a full disk, a bad object) changes nothing at all.

The flushes are batched, not one per file: 10,000 small files fsynced one by one cost 6 s on
this machine's disk, in parallel 2 s, and a folder fsynced once per file as much again. Small
files are flushed together by one `syncfs` of their file system once all are staged (one
journal commit instead of one per file); a big one is fsynced as soon as it is staged, so that
its flush overlaps the hashing of the next."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

from hdversion.errors import UsageError, VerificationError
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import copy_hashed
from hdversion.util.writeback import EarlyWriteback

Job = TypeVar("Job")

# A staged file at least this big is fsynced alone as soon as it is written (its flush
# overlaps the hashing of the next); smaller ones wait for one flush of their file system.
FLUSH_ALONE = 64 * 1024
# Small jobs staged back to back by one thread: a future per 4 KiB file cost more than its
# copy (the stagers and the flushers handing the GIL to each other).
BATCH = 64


def stage_copy(
    source: BinaryIO,
    path: Path,
    expected_md5: str,
    on_chunk: Callable[[int], None] | None = None,
    also: Path | None = None,
) -> Path:
    """Write a stream beside `path` (and, with `also`, the same bytes beside that path too, in
    the same pass); return the staged file, or raise (leaving nothing) unless the bytes hash
    to `expected_md5`. Staged files are made durable by `commit_all`, all at once."""
    tmp, stream = open_beside(path)
    # Made durable with the others once all are staged: its writeback starts as it comes.
    lasting = EarlyWriteback(stream)
    extra: tuple[Path, BinaryIO] | None = None
    try:
        if also is not None:
            extra = open_beside(also)
        second = extra[1] if extra is not None else None

        def write(chunk: bytes) -> None:
            lasting.write(chunk)
            if second is not None:
                second.write(chunk)

        with stream:
            digest, _ = copy_hashed(source, write, on_chunk)
        if digest != expected_md5:
            raise VerificationError(f"{path}: data hashes to {digest}, expected {expected_md5}")
        if extra is not None:
            # The second copy (a cache object) is content-addressed and verified: it goes in
            # place now, read-only as DVC keeps its objects.
            extra[1].close()
            os.chmod(extra[0], 0o444)
            os.replace(extra[0], also)  # type: ignore[arg-type]
            extra = None
    except BaseException:
        tmp.unlink(missing_ok=True)
        if extra is not None:
            extra[1].close()
            extra[0].unlink(missing_ok=True)
        raise
    return tmp


def stage_data(data: bytes, path: str | Path, expected_md5: str,
               on_chunk: Callable[[int], None] | None = None, also: str | Path | None = None
               ) -> str:
    """`stage_copy` for bytes already read whole (a small file): hashed before anything is
    written, then written beside `path` (and beside `also`, put in place read-only) with one
    open, write and close each. Paths as strings (100,000 files: pathlib cost seconds)."""
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if digest != expected_md5:
        raise VerificationError(f"{path}: data hashes to {digest}, expected {expected_md5}")
    tmp = _write_beside(path, data)
    if also is not None:
        try:
            extra = _write_beside(also, data, 0o444)
            try:
                os.replace(extra, also)
            except BaseException:
                _unlink(extra)
                raise
        except BaseException:
            _unlink(tmp)
            raise
    if on_chunk is not None:
        on_chunk(len(data))
    return tmp


def read_small(path: str | Path, limit: int) -> bytes:
    """At most `limit` bytes of a file, in one read where the file system allows."""
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        parts = []
        while limit > 0 and (part := os.read(fd, limit)):
            parts.append(part)
            limit -= len(part)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _write_beside(path: str | Path, data: bytes, mode: int | None = None) -> str:
    """`data` in a new temporary file beside `path`; `mode`: given to it before it is closed
    (a cache copy, read-only as DVC keeps its objects, with no chmod by name after)."""
    tmp, fd = new_raw_beside(os.path.dirname(path))
    try:
        write_all(fd, data)
        if mode is not None:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        _unlink(tmp)
        raise
    os.close(fd)
    return tmp


def _unlink(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def stage_bytes(path: Path, data: bytes) -> Path:
    tmp, stream = open_beside(path)
    try:
        with stream:
            stream.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit_staged(tmp: Path, path: Path) -> None:
    commit_all([(tmp, path)])


def stage_all(jobs: Sequence[Job], stage: Callable[[Job], str | Path | None],
              workers: int | None = None, size_of: Callable[[Job], int] | None = None,
              before_flush: Callable[[], None] | None = None, batch: int = BATCH
              ) -> list[str | Path | None]:
    """`stage` over every job on every core; returns (in the jobs' order) once every staged
    file is durable. A file of `FLUSH_ALONE` bytes or more (by `size_of`; every file when
    sizes are unknown) is fsynced as soon as it is written, so that the disk flushes while
    the next files are hashed; the small ones, staged `batch` at a time by one thread, are
    flushed together once all are staged (`flush_together`; `before_flush` runs just before:
    a test's pause point). `stage` returns None for a job it could not stage (the caller
    retries those one by one). On any error, or an interrupt, every file staged so far is
    removed and the error raised. `workers`: the jobs at once (by default one per core:
    hashing is the work; more where each mostly waits, with a `batch` of 1)."""
    workers = workers or max(2, os.cpu_count() or 1)
    alone = [size_of is None or size_of(job) >= FLUSH_ALONE for job in jobs]
    staged: list[str | Path | None] = [None] * len(jobs)
    flushes: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=16) as flusher, \
            ThreadPoolExecutor(max_workers=workers) as stager:
        def run(indexes: range) -> None:
            for index in indexes:
                tmp = stage(jobs[index])
                staged[index] = tmp
                if tmp is not None and alone[index]:
                    flushes.append(flusher.submit(fsync_path, tmp))

        tasks = [stager.submit(run, run_of) for run_of in _batches(alone, batch)]
        try:
            for task in tasks:
                task.result()
            if before_flush is not None:
                before_flush()
            flush_together([tmp for tmp, one in zip(staged, alone, strict=True)
                            if tmp is not None and not one])
            for flush in list(flushes):
                flush.result()
        except BaseException:
            stager.shutdown(wait=True, cancel_futures=True)
            flusher.shutdown(wait=True, cancel_futures=True)
            discard(tmp for tmp in staged if tmp is not None)
            raise
    return staged


def _batches(alone: list[bool], size: int) -> list[range]:
    """The jobs' indexes in runs for one thread each: a file flushed alone on its own, small
    ones `size` at a time."""
    batches: list[range] = []
    start = 0
    while start < len(alone):
        end = start + 1
        if not alone[start]:
            while end < len(alone) and end - start < size and not alone[end]:
                end += 1
        batches.append(range(start, end))
        start = end
    return batches


def commit_all(staged: Sequence[tuple[str | Path, str | Path]],
               before_first: Callable[[], None] | None = None, durable: bool = False,
               after_first: Callable[[], None] | None = None) -> None:
    """Put staged files in place: all made durable first (the fsyncs run in parallel; not
    again when `durable`, as `stage_all` leaves them), then each renamed over its target, then
    each folder fsynced once so that the renames last. Interrupted between renames (Ctrl-C,
    SIGTERM), each file is whole, old or new, and the staged copies not yet in place are
    removed. `before_first` and `after_first` (once the first file is in place, when others
    are to come) are where a test stops the run (pause points)."""
    if not durable:
        make_durable([tmp for tmp, _ in staged])
    renamed = 0
    mode_of_new = 0o666 & ~_umask()
    try:
        if before_first is not None:
            before_first()
        for tmp, path in staged:
            os.chmod(tmp, _mode_for(path, mode_of_new))
            os.replace(tmp, path)
            renamed += 1
            if renamed == 1 and len(staged) > 1 and after_first is not None:
                after_first()
    except BaseException:
        discard(tmp for tmp, _ in staged[renamed:])
        raise
    for folder in dict.fromkeys(os.path.dirname(path) for _, path in staged):
        fsync_path(folder)


Identity = tuple[int, int, int]


def identity(path: str | Path) -> Identity | None:
    """A file's inode, size and mtime: after the renames, each file in place must still be the
    one staged (whose bytes were hashed as written), checked without reading it again."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def discard(staged: Iterable[str | Path]) -> None:
    for tmp in staged:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    commit_staged(stage_bytes(path, data), path)


def leftover_temp_files(root: Path, paths: Iterable[str], inside: bool = True) -> list[Path]:
    """Temporary files a killed run left beside the given paths, or (`inside`) inside them
    where they are directories (a DVC directory output would otherwise take them in)."""
    found: set[Path] = set()
    names_by_folder: dict[str, set[str]] = {}
    for path in paths:
        folder, _, name = os.path.join(root, path).rpartition(os.sep)
        names_by_folder.setdefault(folder, set()).add(name)
    # Each folder listed once; its listing also says which targets are directories (no
    # stat for each of a restore's 10,000 files).
    for folder, names in names_by_folder.items():
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith(TEMP_PREFIX):
                        found.add(Path(entry.path))
                    elif inside and entry.name in names and entry.is_dir():
                        found.update(Path(entry.path).rglob(TEMP_PREFIX + "*"))
        except OSError:  # no such folder (nothing was left there), or unreadable
            continue
    return sorted(found)


_SERIAL = itertools.count()
# This process's id, asked once (and again in a forked child): `os.getpid` is a system call
# each time, one per temporary file (40,000 for a first backup of 20,000 small files).
_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | _CLOEXEC


def open_beside(path: Path) -> tuple[Path, BinaryIO]:
    """A new temporary file beside `path`, named by pid and a counter: unique like mkstemp's,
    a third of its cost (10,000 small files are restored in one go)."""
    tmp, fd = _new_beside(path)
    return tmp, os.fdopen(fd, "wb")


def _new_beside(path: Path) -> tuple[Path, int]:
    tmp, fd = new_raw_beside(str(path.parent))
    return Path(tmp), fd


def new_raw_beside(folder: str, mode: int = 0o600) -> tuple[str, int]:
    """A new temporary file in `folder` (made if missing), as a path string and a raw
    descriptor open for writing, with `open_beside`'s naming. `mode` (less the umask) is the
    file's from its creation: a file created read-only is still written through this
    descriptor, as git writes its objects."""
    made = False
    while True:
        tmp = f"{folder}{os.sep}{TEMP_PREFIX}{_PID[0]}-{next(_SERIAL)}"
        try:
            return tmp, os.open(tmp, _FLAGS, mode)
        except FileExistsError:  # left by a killed process that had the same pid
            continue
        except FileNotFoundError:
            # Its folder is made with the first file in it (by whichever thread comes
            # first: another may make it between this open and the mkdir).
            if made:
                raise
            os.makedirs(folder, exist_ok=True)
            made = True


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to a raw descriptor (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _mode_for(path: str | Path, mode_of_new: int) -> int:
    try:
        # A DVC cache copy is read-only; the workspace copy must stay writable by its owner.
        return (os.stat(path).st_mode & 0o777) | 0o200
    except FileNotFoundError:
        return mode_of_new


def _umask() -> int:
    """The process's umask. Linux says it in /proc without changing it; elsewhere it is set
    and set back, which another thread creating a file at that instant would see."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0)
    os.umask(umask)
    return umask


def read_only_from_creation() -> bool:
    """Whether a file created with mode 0o444 is 0o444 under this umask (no chmod needed:
    one system call less per object)."""
    return not _umask() & 0o444


def make_durable(paths: Sequence[str | Path]) -> None:
    if len(paths) < 2:
        for path in paths:
            fsync_path(path)
        return
    # The disk takes many fsyncs at once far faster than one after another.
    with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
        list(pool.map(fsync_path, paths))


def flush_together(paths: Sequence[str | Path]) -> None:
    """Make these files durable with one `syncfs` of each file system they are on (Linux:
    every dirty page of it reaches the disk, with one journal commit, and its write errors
    are reported as fsync's are); elsewhere each is fsynced, many at once."""
    if not paths:
        return
    if _syncfs() is None:
        make_durable(paths)
        return
    by_device: dict[int, str] = {}
    for folder in dict.fromkeys(os.path.dirname(path) for path in paths):
        by_device.setdefault(os.stat(folder).st_dev, folder)
    for folder in by_device.values():
        sync_filesystem(Path(folder))


def sync_filesystem(folder: str | Path) -> None:
    """syncfs(2) of the file system holding `folder`."""
    syncfs = _syncfs()
    assert syncfs is not None
    fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
    try:
        if syncfs(fd) != 0:
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, f"syncfs of {folder}: {os.strerror(err)}")
    finally:
        os.close(fd)


_SYNCFS: list[Callable[[int], int] | None] = []


def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs (Linux), looked up once; None elsewhere (os has no syncfs)."""
    if not _SYNCFS:
        found = None
        if sys.platform.startswith("linux"):
            import ctypes

            with contextlib.suppress(OSError, AttributeError):
                found = ctypes.CDLL(None, use_errno=True).syncfs
        _SYNCFS.append(found)
    return _SYNCFS[0]


def fsync_path(path: str | Path) -> None:
    """fsync a file or a folder (a folder's entries: the renames into it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def place_new_file(tmp: Path, output: Path, overwrite: bool) -> None:
    """A finished, verified file (`tmp`, beside `output`) put in place with the mode a new
    file gets, and its folder made durable; without `overwrite`, never over a file that
    appeared meanwhile (a hard link fails where the name exists): UsageError, `tmp` left for
    the caller to remove. `export -o` and `get -o` write through it."""
    os.chmod(tmp, 0o666 & ~_umask())
    if overwrite:
        os.replace(tmp, output)
    else:
        appeared = UsageError(f"{output} appeared meanwhile; nothing was written",
                              hint="pass --overwrite to replace it")
        try:
            os.link(tmp, output)
        except FileExistsError:
            raise appeared from None
        except OSError:  # a file system without hard links: the check, then the rename
            if os.path.lexists(output):
                raise appeared from None
            os.replace(tmp, output)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_path(output.parent)
