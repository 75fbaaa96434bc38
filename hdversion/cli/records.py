"""JSON for machines: one line on stdout, and a backup as `list --json` shows it. No rich
here: `list --json` of a thousand backups loads nothing to draw tables."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from hdversion.util.redact import redact, redact_bytes

if TYPE_CHECKING:  # `list --json` served from its cache loads neither
    from hdversion.errors import HdversionError
    from hdversion.model.catalog import Backup
    from hdversion.model.pins import Pin


def emit_json(data: Any) -> None:
    """One line: `>> logs/cron.jsonl` stays a valid JSON Lines file."""
    print(redact(json.dumps(data, sort_keys=True, default=str)))


# The shape of backup_record and of list_text: change it when either changes, so that no
# cache of rendered records (ops/list_cache.py) or of the whole list (ops/list_output.py)
# serves the old one.
LIST_LAYOUT = "backup_record/2"


def emit_result(data: dict[str, Any], failure: HdversionError | None) -> None:
    """A command's result as one JSON object in the envelope every command shares: `ok`
    and `exit_code` (the code the command exits with), beside the command's own keys (`tag`
    wherever one backup is concerned)."""
    emit_json({**data, "ok": failure is None,
               "exit_code": 0 if failure is None else int(failure.exit_code)})


def emit_json_text(text: str) -> None:
    """emit_json of data already serialized (json.dumps with sort_keys)."""
    print(redact(text))


def emit_json_bytes(data: bytes) -> None:
    """emit_json_text of text already encoded (a whole listing from its cache): the bytes
    written as they are, in one call, when there is nothing to redact."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    out.write(redact_bytes(data))  # not joined to its newline: a copy of 93 MB
    out.write(b"\n")
    out.flush()


def backup_record_text(backup: Backup) -> str:
    """backup_record without a pin or aliases, serialized as emit_json would."""
    return json.dumps(backup_record(backup, aliases=[]), sort_keys=True, default=str)


def backup_record(backup: Backup, pin: Pin | None = None,
                  aliases: list[str] | None = None) -> dict[str, Any]:
    """A backup as `list --json` shows it: the tag's manifest (version-1 tags, which carried
    every file, keep their `files`), its pin, and the aliases that name it (`list` only:
    None leaves the key out)."""
    manifest = backup.manifest.to_dict()
    manifest.pop("schema")
    manifest["version"] = backup.manifest.version
    if backup.manifest.inline_files is not None:
        manifest.pop("files_md5")
        manifest["files"] = [vars(f) for f in backup.manifest.inline_files]
    record = {"tag": backup.tag, "commit": backup.commit, **manifest, "pinned": _pinned(pin)}
    if aliases is not None:
        record["aliases"] = aliases
    return record


def list_text(records: list[tuple[str, Pin | None, list[str]]]) -> str:
    """`list --json`'s whole output from backup_record_text's records with their pin and
    aliases: json.dumps of the list of records, joined (the same bytes)."""
    return "[" + ", ".join(with_refs(text, pin, aliases) for text, pin, aliases in records) + "]"


def with_refs(record_text: str, pin: Pin | None, aliases: list[str]) -> str:
    """A record of backup_record_text with its pin and aliases set (re-serialized only for
    the few backups that have one)."""
    if pin is None and not aliases:
        return record_text
    return json.dumps({**json.loads(record_text), "pinned": _pinned(pin), "aliases": aliases},
                      sort_keys=True, default=str)


def _pinned(pin: Pin | None) -> dict[str, str] | None:
    return None if pin is None else {"reason": pin.reason, "pinned_at": pin.pinned_at,
                                     "by": pin.by}
