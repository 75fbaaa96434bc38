"""Deleted backups (model/deleted.py): listing them (`list --deleted`) and bringing one back
(`undelete`): the very tag object re-created here and on the git remote, its tombstone
removed, once its data is known to be whole in the stores at hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hdversion.datastore.store import Store, StoredObject
from hdversion.errors import (
    BackupNotFoundError,
    ManifestError,
    PartialError,
    RemoteError,
    VerificationError,
)
from hdversion.model.catalog import Backup
from hdversion.model.deleted import Tombstone
from hdversion.model.durations import Duration
from hdversion.model.names import BackupNames, check_name
from hdversion.model.pins import DELETED_NAMESPACE, PRUNED_NAMESPACE, undeleted_json
from hdversion.model.timestamps import TAG_PREFIX, newest_present, tag_for
from hdversion.ops.backup_refs import (
    deleted_catalog,
    fetch_catalog,
    read_tombstones,
    refresh_catalog,
)
from hdversion.ops.catalog import files_of
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.ops.prune import deleted_window
from hdversion.ops.publish import git_remote_of
from hdversion.ops.push import RemoteOutcome
from hdversion.ops.remote_manifests import put_manifest_from_commit
from hdversion.util.clock import now_utc
from hdversion.util.identity import host_name, user_name
from hdversion.util.pausepoints import PausePoint, pause_point


@dataclass(frozen=True)
class DeletedBackup:
    """A backup a prune removed, as `list --deleted` shows it."""

    timestamp: str
    tombstone: Tombstone
    backup: Backup | None  # None: its tag object is not kept here (nothing to bring back)
    until: datetime | None  # when the undelete window ends
    missing: int | None  # objects no store at hand holds (None: not known)
    objects: int | None  # objects it needs

    @property
    def tag(self) -> str:
        return tag_for(self.timestamp)


@dataclass
class UndeleteResult:
    deleted: DeletedBackup
    git_remote: RemoteOutcome
    lacking: dict[str, int] = field(default_factory=dict)  # store -> objects it lacks
    manifests: dict[str, RemoteOutcome] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return self.deleted.tag

    def failure(self) -> PartialError | None:
        short = [f"{name} lacks {count} object(s)" for name, count in self.lacking.items()
                 if count]
        short += [f"{o.name}: {o.detail}" for o in self.manifests.values() if not o.ok]
        if short:
            return PartialError(f"{self.tag} is back, but {'; '.join(short)}",
                                hint="`hdversion sync --remote NAME` completes a remote")
        return None


def list_deleted(*, repo: Path | None = None, remote: str | None = None, offline: bool = False,
                 now: datetime | None = None, config: Path | None = None
                 ) -> list[DeletedBackup]:
    """The deleted backups (tombstones fetched from the git remote first unless `offline`),
    newest first, each with whether its data is whole in the cache, the local remote and
    `remote`."""
    project = Project.open(repo, strict=False, config=config)
    refresh_catalog(project, offline)
    found = _deleted(project, now or now_utc(), remote)
    project.journal("list", "ok", deleted=len(found), remote=remote)
    return found


def undelete(ref: str, *, repo: Path | None = None, remote: str | None = None,
             wait: float = 0, now: datetime | None = None, config: Path | None = None
             ) -> UndeleteResult:
    """Bring back a deleted backup: the same tag object, on the git remote first (and its
    tombstone removed there in the same atomic push), then here. Refused, with nothing
    changed, when its data is not whole in the stores at hand (cache, local remote,
    `remote`): exit 5, "swept" once its window is past."""
    check_name(ref)
    project = Project.open(repo, strict=False, config=config)
    moment = now or now_utc()
    with locked_operation(project, "undelete", wait, timestamp=ref):
        git_remote, why = git_remote_of(project)
        if git_remote is not None:
            try:
                fetch_catalog(project)
            except RemoteError as exc:
                raise RemoteError(f"{exc.message}; undelete puts the tag back on the git "
                                  "remote first (nothing was changed)",
                                  hint="run it again when the git remote answers") from None
        if remote:
            project.store.preflight(remote)
        found = _resolve(project, ref, moment, remote)
        if found.backup is None:
            raise _not_kept(project, found)
        if found.objects is None:
            raise ManifestError(f"the file list of {found.tag} cannot be read: undelete "
                                "cannot tell whether its data is whole; nothing was changed")
        if found.missing:
            raise _gone(found, deleted_window(project), moment)
        mark = project.git.write_blob(undeleted_json(
            found.tombstone.tag_object, moment.isoformat(timespec="seconds"),
            f"{user_name()}@{host_name()}").encode())
        outcome = _put_back_on_remote(project, git_remote, why, found, mark)
        pause_point(project.root, PausePoint.AFTER_UNDELETE_PUSH)
        project.git.update_refs(delete=[DELETED_NAMESPACE + found.timestamp], create={
            f"refs/tags/{found.tag}": found.tombstone.tag_object,
            PRUNED_NAMESPACE + found.timestamp: mark})
        result = UndeleteResult(found, outcome)
        # The remotes' manifests went with the prune: put back where the objects are whole.
        stores = _stores(project, remote)
        for store in stores[:-1]:
            lacking = _lacking_in(project, store, found.backup)
            result.lacking[store.name] = lacking
            if not lacking:
                written = put_manifest_from_commit(project, store.name, found.backup, None)
                if written is not None:
                    result.manifests[store.name] = written
        project.journal("undelete", "ok" if result.failure() is None else "partial",
                        tag=found.tag)
        return result


def _not_kept(project: Project, found: DeletedBackup) -> VerificationError:
    """Why a deleted backup's tag cannot come back: none kept, or a kept ref that is not
    the tag object its tombstone names (a stray or forged ref, from the git remote too),
    or one that is no valid backup of that name."""
    kept = {r.name: r.object_id for r in project.git.refs(DELETED_NAMESPACE)}
    hint = "`hdversion list --deleted` shows what can be brought back"
    held = kept.get(found.timestamp)
    if held is not None and held != found.tombstone.tag_object:
        return VerificationError(
            f"{DELETED_NAMESPACE}{found.timestamp} names tag object {held[:12]}, but the "
            f"tombstone of {found.tag} names {found.tombstone.tag_object[:12]}: a stray or "
            "forged ref, not brought back; nothing was changed", hint=hint)
    if held is not None:
        return VerificationError(
            f"the kept tag object of {found.tag} is not a valid backup of that name: not "
            "brought back; nothing was changed", hint=hint)
    return VerificationError(
        f"the tag of {found.tag} is not kept (pruned by an older hdversion, or its tag "
        "object never reached this clone): it cannot be brought back", hint=hint)


def _put_back_on_remote(project: Project, remote: str | None, why: str,
                        found: DeletedBackup, mark: str) -> RemoteOutcome:
    """The tag back on the git remote, its kept ref gone and its tombstone replaced by
    undelete's mark, in one atomic push: a tombstone left there would delete the tag again
    at the next fetch, and the mark replaces the stale tombstone of every clone that
    fetches. RemoteError when the remote refuses: nothing was changed."""
    if remote is None:
        return RemoteOutcome("", True, why)
    kept = DELETED_NAMESPACE + found.timestamp
    try:
        present = project.git.remote_refs(remote, kept)
        project.git.delete_remote_refs(
            remote, [kept] if kept in present else [],
            create={f"refs/tags/{found.tag}": found.tombstone.tag_object},
            replace={PRUNED_NAMESPACE + found.timestamp: mark})
    except RemoteError as exc:
        raise RemoteError(f"{exc.message}; nothing was changed",
                          hint="run undelete again when the git remote answers") from None
    return RemoteOutcome(remote, True, "pushed")


def _resolve(project: Project, name: str, now: datetime, remote: str | None) -> DeletedBackup:
    """The deleted backup `name` names, in the usual grammar, among the deleted backups
    only: a name that matches none is refused (exit 4), never widened to a live one."""
    stones = {t: s for t, s in read_tombstones(project.git).items() if not s.undeleted}
    kept = deleted_catalog(project.git, stones)

    def latest() -> str:
        present = [t for t in stones if t <= newest_present(now)]
        if not present:
            raise BackupNotFoundError("there are no deleted backups",
                                      hint="`hdversion list --deleted` shows them")
        return max(present)

    names = BackupNames(list(stones), latest, where=" among the deleted backups")
    timestamp = names.resolve(name)
    live = {r.removeprefix(TAG_PREFIX) for r in project.git.tag_ids(TAG_PREFIX)}
    if timestamp not in stones or timestamp in live:
        tag = tag_for(timestamp)
        raise BackupNotFoundError(
            f"{tag} is not deleted: it is a backup here" if timestamp in live
            else f"no deleted backup {tag}",
            hint="`hdversion list --deleted` shows the backups undelete can bring back")
    backup = next((b for b in kept.backups if b.timestamp == timestamp), None)
    listings = [project.store.listing(s, _known_objects(project, backup))
                for s in _stores(project, remote)] if backup else []
    return _describe(project, stones[timestamp], backup, deleted_window(project), now,
                     listings)


def _deleted(project: Project, now: datetime, remote: str | None) -> list[DeletedBackup]:
    stones = {t: s for t, s in read_tombstones(project.git).items() if not s.undeleted}
    kept = {b.timestamp: b for b in deleted_catalog(project.git, stones).backups}
    live = {r.removeprefix(TAG_PREFIX) for r in project.git.tag_ids(TAG_PREFIX)}
    window = deleted_window(project)
    known = {md5 for backup in kept.values() for md5 in _known_objects(project, backup)}
    listings = [project.store.listing(s, known) for s in _stores(project, remote)] if kept \
        else []
    return [_describe(project, stone, kept.get(ts), window, now, listings)
            for ts, stone in sorted(stones.items(), reverse=True) if ts not in live]


def _describe(project: Project, stone: Tombstone, backup: Backup | None, window: Duration,
              now: datetime, listings: list[dict[str, StoredObject]]) -> DeletedBackup:
    missing: int | None = None
    objects: int | None = None
    if backup is not None:
        try:
            needed = _objects(project, backup)
        except ManifestError:
            needed = None
        if needed is not None:
            objects = len(needed)
            missing = sum(not any(_held(listing.get(md5), size) for listing in listings)
                          for md5, size in needed.items())
    return DeletedBackup(stone.timestamp, stone, backup, stone.undeletable_until(window, now),
                         missing, objects)


def _objects(project: Project, backup: Backup) -> dict[str, int | None]:
    """md5 -> size (None: not recorded) of every object a backup needs: its files' and its
    directory listings' (as prune counts them)."""
    needed: dict[str, int | None] = {f.md5: f.size for f in files_of(project.git, backup)
                                     if f.store == "dvc"}
    needed |= {o.md5: None for o in backup.manifest.outputs if o.is_dir and o.store == "dvc"}
    return needed


