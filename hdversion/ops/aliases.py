"""Aliases (model/aliases.py): set, remove, list, and the history of each.

A move (set or rm) is made on the git remote first, as one atomic ref update that the server
makes only if the alias there is still the record this clone read, then here the same way:
of two clones moving one alias at once, exactly one wins and the other is told
(AliasMovedError, exit 6) and changes nothing. Without a git remote, aliases are local.
`alias rm` writes a removal record (the history stays); the ref itself is never deleted.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from hdversion.errors import (
    AliasMovedError,
    BackupNotFoundError,
    HdversionError,
    ManifestError,
    PartialError,
    RemoteError,
    UsageError,
)
from hdversion.model.aliases import (
    ALIAS_NAMESPACE,
    MAX_BY,
    MAX_HISTORY,
    MAX_REASON,
    AliasRecord,
    parse_tag_object,
)
from hdversion.model.catalog import Backup
from hdversion.model.names import check_alias
from hdversion.ops.backup_refs import read_aliases, refresh_catalog
from hdversion.ops.catalog import catalog_with
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.ops.publish import git_remote_of
from hdversion.util.clock import now_utc
from hdversion.util.identity import host_name, user_name
from hdversion.util.pausepoints import PausePoint, pause_point


@dataclass(frozen=True)
class AliasResult:
    record: AliasRecord  # the alias's record now
    replaced: AliasRecord | None  # the record this move replaced (None: a new alias)
    changed: bool  # False: the alias already named that backup, nothing was written
    git_remote: str  # where the move was made first; "" when aliases are local here
    detail: str  # why they are local, or "pushed"
    # remote -> "" when the record was written there (for the bucket alone), else why not
    copies: dict[str, str] = field(default_factory=dict)

    def failure(self) -> HdversionError | None:
        # A move that did not happen raises; one made whose copy a remote lacks is partial.
        failed = [f"{name}: {why}" for name, why in self.copies.items() if why]
        if not failed:
            return None
        return PartialError(f"alias {self.record.alias!r} moved, but not written into "
                            f"remote(s) {'; '.join(failed)}",
                            hint="`hdversion sync --remote NAME` writes the aliases there")


@dataclass(frozen=True)
class AliasList:
    aliases: list[AliasRecord]  # by name; removed aliases are not listed
    broken: dict[str, str]  # alias -> why its record is not trusted

    def failure(self) -> HdversionError | None:
        return None


@dataclass(frozen=True)
class AliasHistory:
    alias: str
    records: list[AliasRecord]  # newest first; removals included
    stopped: str  # why the walk stopped before the first record ("" when it did not)
    untrusted: bool  # it stopped at a record that does not parse

    def failure(self) -> ManifestError | None:
        if not self.untrusted:
            return None
        return ManifestError(f"the history of alias {self.alias!r} is cut: {self.stopped}",
                             hint="the records before it are not shown: one was forged or "
                                  "damaged")


def alias_set(name: str, *, ref: str, reason: str = "", repo: Path | None = None,
              wait: float = 0, config: Path | None = None) -> AliasResult:
    """Point alias `name` at the backup `ref` names (any form, another alias too)."""
    check_alias(name)
    _check_reason(reason)
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "alias set", wait, alias=name):
        catalog = catalog_with(project, ref)
        backup = catalog.get(ref, now_utc())
        return _move(project, name, backup, reason)


def alias_rm(name: str, *, reason: str = "", repo: Path | None = None, wait: float = 0,
             config: Path | None = None) -> AliasResult:
    """Remove alias `name` (a removal record: its history stays); its backup is left to the
    retention policy."""
    check_alias(name)
    _check_reason(reason)
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "alias rm", wait, alias=name):
        refresh_catalog(project)
        return _move(project, name, None, reason)


def alias_list(*, repo: Path | None = None, offline: bool = False,
               config: Path | None = None) -> AliasList:
    """The aliases (fetched from the git remote first unless `offline`)."""
    project = Project.open(repo, strict=False, config=config)
    refresh_catalog(project, offline)
    records, broken = read_aliases(project.git)
    return AliasList([records[n] for n in sorted(records) if not records[n].removed], broken)


def alias_history(name: str, *, repo: Path | None = None, offline: bool = False,
                  config: Path | None = None) -> AliasHistory:
    """Every record of alias `name`, newest first, by walking each record's `previous`:
    bounded (MAX_HISTORY), never in a loop, stopped at a record that is missing or does not
    parse (said so)."""
    check_alias(name)
    project = Project.open(repo, strict=False, config=config)
    refresh_catalog(project, offline)
    at = project.git.ref_id(ALIAS_NAMESPACE + name)
    if at is None:
        raise BackupNotFoundError(f"no alias {name!r}",
                                  hint="`hdversion alias list` shows the aliases")
    records: list[AliasRecord] = []
    seen: set[str] = set()
    next_id: str | None = at
    while next_id is not None:
        if len(records) >= MAX_HISTORY:
            return AliasHistory(name, records, f"cut at {MAX_HISTORY} records", False)
        if next_id in seen:
            return AliasHistory(name, records, f"record {next_id} comes twice", True)
        seen.add(next_id)
        [body] = project.git.read_objects([next_id], kind="tag")
        if body is None:
            return AliasHistory(name, records, f"record {next_id} is not here", True)
        try:
            target, _, message = parse_tag_object(body)
            record = AliasRecord.parse(name, message, next_id, target)
        except ManifestError as exc:
            return AliasHistory(name, records, f"record {next_id}: {exc.message}", True)
        records.append(record)
        next_id = record.previous
    return AliasHistory(name, records, "", False)


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise UsageError(f"the reason must be one line of at most {MAX_REASON} printable "
                         "characters")


def _move(project: Project, name: str, backup: Backup | None, reason: str) -> AliasResult:
    """Point alias `name` at `backup` (None: remove it), on the git remote then here, each
    only if the alias is still the record read there and here."""
    ref = ALIAS_NAMESPACE + name
    git = project.git
    remote, why = git_remote_of(project)
    # The lease on the git remote: what it holds now (RemoteError, exit 7, when it cannot be
    # read: nothing changed). Not what the fetch left here: an alias made while there was no
    # remote is here and not there.
    on_remote = None
    if remote is not None:
        on_remote = git.remote_ref_ids(remote, ref).get(ref)
        if on_remote is not None and on_remote != git.ref_id(ref):
            git.fetch_refs(remote, ref)  # the remote's record is the one to replace
    records, _ = read_aliases(git)
    old = git.ref_id(ref)  # the lease here: exactly what was read (a broken record too)
    current = records.get(name)
    if current is not None and current.object_id != old:
        current = None  # changed under us by a fetch: the lease below decides
    if backup is None and (current is None or current.removed):
        raise BackupNotFoundError(f"no alias {name!r}",
                                  hint="`hdversion alias list` shows the aliases")
    if backup is not None and current is not None and current.tag == backup.tag \
            and (remote is None or on_remote == old):
        project.journal("alias set", "ok", alias=name, tag=backup.tag, changed=False)
        return AliasResult(current, None, False, "", "unchanged")
    made = AliasRecord(name, backup.tag if backup else None,
                       backup.commit if backup else None,
                       f"{user_name()}@{host_name()}"[:MAX_BY],
                       now_utc().isoformat(timespec="seconds"), reason,
                       current.object_id if current else None)
    # Pointing at the record it replaces keeps the whole history reachable from the ref.
    target, kind = (current.object_id, "tag") if current else (git.empty_tree(), "tree")
    made = replace(made, object_id=git.make_tag_object(target, kind, name, made.to_json()))
    pause_point(project.root, PausePoint.BEFORE_ALIAS_PUSH)
    if remote is not None and not git.push_with_lease(remote, ref, made.object_id, on_remote):
        raise _moved_elsewhere(project, remote, name, made)
    if not git.compare_and_set_ref(ref, made.object_id, old) \
            and git.ref_id(ref) != made.object_id:
        raise _moved_elsewhere(project, None, name, made)
    copies = write_aliases(project, [project.settings.local_remote,
                                     *project.settings.remotes], {name: made})
    operation = "alias set" if backup else "alias rm"
    project.journal(operation, "ok" if not any(copies.values()) else "partial", alias=name,
                    tag=made.tag, previous=current.tag if current else None, reason=reason)
    return AliasResult(made, current, True, remote or "", "pushed" if remote else why,
                       copies)


def write_aliases(project: Project, remotes: list[str],
                  records: dict[str, AliasRecord]) -> dict[str, str]:
    """The aliases' records written into each remote (`hdversion/aliases/<name>.json`, one
    write each, through the remote's records: locked where the remote locks), so that a
    machine with the bucket alone resolves them; remote -> "" or why it failed."""
    from hdversion.model.remote_records import alias_key

    done: dict[str, str] = {}
    for remote in dict.fromkeys(remotes):
        try:
            bucket = project.store.remote(remote).records
            if bucket is None:
                continue
            for name, record in sorted(records.items()):
                bucket.write(alias_key(name), record.to_json().encode())
            done[remote] = ""
        except HdversionError as exc:
            done[remote] = exc.message
    return done


def _moved_elsewhere(project: Project, remote: str | None, name: str,
                     made: AliasRecord) -> AliasMovedError:
    """The error for a lost race, naming the move that won (fetched, best effort)."""
    if remote is not None:
        with contextlib.suppress(RemoteError):  # the race is the error; who won, a bonus
            project.git.fetch_refs(remote, made.ref)
    records, _ = read_aliases(project.git)
    winner = records.get(name)
    now = "" if winner is None else (
        f" (now: {'removed' if winner.removed else winner.tag}, by {winner.by} at "
        f"{winner.at})")
    where = f"on git remote '{remote}'" if remote else "here"
    what = f"to {made.tag}" if made.tag else "away"
    return AliasMovedError(
        f"alias {name!r} was moved {where} since this run read it{now}: it was not moved "
        f"{what}, nothing changed",
        hint=f"`hdversion alias history {name}` shows who moved it; run the command again if "
             "yours should still win")
