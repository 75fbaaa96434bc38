"""Writing a big file that is to be made durable (fsynced, or flushed by a syncfs) with the
disk already at work on it: every `STEP` bytes written, the kernel is asked to start writing
them back (`posix_fadvise(DONTNEED)` starts the writeback of a range's dirty pages without
waiting for it). Otherwise it writes back only once the dirty pages pass its thresholds (a
tenth of the memory), and the flush at the end waited seconds for the gigabytes it had held
back: a backup of one 10 GiB file, 0.91 of `md5sum` + `cp` without its flush, 0.78 with it
(bench/README.md, session 17). The pages are dropped from the page cache once written back
(the step before the last), so a copy of 10 GiB does not push out what else is cached."""

from __future__ import annotations

import contextlib
import os
from typing import BinaryIO

STEP = 64 * 1024 * 1024
_ADVISE = getattr(os, "posix_fadvise", None)  # Linux; elsewhere the kernel's own pace


class EarlyWriteback:
    """A file being written (a buffered stream), with its writeback started every `STEP`
    bytes: write, flush, fileno and close as the stream's own."""

    def __init__(self, stream: BinaryIO, step: int | None = None) -> None:
        self.stream, self.step = stream, step or STEP
        self.written = 0
        self.started = 0  # the bytes whose writeback was started
        self.kept = 0  # where the pages not yet dropped from the cache begin

    def write(self, chunk: bytes) -> int:
        count = self.stream.write(chunk)
        self.written += len(chunk)
        if _ADVISE is not None and self.written - self.started >= self.step:
            self.stream.flush()
            # One call: the range before (its writeback started a step ago, done by now)
            # dropped from the cache, the range just written started. Advice only: a file
            # system that refuses it (EINVAL, EOPNOTSUPP) is written at the kernel's pace.
            with contextlib.suppress(OSError):
                _ADVISE(self.stream.fileno(), self.kept, self.written - self.kept,
                        os.POSIX_FADV_DONTNEED)
            self.kept, self.started = self.started, self.written
        return count

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def close(self) -> None:
        self.stream.close()
