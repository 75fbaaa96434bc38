"""Rendering of `list` and `restore` from a remote alone. Everything shown comes from the
remote (untrusted): every text is escaped in rich markup."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from hdversion.api import BucketCatalog, BucketRestoreResult
from hdversion.cli.render import (
    age,
    backup_record,
    catalog_table,
    console,
    err_console,
    human_size,
    new_table,
)
from hdversion.cli.render import (
    restore_json as workspace_restore_json,
)
from hdversion.model.catalog import Backup


def bucket_record(listed: BucketCatalog, backup: Backup) -> dict[str, Any]:
    return {**backup_record(backup), "remote_url": listed.url}


def bucket_list(listed: BucketCatalog) -> None:
    table = catalog_table(listed.catalog)
    table.title = f"{table.title} in {escape(listed.url)}"
    console.print(table)


def skipped(invalid: list[tuple[str, str]]) -> None:
    for tag, why in invalid:
        err_console.print(f"[yellow]warning:[/] skipped {escape(tag)}: {escape(why)}")


def restore_summary(result: BucketRestoreResult) -> None:
    if result.latest:
        console.print(f"restoring the latest backup in {escape(result.url)}, "
                      f"{escape(result.backup.tag)} "
                      f"({escape(age(result.backup.manifest.created_at))} old)")
    skipped(result.skipped)
    verb = "would restore" if result.dry_run else "restored"
    table = new_table(escape(f"{verb} {result.backup.tag} from {result.url} into "
                               f"{result.target}"))
    for column in ("file", "size", "action", "verified"):
        table.add_column(column)
    for report in result.files:
        verified = {None: "-", True: "[green]ok[/]", False: "[red]MISMATCH[/]"}[report.verified]
        table.add_row(escape(report.path), human_size(report.size), report.action, verified)
    console.print(table)


def restore_json(result: BucketRestoreResult) -> dict[str, Any]:
    data = workspace_restore_json(result)
    for key in ("safety_backup", "would_make_safety_backup", "quarantined_objects"):
        data.pop(key, None)
    return {**data, "remote_url": result.url,
            "skipped": [{"tag": tag, "why": why} for tag, why in result.skipped]}
