"""Atomic file replacement in two phases: stage (write beside the target, fsync, verify), then
commit (rename). A crash leaves each file old or new, never partial; staging every file before
renaming any means a write error (a full disk, a bad object) changes nothing at all."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from hdversion.errors import VerificationError
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import CHUNK


def stage_copy(
    source: BinaryIO,
    path: Path,
    expected_md5: str,
    on_chunk: Callable[[int], None] | None = None,
) -> Path:
    """Write a stream beside `path`; return the staged file, or raise (leaving nothing) unless
    the bytes written hash to `expected_md5`."""
    tmp, stream = _open_beside(path)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with stream:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                stream.write(chunk)
                if on_chunk:
                    on_chunk(len(chunk))
            stream.flush()
            os.fsync(stream.fileno())
        if digest.hexdigest() != expected_md5:
            raise VerificationError(
                f"{path}: data hashes to {digest.hexdigest()}, expected {expected_md5}"
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def stage_bytes(path: Path, data: bytes) -> Path:
    tmp, stream = _open_beside(path)
    try:
        with stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit_staged(tmp: Path, path: Path) -> None:
    os.chmod(tmp, _mode_for(path))
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def discard(staged: Iterable[Path]) -> None:
    for tmp in staged:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    commit_staged(stage_bytes(path, data), path)


def leftover_temp_files(root: Path, paths: Iterable[str]) -> list[Path]:
    """Temporary files a killed run left beside the given paths, or inside them where they
    are directories (a DVC directory output would otherwise take them in)."""
    found: list[Path] = []
    for path in {root / p for p in paths}:
        if path.parent.is_dir():
            found.extend(path.parent.glob(TEMP_PREFIX + "*"))
        if path.is_dir():
            found.extend(path.rglob(TEMP_PREFIX + "*"))
    return sorted(set(found))


def _open_beside(path: Path) -> tuple[Path, BinaryIO]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    return Path(name), os.fdopen(fd, "wb")


def _mode_for(path: Path) -> int:
    try:
        # A DVC cache copy is read-only; the workspace copy must stay writable by its owner.
        return (path.stat().st_mode & 0o777) | 0o200
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
