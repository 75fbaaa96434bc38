"""A big file that is to be made durable has its writeback started as it is written
(util/writeback.py): what the kernel is asked, and that the bytes are the bytes. When the
disk writes them back cannot be watched from here; the calls can."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hdversion.util.writeback as writeback
from hdversion.datastore.store import CacheStore, DirectoryStore
from hdversion.util.atomic import stage_copy
from hdversion.util.hashing import md5_bytes


def advised(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(writeback, "_ADVISE", record)
    return calls


def test_the_writeback_of_each_step_starts_as_it_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = advised(monkeypatch)
    data = os.urandom(10 * 1000)
    with (tmp_path / "big").open("wb") as stream:
        lasting = writeback.EarlyWriteback(stream, step=4000)
        for start in range(0, len(data), 1500):  # chunks across the steps' bounds
            lasting.write(data[start:start + 1500])
        lasting.write(data[:4000])
        lasting.flush()
    assert (tmp_path / "big").read_bytes() == data + data[:4000]
    # Each call from where the step before the last began (its pages dropped, written back
    # by now) to what was written (its writeback started): every byte asked twice, none
    # waited for.
    dontneed = os.POSIX_FADV_DONTNEED
    assert calls == [(0, 4500, dontneed), (0, 9000, dontneed), (4500, 9500, dontneed)]


def test_a_file_under_a_step_is_left_to_the_kernel(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = advised(monkeypatch)
    with (tmp_path / "small").open("wb") as stream:
        writeback.EarlyWriteback(stream, step=4000).write(b"x" * 3999)
    assert calls == []


def test_a_lasting_stores_staged_writes_start_their_writeback_the_caches_do_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeback, "STEP", 1000)
    calls = advised(monkeypatch)
    data = os.urandom(5000)
    remote = DirectoryStore("local", tmp_path / "remote", durable=False)
    cache = CacheStore(tmp_path / "cache")
    for store in (cache, remote):
        staged = store.stage()
        staged.write(data)
        staged.commit(md5_bytes(data))
        assert store.read(md5_bytes(data), len(data)) == data
    assert len(calls) == 1  # the remote's


def test_a_restored_file_starts_its_writeback_and_its_cache_copy_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(writeback, "STEP", 1000)
    calls = advised(monkeypatch)
    data = os.urandom(5000)
    staged = stage_copy(io.BytesIO(data), tmp_path / "model.h5", md5_bytes(data),
                        also=tmp_path / "cache-object")
    assert staged.read_bytes() == data and (tmp_path / "cache-object").read_bytes() == data
    assert len(calls) == 1


def test_a_file_system_that_refuses_the_advice_is_written_all_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    asked: list[int] = []

    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        asked.append(length)
        raise OSError(errno.EOPNOTSUPP, "not supported")

    monkeypatch.setattr(writeback, "_ADVISE", refuse)
    data = os.urandom(9000)
    with (tmp_path / "big").open("wb") as stream:
        lasting = writeback.EarlyWriteback(stream, step=4000)
        for start in range(0, len(data), 1000):
            lasting.write(data[start:start + 1000])
    assert (tmp_path / "big").read_bytes() == data and len(asked) == 2
