"""Content hashes as DVC 3 computes them: the plain md5 of a file's bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from hdversion.util.readahead import AFTER, CHUNK, ReadAhead, WriteBehind

__all__ = ["CHUNK", "copy_hashed", "md5_bytes", "md5_file", "md5_stream"]


def md5_stream(stream: BinaryIO, on_chunk: Callable[[int], None] | None = None,
               after: int = AFTER) -> tuple[str, int]:
    """The md5 and the number of bytes of a stream, read ahead by a thread past `after`
    bytes (util/readahead.py)."""
    return copy_hashed(stream, None, on_chunk, after)


def copy_hashed(stream: IO[bytes], write: Callable[[bytes], object] | None,
                on_chunk: Callable[[int], None] | None = None, after: int = AFTER
                ) -> tuple[str, int]:
    """Copy a stream chunk by chunk to `write`, hashing it in the same pass: the md5 and
    the number of bytes. Past `after` bytes a thread reads the next chunks and another
    writes the last ones while this one hashes (util/readahead.py); every chunk is written
    when this returns. What the stream or `write` raises passes untouched, once both
    threads have stopped."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with ReadAhead(stream, after) as chunks, WriteBehind(write or _skip, after) as put:
        for chunk in chunks:
            digest.update(chunk)
            if write is not None:
                put(chunk)
            size += len(chunk)
            if on_chunk:
                on_chunk(len(chunk))
    return digest.hexdigest(), size


def _skip(chunk: bytes) -> None:
    """md5_stream's `write`: never called."""


def md5_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> tuple[str, int]:
    with path.open("rb") as stream:
        return md5_stream(stream, on_chunk)


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
