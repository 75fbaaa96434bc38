"""`list --deleted` and `undelete`: the deleted backups, and one brought back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape

from hdversion.cli.render import console, new_table

if TYPE_CHECKING:
    from hdversion.api import DeletedBackup, UndeleteResult


def deleted_record(item: DeletedBackup) -> dict[str, Any]:
    stone = item.tombstone
    return {
        "tag": item.tag, "timestamp": item.timestamp,
        "deleted_at": None if stone.pruned_at is None else stone.pruned_at.isoformat(),
        "by": stone.by, "policy": stone.policy, "tag_object": stone.tag_object,
        "undeletable_until": None if item.until is None else item.until.isoformat(
            timespec="seconds"),
        "tag_kept": item.backup is not None,
        "objects": item.objects, "missing_objects": item.missing,
        "whole": None if item.missing is None else item.missing == 0,
    }


def deleted_summary(deleted: list[DeletedBackup]) -> None:
    if not deleted:
        console.print("no deleted backups")
        return
    table = new_table()
    table.add_column("Backup", no_wrap=True)
    for column in ("Deleted", "Undeletable until", "Data"):
        table.add_column(column)
    table.add_column("By", overflow="ellipsis", no_wrap=True)  # the first cut on 80 columns
    for item in deleted:
        record = deleted_record(item)
        data = ("tag not kept" if item.backup is None else "unknown" if item.missing is None
                else "whole" if not item.missing else f"{item.missing} missing")
        table.add_row(item.tag, _minute(record["deleted_at"]),
                      _minute(record["undeletable_until"]), data, escape(item.tombstone.by))
    console.print(table)


def _minute(moment: str | None) -> str:
    return "?" if moment is None else moment[:16].replace("T", " ")


def undelete_json(result: UndeleteResult) -> dict[str, Any]:
    return {"tag": result.tag, "timestamp": result.deleted.timestamp,
            "tag_object": result.deleted.tombstone.tag_object,
            "git_remote": vars(result.git_remote), "lacking": result.lacking,
            "manifests": {name: vars(o) for name, o in result.manifests.items()}}


def undelete_summary(result: UndeleteResult) -> None:
    console.print(f"[green]undeleted[/] {result.tag}")
    if result.git_remote.name and result.git_remote.ok:
        console.print(f"tag back on git remote {result.git_remote.name}")
    for name, count in result.lacking.items():
        console.print(f"{name}: " + ("whole" if not count else f"lacks {count} object(s)"))
