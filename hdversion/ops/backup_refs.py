"""The refs that travel with the backup tags: pins (a backup kept whatever the retention
policy), aliases (a name moved from backup to backup), tombstones (a backup pruned, here or
in another clone) with the pruned tags they keep for undelete, and the fetch that brings
them all from the git remote. Nothing here reads a manifest: `list --json` served from its
cache needs no more than this."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hdversion.errors import GitError, ManifestError, RemoteError
from hdversion.gitrepo import GitRepo
from hdversion.model.namespaces import (
    ALIAS_NAMESPACE,
    DELETED_NAMESPACE,
    PIN_NAMESPACE,
    PRUNED_NAMESPACE,
)
from hdversion.model.timestamps import TAG_PREFIX, tag_for
from hdversion.ops.project import Project
from hdversion.util.log import log

if TYPE_CHECKING:  # `list --json` from its cache reads no manifest: no catalog to load
    from hdversion.gitrepo import TagRecord
    from hdversion.model.aliases import AliasRecord
    from hdversion.model.catalog import Catalog
    from hdversion.model.deleted import Tombstone
    from hdversion.model.pins import Pin

# Seconds `list` and `restore` give the git remote: a dead server must not hang them.
FETCH_TIMEOUT = 30.0
# Loose backup tags beyond which they are packed: git reads a thousand loose refs in 10 ms,
# a thousand packed ones in 3.
LOOSE_TAGS_PACKED_AT = 50


def refresh_catalog(project: Project, offline: bool = False) -> None:
    """Make the backup refs ready to read: fetched from the git remote unless `offline` (a
    fetch that fails is a warning), then packed once many are loose."""
    if not offline:
        try:
            fetch_catalog(project, timeout=FETCH_TIMEOUT)
        except RemoteError as exc:
            log.warning("%s; using the backups this clone knows (--offline skips the fetch)",
                        exc.message)
    keep_tags_packed(project.git)


def fetch_catalog(project: Project, timeout: float | None = None) -> str | None:
    """Fetch every backup tag, pin, alias and tombstone from the git remote, and delete here
    the tags of backups pruned elsewhere; the remote's name, or None when there is none.
    RemoteError (exit 7) when it cannot be read."""
    remote = project.settings.git_remote
    if remote is None or remote not in project.git.remote_names():
        return None
    # Aliases as pins: the remote's replaces this clone's (a move is made there first).
    project.git.fetch_tags(remote, TAG_PREFIX + "*", PIN_NAMESPACE + "*",
                           ALIAS_NAMESPACE + "*", PRUNED_NAMESPACE + "*",
                           DELETED_NAMESPACE + "*", timeout=timeout)
    apply_tombstones(project.git)
    return remote


def fetch_tombstones(project: Project, remote: str) -> list[str]:
    """Fetch the git remote's tombstones and delete here the tags they bury (each named in a
    warning: a backup that seemed to be here is gone); the refs deleted. RemoteError (exit 7)
    when the remote cannot be read."""
    project.git.fetch_refs(remote, PRUNED_NAMESPACE + "*")
    buried = apply_tombstones(project.git)
    for ref in buried:
        log.warning("%s was pruned in another clone (its tombstone is on git remote '%s'): "
                    "its tag here is deleted, not pushed back", ref.removeprefix("refs/tags/"),
                    remote)
    return buried


def keep_tags_packed(git: GitRepo) -> None:
    """Pack the backup tags once many are loose (each backup, each fetch leaves one file per
    tag, and `git gc --auto` packs them only when it also finds objects to pack). Best
    effort: a git busy with its refs leaves them loose, and they are read as they are."""
    if git.loose_tags(TAG_PREFIX) < LOOSE_TAGS_PACKED_AT:
        return
    try:
        git.pack_tags()
    except GitError as exc:
        log.debug("backup tags left loose: %s", exc)


def read_pins(git: GitRepo, refs: list[TagRecord] | None = None) -> dict[str, Pin]:
    """The pins by backup tag (from `refs` under PIN_NAMESPACE where the caller read them
    already)."""
    refs = git.refs(PIN_NAMESPACE) if refs is None else refs
    if not refs:
        return {}  # the pin's model is not loaded (list --json's start-up)
    from hdversion.model.pins import Pin

    pins = (Pin.from_ref(r.name, r.target, r.message) for r in refs)
    return {tag_for(pin.timestamp): pin for pin in pins if pin is not None}


def read_aliases(git: GitRepo, refs: list[TagRecord] | None = None
                 ) -> tuple[dict[str, AliasRecord], dict[str, str]]:
    """Every alias's current record (removed ones included), in one git call (none when
    the caller read `refs` under ALIAS_NAMESPACE already); and the aliases whose record does
    not parse, with why (they name nothing)."""
    records: dict[str, AliasRecord] = {}
    broken: dict[str, str] = {}
    refs = git.refs(ALIAS_NAMESPACE) if refs is None else refs
    if not refs:
        return records, broken  # the alias's model is not loaded (list --json's start-up)
    from hdversion.model.aliases import AliasRecord

    for ref in refs:
        if ref.object_type != "tag":
            broken[ref.name] = f"not an annotated tag but a {ref.object_type[:20]}"
            continue
        try:
            records[ref.name] = AliasRecord.parse(ref.name, ref.message, ref.object_id,
                                                  ref.target)
        except ManifestError as exc:
            broken[ref.name] = exc.message
    return records, broken


def pruned_timestamps(git: GitRepo) -> set[str]:
    """Timestamps that carry a tombstone (never given to a new backup)."""
    return {record.name for record in git.refs(PRUNED_NAMESPACE)}


def tombstones(git: GitRepo) -> dict[str, str]:
    """Timestamp -> the tag object that a prune (here or in another clone) removed, for the
    tombstones that parse."""
    records = git.refs(PRUNED_NAMESPACE)
    if not records:
        return {}
    from hdversion.model.pins import tombstone_target

    targets = git.read_objects([r.object_id for r in records])
    return {r.name: target for r, data in zip(records, targets, strict=True)
            if (target := tombstone_target(data)) is not None}


def read_tombstones(git: GitRepo) -> dict[str, Tombstone]:
    """Timestamp -> its tombstone, for the tombstones that parse (undelete's marks
    included: `Tombstone.undeleted`)."""
    from hdversion.model.deleted import Tombstone

    records = git.refs(PRUNED_NAMESPACE)
    data = git.read_objects([r.object_id for r in records])
    parsed = (Tombstone.parse(r.name, blob) for r, blob in zip(records, data, strict=True))
    return {t.timestamp: t for t in parsed if t is not None}


def deleted_catalog(git: GitRepo, buried: dict[str, Tombstone]) -> Catalog:
    """The deleted backups whose tag is kept here (refs/hdversion/deleted/<timestamp>), as a
    catalog: only a kept tag that is the very tag object its tombstone names (a stray or
    forged ref brings back nothing)."""
    from dataclasses import replace

    from hdversion.model.catalog import Catalog

    kept = [replace(r, name=tag_for(r.name)) for r in git.refs(DELETED_NAMESPACE)
            if r.name in buried and not buried[r.name].undeleted
            and buried[r.name].tag_object == r.object_id]
    return Catalog.from_tags(kept)


def apply_tombstones(git: GitRepo) -> list[str]:
    """Delete the tags of backups that a prune removed (here or elsewhere): their data is
    gone, and a tag kept here would be pushed back to the git remote by the next sync. Only
    the very tag object a tombstone names is deleted: a forged or stray tombstone deletes
    nothing."""
    buried = tombstones(git)
    if not buried:
        return []
    # The tags' ids alone, no message: every fetch runs this, whatever the number of tags.
    stale = [f"refs/tags/{name}" for name, object_id in git.tag_object_ids(TAG_PREFIX).items()
             if buried.get(name.removeprefix(TAG_PREFIX)) == object_id]
    git.delete_refs(stale)
    return stale
