"""`key init | add | list | remove` and `remote add --encrypt`: the keys of an encrypted
remote. Labels came from the remote: escaped, never markup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape

from hdversion.cli.render import console, err_console, new_table

if TYPE_CHECKING:
    from hdversion.api import KeyInfo, KeyList, KeyResult


def key_json(key: KeyInfo) -> dict[str, Any]:
    return {"id": key.id, "kind": key.kind, "created": key.created, "label": key.label,
            "opened": key.opened, "problem": key.problem}


def result_json(result: KeyResult) -> dict[str, Any]:
    return {"remote": result.remote, "repository": result.repository,
            "key": key_json(result.key), "key_file": result.key_file}


def list_json(listed: KeyList) -> dict[str, Any]:
    return {"remote": listed.remote, "repository": listed.repository,
            "keys": [key_json(k) for k in listed.keys]}


def new_key_file_warning(path: str, remote: str) -> None:
    """On stderr (shown with -q and beside --json): the one thing a user must not miss."""
    err_console.print(
        f"[bold]the key of remote {escape(remote)} is the file {escape(path)}[/]\n"
        "[bold red]LOSING IT LOSES THE BACKUPS[/] stored there: copy it somewhere safe "
        "(a password manager, another machine), or add a passphrase too: "
        f"`hdversion key add {escape(remote)} --passphrase`.\n"
        "Plain DVC cannot read this remote: never `dvc push`/`dvc pull` to it; hdversion "
        "encrypts what it writes there.", soft_wrap=True)


def result_summary(result: KeyResult, action: str) -> None:
    key = result.key
    console.print(f"remote [bold]{escape(result.remote)}[/]: key {key.id} ({key.kind}, "
                  f"{escape(key.label)}) {action}")


def list_summary(listed: KeyList) -> None:
    table = new_table()
    for column in ("id", "kind", "created", "label", ""):
        table.add_column(column)
    for key in listed.keys:
        if key.problem:
            table.add_row(key.id, "?", "", "", f"[red]unreadable: {escape(key.problem)}[/]")
        else:
            table.add_row(key.id, key.kind, key.created, escape(key.label),
                          "opened this run" if key.opened else "")
    console.print(table)
