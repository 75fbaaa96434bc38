"""`alias set | rm | list | history`: aliases and their records. Every field of a record came
from the git remote: escaped, never markup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape

from hdversion.cli.render import console, new_table, warn

if TYPE_CHECKING:
    from hdversion.api import AliasHistory, AliasList, AliasResult
    from hdversion.model.aliases import AliasRecord


def record_json(record: AliasRecord) -> dict[str, Any]:
    return {"alias": record.alias, "tag": record.tag, "timestamp": record.timestamp,
            "commit": record.commit, "by": record.by, "at": record.at,
            "reason": record.reason, "removed": record.removed,
            "record": record.object_id, "previous": record.previous}


def result_json(result: AliasResult) -> dict[str, Any]:
    return {**record_json(result.record), "changed": result.changed,
            "replaced": None if result.replaced is None else result.replaced.tag,
            "git_remote": result.git_remote or None, "detail": result.detail,
            "remotes": {name: {"ok": not why, "detail": why or "written"}
                        for name, why in result.copies.items()}}


def result_summary(result: AliasResult) -> None:
    record = result.record
    name = escape(record.alias)
    if not result.changed:
        console.print(f"alias [bold]{name}[/] already names {record.timestamp}: unchanged")
        return
    was = f" (was {_named(result.replaced)})" if result.replaced else ""
    where = (f"pushed to {escape(result.git_remote)}" if result.git_remote
             else f"here only: {escape(result.detail)}")
    if record.removed:
        console.print(f"alias [bold]{name}[/] removed{was}; {where}")
    else:
        console.print(f"alias [bold]{name}[/] -> {record.timestamp}{was}; {where}")


def list_summary(listed: AliasList) -> None:
    if not listed.aliases:
        console.print("no aliases (`hdversion alias set NAME T` makes one)")
        return
    table = new_table(f"{len(listed.aliases)} alias(es)")
    table.add_column("alias", no_wrap=True)
    table.add_column("backup", no_wrap=True, min_width=len("YYYYMMDD_HHMMSS"))
    table.add_column("since (UTC)", no_wrap=True)
    table.add_column("by", overflow="ellipsis", no_wrap=True, max_width=20)
    table.add_column("reason")
    for record in listed.aliases:
        table.add_row(escape(record.alias), _named(record),
                      escape(record.at[:16].replace("T", " ")), escape(record.by),
                      escape(record.reason))
    console.print(table)


def history_summary(found: AliasHistory) -> None:
    table = new_table(f"alias {escape(found.alias)}: {len(found.records)} move(s), "
                      "newest first")
    # Timestamps are what a user copies into restore: never cut; `by` gives way first.
    table.add_column("at (UTC)", no_wrap=True)
    for column in ("from", "to"):
        table.add_column(column, no_wrap=True, min_width=len("YYYYMMDD_HHMMSS"))
    table.add_column("by", overflow="ellipsis", no_wrap=True, max_width=20)
    table.add_column("reason")
    for number, record in enumerate(found.records):
        before = found.records[number + 1] if number + 1 < len(found.records) else None
        was = "-" if before is None else _named(before)
        table.add_row(escape(record.at[:16].replace("T", " ")), was, _named(record),
                      escape(record.by), escape(record.reason))
    console.print(table)
    if found.stopped and not found.untrusted:
        warn(f"history {found.stopped}")


def _named(record: AliasRecord) -> str:
    return "(removed)" if record.timestamp is None else record.timestamp


def warn_broken(broken: dict[str, str]) -> None:
    for name, why in sorted(broken.items()):
        warn(f"skipped alias {name!r}: {why}")
