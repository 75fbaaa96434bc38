"""util/atomic's staging on every core: results in order, nothing left behind on an error;
small files flushed together by one syncfs, big ones fsynced as staged."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hdversion.errors import VerificationError
from hdversion.paths import TEMP_PREFIX
from hdversion.util import atomic
from hdversion.util.atomic import FLUSH_ALONE, commit_all, stage_all, stage_copy, stage_data
from hdversion.util.hashing import md5_bytes


def _stager(folder: Path, fail_on: int | None = None) -> Callable[[int], Path | None]:
    def stage(job: int) -> Path | None:
        if job == fail_on:
            raise OSError(28, "No space left on device")
        if job % 5 == 4:
            return None  # left for the caller to retry
        data = str(job).encode() * (job + 1) * 1000
        return stage_copy(io.BytesIO(data), folder / f"f{job}", md5_bytes(data))
    return stage


def test_stage_all_keeps_the_jobs_order_and_the_files_staged(tmp_path: Path) -> None:
    jobs = list(range(20))
    staged = stage_all(jobs, _stager(tmp_path))
    assert [tmp is None for tmp in staged] == [job % 5 == 4 for job in jobs]
    for job, tmp in zip(jobs, staged, strict=True):
        if tmp is not None:
            assert tmp.read_bytes() == str(job).encode() * (job + 1) * 1000
    commit_all([(tmp, tmp_path / f"f{job}") for job, tmp in zip(jobs, staged, strict=True)
                if tmp is not None], durable=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"f{job}" for job in jobs if job % 5 != 4)


def test_an_error_in_one_job_removes_every_staged_file(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="No space"):
        stage_all(list(range(40)), _stager(tmp_path, fail_on=17))
    assert not list(tmp_path.glob(TEMP_PREFIX + "*"))
    assert not list(tmp_path.iterdir())


def _sizes(job: int) -> int:
    return FLUSH_ALONE if job < 2 else 1  # two big files, the rest small


def _flushes(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Path], list[Path]]:
    """Which files were fsynced one by one, which folders' file systems synced."""
    fsynced: list[Path] = []
    synced: list[Path] = []
    real_fsync, real_sync = atomic.fsync_path, atomic.sync_filesystem
    monkeypatch.setattr(atomic, "fsync_path",
                        lambda path: (fsynced.append(path), real_fsync(path))[1])
    monkeypatch.setattr(atomic, "sync_filesystem",
                        lambda folder: (synced.append(folder), real_sync(folder))[1])
    return fsynced, synced


@pytest.mark.skipif(atomic._syncfs() is None, reason="syncfs is Linux's")
def test_small_files_are_flushed_by_one_syncfs_big_ones_as_staged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsynced, synced = _flushes(monkeypatch)
    order: list[str] = []
    jobs = list(range(150))  # more than one batch of small files
    staged = stage_all(jobs, _stager(tmp_path), size_of=_sizes,
                       before_flush=lambda: order.append(f"flush after {len(fsynced)}"))
    assert sorted(fsynced) == sorted(tmp for tmp in staged[:2] if tmp is not None)
    assert synced == [tmp_path]  # one file system: one syncfs
    assert order == ["flush after 2"]  # the pause point: everything staged, nothing synced


