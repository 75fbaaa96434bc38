"""Tar archives, compressed with gzip or zstd or not at all, written and read as streams: no
member is ever held whole in memory, and a reader counts every decompressed byte against a
limit, so that an archive cannot make its reader decompress (or tarfile buffer) more than it
was told to expect. A writer's compression is what the file's name says; a reader's, what
its first bytes say. Either may be age-encrypted (util/agefile.py): the name then ends in
`.age`, and a reader knows it by its first bytes too."""

from __future__ import annotations

import gzip
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from hdversion.errors import UsageError, VerificationError
from hdversion.util.agefile import Opening, decrypting, is_age

GZIP, ZSTD, PLAIN = "gz", "zst", "none"
# The names an archive may have, and what each says; anything else is refused.
SUFFIXES: dict[str, str] = {".tar.gz": GZIP, ".tgz": GZIP, ".tar.zst": ZSTD, ".tzst": ZSTD,
                            ".tar": PLAIN}
# After an archive name, what says it is age-encrypted: `b.tar.gz.age`.
AGE_SUFFIX = ".age"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A POSIX (ustar, pax) or GNU tar header says "ustar" at this offset of its first block.
_TAR_MAGIC_AT, _TAR_MAGIC = 257, b"ustar"
# What a damaged or truncated archive raises while it is read.
READ_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError)


def compression_for(name: str) -> str:
    """The compression the file name says (`SUFFIXES`, in any case); UsageError for a name
    that says none: `-o b.tar` must not write gzip, nor `-o params.yaml` an archive."""
    lowered = name.lower()
    for suffix, compression in SUFFIXES.items():
        if lowered.endswith(suffix):
            return compression
    accepted = ", ".join(SUFFIXES)
    raise UsageError(f"{name!r} is not an archive name: end it with one of {accepted}; "
                     "nothing was written",
                     hint=".tar.gz or .tgz: gzip; .tar.zst or .tzst: zstd; .tar: not "
                     f"compressed; {AGE_SUFFIX} after it: encrypted (export --encrypt)")


def archive_kind(name: str) -> tuple[str, bool]:
    """The compression and whether encrypted, as the name says (`b.tar.gz.age`: gzip,
    encrypted); UsageError for a name that says no archive."""
    if name.lower().endswith(AGE_SUFFIX):
        return compression_for(name[:-len(AGE_SUFFIX)]), True
    return compression_for(name), False


@contextmanager
def tar_writer(stream: BinaryIO, compression: str) -> Iterator[tarfile.TarFile]:
    """A tar stream written through the compressor into `stream` (left open)."""
    if compression == PLAIN:
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            yield tar
        return
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

    def __init__(self, raw: gzip.GzipFile | zstandard.ZstdDecompressionReader | BinaryIO,
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
def tar_reader(path: Path, limit: int, opening: Opening | None = None
               ) -> Iterator[tuple[tarfile.TarFile, BoundedReader]]:
    """Read a .tar.gz, .tar.zst or plain .tar (known by its first bytes, never by its name),
    age-encrypted or not, as a stream; raise the `limit` (bytes after decompression) through
    the BoundedReader as the manifest tells what to expect. An encrypted archive is opened
    with `opening` and, once the block's work is done, read to its end: every byte
    authenticated before the caller's block is left without an error."""
    with path.open("rb") as raw:
        head = raw.read(_TAR_MAGIC_AT + len(_TAR_MAGIC))
        if not is_age(head):
            raw.seek(0)
            with _tar_over(raw, head, path, limit) as opened:
                yield opened
            return
    with decrypting(path, opening or Opening()) as plain:
        peeked = _Peeked(plain)
        with _tar_over(peeked, peeked.peek(len(head)), path, limit) as opened:
            yield opened
        plain.finish()


@contextmanager
def _tar_over(raw: Any, head: bytes, path: Path, limit: int
              ) -> Iterator[tuple[tarfile.TarFile, BoundedReader]]:
    decompressed: gzip.GzipFile | zstandard.ZstdDecompressionReader | BinaryIO
    if head.startswith(_GZIP_MAGIC):
        decompressed = gzip.GzipFile(fileobj=raw, mode="rb")
    elif head.startswith(_ZSTD_MAGIC):
        decompressed = zstandard.ZstdDecompressor().stream_reader(
            raw, read_across_frames=True, closefd=False)
    elif head[_TAR_MAGIC_AT:] == _TAR_MAGIC:
        decompressed = raw
    else:
        raise VerificationError(f"{path} is not a .tar.gz or .tar.zst archive (nor a "
                                "plain .tar)")
    bounded = BoundedReader(decompressed, limit)
    with tarfile.open(fileobj=bounded, mode="r|") as tar:  # type: ignore[call-overload]
        yield tar, bounded


class _Peeked:
    """A stream whose first bytes can be looked at before it is read from the start."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.head = raw, b""

    def peek(self, size: int) -> bytes:
        while len(self.head) < size and (more := self.raw.read(size - len(self.head))):
            self.head += more
        return self.head[:size]

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return bytes(self.raw.read(size))
        if size < 0:
            data, self.head = self.head + bytes(self.raw.read()), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data
