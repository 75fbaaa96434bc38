"""Finding what killed writes left among a store's objects (`model/leftovers.py` tells such
a file) without listing 100,000 objects on every command.

A file made in, or removed from, a folder moves the folder's mtime. So each clean folder's
mtime is recorded (per store, in `.dvc/tmp`) once a listing of it found no partial file, and
a later run lists only the folders whose mtime moved since (a write, killed or not, went
there) or that the record lacks: a store untouched since the last run costs one stat per
folder (256), not one listing entry per object. Recorded only where the mtime is
`SETTLED_NS` old by this machine's clock: a write within the same timestamp tick as the one
recorded would not move it (a store on a server whose clock runs ahead is never recorded,
only listed every time)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from hdversion.model.leftovers import is_partial_name
from hdversion.util.atomic import atomic_write_bytes

# Where the record of clean folders lives (inside DVC's tmp folder: one per clone).
CLEAN_FOLDERS = "hdversion-clean-folders"
SETTLED_NS = 2_000_000_000
_VERSION = 1

# store path -> folder name -> its mtime when found clean
Clean = dict[str, dict[str, int]]


def load_clean(tmp_dir: Path) -> Clean:
    """The record, or nothing (every folder listed) where it is missing or unreadable."""
    try:
        data = json.loads((tmp_dir / CLEAN_FOLDERS).read_bytes())
        if data.get("version") != _VERSION:
            return {}
        return {str(store): {str(name): int(mtime) for name, mtime in folders.items()}
                for store, folders in data["stores"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save_clean(tmp_dir: Path, clean: Clean) -> None:
    """Best effort: without it the next run lists every folder."""
    data = {"version": _VERSION, "stores": clean}
    with contextlib.suppress(OSError):
        atomic_write_bytes(tmp_dir / CLEAN_FOLDERS,
                           json.dumps(data, separators=(",", ":")).encode())


def remove_partials(store: Path, min_age: float, clean: dict[str, int]
                    ) -> tuple[list[Path], dict[str, int]]:
    """Remove the partial files in `store` (its own folder and its two-character folders)
    untouched for `min_age` seconds, listing only the folders whose mtime is not the one
    `clean` recorded; the removed files, and the record of the folders now clean."""
    removed: list[Path] = []
    found: dict[str, int] = {}
    if not store.is_dir():
        return removed, found
    now = time.time()
    settled = time.time_ns() - SETTLED_NS
    folders: list[tuple[str, str, int]] = []  # (name, path, mtime_ns before its listing)
    # The store's own folder is listed every time: that listing names its folders.
    with os.scandir(store) as top:
        partial = []
        for entry in top:
            if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
                # Stat before the listing: a file made after it moves the mtime again.
                with contextlib.suppress(FileNotFoundError):
                    mtime = entry.stat(follow_symlinks=False).st_mtime_ns
                    if clean.get(entry.name) == mtime:
                        found[entry.name] = mtime
                    else:
                        folders.append((entry.name, entry.path, mtime))
            elif is_partial_name(entry.name):
                partial.append(entry)
    _remove(partial, now, min_age, removed)
    for name, path, mtime in folders:
        partial = []
        with contextlib.suppress(FileNotFoundError), os.scandir(path) as listing:
            partial = [entry for entry in listing if is_partial_name(entry.name)]
        _remove(partial, now, min_age, removed)
        # One removed moved the mtime (listed once more next time); one kept, too young,
        # must be looked at again.
        if not partial and mtime < settled:
            found[name] = mtime
    return removed, found


def _remove(entries: list[os.DirEntry[str]], now: float, min_age: float,
            removed: list[Path]) -> None:
    """Remove each partial file untouched for `min_age` seconds."""
    for entry in entries:
        if not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - entry.stat().st_mtime >= min_age:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
