"""Publishing: making backups known to other clones by pushing their tags (and pins) to the
git remote, the only way anything reaches it (`publish_tags` reads the remote's tombstones
first). Their objects go into remotes by `ops/push.py`."""

from __future__ import annotations

from hdversion.errors import RemoteError
from hdversion.model.timestamps import TAG_PREFIX
from hdversion.ops.backup_refs import fetch_tombstones, pruned_timestamps
from hdversion.ops.project import Project
from hdversion.ops.push import RemoteOutcome

PUSHED = "pushed"


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
        standing = {f"refs/tags/{name}" for name in project.git.tag_object_ids(TAG_PREFIX)}
        project.git.push_refs(remote, [ref for ref in (f"refs/tags/{t}" for t in tags)
                                       if ref in standing] + (refs or []))
    except RemoteError as exc:
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True, PUSHED)


def published_later(project: Project, outcome: RemoteOutcome | None) -> bool:
    """Whether tags just published (`outcome`; None: not tried) did not reach the git remote
    of a clone that has one: other clones that follow it cannot see them yet, and may later
    (the next backup or sync pushes them, or a person does). A clone with no git remote at
    all shares its tags with nobody."""
    reached = outcome is not None and outcome.ok and outcome.detail == PUSHED
    return not reached and bool(project.git.remote_names())


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
    # Names alone: reading every tag's message cost a backup 2.5 s at 100,000 backups.
    return [name for name in project.git.tag_object_ids(TAG_PREFIX)
            if f"refs/tags/{name}" not in there
            and name.removeprefix(TAG_PREFIX) not in pruned]
