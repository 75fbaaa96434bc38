"""util/atomic's staging on every core: results in order, nothing left behind on an error."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from hdversion.paths import TEMP_PREFIX
from hdversion.util.atomic import commit_all, stage_all, stage_copy
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
