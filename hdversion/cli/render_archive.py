"""Rendering export and import results."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from hdversion.api import ExportResult, ImportResult
from hdversion.cli.render import console, emit_json, human_size, restore_json, restore_table

__all__ = ["emit_json", "export_json", "export_summary", "import_json", "import_summary"]


_SEALED = {"recipients": "to its recipients", "passphrase": "with a passphrase"}


def export_summary(result: ExportResult) -> None:
    if result.quarantined:
        console.print(f"[yellow]{len(result.quarantined)} corrupt cache object(s) "
                      "quarantined and fetched again[/]")
    console.print(f"exported {escape(result.backup.tag)}: {result.files} file(s), "
                  f"{human_size(result.data_size)} -> {escape(str(result.output))} "
                  f"({human_size(result.archive_size)}, {result.compression}"
                  + (f", age-encrypted {_SEALED[result.encrypted]})" if result.encrypted
                     else ")"))


def export_json(result: ExportResult) -> dict[str, Any]:
    return {
        "tag": result.backup.tag,
        "timestamp": result.backup.timestamp,
        "output": str(result.output),
        "compression": result.compression,
        "encrypted": result.encrypted,
        "files": result.files,
        "data_size": result.data_size,
        "archive_size": result.archive_size,
        "quarantined_objects": result.quarantined,
    }


def import_summary(result: ImportResult) -> None:
    restored = result.restore
    if restored.safety_backup:
        console.print(f"[yellow]unsaved changes were backed up first as "
                      f"{escape(restored.safety_backup.tag)}[/]")
    if restored.would_make_safety_backup:
        console.print("[yellow]unsaved changes would be backed up first in a safety backup[/]")
    console.print(restore_table(restored, result.archive.name))


def import_json(result: ImportResult) -> dict[str, Any]:
    return {"archive": str(result.archive), **restore_json(result.restore)}
