"""Pins: backups that retention never removes (the model in production).

A pin is a git ref `refs/hdversion/pins/<timestamp>` holding an annotated tag object (so that
it carries a reason, and keeps the backup commit alive); it is pushed to and fetched from the
git remote like the backup tags. A tag message cannot change, a ref can come and go: that is
why a pin is not part of the backup's manifest. Pins fetched from a remote are untrusted: a
message that does not parse still pins (keeping too much is the safe mistake), with no reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hdversion.model.namespaces import DELETED_NAMESPACE as DELETED_NAMESPACE
from hdversion.model.namespaces import PIN_NAMESPACE as PIN_NAMESPACE
from hdversion.model.namespaces import PRUNED_NAMESPACE as PRUNED_NAMESPACE
from hdversion.model.timestamps import is_timestamp

TOMBSTONE_SCHEMA = "hdversion/pruned"
# What `undelete` leaves in a tombstone's place: it buries nothing (here, or read by an older
# hdversion), and a clone whose next fetch replaces its stale tombstone with it no longer
# deletes the tag that came back. It goes when a tombstone would (model/deleted.py).
UNDELETED_SCHEMA = "hdversion/undeleted"
_OBJECT_ID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
SCHEMA = "hdversion/pin"
MAX_REASON = 500


@dataclass(frozen=True)
class Pin:
    timestamp: str
    reason: str = ""
    pinned_at: str = ""
    by: str = ""
    commit: str = ""

    @property
    def ref(self) -> str:
        return PIN_NAMESPACE + self.timestamp

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA, "timestamp": self.timestamp,
                           "reason": self.reason, "pinned_at": self.pinned_at, "by": self.by},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_ref(cls, name: str, commit: str, message: str) -> Pin | None:
        """The pin a ref holds (`name` without the namespace); None for a name that is not
        a backup timestamp."""
        if not is_timestamp(name):
            return None
        try:
            data: Any = json.loads(message)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            return cls(name, commit=commit)
        fields = {key: data.get(key) for key in ("reason", "pinned_at", "by")}
        text = {key: value[:MAX_REASON] if isinstance(value, str) else ""
                for key, value in fields.items()}
        return cls(name, text["reason"], text["pinned_at"], text["by"], commit)


def tombstone_json(tag_object: str, pruned_at: str, policy: str, by: str) -> str:
    """A tombstone names the exact tag object it buries: a tag of the same name made
    elsewhere is not buried with it."""
    return json.dumps({"schema": TOMBSTONE_SCHEMA, "tag_object": tag_object,
                       "pruned_at": pruned_at, "policy": policy, "by": by}, sort_keys=True)


def undeleted_json(tag_object: str, undeleted_at: str, by: str) -> str:
    return json.dumps({"schema": UNDELETED_SCHEMA, "tag_object": tag_object,
                       "pruned_at": undeleted_at, "by": by}, sort_keys=True)


def tombstone_target(data: bytes | None) -> str | None:
    """The tag object a tombstone buries; None for anything else (tombstones come from the
    git remote: a malformed or forged one buries nothing)."""
    try:
        parsed = json.loads(data or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict) or parsed.get("schema") != TOMBSTONE_SCHEMA:
        return None
    target = parsed.get("tag_object")
    return target if isinstance(target, str) and _OBJECT_ID.match(target) else None
