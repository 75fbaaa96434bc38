"""The catalog as the repository holds it: backup tags read in one git call, tags fetched from
the git remote when a wanted backup is not known here, and each backup's file list (version 2:
a file in the backup commit, checked against its tag)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from hdversion.errors import ManifestError, RemoteError
from hdversion.gitrepo import GitRepo
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.manifest import FileEntry, FileList
from hdversion.model.pins import PIN_NAMESPACE, PRUNED_NAMESPACE, Pin, tombstone_target
from hdversion.model.timestamps import TAG_PREFIX, parse_timestamp, tag_for
from hdversion.ops.project import Project
from hdversion.paths import FILE_LIST

log = logging.getLogger("hdversion")


def read_catalog(git: GitRepo) -> Catalog:
    return Catalog.from_tags(git.tags(TAG_PREFIX))


# Seconds `list` and `restore` give the git remote: a dead server must not hang them.
FETCH_TIMEOUT = 30.0


def catalog_with(project: Project, timestamp: str | None = None,
                 offline: bool = False) -> Catalog:
    """The catalog, fresh: backup tags, pins and tombstones fetched from the git remote first
    (backups made on other machines, backups pruned there). Unless `offline`; a fetch that
    fails is a warning, and the catalog is what this clone knows."""
    if timestamp is not None:
        parse_timestamp(timestamp)
    if not offline:
        refresh_catalog(project)
    return read_catalog(project.git)


def refresh_catalog(project: Project) -> None:
    """Fetch the catalog from the git remote; a fetch that fails is a warning."""
    try:
        fetch_catalog(project, timeout=FETCH_TIMEOUT)
    except RemoteError as exc:
        log.warning("%s; using the backups this clone knows (--offline skips the fetch)",
                    exc.message)


def fetch_catalog(project: Project, timeout: float | None = None) -> str | None:
    """Fetch every backup tag, pin and tombstone from the git remote, and delete here the
    tags of backups pruned elsewhere; the remote's name, or None when there is none.
    RemoteError (exit 7) when it cannot be read."""
    remote = project.settings.git_remote
    if remote is None or remote not in project.git.remote_names():
        return None
    project.git.fetch_tags(remote, TAG_PREFIX + "*", PIN_NAMESPACE + "*",
                           PRUNED_NAMESPACE + "*", timeout=timeout)
    apply_tombstones(project.git)
    return remote


def read_pins(git: GitRepo) -> dict[str, Pin]:
    """The pins by backup tag."""
    pins = (Pin.from_ref(r.name, r.target, r.message) for r in git.refs(PIN_NAMESPACE))
    return {tag_for(pin.timestamp): pin for pin in pins if pin is not None}


def pruned_timestamps(git: GitRepo) -> set[str]:
    """Timestamps that carry a tombstone (never given to a new backup)."""
    return {record.name for record in git.refs(PRUNED_NAMESPACE)}


def tombstones(git: GitRepo) -> dict[str, str]:
    """Timestamp -> the tag object that a prune (here or in another clone) removed, for the
    tombstones that parse."""
    records = git.refs(PRUNED_NAMESPACE)
    targets = git.read_objects([r.object_id for r in records])
    return {r.name: target for r, data in zip(records, targets, strict=True)
            if (target := tombstone_target(data)) is not None}


def apply_tombstones(git: GitRepo) -> list[str]:
    """Delete the tags of backups that a prune removed (here or elsewhere): their data is
    gone, and a tag kept here would be pushed back to the git remote by the next sync. Only
    the very tag object a tombstone names is deleted: a forged or stray tombstone deletes
    nothing."""
    buried = tombstones(git)
    stale = [f"refs/tags/{r.name}" for r in git.tags(TAG_PREFIX)
             if buried.get(r.name.removeprefix(TAG_PREFIX)) == r.object_id]
    git.delete_refs(stale)
    return stale


def files_of(git: GitRepo, backup: Backup) -> tuple[FileEntry, ...]:
    """Every file of a backup, validated against its tag."""
    return files_of_many(git, [backup])[backup.tag]


def files_of_many(git: GitRepo, backups: Iterable[Backup]) -> dict[str, tuple[FileEntry, ...]]:
    """The file lists of many backups (by tag), read in one git call."""
    backups = list(backups)
    files = {b.tag: b.manifest.inline_files for b in backups
             if b.manifest.inline_files is not None}
    stored = [b for b in backups if b.manifest.inline_files is None]
    for backup, data in zip(stored, git.read_files([(b.commit, FILE_LIST) for b in stored]),
                            strict=True):
        if data is None:
            raise ManifestError(f"backup {backup.tag} has no file list ({FILE_LIST}) in its "
                                "commit: its manifest is invalid")
        try:
            files[backup.tag] = FileList.parse(data, backup.manifest).files
        except ManifestError as exc:
            raise ManifestError(f"backup {backup.tag}: {exc.message}") from None
    return files


def known_md5s(git: GitRepo, catalog: Catalog, wanted: set[str]) -> set[str]:
    """Which of `wanted` some backup holds. The tags' outputs answer for whole files; file
    lists are read only for what they leave open."""
    found = {o.md5 for b in catalog.backups for o in b.manifest.outputs} & wanted
    if found == wanted:
        return found
    try:
        lists = files_of_many(git, catalog.backups)
    except ManifestError:
        lists = {}
        for backup in catalog.backups:
            # An invalid backup holds nothing we can count on.
            with contextlib.suppress(ManifestError):
                lists[backup.tag] = files_of(git, backup)
    return found | ({f.md5 for files in lists.values() for f in files} & wanted)
