"""What the last backup hashed, kept so that the next one hashes only what changed: each
directory output's hash and, per file, the stats it had when hashed (size, mtime, inode,
ctime). A file whose stats are all as recorded holds the bytes it held then, unless it was
written again within the file system's timestamp granularity of the record's time (a racy
file, as git calls it): those are hashed again, as are new and changed files. The unchanged
files' md5s come from the recorded `.dir` listing in the cache (checked against its name),
the new listing is made by DVC's own Tree, so it is the listing DVC would make.

DVC stays the authority on what is tracked (its outputs, from its index); the record only
spares its per-file state lookups. Where the record cannot answer for sure (no record, a
`.dvcignore` changed or inside the output, a symlink, a nested repository, another file
system than the record's), the output is left to DVC."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import Any

from hdversion.paths import HASHED_STATS, TEMP_PREFIX
from hdversion.util.atomic import atomic_write_bytes

# (size, mtime_ns, inode, ctime_ns)
Stat = tuple[int, int, int, int]
# Names that make DVC's walk differ from a plain one: an ignore file (DVC refuses it inside
# an output), a nested repository (DVC's default ignores, a subrepo).
_UNSURE_NAMES = frozenset({".dvcignore", ".git", ".hg", ".dvc"})
# An output on another file system than .dvc/tmp (where the record's time is stamped) may
# keep coarser timestamps (FAT: 2 s); its files that recent are hashed again.
_FOREIGN_MARGIN_NS = 2_000_000_000
_VERSION = 1


@dataclass(frozen=True)
class OutputWalk:
    """The files of one output as a plain walk finds them: path relative to the output ->
    stats. `plain` is False where DVC's walk could find another set (see _UNSURE_NAMES,
    symlinks)."""

    files: dict[str, Stat]
    device: int
    plain: bool
    is_dir: bool
    # Files a killed restore staged inside the output (`.hdversion-tmp-*`), not in `files`:
    # hdversion's, to remove before DVC takes them in as data.
    leftovers: tuple[str, ...] = ()


def walk_output(path: Path) -> OutputWalk | None:
    """`path`'s files with their stats (scandir: its entries carry their stat), None when it
    is absent. A file output is one entry named ''."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not S_ISDIR(info.st_mode):
        return OutputWalk({"": _stat(info)}, info.st_dev, not path.is_symlink(), False)
    files: dict[str, Stat] = {}
    leftovers: list[str] = []
    plain = not path.is_symlink()
    folders = [(str(path), "")]
    while folders:
        folder, prefix = folders.pop()
        with contextlib.suppress(OSError), os.scandir(folder) as listing:
            for entry in listing:
                name = entry.name
                if name in _UNSURE_NAMES:
                    plain = False
                # One lstat tells a file, a folder and a link apart and gives the stats
                # (is_symlink, is_dir, is_file and stat cost four calls a file); try, not a
                # context manager, around it: entered for every file.
                try:
                    found = entry.stat(follow_symlinks=False)
                    mode = found.st_mode
                    if name.startswith(TEMP_PREFIX) and not S_ISDIR(mode):
                        leftovers.append(entry.path)
                    elif S_ISREG(mode):
                        files[prefix + name] = (found.st_size, found.st_mtime_ns,
                                                found.st_ino, found.st_ctime_ns)
                    elif S_ISDIR(mode):
                        folders.append((entry.path, f"{prefix}{name}/"))
                    elif S_ISLNK(mode):
                        plain = False
                        if entry.is_file():  # a link to a file: its target's stats
                            files[prefix + name] = _stat(entry.stat())
                except FileNotFoundError:
                    continue
    return OutputWalk(files, info.st_dev, plain, True, tuple(leftovers))


def _stat(info: os.stat_result) -> Stat:
    return (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)


def stamp_now(root: Path) -> tuple[int, int]:
    """The file system's own time now (a file's mtime just written, at the granularity its
    timestamps have) and its device: a file changed from now on gets a time not before it."""
    stamp = root / HASHED_STATS
    stamp = stamp.with_name(stamp.name + ".stamp")
    with contextlib.suppress(OSError):
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_bytes(b"")
        info = os.stat(stamp)
        return info.st_mtime_ns, info.st_dev
    return 0, -1  # no stamp: every recorded file is racy, nothing is trusted


@dataclass(frozen=True)
class OutputRecord:
    md5: str  # `<md5>.dir`
    ignore: str  # ignore_digest() when hashed
    device: int
    stamp_ns: int  # stamp_now() before the walk the stats come from
    stamp_device: int
    files: dict[str, Stat]

    def unchanged(self, walk: OutputWalk) -> set[str]:
        """The files whose recorded md5 still holds: same stats, and not racy."""
        margin = 0 if self.device == self.stamp_device else _FOREIGN_MARGIN_NS
        limit = self.stamp_ns - margin
        stats = self.files.values()
        if walk.files == self.files and max(map(itemgetter(1), stats), default=0) < limit \
                and max(map(itemgetter(3), stats), default=0) < limit:
            return set(self.files)  # all as recorded, none racy: found in C, not file by file
        return {name for name, now in walk.files.items()
                if self.files.get(name) == now and max(now[1], now[3]) < limit}


