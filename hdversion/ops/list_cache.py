"""`list --json` from a cache of rendered records, keyed by each tag's object id.

A tag object's id is the hash of its whole content (its message: the manifest), so a record
cached under that id can never describe another tag: a tag deleted and made again with the
same name and another message has another id. The cache lives in the git directory
(`hdversion-list-cache`), is written only by hdversion after validating the tag, and
serves display only: restore, prune, verify, copy and export read and validate the tag
message they act on, every time. A cache that cannot be read, of another format or another
hdversion version, or with a record of the wrong shape, is ignored and rebuilt; one that
cannot be written is simply not written."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hdversion import __version__
from hdversion.gitrepo import GitRepo

if TYPE_CHECKING:
    from hdversion.model.catalog import Backup

CACHE_NAME = "hdversion-list-cache"
_FORMAT_1_NAME = "hdversion-list-cache.json"
FORMAT = 2
_OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


class Listed(NamedTuple):
    """One backup tag as `list` shows it: its record as JSON text (pin not set), or why the
    tag is skipped. A named tuple: a thousand are made in a tenth of a dataclass's time."""

    timestamp: str = ""
    kind: str = ""
    record: str = ""
    invalid: str = ""


def listed_backups(git: GitRepo, prefix: str, render: Callable[[Backup], str],
                   layout: str, ids: dict[str, str] | None = None) -> dict[str, Listed]:
    """Every backup tag's listing, by tag name: from the cache where the tag's object id is
    there, validated from the tag message and rendered by `render` otherwise (the tag
    objects of those alone read, in one git call). `layout` names the renderer's output: a
    cache of another is ignored. `ids`: `git.tag_object_ids(prefix)`, where the caller read
    them already. An id in the cache is a tag object's: only those are written there, and
    an object's id is the hash of its type and content, so no ref's type is asked."""
    ids = git.tag_object_ids(prefix) if ids is None else ids
    path = git.git_path(CACHE_NAME)
    cached = _read(path, layout)
    listed: dict[str, Listed] = {}
    unknown: dict[str, str] = {}
    tag_objects: dict[str, str] = {}  # name -> id, of the tags that are tag objects
    for name, object_id in ids.items():
        hit = cached.get(object_id)
        # A record must be of this tag's timestamp: one moved under another tag's id would
        # list a backup twice and another not at all.
        if hit is not None and (hit.invalid or hit.timestamp == name.removeprefix(prefix)):
            listed[name] = hit
            tag_objects[name] = object_id
        else:
            unknown[name] = object_id
    if unknown:
        # Imported here: a listing the cache serves whole validates no manifest.
        from hdversion.model.catalog import Catalog

        records = git.tag_records(unknown)
        tag_objects.update((r.name, r.object_id) for r in records if r.object_type == "tag")
        catalog = Catalog.from_tags(records)
        for backup in catalog.backups:
            listed[backup.tag] = Listed(backup.timestamp, backup.manifest.kind,
                                        render(backup))
        for name, why in catalog.invalid:
            listed[name] = Listed(invalid=why)
    if unknown or set(cached) - set(tag_objects.values()):
        _write(path, layout, {object_id: listed[name]
                              for name, object_id in tag_objects.items() if name in listed})
    return listed


def _read(path: Path, layout: str) -> dict[str, Listed]:
    """The cache's entries; none at all when any line is not as _write writes it."""
    try:
        header, _, body = path.read_bytes().decode().partition("\n")
        if json.loads(header) != _header(layout):
            return {}
    except (OSError, ValueError):
        return {}
    cached: dict[str, Listed] = {}
    for line in body.split("\n") if body else ():
        fields = line.split("\t")
        if len(fields) != 5 or not _OBJECT_ID.fullmatch(fields[0]):
            return {}  # not written by this hdversion: trust none of it
        object_id, timestamp, kind, invalid, record = fields
        if bool(record) == bool(invalid) or object_id in cached:
            return {}
        if invalid:
            try:
                invalid = json.loads(invalid)
            except ValueError:
                return {}
            if not isinstance(invalid, str) or not invalid:
                return {}
        cached[object_id] = Listed(timestamp, kind, record, invalid)
    return cached


def _header(layout: str) -> dict[str, Any]:
    return {"format": FORMAT, "hdversion": __version__, "layout": layout}


def _write(path: Path, layout: str, entries: dict[str, Listed]) -> None:
    """One line of JSON (the header), then one line per tag, its fields separated by tabs:
    reading it is a split, not a parse of a thousand JSON strings. A record is JSON text
    (json.dumps escapes every tab and newline); the reason a tag is skipped is written as a
    JSON string; a timestamp or kind with a tab or a newline (never in a valid manifest)
    keeps the whole cache from being written."""
    lines = [json.dumps(_header(layout))]
    for object_id, listed in entries.items():
        fields = [object_id, listed.timestamp, listed.kind,
                  json.dumps(listed.invalid) if listed.invalid else "", listed.record]
        if any("\t" in f or "\n" in f for f in fields):
            return
        lines.append("\t".join(fields))
    # Imported here: a run the cache serves writes nothing, nor loads threads and hashlib.
    from hdversion.util.atomic import atomic_write_bytes

    with contextlib.suppress(OSError):
        atomic_write_bytes(path, "\n".join(lines).encode())
        path.with_name(_FORMAT_1_NAME).unlink(missing_ok=True)  # hdversion 0.2.0's first
