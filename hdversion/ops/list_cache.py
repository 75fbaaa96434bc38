"""`list --json` from a cache of rendered records, keyed by each tag's object id.

A tag object's id is the hash of its whole content (its message: the manifest), so a record
cached under that id can never describe another tag: a tag deleted and made again with the
same name and another message has another id. The cache lives in the git directory
(`hdversion-list-cache.json`), is written only by hdversion after validating the tag, and
serves display only: restore, prune, verify, copy and export read and validate the tag
message they act on, every time. A cache that cannot be read, of another format or another
hdversion version, or with a record of the wrong shape, is ignored and rebuilt; one that
cannot be written is simply not written."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdversion import __version__
from hdversion.gitrepo import GitRepo
from hdversion.model.catalog import Backup, Catalog

CACHE_NAME = "hdversion-list-cache.json"
FORMAT = 1
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Listed:
    """One backup tag as `list` shows it: its record as JSON text (pin not set), or why the
    tag is skipped."""

    timestamp: str = ""
    kind: str = ""
    record: str = ""
    invalid: str = ""


def listed_backups(git: GitRepo, prefix: str, render: Callable[[Backup], str],
                   layout: str) -> dict[str, Listed]:
    """Every backup tag's listing, by tag name: from the cache where the tag's object id is
    there, validated from the tag message (one git call for all of them) and rendered by
    `render` otherwise. `layout` names the renderer's output: a cache of another is
    ignored."""
    ids = git.tag_ids(prefix)
    path = git.git_path(CACHE_NAME)
    cached = _read(path, layout)
    listed: dict[str, Listed] = {}
    unknown = []
    for name, (object_type, object_id) in ids.items():
        hit = cached.get(object_id) if object_type == "tag" else None
        # A record must be of this tag's timestamp: one moved under another tag's id would
        # list a backup twice and another not at all.
        if hit is not None and (hit.invalid or hit.timestamp == name.removeprefix(prefix)):
            listed[name] = hit
        else:
            unknown.append(name)
    if unknown:
        wanted = set(unknown)
        records = [r for r in git.tags(prefix) if r.name in wanted]
        catalog = Catalog.from_tags(records)
        for backup in catalog.backups:
            listed[backup.tag] = Listed(backup.timestamp, backup.manifest.kind,
                                        render(backup))
        for name, why in catalog.invalid:
            listed[name] = Listed(invalid=why)
    current = {object_id for object_type, object_id in ids.values() if object_type == "tag"}
    if unknown or set(cached) - current:
        _write(path, layout, {object_id: listed[name] for name, (object_type, object_id)
                              in ids.items() if object_type == "tag"})
    return listed


def _read(path: Path, layout: str) -> dict[str, Listed]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or data.get("hdversion") != __version__ or data.get("layout") != layout \
            or not isinstance(data.get("tags"), dict):
        return {}
    cached: dict[str, Listed] = {}
    for object_id, entry in data["tags"].items():
        listed = _entry(object_id, entry)
        if listed is None:
            return {}  # not written by this hdversion: trust none of it
        cached[object_id] = listed
    return cached


def _entry(object_id: Any, entry: Any) -> Listed | None:
    if not (isinstance(object_id, str) and len(object_id) in (40, 64)
            and set(object_id) <= _HEX and isinstance(entry, dict)):
        return None
    fields = {key: entry.get(key, "") for key in ("timestamp", "kind", "record", "invalid")}
    if set(entry) - set(fields) or not all(isinstance(v, str) for v in fields.values()):
        return None
    if bool(fields["record"]) == bool(fields["invalid"]):
        return None
    return Listed(**fields)


def _write(path: Path, layout: str, entries: dict[str, Listed]) -> None:
    data = {"format": FORMAT, "hdversion": __version__, "layout": layout,
            "tags": {object_id: {k: v for k, v in vars(listed).items() if v}
                     for object_id, listed in entries.items()}}
    # Imported here: a run the cache serves writes nothing, nor loads threads and hashlib.
    from hdversion.util.atomic import atomic_write_bytes

    with contextlib.suppress(OSError):
        atomic_write_bytes(path, json.dumps(data).encode())
