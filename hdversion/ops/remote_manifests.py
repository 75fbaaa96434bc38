"""Self-describing remotes (the writing side): each backup's manifest (tag message and file
list) and the bytes of its git-stored files go into every remote that holds its objects, so
that the remote alone can list and restore it (`ops/remote_recovery.py`).

Order is the invariant: the objects are confirmed in the remote first (publish.py), then the
git-stored files' blobs are written, and the manifest LAST; a manifest in a remote therefore
means its backup is whole there. Prune deletes the manifest first (`Records.delete_backup`),
before any object the backup used is swept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hdversion.datastore.store import Records
from hdversion.errors import ConfigurationError, HdversionError, ManifestError
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.model.remote_records import manifest_key, record_bytes
from hdversion.ops.catalog import files_of
from hdversion.ops.project import Project
from hdversion.ops.push import RemoteOutcome, needed_objects, push_and_confirm
from hdversion.ops.sources import git_files
from hdversion.paths import FILE_LIST
from hdversion.util.hashing import md5_bytes
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Reporter


@dataclass
class Placed:
    """What `put_backups` did, by backup tag."""

    pushed: dict[str, RemoteOutcome] = field(default_factory=dict)  # objects the remote lacked
    manifests: dict[str, RemoteOutcome] = field(default_factory=dict)  # manifests it lacked


def put_backups(project: Project, remote: str, backups: Iterable[Backup],
                files: Mapping[str, tuple[FileEntry, ...]], complete: Iterable[str],
                reporter: Reporter = SILENT) -> Placed:
    """Put backups into a remote, in the order given: the objects of each one not
    `complete` (tags whose objects the remote's listing already shows) pushed from the cache
    and confirmed by that listing, then the manifest of each backup whole there that the
    remote lacks. The one way a command fills a remote (`sync`, `copy`; `verify --repair`
    for the manifests of the backups it checked whole), so that no remote gets a backup's
    objects without the manifest that lets it alone restore them. `files`: the file lists
    by tag (needed for those not complete; the others' are read if needed)."""
    placed = Placed()
    complete = set(complete)
    bucket: Records | None = None
    present: set[str] = set()
    unreadable: RemoteOutcome | None = None
    try:
        bucket = _records(project, remote)
        # One listing, then a request only where a folder is there (its manifest may not be).
        present = set(bucket.prunable_folders())
    except HdversionError as exc:
        unreadable = RemoteOutcome(remote, False, f"manifests not written: {exc.message}")
    for backup in backups:
        if backup.tag not in complete:
            if placed.pushed:
                pause_point(project.root, PausePoint.BETWEEN_SYNC_PUSHES)
            reporter.step(f"pushing {backup.tag} to remote '{remote}'")
            objects = needed_objects(project, files[backup.tag], backup.manifest.outputs)
            placed.pushed[backup.tag] = push_and_confirm(project, backup.commit, objects, remote,
                                                         reporter)
            if not placed.pushed[backup.tag].ok:
                continue
        if unreadable is not None:
            placed.manifests[backup.tag] = unreadable
            continue
        outcome = put_manifest_from_commit(project, remote, backup, files.get(backup.tag), bucket,
                                      maybe_there=backup.timestamp in present)
        if outcome is not None:
            placed.manifests[backup.tag] = outcome
    return placed


def lacking_manifests(project: Project, remote: str, backups: Iterable[Backup]) -> set[str]:
    """The tags of the backups whose manifest the remote lacks (it cannot list or restore
    them alone): one listing of the folders, then a request per folder there. Version-1
    backups have none to lack. Raises what the remote answers with."""
    wanted = [b for b in backups if b.manifest.inline_files is None]
    if not wanted:
        return set()
    bucket = _records(project, remote)
    present = set(bucket.prunable_folders())
    return {b.tag for b in wanted if b.timestamp not in present
            or not bucket.has(manifest_key(b.timestamp))}


def write_manifest(project: Project, remote: str, backup: Backup,
                   files: Iterable[FileEntry], file_list: bytes,
                   git_bytes: Mapping[str, bytes]) -> None:
    """Write a backup's git-stored files, then its manifest, into a remote that holds its
    objects. `git_bytes`: path -> bytes of its git-stored files. Raises what fails."""
    bucket = _records(project, remote)
    blobs: dict[str, bytes] = {}
    for entry in files:
        if entry.store != "git":
            continue
        data = git_bytes.get(entry.path)
        if data is None or md5_bytes(data) != entry.md5:
            raise ManifestError(f"backup {backup.tag}: the bytes of {entry.path} do not "
                                "match its file list; no manifest was written")
        blobs[entry.md5] = data
    for md5, data in sorted(blobs.items()):
        bucket.write(bucket.blob_key(backup.timestamp, md5), data)
    pause_point(project.root, PausePoint.BEFORE_REMOTE_MANIFEST)
    bucket.write(manifest_key(backup.timestamp),
                 record_bytes(backup.manifest.to_json(), file_list, backup.commit))


def put_manifest(project: Project, remote: str, backup: Backup,
                     files: Iterable[FileEntry], file_list: bytes,
                     git_bytes: Mapping[str, bytes]) -> RemoteOutcome:
    """`write_manifest`, its failure reported as an outcome instead of raised."""
    try:
        write_manifest(project, remote, backup, files, file_list, git_bytes)
    except HdversionError as exc:
        return RemoteOutcome(remote, False, f"manifest not written: {exc.message}")
    return RemoteOutcome(remote, True)


def put_manifest_from_commit(project: Project, remote: str, backup: Backup,
                        files: tuple[FileEntry, ...] | None, bucket: Records | None = None,
                        maybe_there: bool = True) -> RemoteOutcome | None:
    """Write the manifest of an existing backup (read from its commit) unless the remote has
    one (asked only if `maybe_there`); None when it had one already (or the backup is of
    version 1, which has no file list to write). `files`: its file list, read here if None."""
    if backup.manifest.inline_files is not None:
        return None
    try:
        bucket = bucket or _records(project, remote)
        if maybe_there and bucket.has(manifest_key(backup.timestamp)):
            return None
    except HdversionError as exc:
        return RemoteOutcome(remote, False, f"manifest not written: {exc.message}")
    try:
        files = files if files is not None else files_of(project.git, backup)
    except ManifestError as exc:
        return RemoteOutcome(remote, False, exc.message)
    file_list = project.git.read_files([(backup.commit, FILE_LIST)])[0]
    if file_list is None:
        return RemoteOutcome(remote, False, f"backup {backup.tag} has no file list")
    # Only checked bytes: a blob that is not the manifest's leaves no manifest written.
    git_bytes = git_files(project, backup, [f for f in files if f.store == "git"]).found
    return put_manifest(project, remote, backup, files, file_list, git_bytes)


def _records(project: Project, remote: str) -> Records:
    """A remote's records (manifests, git-stored files' blobs): the keyed view of its store,
    written whole or not at all."""
    records = project.store.remote(remote).records
    if records is None:  # only the cache has none, and it is no remote
        raise ConfigurationError(f"'{remote}' is not a remote")
    return records


def delete_manifests(project: Project, remote: str, timestamps: Iterable[str]) -> list[str]:
    """Delete the folders of pruned backups from a remote (manifest first); the timestamps
    whose folder was there. Called with every timestamp that carries a tombstone, so a prune
    killed half-way is finished by the next one."""
    bucket = _records(project, remote)
    present = set(bucket.prunable_folders())
    deleted: list[str] = []
    for timestamp in sorted(set(timestamps) & present):
        if deleted:
            pause_point(project.root, PausePoint.BETWEEN_DELETES)
        if bucket.delete_backup(timestamp):
            deleted.append(timestamp)
    return deleted
