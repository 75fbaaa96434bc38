"""Making a backup known elsewhere: push its objects to a remote and confirm them there by
the remote's own listing; push backup tags to the git remote."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hdversion.errors import HdversionError, RemoteError
from hdversion.model.manifest import FileEntry, OutputEntry
from hdversion.model.timestamps import TAG_PREFIX
from hdversion.ops.backup_refs import fetch_tombstones, pruned_timestamps
from hdversion.ops.project import Project


@dataclass
class RemoteOutcome:
    name: str
    ok: bool
    detail: str = ""


def dvc_objects(files: Iterable[FileEntry]) -> dict[str, int]:
    """The DVC objects some files need: md5 -> size."""
    return {f.md5: f.size for f in files if f.store == "dvc"}


def needed_objects(project: Project, files: Iterable[FileEntry],
                   outputs: Iterable[OutputEntry]) -> dict[str, int]:
    """Every DVC object a backup needs in a remote: its files, and the listing (`.dir`
    object) of each directory output, without which DVC cannot fetch the directory. A listing
    is counted where the cache holds it (its size is known only there)."""
    objects = dvc_objects(files)
    for output in outputs:
        if output.is_dir and output.store == "dvc":
            listing = project.store.cache_path(output.md5)
            if listing.is_file():
                objects[output.md5] = listing.stat().st_size
    return objects


def push_and_confirm(project: Project, commit: str, objects: dict[str, int],
                     remote: str) -> RemoteOutcome:
    """`confirm_pushed`, its failure reported as an outcome instead of raised."""
    try:
        confirm_pushed(project, commit, objects, remote)
    except HdversionError as exc:
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True)


def confirm_pushed(project: Project, commit: str, objects: dict[str, int],
                   remote: str) -> None:
    """Push a backup's objects (those of its commit) to a remote, unless the remote's own
    listing shows them all there already, and confirm them there by that listing; what it
    lacks (an upload killed half-way, a truncated object) is uploaded again from verified
    cache copies. Raises what still fails. (`commit` is not needed: the objects are named.)"""
    transfers = project.store
    # The remote's own listing first: when it holds every object at its size (an unchanged
    # backup), nothing is put.
    lacking = transfers.missing_in_remote(remote, objects)
    if not lacking:
        return
    transfers.push(remote, {md5: objects[md5] for md5 in lacking})
    lacking = transfers.missing_in_remote(remote, objects)
    if lacking:
        # The push puts what the remote does not hold at all; a truncated or damaged object
        # there is replaced, one by one, from a verified cache copy.
        transfers.upload_verified(remote, lacking)
        lacking = transfers.missing_in_remote(remote, objects)
    if lacking:
        raise RemoteError(f"{len(lacking)} object(s) missing in remote '{remote}' after the "
                          "push (not in the local cache either)")


def git_remote_of(project: Project) -> tuple[str | None, str]:
    """The git remote that receives backup tags and pins, or None and why there is none."""
    remote = project.settings.git_remote
    if remote is None:
        return None, "tag push disabled (git_remote is empty): kept locally"
    if remote not in project.git.remote_names():
        return None, f"no git remote '{remote}': kept locally"
    return remote, ""


def publish_tags(project: Project, tags: list[str], refs: list[str] | None = None
                 ) -> RemoteOutcome:
    """Push backup tags (and other refs: pins) to the git remote, so that other clones see
    the backups. The only way anything reaches the git remote's tags and pins: the remote's
    tombstones are fetched first and the tags they bury deleted here, so that no backup
    pruned in another clone is ever pushed back (its data is gone). A remote whose
    tombstones cannot be read gets nothing."""
    remote, why = git_remote_of(project)
    if remote is None:
        return RemoteOutcome(project.settings.git_remote or "", True, why)
    try:
        fetch_tombstones(project, remote)
    except RemoteError as exc:
        return RemoteOutcome(remote, False, f"could not push backup tags to git remote "
                             f"'{remote}': its prune tombstones must be read first, and "
                             f"{exc.message}")
    try:
        standing = {f"refs/tags/{r.name}" for r in project.git.tags(TAG_PREFIX)}
        project.git.push_refs(remote, [ref for ref in (f"refs/tags/{t}" for t in tags)
                                       if ref in standing] + (refs or []))
    except RemoteError as exc:
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True, "pushed")


def unpublished_tags(project: Project) -> list[str]:
    """Backup tags made here whose push to the git remote failed (or never happened): the
    next backup pushes them too. Backups pruned anywhere are not among them. Empty when the
    git remote cannot be read (the backup's own push then says why)."""
    remote, _ = git_remote_of(project)
    if remote is None:
        return []
    try:
        there = project.git.remote_refs(remote, f"refs/tags/{TAG_PREFIX}*")
    except RemoteError:
        return []
    pruned = pruned_timestamps(project.git)
    return [r.name for r in project.git.tags(TAG_PREFIX)
            if f"refs/tags/{r.name}" not in there
            and r.name.removeprefix(TAG_PREFIX) not in pruned]
