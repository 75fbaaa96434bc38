"""Recovery from a remote alone: list and restore the backups a remote describes
(`model/bucket.py`), with no clone, no git server and no repository at all.

Everything read from the remote is untrusted: each manifest is validated (schema, the
timestamp of its folder, the file list against the tag part's md5 and totals), every path is
checked (`ops/trust.py`) against the backup's own pointer files before the first write, and
every object is counted against its recorded size (stopping as soon as it is bigger) and
hashed while it is staged beside its target. Files are renamed into place only once all are
staged and verified; anything wrong leaves the target as it was (empty, or absent).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from hdversion.config.credentials import CloudCredentials
from hdversion.datastore.bucket import (
    DOWNLOADS,
    BoundedStream,
    Bucket,
    KeyMissing,
    open_url,
)
from hdversion.errors import (
    BackupNotFoundError,
    ManifestError,
    UsageError,
    VerificationError,
    WriteError,
)
from hdversion.model.bucket import (
    MAX_RECORD_SIZE,
    RemoteManifest,
    blob_key,
    manifest_key,
    object_key,
    parse_record,
)
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.manifest import FileEntry, check_path
from hdversion.model.pointers import is_pointer_file
from hdversion.model.timestamps import parse_timestamp, tag_for
from hdversion.ops.restore import FileReport, RestoreResult
from hdversion.ops.trust import check_destination, check_paths
from hdversion.paths import CONFIG_PATH, DEFAULT_GIT_TRACKED, TEMP_PREFIX
from hdversion.util.atomic import commit_all, discard, identity, stage_all, stage_copy
from hdversion.util.clock import now_utc
from hdversion.util.hashing import CHUNK, md5_bytes
from hdversion.util.log import log
from hdversion.util.progress import SILENT, Reporter


@dataclass
class BucketCatalog:
    url: str
    catalog: Catalog  # `commit` is the backup commit the remote names ("" if none)


@dataclass
class BucketRestoreResult(RestoreResult):
    url: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)  # invalid manifests seen


def open_remote(url: str, endpoint_url: str | None = None,
                credentials: Path | None = None) -> Bucket:
    creds = CloudCredentials.read(credentials) if credentials is not None else None
    return open_url(url, endpoint_url, creds)


def list_bucket(url: str, endpoint_url: str | None = None,
                credentials: Path | None = None) -> BucketCatalog:
    """Every backup a remote describes, newest first; invalid ones are skipped, each with
    why (`catalog.invalid`)."""
    bucket = open_remote(url, endpoint_url, credentials)
    catalog = _read_catalog(bucket)
    if not catalog.backups:
        _refuse_objects_without_manifests(bucket, catalog)
    return BucketCatalog(bucket.where(), catalog)


def _refuse_objects_without_manifests(bucket: Bucket, catalog: Catalog) -> None:
    """BackupNotFoundError (exit 4) when a remote that describes no backup holds DVC's
    objects: its backups were put there without their manifests (`dvc push`, an older
    `copy`), and "0 backup(s)" would read as an empty remote on the day it is needed."""
    if not bucket.holds_objects():
        return
    unfinished = (f" ({len(catalog.invalid)} folder(s) there have no valid manifest)"
                  if catalog.invalid else "")
    raise BackupNotFoundError(
        f"{bucket.where()} holds DVC objects but no backup manifest{unfinished}: it cannot "
        "list or restore its backups alone",
        hint="in a clone that has the backups, `hdversion sync --remote NAME` or `hdversion "
        "copy --from REMOTE --to NAME` writes their manifests there; a clone can restore "
        "from it meanwhile (`hdversion restore --remote NAME`)")


def _read_catalog(bucket: Bucket) -> Catalog:
    backups: list[Backup] = []
    invalid: list[tuple[str, str]] = []
    for name in bucket.backup_folders():
        try:
            remote = read_backup(bucket, name)
        except (ManifestError, BackupNotFoundError) as exc:
            invalid.append((tag_for(name), exc.message))
            continue
        backups.append(_as_backup(remote))
    backups.sort(key=lambda b: b.timestamp, reverse=True)
    return Catalog(backups, invalid)


def read_backup(bucket: Bucket, timestamp: str) -> RemoteManifest:
    """The validated manifest under a timestamp's folder. BackupNotFoundError when there is
    none (a folder without a manifest is an unfinished backup or prune); ManifestError when
    it is not trusted."""
    try:
        parse_timestamp(timestamp)
    except UsageError:
        raise ManifestError(f"folder name {timestamp!r} is not YYYYMMDD_HHMMSS") from None
    try:
        data = bucket.read(manifest_key(timestamp), MAX_RECORD_SIZE)
    except KeyMissing:
        raise BackupNotFoundError(
            f"no backup {tag_for(timestamp)} in {bucket.where()} (no manifest there: a "
            "backup made before hdversion wrote manifests into remotes, or one not finished)",
            hint="`hdversion list --remote-url URL` shows the backups there are; "
                 "`hdversion sync` in a clone writes the manifests of older backups") from None
    except ValueError:
        raise ManifestError(f"manifest larger than {MAX_RECORD_SIZE} bytes") from None
    try:
        return parse_record(data, timestamp)
    except ManifestError as exc:
        raise ManifestError(f"backup {tag_for(timestamp)} in {bucket.where()}: {exc.message}",
                            hint="restore another backup") from None


def _as_backup(remote: RemoteManifest) -> Backup:
    return Backup(tag_for(remote.timestamp), remote.timestamp, remote.commit or "",
                  remote.manifest)


def restore_from_bucket(url: str, target: Path, timestamp: str | None = None,
                        endpoint_url: str | None = None, credentials: Path | None = None,
                        dry_run: bool = False, reporter: Reporter = SILENT
                        ) -> BucketRestoreResult:
    """Restore a backup from a remote alone into `target`, a new or empty directory
    (default backup: the latest regular one, not dated in the future)."""
    dest = target.expanduser().absolute()
    _check_target(dest)
    if timestamp is not None:
        parse_timestamp(timestamp)
    bucket = open_remote(url, endpoint_url, credentials)
    skipped: list[tuple[str, str]] = []
    if timestamp is None:
        catalog = _read_catalog(bucket)
        if not catalog.backups:
            _refuse_objects_without_manifests(bucket, catalog)
        skipped = catalog.invalid
        for tag, why in skipped:
            log.warning("skipped %s in %s: %s", tag, bucket.where(), why)
        chosen = catalog.get(None, now=now_utc()).timestamp
    else:
        chosen = timestamp
    remote = read_backup(bucket, chosen)
    backup = _as_backup(remote)
    files = remote.file_list.files

    reporter.step(f"checking the paths of {backup.tag}")
    small = _read_small_blobs(bucket, backup, files)
    pointers = {path: data for path, data in small.items() if is_pointer_file(path)}
    check_paths(files, pointers, _tracked(small), backup.tag)
    _check_no_file_is_a_folder(backup, files)
    dest_resolved = dest.resolve()
    action = "would restore" if dry_run else "restored"
    result = BucketRestoreResult(backup, dest_resolved, dry_run,
                                 [FileReport(f.path, f.md5, f.size, action) for f in files],
                                 latest=timestamp is None, url=bucket.where(),
                                 skipped=skipped)
    if dry_run:
        return result

    created = _make_target(dest)
    try:
        check_destination(dest_resolved, [f.path for f in files])
        staged = _stage_all(bucket, backup, files, dest_resolved, small, reporter)
    except BaseException:
        _remove_created(dest_resolved, files, created)
        raise
    # Each staged file's bytes were hashed as written: what is in place after the renames
    # must be that very file.
    identities = {target: identity(tmp) for tmp, target in staged}
    commit_all(staged, durable=True)
    for report in result.files:
        written = dest_resolved / report.path
        report.verified = identities.get(written) is not None and \
            identity(written) == identities[written]
    return result


def _check_no_file_is_a_folder(backup: Backup, files: tuple[FileEntry, ...]) -> None:
    """A path that is a file and also the folder of another cannot be restored: refused
    before the first write, not found out half-way through the renames."""
    paths = {f.path for f in files}
    for path in sorted(paths):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in paths:
                raise ManifestError(f"backup {backup.tag} lists {folder} as a file and as "
                                    f"the folder of {path}: its manifest is not trusted")


def _check_target(dest: Path) -> None:
    """The target must be new or an empty directory: a restore from a remote alone has no
    workspace to compare with, no safety backup to make, and must not mix its files with
    others."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise UsageError(f"--target {dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise UsageError(f"--target {dest} is not empty: a restore from a remote writes into "
                         "a new or empty directory", hint="name a new directory")


def _make_target(dest: Path) -> list[Path]:
    """Create the target (and missing parents); the folders created, innermost first."""
    created: list[Path] = []
    folder = dest
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create --target {dest}: {exc.strerror or exc}") from None
    return created


def _remove_created(dest: Path, files: tuple[FileEntry, ...], created: list[Path]) -> None:
    """After a failure: no file was renamed into place; remove the folders made on the way
    (inside the target, then the target itself if this run made it)."""
    folders = {(dest / f.path).parent for f in files}
    parents = {p for folder in folders for p in [folder, *folder.parents]
               if p != dest and dest in p.parents}
    for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
    for folder in created:
        with contextlib.suppress(OSError):
            folder.rmdir()


# Git-stored files read into memory before any write: the pointer files (which outputs the
# backup declares) and the settings (which other git-stored files it protects).
def _read_small_blobs(bucket: Bucket, backup: Backup, files: tuple[FileEntry, ...]
                      ) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for entry in files:
        if entry.store != "git" or not (is_pointer_file(entry.path)
                                        or entry.path == CONFIG_PATH):
            continue
        try:
            with bucket.open(blob_key(backup.timestamp, entry.md5)) as stream:
                where = bucket.where(blob_key(backup.timestamp, entry.md5))
                bounded = BoundedStream(stream, entry.size, where)
                data = b"".join(iter(bounded.read, b""))
        except KeyMissing:
            raise VerificationError(
                f"cannot restore {backup.tag}: {entry.path} is missing in "
                f"{bucket.where()}; nothing was written") from None
        except VerificationError as exc:
            raise VerificationError(f"cannot restore {backup.tag}: {exc.message}; nothing "
                                    "was written") from None
        if len(data) != entry.size or md5_bytes(data) != entry.md5:
            raise VerificationError(
                f"cannot restore {backup.tag}: {entry.path} in {bucket.where()} does not "
                "match its manifest (size or md5 differ); nothing was written")
        found[entry.path] = data
    return found


def _tracked(small: dict[str, bytes]) -> list[str]:
    """The git-tracked files the backup's own settings name, with the defaults."""
    tracked = list(DEFAULT_GIT_TRACKED)
    data = small.get(CONFIG_PATH)
    if data is None:
        return tracked
    import yaml

    try:
        parsed = yaml.safe_load(data) or {}
        named = (parsed.get("backup") or {}).get("git_tracked_files") or []
    except (yaml.YAMLError, AttributeError):
        return tracked
    for item in named if isinstance(named, list) else []:
        with contextlib.suppress(ValueError):
            tracked.append(check_path(str(item).strip("/")))
    return tracked


def _stage_all(bucket: Bucket, backup: Backup, files: tuple[FileEntry, ...], dest: Path,
               small: dict[str, bytes], reporter: Reporter) -> list[tuple[Path, Path]]:
    """Download and stage every file, several at once (each request mostly waits on the
    network), each hashed as it is written and made durable; nothing is left on an error."""
    advance = reporter.bytes(f"downloading {len(files)} file(s)", sum(f.size for f in files))

    def stage(entry: FileEntry) -> Path:
        target = dest / entry.path
        key = object_key(entry.md5) if entry.store == "dvc" else \
            blob_key(backup.timestamp, entry.md5)
        try:
            if entry.path in small:
                return stage_copy(cast(BinaryIO, _BytesSource(small[entry.path])), target,
                                  entry.md5, advance)
            with bucket.open(key) as stream:
                bounded = BoundedStream(stream, entry.size, bucket.where(key))
                return stage_copy(cast(BinaryIO, bounded), target, entry.md5, advance)
        except KeyMissing:
            raise VerificationError(
                f"cannot restore {backup.tag}: {entry.path} (object {entry.md5}) is "
                f"missing in {bucket.where()}; nothing was written") from None
        except VerificationError as exc:
            raise VerificationError(
                f"cannot restore {backup.tag}: {entry.path} from {bucket.where()}: "
                f"{exc.message}; nothing was written",
                hint="the remote's copy is damaged: restore another backup, or from "
                     "another remote") from None
        except OSError as exc:
            raise WriteError(f"cannot write {target}: {exc.strerror or exc}; nothing "
                             "was written") from None

    try:
        staged = stage_all(list(files), stage, workers=DOWNLOADS)
    except BaseException:
        # A temporary file of a failed stage_copy is removed by it, the staged ones by
        # stage_all; any other is ours.
        discard(p for f in files for p in (dest / f.path).parent.glob(TEMP_PREFIX + "*"))
        raise
    return [(tmp, dest / f.path) for f, tmp in zip(files, staged, strict=True)
            if tmp is not None]


class _BytesSource:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = CHUNK) -> bytes:
        chunk = self.data[self.offset:self.offset + size]
        self.offset += len(chunk)
        return chunk
