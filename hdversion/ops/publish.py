"""Making a backup known elsewhere: push its objects to a remote and confirm them there by
the remote's own listing; push backup tags to the git remote."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hdversion.errors import RemoteError
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.ops.project import Project


@dataclass
class RemoteOutcome:
    name: str
    ok: bool
    detail: str = ""


def dvc_objects(files: Iterable[FileEntry]) -> dict[str, int]:
    """The DVC objects some files need: md5 -> size."""
    return {f.md5: f.size for f in files if f.store == "dvc"}


def push_and_confirm(project: Project, backup: Backup, files: Iterable[FileEntry],
                     remote: str) -> RemoteOutcome:
    """Push a backup's objects to a remote and confirm them there by listing."""
    objects = dvc_objects(files)
    transfers = project.store.transfers
    try:
        transfers.push(backup.commit, remote)
        lacking = transfers.missing_in_remote(remote, objects)
        if lacking:
            # DVC skips what it believes the remote has; a truncated or damaged object there
            # is replaced from a verified cache copy.
            transfers.upload_verified(remote, lacking)
            lacking = transfers.missing_in_remote(remote, objects)
    except RemoteError as exc:
        return RemoteOutcome(remote, False, exc.message)
    if lacking:
        return RemoteOutcome(remote, False, f"{len(lacking)} object(s) missing after the push "
                             "(not in the local cache either)")
    return RemoteOutcome(remote, True)


def publish_tags(project: Project, tags: list[str]) -> RemoteOutcome:
    """Push backup tags to the git remote, so that other clones see the backups."""
    remote = project.settings.git_remote
    if remote is None:
        return RemoteOutcome("", True, "tag push disabled (git_remote is empty): kept locally")
    if remote not in project.git.remote_names():
        return RemoteOutcome(remote, True, f"no git remote '{remote}': tag kept locally")
    try:
        project.git.push_tags(remote, tags)
    except RemoteError as exc:
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True, "pushed")
