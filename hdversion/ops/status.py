"""The state of the protection at a glance, for people and for monitoring: what changed
since the latest backup, which artifacts are missing, what each remote holds, where the
newest complete backup's copies are (on this disk only, or also elsewhere), and (with a
maximum age, or `require_offsite`) whether that backup is recent enough and has a copy off
this disk. Read-only, like `list`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path

from hdversion.errors import HdversionError, RemoteError, StaleBackupError
from hdversion.model.catalog import Backup
from hdversion.model.durations import Duration
from hdversion.model.offsite import Copies
from hdversion.model.timestamps import parse_timestamp
from hdversion.ops.backup_refs import refresh_catalog
from hdversion.ops.inspect import (
    DiffResult,
    RemoteHolding,
    all_remotes,
    compare_with,
    holdings,
    workspace_state,
)
from hdversion.ops.newest import present
from hdversion.ops.offsite import copies_of
from hdversion.ops.project import Project
from hdversion.util.clock import now_utc

# The newest backups status asks the remotes about first (then twice as many, and so on).
FIRST_PAGE = 20


@dataclass(frozen=True)
class RemoteState:
    remote: str
    required: bool  # the local remote and backup.remotes: every backup is meant to be there
    error: str | None  # why it could not be read; None when it was (or --offline)
    latest_complete: str | None  # the newest regular backup complete there (tag)
    checked: bool = True  # False with --offline


@dataclass
class StatusResult:
    now: datetime
    latest: Backup | None  # the newest regular backup (None: there is none)
    changes: DiffResult | None  # latest backup -> workspace
    missing: tuple[str, ...]  # artifacts the workspace lacks
    remotes: list[RemoteState]
    newest_complete: Backup | None  # newest regular backup complete in every required remote
    max_age: Duration | None = None
    offline: bool = False
    copies: Copies = field(default_factory=Copies)  # where newest_complete's copies are
    require_offsite: bool = False  # a failure when newest_complete has no offsite copy

    @property
    def offsite_missing(self) -> bool:
        return self.require_offsite and self.copies.offsite is not True

    @property
    def stale(self) -> bool:
        if self.max_age is None:
            return False
        if self.newest_complete is None:
            return True
        return parse_timestamp(self.newest_complete.timestamp) < self.max_age.before(self.now)

    def failure(self) -> HdversionError | None:
        unread = [r for r in self.remotes if r.error is not None]
        if self.stale or self.offsite_missing:
            where = ("the catalog (--offline: no remote was listed)" if self.offline else
                     "every required remote (" + ", ".join(
                         r.remote for r in self.remotes if r.required) + ")")
            reasons = []
            newest = self.newest_complete
            if self.stale:
                reasons.append(f"no backup is complete in {where}" if newest is None else
                               f"the newest backup complete in {where} is {newest.tag}, "
                               f"older than {self.max_age}")
            if self.offsite_missing:
                reasons.append(f"--require-offsite: {self.copies.missing()}")
            why = "; ".join(reasons)
            if unread:
                why += "; unreadable: " + ", ".join(r.remote for r in unread)
            hint = ("run `hdversion backup` (or `hdversion sync` to complete the remotes); "
                    "check the schedule") if self.stale else (
                "add an offsite remote (`hdversion remote add NAME URL`, a bucket or a "
                "directory on another disk), then `hdversion sync --remote NAME`")
            return StaleBackupError(why, hint=hint)
        if unread:
            return RemoteError("cannot read remote(s): " + "; ".join(
                f"{r.remote}: {r.error}" for r in unread),
                hint="`hdversion remote test NAME` checks a remote")
        return None


def status(*, repo: Path | None = None, max_age: Duration | None = None,
           offline: bool = False, now: datetime | None = None, config: Path | None = None,
           require_offsite: bool = False) -> StatusResult:
    """The project's backup status. `now` (default: the clock) decides what is stale and
    which backups are dated in the future (those never count as the latest).
    `require_offsite`: a failure (exit 8) unless the newest complete backup is seen whole
    in a remote off this disk (with `offline`, only a configuration with no offsite remote
    at all gives a certain answer: then it fails; else it cannot be confirmed, and fails)."""
    now = now or now_utc()
    project = Project.open(repo, strict=False, config=config)
    refresh_catalog(project, offline)
    # The newest backups first, a window of tags at a time (ops/newest.py): the latest, and
    # the newest complete in the remotes, are read without reading every backup.
    pager = present(project.git, now)
    regular = list(islice(pager, FIRST_PAGE))
    latest = regular[0] if regular else None
    if latest is not None:
        changes: DiffResult | None = compare_with(project, latest, None)
        missing = changes.missing if changes else ()
    else:
        changes, missing = None, workspace_state(project).missing
    required = (project.settings.local_remote, *project.settings.remotes)
    names = list(dict.fromkeys([*all_remotes(project), *required]))
    if offline:
        remotes = [RemoteState(n, n in required, None, None, checked=False) for n in names]
        # Offline, the catalog alone answers: a tag exists only once its data is complete in
        # the local remote (the write order), cloud remotes are not known.
        newest = latest
        holding, unasked = [project.settings.local_remote], names
    else:
        held, regular = _holdings(project, names, required, regular, pager)
        remotes = [RemoteState(h.remote, h.remote in required, h.error,
                               _newest_in(h, regular)) for h in held]
        newest = next((b for b in regular if all(
            h.complete(b.tag) for h in held if h.remote in required)), None)
        holding = [h.remote for h in held if newest is not None and h.error is None
                   and h.complete(newest.tag)]
        unasked = [h.remote for h in held if h.error is not None]
    copies = (copies_of(project, newest.tag, holding, unasked) if newest is not None
              else Copies())
    result = StatusResult(now, latest, changes, missing, remotes, newest, max_age, offline,
                          copies, require_offsite)
    project.journal("status", "ok" if result.failure() is None else "error",
                    latest=latest.tag if latest else None,
                    newest_complete=newest.tag if newest else None,
                    stale=result.stale, max_age=str(max_age) if max_age else None,
                    offsite=copies.offsite)
    return result


def _holdings(project: Project, names: list[str], required: tuple[str, ...],
              regular: list[Backup], more: Iterator[Backup]
              ) -> tuple[list[RemoteHolding], list[Backup]]:
    """What each remote holds of the newest backups, and those backups: asked again of
    twice as many (each remote listed once a time) until every remote that answers holds
    one of them whole and one is whole in every required remote, or there are no more."""
    while True:
        held = holdings(project, names, regular)
        answered = [h for h in held if h.error is None]
        if all(_newest_in(h, regular) is not None for h in answered) and any(
                all(h.complete(b.tag) for h in held if h.remote in required)
                for b in regular):
            return held, regular
        added = list(islice(more, max(len(regular), FIRST_PAGE)))
        if not added:
            return held, regular
        regular += added


def _newest_in(holding: RemoteHolding, backups: list[Backup]) -> str | None:
    return next((b.tag for b in backups if holding.complete(b.tag)), None)
