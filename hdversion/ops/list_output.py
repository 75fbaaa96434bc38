"""`list --json`'s whole output, cached under a digest of everything it is made from.

At 100,000 backups the cache of rendered records (ops/list_cache.py) still costs a Python
step per tag: its lines read back, split, checked and joined. This cache holds the bytes the
command printed, with the warnings it gave, under a key: a digest of every ref the listing
reads (the backup tags, pins, aliases, tombstones and deleted backups, each name with the id
of its object, as git lists them), the layout and filter that shape it, and the format and
version of hdversion that wrote it. A ref's id hashes its object's whole content, so a key
that matches names the same tags, pins and aliases: the bytes are served in one read. A tag
added or deleted here or by a fetch, a pin or alias moved, changes the key. The file lives
in the git directory beside the cache of records and is display data alone: read within a
bound, and when it is not exactly as written (another key, a header that does not parse, a
length that disagrees with the file) it is rebuilt, never an error. Its body is not hashed
on reading (a digest of 93 MB would cost more than the rest of a served listing): the file
is written whole, atomically, by hdversion, in a folder that holds the tags themselves."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from hdversion import __version__

CACHE_NAME = "hdversion-list-output"
FORMAT = 1
# The bound on the file, by the size of the ref listing it answers for (a line, a ref, is
# 60 to 200 bytes): a rendered record of a version-2 manifest is about 1 KiB, so 1 KiB a
# byte of the listing is 60 KiB or more a ref; an output past the bound is not cached.
_BOUND_BASE = 1 << 20
_BOUND_PER_BYTE = 1 << 10


class CachedOutput(NamedTuple):
    """A listing as the command gave it: its bytes, how many backups it lists (for the
    journal), the tags it skipped with why, and the aliases it said it could not read."""

    text: bytes
    backups: int
    invalid: list[tuple[str, str]]
    broken_aliases: dict[str, str]


def output_key(refs: bytes, layout: str, kind: str | None) -> str:
    """The digest of what a listing is made from: `refs` as git lists them (each ref's
    object id and name, sorted), the layout and the kind asked, this cache's format and
    hdversion's version."""
    digest = hashlib.sha256(json.dumps([FORMAT, __version__, layout, kind]).encode())
    digest.update(b"\n")
    digest.update(refs)
    return digest.hexdigest()


def bound(refs: bytes) -> int:
    """The most bytes the cache may hold for a listing of these refs (by their size: a count
    of their lines would read the 7 MB listing of 100,000 tags once more)."""
    return _BOUND_BASE + _BOUND_PER_BYTE * len(refs)


def read_output(path: Path, key: str, limit: int) -> CachedOutput | None:
    """The listing cached under `key`, or None (no file, another key, or not as written)."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > limit:
                return None
            line = file.readline(limit)
            header = _header(json.loads(line), key)
            if header is None or size != len(line) + header["length"]:
                return None
            text = file.read(header["length"])
    except (OSError, ValueError):
        return None
    if len(text) != header["length"]:
        return None  # cut short while being read
    return CachedOutput(text, header["backups"],
                        [(tag, why) for tag, why in header["invalid"]],
                        header["broken_aliases"])


def _header(data: Any, key: str) -> dict[str, Any] | None:
    """The header when it is this format's and names `key`; its fields of the right types."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
        return None
    length, backups = data.get("length"), data.get("backups")
    invalid, broken = data.get("invalid"), data.get("broken_aliases")
    if not (_count(length) and _count(backups) and isinstance(invalid, list)
            and isinstance(broken, dict)):
        return None
    if not all(isinstance(item, list) and len(item) == 2
               and all(isinstance(s, str) for s in item) for item in invalid):
        return None
    if not all(isinstance(value, str) for value in broken.values()):
        return None
    return data


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def write_output(path: Path, key: str, output: CachedOutput, limit: int) -> None:
    """Replace the cache with `output` under `key` (atomically); a listing past `limit`, or
    a cache that cannot be written, leaves none."""
    header = json.dumps({"format": FORMAT, "key": key, "length": len(output.text),
                         "backups": output.backups, "invalid": output.invalid,
                         "broken_aliases": output.broken_aliases}).encode() + b"\n"
    # Imported here: a listing the cache serves writes nothing.
    from hdversion.util.atomic import atomic_write_bytes

    with contextlib.suppress(OSError):
        if len(header) + len(output.text) > limit:
            path.unlink(missing_ok=True)  # another listing's: no use to this one
            return
        atomic_write_bytes(path, header + output.text)
