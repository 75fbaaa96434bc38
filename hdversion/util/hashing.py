"""Content hashes as DVC 3 computes them: the plain md5 of a file's bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

CHUNK = 1024 * 1024


def md5_stream(stream: BinaryIO, on_chunk: Callable[[int], None] | None = None
               ) -> tuple[str, int]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if on_chunk:
            on_chunk(len(chunk))
    return digest.hexdigest(), size


def copy_hashed(stream: IO[bytes], write: Callable[[bytes], object],
                on_chunk: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Copy a stream chunk by chunk to `write`, hashing it in the same pass: the md5 and
    the number of bytes. What the stream or `write` raises passes untouched."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        write(chunk)
        size += len(chunk)
        if on_chunk:
            on_chunk(len(chunk))
    return digest.hexdigest(), size


def md5_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> tuple[str, int]:
    with path.open("rb") as stream:
        return md5_stream(stream, on_chunk)


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
