"""Tar archives compressed with gzip or zstd, written and read as streams: no member is ever
held whole in memory, and a reader counts every decompressed byte against a limit, so that
an archive cannot make its reader decompress (or tarfile buffer) more than it was told to
expect."""

from __future__ import annotations

import gzip
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import zstandard

from hdversion.errors import VerificationError

GZIP, ZSTD = "gz", "zst"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# What a damaged or truncated archive raises while it is read.
READ_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError)


def compression_for(name: str) -> str:
    """zstd when the file name says so (`.tar.zst`, `.tzst`), gzip otherwise."""
    return ZSTD if name.endswith((".zst", ".tzst")) else GZIP


@contextmanager
def tar_writer(stream: BinaryIO, compression: str) -> Iterator[tarfile.TarFile]:
    """A tar stream written through the compressor into `stream` (left open)."""
    compressed: gzip.GzipFile | zstandard.ZstdCompressionWriter
    if compression == ZSTD:
        compressed = zstandard.ZstdCompressor(level=3).stream_writer(stream, closefd=False)
    else:
        # mtime=0: the same backup exports to the same bytes.
        compressed = gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=6, mtime=0)
    with tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        yield tar
    compressed.close()  # ends the gzip member or zstd frame; `stream` stays open


class LimitExceeded(VerificationError):
    """The archive holds more bytes than its manifest accounts for."""


class BoundedReader:
    """A decompressed stream that refuses to yield more than `limit` bytes in all."""

    def __init__(self, raw: gzip.GzipFile | zstandard.ZstdDecompressionReader,
                 limit: int) -> None:
        self.raw, self.limit, self.count = raw, limit, 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = self.limit - self.count + 1
        data = self.raw.read(min(size, self.limit - self.count + 1))
        self.count += len(data)
        if self.count > self.limit:
            raise LimitExceeded(f"the archive holds more than the {self.limit} bytes its "
                                "manifest accounts for")
        return data


@contextmanager
def tar_reader(path: Path, limit: int) -> Iterator[tuple[tarfile.TarFile, BoundedReader]]:
    """Read a .tar.gz or .tar.zst (known by its first bytes, not its name) as a stream;
    raise the `limit` (bytes after decompression) through the BoundedReader as the
    manifest tells what to expect."""
    with path.open("rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        decompressed: gzip.GzipFile | zstandard.ZstdDecompressionReader
        if magic.startswith(_GZIP_MAGIC):
            decompressed = gzip.GzipFile(fileobj=raw, mode="rb")
        elif magic == _ZSTD_MAGIC:
            decompressed = zstandard.ZstdDecompressor().stream_reader(
                raw, read_across_frames=True, closefd=False)
        else:
            raise VerificationError(f"{path} is not a .tar.gz or .tar.zst archive")
        bounded = BoundedReader(decompressed, limit)
        with tarfile.open(fileobj=bounded, mode="r|") as tar:  # type: ignore[call-overload]
            yield tar, bounded