def test_without_syncfs_each_small_file_is_fsynced(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fsynced, synced = _flushes(monkeypatch)
    monkeypatch.setattr(atomic, "_SYNCFS", [None])  # not Linux
    staged = stage_all(list(range(12)), _stager(tmp_path), size_of=_sizes)
    assert sorted(fsynced) == sorted(tmp for tmp in staged if tmp is not None)
    assert not synced


def test_a_failed_syncfs_removes_every_staged_file(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk's write error, which only syncfs reports once the files are written (a
    fault no real disk here shows on demand): the restore fails with nothing renamed."""
    def failing(fd: int) -> int:
        del fd
        import ctypes
        ctypes.set_errno(5)
        return -1
    monkeypatch.setattr(atomic, "_SYNCFS", [failing])
    with pytest.raises(OSError, match=r"syncfs of .*Input/output error"):
        stage_all(list(range(12)), _stager(tmp_path), size_of=_sizes)
    assert not list(tmp_path.iterdir())


def test_threads_staging_into_a_missing_folder_all_make_it(tmp_path: Path) -> None:
    """Each of several threads may find the folder missing; the one that is second to make
    it must still stage (it once refused: the folder existed by the time it looked)."""
    for round_ in range(20):
        folder = tmp_path / f"round{round_}" / "deep"

        def stage(job: int, folder: Path = folder) -> Path:
            return stage_data(b"%d" % job, folder / f"f{job}", md5_bytes(b"%d" % job))
        assert all(stage_all(list(range(8)), stage, workers=8, size_of=_sizes, batch=1))


def test_stage_data_hashes_before_writing_and_puts_the_cache_copy_read_only(
        tmp_path: Path) -> None:
    data = b"4 KiB of model" * 300
    cache = tmp_path / "cache" / "ab" / "cdef"
    with pytest.raises(VerificationError, match="data hashes to"):
        stage_data(data, tmp_path / "f.bin", md5_bytes(b"other"), also=cache)
    assert not list(tmp_path.rglob("*"))
    counted: list[int] = []
    tmp = Path(stage_data(data, tmp_path / "f.bin", md5_bytes(data), counted.append, also=cache))
    assert tmp.name.startswith(TEMP_PREFIX) and tmp.read_bytes() == data
    assert cache.read_bytes() == data and cache.stat().st_mode & 0o777 == 0o444
    assert counted == [len(data)]
    assert atomic.read_small(cache, 10) == data[:10]
    assert atomic.read_small(cache, len(data) + 1) == data


def test_leftover_temp_files_beside_files_and_inside_directory_targets(tmp_path: Path) -> None:
    from hdversion.util.atomic import leftover_temp_files

    (tmp_path / "models/shards/deep").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "models/a.bin").write_bytes(b"a")
    left = [tmp_path / "models" / f"{TEMP_PREFIX}1-1",  # beside a file target
            tmp_path / "models/shards/deep" / f"{TEMP_PREFIX}1-2",  # inside a directory one
            tmp_path / f"{TEMP_PREFIX}1-3"]  # beside a target at the top
    kept = [tmp_path / "other" / f"{TEMP_PREFIX}1-4",  # a folder no target is in
            tmp_path / "models/shards/deep/data.bin"]
    for path in left + kept:
        path.write_bytes(b"x")
    found = leftover_temp_files(tmp_path, ["models/a.bin", "models/shards", "top.bin",
                                           "gone/b.bin", "models/a.bin/not-a-folder"])
    assert found == sorted(left)


def test_a_new_file_is_never_put_over_one_that_appeared_meanwhile(tmp_path: Path) -> None:
    """`export -o` and `get -o` checked FILE absent before their work; one that appeared
    while they worked is refused (the hard link fails), not replaced, unless --overwrite."""
    import pytest

    from hdversion.errors import UsageError
    from hdversion.util.atomic import place_new_file

    output, tmp = tmp_path / "model.joblib", tmp_path / ".hdversion-tmp-model"
    tmp.write_bytes(b"verified")
    output.write_bytes(b"someone else's")
    with pytest.raises(UsageError, match="appeared meanwhile; nothing was written"):
        place_new_file(tmp, output, overwrite=False)
    assert output.read_bytes() == b"someone else's" and tmp.exists()
    place_new_file(tmp, output, overwrite=True)
    assert output.read_bytes() == b"verified" and not tmp.exists()
    fresh = tmp_path / "fresh.bin"
    tmp.write_bytes(b"new")
    place_new_file(tmp, fresh, overwrite=False)
    assert fresh.read_bytes() == b"new" and not tmp.exists()
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_forked_child_names_its_temporary_files_by_its_own_pid(tmp_path: Path) -> None:
    # The pid in a temporary name is asked once per process: a forked child must not go on
    # with its parent's (two processes counting the same names).
    from hdversion.util.atomic import new_raw_beside

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            name, fd = new_raw_beside(str(tmp_path))
            os.close(fd)
            os.write(write_end, name.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    name = os.read(read_end, 4096).decode()
    os.close(read_end)
    assert os.path.basename(name).startswith(f"{TEMP_PREFIX}{child}-")
    mine, fd = new_raw_beside(str(tmp_path))
    os.close(fd)
    assert os.path.basename(mine).startswith(f"{TEMP_PREFIX}{os.getpid()}-")
