"""One big file read by a thread while the caller hashes and writes it (util/readahead.py),
in every loop that streams one: `copy_hashed`/`md5_stream`, the engine's `stage_copy`, a
store's put, ingest's tee. Every byte hashed and counted once, in order; what the source or
the write raises reaches the caller unchanged, with nothing named, no temporary file and no
thread left."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hdversion.datastore.ingest import _read, _Store
from hdversion.datastore.store import DirectoryStore
from hdversion.errors import VerificationError, WriteError
from hdversion.paths import TEMP_PREFIX
from hdversion.util.atomic import stage_copy
from hdversion.util.hashing import CHUNK, copy_hashed, md5_bytes, md5_stream
from hdversion.util.readahead import AFTER, DEPTH, ReadAhead

READER, WRITER = "hdversion-read-ahead", "hdversion-write-behind"


def _readers() -> list[threading.Thread]:
    """The pipeline's threads still running (reader and writer)."""
    return [thread for thread in threading.enumerate() if thread.name in (READER, WRITER)]


class Source(io.RawIOBase):
    """Bytes read in chunks, recording which thread read each; `fail_at`: the read that
    starts at or past this offset raises `error` (a disk that fails half-way)."""

    def __init__(self, data: bytes, fail_at: int | None = None,
                 error: BaseException | None = None) -> None:
        self.data, self.fail_at, self.error = data, fail_at, error
        self.offset = 0
        self.threads: list[str] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.threads.append(threading.current_thread().name)
        if self.fail_at is not None and self.offset >= self.fail_at:
            assert self.error is not None
            raise self.error
        chunk = self.data[self.offset:self.offset + size]
        self.offset += len(chunk)
        return chunk


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 7])
@pytest.mark.parametrize("after", [0, CHUNK, 3 * CHUNK])
def test_every_byte_is_hashed_written_and_counted_once_in_order(size: int, after: int
                                                                ) -> None:
    data = os.urandom(size)
    written: list[bytes] = []
    writers: list[str] = []
    counted: list[int] = []
    source = Source(data)

    def write(chunk: bytes) -> None:
        writers.append(threading.current_thread().name)
        written.append(chunk)

    assert copy_hashed(source, write, counted.append, after) == (md5_bytes(data), size)
    assert b"".join(written) == data
    assert sum(counted) == size and counted == [len(chunk) for chunk in written]
    assert all(len(chunk) == CHUNK for chunk in written[:-1])
    assert md5_stream(Source(data), after=after) == (md5_bytes(data), size)
    # The reader thread takes over once `after` bytes were read: a shorter source never
    # starts one.
    threaded = [name == READER for name in source.threads]
    if size < after:
        assert not any(threaded) and WRITER not in writers
    else:
        assert threaded == [read >= after // CHUNK for read in range(len(threaded))]
        assert writers == [WRITER if n >= after // CHUNK else "MainThread"
                           for n in range(len(writers))]
    assert not _readers()


def test_the_readers_error_is_raised_unchanged_in_the_caller() -> None:
    error = OSError(5, "Input/output error")
    source = Source(os.urandom(10 * CHUNK), fail_at=6 * CHUNK, error=error)
    written: list[bytes] = []
    with pytest.raises(OSError) as raised:
        copy_hashed(source, written.append, after=CHUNK)
    assert raised.value is error
    # What was written is the start of the stream; nothing after the failure was read.
    assert source.data.startswith(b"".join(written))
    assert source.threads[-1] == READER and len(source.threads) == 7
    assert not _readers()


def test_a_failing_write_stops_the_reader_and_is_raised_unchanged() -> None:
    error = OSError(28, "No space left on device")
    source = Source(os.urandom(40 * CHUNK))
    count = 0

    def write(chunk: bytes) -> None:
        nonlocal count
        count += 1
        if count == 3:
            raise error

    with pytest.raises(OSError) as raised:
        copy_hashed(source, write, after=0)
    assert raised.value is error
    assert not _readers()
    # The reader stopped within its and the writer's queues' reach, not at the stream's end.
    assert source.offset <= (3 + 2 * DEPTH + 3) * CHUNK < len(source.data)


def test_leaving_early_stops_the_reader() -> None:
    source = Source(os.urandom(40 * CHUNK))
    with ReadAhead(source, after=0) as chunks:
        assert len(next(chunks)) == CHUNK
        assert _readers()
    assert not _readers()
    assert source.offset <= (1 + DEPTH + 2) * CHUNK


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """The kernel refuses to grow a file past `limit` bytes (EFBIG): a write that fails for
    real half-way through a big file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


BIG = AFTER + 3 * CHUNK + 5  # past the default threshold: the reader thread runs


def test_stage_copy_of_a_big_file_is_verified_and_leaves_nothing_when_read_or_write_fails(
        tmp_path: Path) -> None:
    data = os.urandom(BIG)
    md5 = md5_bytes(data)
    target, cache = tmp_path / "model.bin", tmp_path / "cache-object"
    counted: list[int] = []
    staged = stage_copy(Source(data), target, md5, counted.append, also=cache)
    assert staged.read_bytes() == data == cache.read_bytes() and sum(counted) == BIG
    staged.unlink()
    cache.unlink()

    with pytest.raises(VerificationError, match="data hashes to"):
        stage_copy(Source(data), target, md5_bytes(b"other"), also=cache)
    error = OSError(5, "Input/output error")
    with pytest.raises(OSError) as raised:
        stage_copy(Source(data, fail_at=AFTER + CHUNK, error=error), target, md5, also=cache)
    assert raised.value is error
    with _file_size_limit(AFTER + CHUNK // 2), pytest.raises(OSError) as refused:
        stage_copy(Source(data), target, md5, also=cache)
    assert refused.value.errno == 27  # EFBIG
    assert not list(tmp_path.iterdir())
    assert not _readers()


def test_a_store_put_of_a_big_file_names_nothing_when_read_or_write_fails(tmp_path: Path
                                                                          ) -> None:
    data = os.urandom(BIG)
    md5 = md5_bytes(data)
    store = DirectoryStore("local", tmp_path / "remote", durable=False)
    error = OSError(5, "Input/output error")
    with pytest.raises(OSError) as raised:
        store.put(md5, Source(data, fail_at=AFTER + CHUNK, error=error), BIG)
    assert raised.value is error
    with _file_size_limit(AFTER + CHUNK // 2), pytest.raises(WriteError,
                                                             match=r"cannot write .*large"):
        store.put(md5, Source(data), BIG)
    assert not [p for p in (tmp_path / "remote").rglob("*") if p.is_file()]
    counted: list[int] = []
    store.put(md5, Source(data), BIG, counted.append)
    assert store.path(md5).read_bytes() == data and sum(counted) == BIG
    assert not _readers()


def test_ingest_tees_a_big_file_into_each_store_and_stops_when_the_cache_fails(
        tmp_path: Path) -> None:
    data = os.urandom(BIG)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    info = path.stat()
    infos = {"size": BIG, "ino": info.st_ino, "mtime_ns": info.st_mtime_ns}
    cache, remote = tmp_path / "cache", tmp_path / "remote"
    counted: list[int] = []
    stores = [_Store(DirectoryStore("cache", cache, durable=False)),
              _Store(DirectoryStore("local", remote, durable=False), best_effort=True)]
    md5 = md5_bytes(data)
    assert _read(str(path), infos, stores, counted.append) == md5
    assert sum(counted) == BIG
    for objects in (cache, remote):
        assert (objects / md5[:2] / md5[2:]).read_bytes() == data
    assert not list(tmp_path.rglob(TEMP_PREFIX + "*"))
    assert not _readers()
    for objects in (cache, remote):
        for stored in objects.rglob("*"):
            if stored.is_file():
                stored.chmod(0o644)
                stored.unlink()
    # The cache's write fails half-way: the backup stops there, nothing named, nothing left.
    with _file_size_limit(AFTER + CHUNK // 2), pytest.raises(OSError) as refused:
        _read(str(path), infos, stores)
    assert refused.value.errno == 27  # EFBIG
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert not _readers()
