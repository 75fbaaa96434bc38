"""Self-describing remotes (the writing side): each backup's manifest (tag message and file
list) and the bytes of its git-stored files go into every remote that holds its objects, so
that the remote alone can list and restore it (`ops/bucket_recovery.py`).

Order is the invariant: the objects are confirmed in the remote first (publish.py), then the
git-stored files' blobs are written, and the manifest LAST; a manifest in a remote therefore
means its backup is whole there. Prune deletes the manifest first (`Bucket.delete_backup`),
before any object the backup used is swept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hdversion.datastore.bucket import Bucket, bucket_of_remote
from hdversion.errors import HdversionError, ManifestError
from hdversion.model.bucket import blob_key, manifest_key, record_bytes
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.ops.project import Project
from hdversion.ops.publish import RemoteOutcome
from hdversion.paths import FILE_LIST
from hdversion.util.hashing import md5_bytes
from hdversion.util.pausepoints import PausePoint, pause_point


def write_manifest(project: Project, remote: str, backup: Backup,
                   files: Iterable[FileEntry], file_list: bytes,
                   git_bytes: Mapping[str, bytes]) -> None:
    """Write a backup's git-stored files, then its manifest, into a remote that holds its
    objects. `git_bytes`: path -> bytes of its git-stored files. Raises what fails."""
    bucket = bucket_of_remote(project.store.session, remote)
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
        bucket.write(blob_key(backup.timestamp, md5), data)
    pause_point(project.root, PausePoint.BEFORE_REMOTE_MANIFEST)
    bucket.write(manifest_key(backup.timestamp),
                 record_bytes(backup.manifest.to_json(), file_list, backup.commit))


def publish_manifest(project: Project, remote: str, backup: Backup,
                     files: Iterable[FileEntry], file_list: bytes,
                     git_bytes: Mapping[str, bytes]) -> RemoteOutcome:
    """`write_manifest`, its failure reported as an outcome instead of raised."""
    try:
        write_manifest(project, remote, backup, files, file_list, git_bytes)
    except HdversionError as exc:
        return RemoteOutcome(remote, False, f"manifest not written: {exc.message}")
    return RemoteOutcome(remote, True)


def publish_from_commit(project: Project, remote: str, backup: Backup,
                        files: tuple[FileEntry, ...], bucket: Bucket | None = None,
                        maybe_there: bool = True) -> RemoteOutcome | None:
    """Write the manifest of an existing backup (read from its commit) unless the remote has
    one (asked only if `maybe_there`); None when it had one already (or the backup is of
    version 1, which has no file list to write)."""
    if backup.manifest.inline_files is not None:
        return None
    try:
        bucket = bucket or bucket_of_remote(project.store.session, remote)
        if maybe_there and bucket.has(manifest_key(backup.timestamp)):
            return None
    except HdversionError as exc:
        return RemoteOutcome(remote, False, f"manifest not written: {exc.message}")
    git_files = [f for f in files if f.store == "git"]
    found = project.git.read_files([(backup.commit, FILE_LIST)]
                                   + [(backup.commit, f.path) for f in git_files])
    file_list, blobs = found[0], found[1:]
    if file_list is None:
        return RemoteOutcome(remote, False, f"backup {backup.tag} has no file list")
    git_bytes = {f.path: data for f, data in zip(git_files, blobs, strict=True)
                 if data is not None}
    return publish_manifest(project, remote, backup, files, file_list, git_bytes)


def delete_manifests(project: Project, remote: str, timestamps: Iterable[str]) -> list[str]:
    """Delete the folders of pruned backups from a remote (manifest first); the timestamps
    whose folder was there. Called with every timestamp that carries a tombstone, so a prune
    killed half-way is finished by the next one."""
    bucket = bucket_of_remote(project.store.session, remote)
    present = set(bucket.backup_folders())
    deleted: list[str] = []
    for timestamp in sorted(set(timestamps) & present):
        if deleted:
            pause_point(project.root, PausePoint.BETWEEN_DELETES)
        if bucket.delete_backup(timestamp):
            deleted.append(timestamp)
    return deleted
