"""A big stream copied on three threads: one reads the next chunks (`ReadAhead`), the caller
hashes, one writes the chunks already hashed (`WriteBehind`). One thread doing read, md5 and
write of one file in turn used one core at a time, and a write the kernel held back stalled
the md5 with it; `md5sum` and `cp` each stream at full speed (bench/README.md, "Issue 28:
big artifacts"). `os.read`, hashlib and file writes release the GIL on 1 MiB buffers, so the
threads overlap.

A stream starts in the caller's thread: only past `after` bytes do the threads take over,
so a small file never pays for one. Each queue holds at most `depth` chunks (the memory a
stream costs stays a few MiB whatever its size). What the stream or the write raises is
raised, the same exception, in the caller; leaving the `with` (at the end, or on the
caller's own error) stops the threads and waits for them: no thread outlives the copy, and
nothing reads the stream or writes after it."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import IO

CHUNK = 1024 * 1024  # bytes a read asks for: per-chunk Python work stays far below the copy's
# Bytes read in the caller's thread before a reader thread takes over: a file of a few
# chunks is over before a thread would have started.
AFTER = 8 * 1024 * 1024
# Chunks queued ahead of the consumer: enough to ride out a slow write, and the memory bound.
DEPTH = 8


class _End:
    """The stream's end."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_Item = bytes | _End | _Failed


class ReadAhead:
    """`with ReadAhead(stream) as chunks: for chunk in chunks: ...`: the stream's chunks
    (CHUNK bytes each but the last) in order, read ahead by a thread past `after` bytes."""

    def __init__(self, stream: IO[bytes], after: int = AFTER, depth: int = DEPTH) -> None:
        self.stream, self.after = stream, after
        self.queue: queue.Queue[_Item] = queue.Queue(depth)
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Iterator[bytes]:
        return self._chunks()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop()

    def _chunks(self) -> Iterator[bytes]:
        count = 0
        while count < self.after:
            chunk = self.stream.read(CHUNK)
            if not chunk:
                return
            count += len(chunk)
            yield chunk
        self._advise_sequential()
        self.thread = threading.Thread(target=self._read, name="hdversion-read-ahead",
                                       daemon=True)
        self.thread.start()
        while True:
            item = self.queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def _read(self) -> None:
        try:
            while not self.stopped.is_set():
                chunk = self.stream.read(CHUNK)
                if not chunk:
                    break
                self.queue.put(chunk)
        except BaseException as error:  # handed to the consumer, raised there
            self.queue.put(_Failed(error))
            return
        self.queue.put(_End())

    def _stop(self) -> None:
        if self.thread is None:
            return
        self.stopped.set()
        # Room for the one chunk a reader blocked in put() or in read() still hands over.
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.thread.join()
        self.thread = None

    def _advise_sequential(self) -> None:
        """A local file read to its end: the kernel may read further ahead."""
        try:
            descriptor = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            return
        with contextlib.suppress(AttributeError, OSError):
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_SEQUENTIAL)


class WriteBehind:
    """`with WriteBehind(write) as put: put(chunk)...`: `write` called with each chunk in
    order, past `after` bytes from a thread of its own, so that a write the kernel holds
    back (dirty pages throttled: two copies of a big file) does not stall the hashing.
    What `write` raises is raised, the same exception, by the next `put` or on leaving the
    `with`, which waits for every chunk put to be written (or, leaving on an error, drops
    those not written yet): nothing is written after it."""

    def __init__(self, write: Callable[[bytes], object], after: int = AFTER,
                 depth: int = DEPTH) -> None:
        self.write, self.after = write, after
        self.count = 0
        self.queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self.error: BaseException | None = None
        self.dropping = False
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Callable[[bytes], None]:
        return self.put

    def put(self, chunk: bytes) -> None:
        if self.thread is None:
            if self.count < self.after:
                self.count += len(chunk)
                self.write(chunk)
                return
            self.thread = threading.Thread(target=self._write, name="hdversion-write-behind",
                                           daemon=True)
            self.thread.start()
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def _write(self) -> None:
        # After a failure the thread still takes every chunk off the queue (unwritten), so
        # that the caller's put never blocks on a full one.
        while (chunk := self.queue.get()) is not None:
            if self.error is None and not self.dropping:
                try:
                    self.write(chunk)
                except BaseException as error:  # handed to the caller, raised there
                    self.error = error

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.thread is None:
            return
        self.dropping = kind is not None
        self.queue.put(None)
        self.thread.join()
        self.thread = None
        if kind is None and self.error is not None:
            raise self.error