@dataclass(frozen=True)
class Record:
    digest: str  # of every output's (size, mtime, inode): all unchanged, ingest is skipped
    outputs: dict[str, OutputRecord]  # by path relative to the repository

    def trusted(self, path: str, walk: OutputWalk, ignore: str) -> OutputRecord | None:
        """The output's record when it can be trusted for this walk at all."""
        record = self.outputs.get(path)
        if record is None or not walk.plain or not walk.is_dir or record.ignore != ignore \
                or record.device != walk.device:
            return None
        return record


def load_record(root: Path) -> Record | None:
    try:
        data = json.loads((root / HASHED_STATS).read_bytes())
        if data.get("version") != _VERSION:
            return None
        return Record(str(data["digest"]), {
            path: OutputRecord(str(o["md5"]), str(o["ignore"]), int(o["device"]),
                               int(o["stamp_ns"]), int(o["stamp_device"]),
                               dict(zip(o["files"], map(tuple, o["files"].values()), strict=True)))
            for path, o in data["outputs"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_record(root: Path, record: Record) -> None:
    """Best effort: without it the next backup asks DVC's state database, file by file."""
    data: dict[str, Any] = {
        "version": _VERSION, "digest": record.digest,
        "outputs": {path: {"md5": o.md5, "ignore": o.ignore, "device": o.device,
                           "stamp_ns": o.stamp_ns, "stamp_device": o.stamp_device,
                           "files": o.files} for path, o in record.outputs.items()}}
    with contextlib.suppress(OSError):
        atomic_write_bytes(root / HASHED_STATS, json.dumps(data, separators=(",", ":")
                                                           ).encode())


def _set_aside(root: Path) -> Path:
    path = root / HASHED_STATS
    return path.with_name(path.name + ".aside")


def forget_record(root: Path) -> bool:
    """No record until `save_record` or `keep_record`: it is set aside (a killed run leaves
    none to load), so that a run which finds it still true can put it back unwritten.
    Whether it was set aside (else it is gone, and `keep_record` must not be called)."""
    aside = _set_aside(root)
    try:
        # Never a record older than the one just loaded put back by `keep_record`.
        aside.unlink(missing_ok=True)
        os.replace(root / HASHED_STATS, aside)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            (root / HASHED_STATS).unlink(missing_ok=True)
        return False


def keep_record(root: Path) -> None:
    """The record `forget_record` set aside, back as it was: for a run that hashed nothing
    (every file as recorded, none racy), whose record would hold the same files, stats and
    hashes, only a later time (a record with the earlier one trusts no file more)."""
    with contextlib.suppress(OSError):
        os.replace(_set_aside(root), root / HASHED_STATS)


def ignore_digest(root: Path, output: str) -> str:
    """The `.dvcignore` files that apply to `output`'s files (the repository's and each
    folder's above it): a change to any of them leaves the output to DVC."""
    digest = hashlib.sha256()
    for part, ignore_file in _dvcignores_above(root, output):
        try:
            digest.update(f"{part}\0".encode() + ignore_file.read_bytes() + b"\0")
        except FileNotFoundError:
            digest.update(f"{part}\0-\0".encode())
        except OSError:
            return "unreadable"
    return digest.hexdigest()


def _dvcignores_above(root: Path, output: str) -> Iterator[tuple[str, Path]]:
    """(folder name, its `.dvcignore`) of the repository and each folder above `output`:
    the ignore files whose rules apply to its files."""
    folder = root
    for part in ("", *output.split("/")[:-1]):
        folder = folder / part if part else folder
        yield part, folder / ".dvcignore"


def ignore_rules_apply(root: Path, output: str) -> bool:
    """Whether a `.dvcignore` that applies to `output`'s files (the repository's and each
    folder's above it, as `ignore_digest` reads them) holds any rule: without one, DVC's
    walk of a plain output (no `.git`, `.hg`, `.dvc` or `.dvcignore` inside, which its
    default rules and nested files would touch) leaves out none of its files. A line is
    a rule unless blank or a comment (`#` first); an unreadable file counts as rules."""
    for _part, ignore_file in _dvcignores_above(root, output):
        try:
            text = ignore_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            return True
        if any(line.strip() and not line.startswith("#") for line in text.splitlines()):
            return True
    return False


def listing_md5s(data: bytes) -> dict[str, str] | None:
    """A `.dir` listing's files (relative path -> md5), None when it is not one."""
    try:
        return {str(entry["relpath"]): str(entry["md5"]) for entry in json.loads(data)}
    except (ValueError, KeyError, TypeError):
        return None


def listing_bytes(members: dict[str, str]) -> bytes:
    """DVC's `.dir` listing of files (path in the directory -> md5), byte for byte as its
    Tree writes it (`Tree.as_bytes`: sorted by path, keys sorted, json's default spacing),
    without building a Tree of 100,000 entries first."""
    return json.dumps([{"md5": md5, "relpath": name} for name, md5 in sorted(members.items())]
                      ).encode()