def _known_objects(project: Project, backup: Backup) -> dict[str, int | None]:
    try:
        return _objects(project, backup)
    except ManifestError:
        return {}


def _held(stored: StoredObject | None, size: int | None) -> bool:
    return stored is not None and (stored.size is None or size is None or stored.size == size)


def _lacking_in(project: Project, store: Store, backup: Backup) -> int:
    needed = _objects(project, backup)
    listing = project.store.listing(store, needed)
    return sum(not _held(listing.get(md5), size) for md5, size in needed.items())


def _stores(project: Project, remote: str | None) -> list[Store]:
    """The stores at hand: the local remote, the named remote, then the cache (last: it is
    not where a backup is checked whole)."""
    store = project.store
    return [store.remote(project.settings.local_remote),
            *([store.remote(remote)] if remote else []), store.cache()]


def _gone(found: DeletedBackup, window: Duration, now: datetime) -> VerificationError:
    lost = f"{found.missing} of its {found.objects} object(s) are in no store at hand"
    if found.until is not None and not found.tombstone.within(window, now):
        return VerificationError(
            f"the data of {found.tag} was swept after its undelete window ended on "
            f"{found.until:%Y-%m-%d %H:%M} UTC ({lost}): it cannot be brought back; nothing "
            "was changed")
    return VerificationError(
        f"the data of {found.tag} is gone ({lost}): it cannot be brought back from here; "
        "nothing was changed",
        hint="name a remote that may still hold it (--remote NAME)")
