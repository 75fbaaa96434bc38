"""Aliases: a name (`prod`, `champion`) that a user moves from backup to backup.

An alias is a git ref `refs/hdversion/aliases/<name>` holding an annotated tag object whose
message is one line of JSON, the record: the alias, the backup tag and its commit (both null
once the alias is removed), who moved it (user@host), when (UTC), why, and the object id of
the record it replaced (null for the first). The tag object points at that previous record
(the first one at the empty tree), so every record of the alias is reachable from its ref:
the history travels with the ref through push and fetch and survives clones and `git gc`,
and `previous` must be the very object the tag points at.

Records come from the git remote: each is parsed with bounds and checked (names, tag, ids,
sizes); one that does not parse names nothing (ManifestError, with why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hdversion.errors import ManifestError
from hdversion.model.names import alias_refusal
from hdversion.model.namespaces import ALIAS_NAMESPACE as ALIAS_NAMESPACE
from hdversion.model.timestamps import tag_for, timestamp_of

SCHEMA = "hdversion/alias"
MAX_REASON = 500
MAX_BY = 200
# A record is one short JSON line; a message longer than this is not one (never parsed).
MAX_RECORD = 4096
# Records read when walking an alias's history: far beyond any real history, small enough
# that a forged chain cannot keep a command busy.
MAX_HISTORY = 1000
_OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # fullmatch: sha1 or sha256
_KEYS = {"schema", "alias", "tag", "commit", "by", "at", "reason", "previous"}


@dataclass(frozen=True)
class AliasRecord:
    alias: str
    tag: str | None  # backup/<timestamp>; None: the alias was removed
    commit: str | None
    by: str
    at: str  # ISO 8601, UTC
    reason: str
    previous: str | None  # the object id of the record this one replaced
    object_id: str = ""  # this record's own tag object (not in the JSON)

    @property
    def ref(self) -> str:
        return ALIAS_NAMESPACE + self.alias

    @property
    def removed(self) -> bool:
        return self.tag is None

    @property
    def timestamp(self) -> str | None:
        return None if self.tag is None else timestamp_of(self.tag)

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA, "alias": self.alias, "tag": self.tag,
                           "commit": self.commit, "by": self.by, "at": self.at,
                           "reason": self.reason, "previous": self.previous},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, alias: str, message: str, object_id: str, target: str) -> AliasRecord:
        """The record of tag object `object_id` (its message; `target`, the object it points
        at) read for alias `alias`. ManifestError saying why for anything else."""
        if alias_refusal(alias) is not None:
            raise ManifestError(f"ref name {alias[:80]!r} is not an alias")
        if len(message) > MAX_RECORD:
            raise ManifestError(f"record longer than {MAX_RECORD} characters")
        try:
            data: Any = json.loads(message)
        except (json.JSONDecodeError, RecursionError):
            raise ManifestError("record is not JSON") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ManifestError("record is not an hdversion alias")
        if set(data) != _KEYS:
            raise ManifestError(f"record keys are not {', '.join(sorted(_KEYS))}")
        if data["alias"] != alias:
            raise ManifestError("record is for another alias")
        tag, commit, previous = data["tag"], data["commit"], data["previous"]
        if tag is None:
            if commit is not None:
                raise ManifestError("removal record names a commit")
        elif not isinstance(tag, str) or (timestamp := timestamp_of(tag)) is None \
                or tag_for(timestamp) != tag:
            raise ManifestError("tag is not backup/YYYYMMDD_HHMMSS")
        elif not _is_object_id(commit):
            raise ManifestError("commit is not an object id")
        if previous is not None and not _is_object_id(previous):
            raise ManifestError("previous is not an object id")
        if previous is not None and previous != target:
            raise ManifestError("previous is not the object the record's tag points at")
        for key, limit in (("by", MAX_BY), ("at", 40), ("reason", MAX_REASON)):
            if not isinstance(data[key], str) or len(data[key]) > limit:
                raise ManifestError(f"{key} is not a string of at most {limit} characters")
        if any(ch.isprintable() is False for ch in data["by"] + data["reason"]):
            raise ManifestError("by or reason holds a control character")
        try:
            moment = datetime.fromisoformat(data["at"])
        except ValueError:
            raise ManifestError("at is not an ISO 8601 time") from None
        if moment.utcoffset() is None:
            raise ManifestError("at has no time zone")
        return cls(alias, tag, commit, data["by"], data["at"], data["reason"], previous,
                   object_id)


def parse_stored(alias: str, data: bytes) -> AliasRecord:
    """An alias's record as a remote holds it (`hdversion/aliases/<name>.json`, written by
    `alias set`/`rm` and `sync`): the same JSON line, checked the same way, without the tag
    object that chains it in git (a bucket keeps the newest record only)."""
    if len(data) > MAX_RECORD:
        raise ManifestError(f"record longer than {MAX_RECORD} bytes")
    try:
        text = data.decode()
        previous = json.loads(text).get("previous")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, AttributeError):
        raise ManifestError("record is not JSON") from None
    return AliasRecord.parse(alias, text, "", previous if isinstance(previous, str) else "")


def _is_object_id(value: Any) -> bool:
    return isinstance(value, str) and _OBJECT_ID.fullmatch(value) is not None


def parse_tag_object(body: bytes) -> tuple[str, str, str]:
    """(the object it points at, its type, its message) of a raw annotated tag object;
    ManifestError when it is not one. Bounded: a record is small."""
    if len(body) > MAX_RECORD * 2:
        raise ManifestError(f"tag object larger than {MAX_RECORD * 2} bytes")
    head, sep, message = body.partition(b"\n\n")
    if not sep:
        raise ManifestError("tag object has no message")
    fields = dict(line.split(b" ", 1) for line in head.split(b"\n") if b" " in line)
    target, kind = fields.get(b"object", b""), fields.get(b"type", b"")
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError("record is not UTF-8") from None
    return target.decode("ascii", "replace"), kind.decode("ascii", "replace"), text.strip()


def aliases_by_tag(aliases: Mapping[str, str]) -> dict[str, list[str]]:
    """Backup tag -> the aliases that name it, sorted; from alias -> timestamp (Catalog's)."""
    tags: dict[str, list[str]] = {}
    for name in sorted(aliases):
        tags.setdefault(tag_for(aliases[name]), []).append(name)
    return tags
