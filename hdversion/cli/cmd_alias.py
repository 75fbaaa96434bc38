"""hdversion alias set | rm | list | history"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api
from hdversion.cli.options import BACKUP, JSON, OFFLINE, WAIT, argument, option

NAME = argument("NAME", "The alias: a lower-case letter, then up to 62 of a-z 0-9 . _ - "
                "(not latest).")
REASON = option("", "--message", aliases=("-m",), metavar="REASON",
                help="Why (kept in the alias's history).")


def set_alias(
    name: str = NAME,
    backup: str = BACKUP,
    reason: str = REASON,
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Point an alias at a backup: every command that takes a backup then takes the alias.
    The move is made on the git remote first, atomically: if another clone moved the alias
    since this one read it, nothing changes (exit 6)."""
    from hdversion.cli import render_aliases

    result = api.alias_set(name, ref=backup, reason=reason, wait=wait)
    if as_json:
        records.emit_result(render_aliases.result_json(result), result.failure())
    else:
        render_aliases.result_summary(result)
    finish(result.failure())


def remove_alias(
    name: str = NAME,
    reason: str = REASON,
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Remove an alias, on the git remote then here (its history stays); its backup is left
    to the retention policy."""
    from hdversion.cli import render_aliases

    result = api.alias_rm(name, reason=reason, wait=wait)
    if as_json:
        records.emit_result(render_aliases.result_json(result), result.failure())
    else:
        render_aliases.result_summary(result)
    finish(result.failure())


def list_aliases(offline: bool = OFFLINE, as_json: bool = JSON) -> None:
    """List the aliases and the backup each names."""
    from hdversion.cli import render_aliases

    listed = api.alias_list(offline=offline)
    if as_json:
        records.emit_json([render_aliases.record_json(r) for r in listed.aliases])
    else:
        render_aliases.list_summary(listed)
    render_aliases.warn_broken(listed.broken)


def history(name: str = NAME, offline: bool = OFFLINE, as_json: bool = JSON) -> None:
    """Every move of an alias, newest first: when, by whom, from which backup to which,
    why."""
    from hdversion.cli import render_aliases

    found = api.alias_history(name, offline=offline)
    if as_json:
        records.emit_result({"alias": found.alias,
                             "history": [render_aliases.record_json(r)
                                         for r in found.records],
                             "complete": not found.stopped,
                             "stopped": found.stopped or None}, found.failure())
    else:
        render_aliases.history_summary(found)
    finish(found.failure())
