"""Recovery from a remote alone: list and restore the backups a remote describes
(`model/remote_records.py`), with no clone, no git server and no repository at all.

Everything read from the remote is untrusted: each manifest is validated (schema, the
timestamp of its folder, the file list against the tag part's md5 and totals), every path is
checked (`ops/trust.py`) against the backup's own pointer files before the first write, and
every object is counted against its recorded size (stopping as soon as it is bigger) and
hashed while it is staged beside its target. Files are renamed into place only once all are
staged and verified; anything wrong leaves the target as it was (empty, or absent). They are
written by the one engine restore and import use (`ops/staging.py`); a re-run completes a
target that a killed restore left (its staged files, and files of the backup, each whole).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from hdversion.config.credentials import CloudCredentials
from hdversion.datastore import open_remote_url
from hdversion.datastore.store import KeyMissing, Records, Store, VerifiedReader, store_of
from hdversion.errors import (
    BackupNotFoundError,
    ManifestError,
    UsageError,
    VerificationError,
)
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.manifest import FileEntry, check_path
from hdversion.model.names import LATEST, BackupNames, check_name, is_prefix
from hdversion.model.pointers import is_pointer_file
from hdversion.model.remote_records import (
    MAX_RECORD_SIZE,
    RemoteManifest,
    manifest_key,
    parse_record,
)
from hdversion.model.timestamps import is_timestamp, parse_timestamp, tag_for
from hdversion.ops.restore import RestoreResult, restore_entries
from hdversion.ops.sources import streamed_source
from hdversion.ops.staging import Source, Writer, target_folder
from hdversion.paths import CONFIG_PATH, DEFAULT_GIT_TRACKED, TEMP_PREFIX
from hdversion.util.atomic import discard
from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_file
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
                credentials: Path | None = None) -> Records:
    creds = CloudCredentials.read(credentials) if credentials is not None else None
    records = open_remote_url(url, endpoint_url, creds).records
    assert records is not None  # a remote's store always has its records
    return records


def list_bucket(url: str, *, endpoint_url: str | None = None,
                credentials: Path | None = None) -> BucketCatalog:
    """Every backup a remote describes, newest first; invalid ones are skipped, each with
    why (`catalog.invalid`)."""
    bucket = open_remote(url, endpoint_url, credentials)
    catalog = _read_catalog(bucket)
    if not catalog.backups:
        _refuse_objects_without_manifests(bucket, catalog)
    return BucketCatalog(bucket.where(), catalog)


def _refuse_objects_without_manifests(bucket: Records, catalog: Catalog) -> None:
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


def _read_catalog(bucket: Records) -> Catalog:
    manifests, invalid = read_manifests(bucket)
    return Catalog([as_backup(m) for m in manifests], invalid)


def read_manifests(bucket: Records) -> tuple[list[RemoteManifest], list[tuple[str, str]]]:
    """Every valid manifest in a remote, newest first, and each invalid one's tag and why."""
    manifests: list[RemoteManifest] = []
    invalid: list[tuple[str, str]] = []
    for name in bucket.backup_folders():
        try:
            manifests.append(read_backup(bucket, name))
        except (ManifestError, BackupNotFoundError) as exc:
            invalid.append((tag_for(name), exc.message))
    manifests.sort(key=lambda m: m.timestamp, reverse=True)
    return manifests, invalid


def read_backup(bucket: Records, timestamp: str) -> RemoteManifest:
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


def named_backup(bucket: Records, name: str) -> tuple[RemoteManifest, list[tuple[str, str]]]:
    """The validated manifest of the backup `name` (checked by check_name) names in a
    remote, and the invalid manifests that finding `latest` passed over (each warned)."""
    skipped: list[tuple[str, str]] = []

    def latest() -> str:
        catalog = _read_catalog(bucket)  # every manifest: which are valid decides
        if not catalog.backups:
            _refuse_objects_without_manifests(bucket, catalog)
        skipped.extend(catalog.invalid)
        for tag, why in skipped:
            log.warning("skipped %s in %s: %s", tag, bucket.where(), why)
        return catalog.latest(now_utc()).timestamp

    name = _alias_in(bucket, name) or name
    # A prefix is matched against the folders' names alone; a full timestamp reads its
    # manifest directly (a bucket of thousands of backups is not listed for it).
    folders = [f for f in bucket.backup_folders() if is_timestamp(f)] if is_prefix(name) \
        else []
    chosen = BackupNames(folders, latest, where=f" in {bucket.where()}").resolve(name)
    return read_backup(bucket, chosen), skipped


def _alias_in(bucket: Records, name: str) -> str | None:
    """The timestamp alias `name` names in the remote (its record there, written by `alias
    set` and `sync`: untrusted, parsed as git's), or None when `name` is no alias's name.
    BackupNotFoundError (exit 4) for an alias the remote does not know or that was removed;
    ManifestError (exit 5) for a record that does not parse."""
    from hdversion.model.aliases import parse_stored
    from hdversion.model.names import alias_refusal
    from hdversion.model.remote_records import alias_key

    if alias_refusal(name) is not None:
        return None
    try:
        data = bucket.read(alias_key(name), 4096)
    except KeyMissing:
        raise BackupNotFoundError(f"no alias {name!r} in {bucket.where()}",
                                  hint="`hdversion sync` in a clone writes the aliases into "
                                       "the remote; `hdversion list --remote-url` lists "
                                       "the backups by timestamp") from None
    except ValueError:
        raise ManifestError(f"{bucket.where(alias_key(name))}: the record of alias {name!r} "
                            "is longer than any alias's record") from None
    try:
        record = parse_stored(name, data)
    except ManifestError as exc:
        raise ManifestError(f"{bucket.where(alias_key(name))}: the record of alias {name!r} "
                            f"is not trusted: {exc.message}") from None
    if record.timestamp is None:
        raise BackupNotFoundError(f"alias {name!r} was removed ({record.at} by {record.by})",
                                  hint="`hdversion list --remote-url` lists the backups")
    return record.timestamp


def as_backup(remote: RemoteManifest) -> Backup:
    return Backup(tag_for(remote.timestamp), remote.timestamp, remote.commit or "",
                  remote.manifest)


def restore_from_bucket(url: str, *, target: Path, ref: str | None = None,
                        endpoint_url: str | None = None, credentials: Path | None = None,
                        dry_run: bool = False, reporter: Reporter = SILENT
                        ) -> BucketRestoreResult:
    """Restore a backup from a remote alone into `target`, a new or empty directory, or one
    that holds only what a killed restore of the same backup left (the re-run completes
    it). `ref`: the backup's name in any form model/names.py reads, a prefix matched
    against the remote's folders; default: the latest regular one, not dated in the
    future."""
    dest = target.expanduser().absolute()
    leftovers = _check_target(dest)
    name = LATEST if ref is None else check_name(ref)
    bucket = open_remote(url, endpoint_url, credentials)
    remote, skipped = named_backup(bucket, name)
    backup = as_backup(remote)
    files = remote.file_list.files

    reporter.step(f"checking the paths of {backup.tag}")
    small = _read_small_blobs(bucket, backup, files)
    pointers = {path: data for path, data in small.items() if is_pointer_file(path)}
    if leftovers:
        _check_leftovers(dest, files, dry_run)
    store = store_of(bucket.where(), bucket)

    def sources_for(changing: list[FileEntry], result: RestoreResult) -> dict[str, Source]:
        return {e.path: Source(data=small[e.path]) if e.path in small
                else Source(remote=_reader(store, bucket, backup, e)) for e in changing}

    with target_folder(dest):  # a refused or interrupted restore leaves no trace
        restored = restore_entries(backup, files, pointers, dest.resolve(), _tracked(small),
                                   sources_for, Writer(Path.cwd()), dry_run=dry_run,
                                   reporter=reporter, latest=name == LATEST)
    return BucketRestoreResult(**vars(restored), url=bucket.where(), skipped=skipped)


def stored_file(store: Store, bucket: Records, backup: Backup, entry: FileEntry
                ) -> Callable[[], AbstractContextManager[BinaryIO]]:
    """A file's bytes in the remote, counted against its recorded size (KeyMissing,
    VerificationError or RemoteError as they come): a DVC object streamed from the store by
    the chain of verified sources, a git-stored file from the backup's own blobs beside it.
    Its md5 is the reader's to check."""
    if entry.store == "dvc":
        stream = streamed_source(store, entry).remote
        assert stream is not None  # a streamed source always opens a stream
        return stream
    key = bucket.blob_key(backup.timestamp, entry.md5)

    @contextlib.contextmanager
    def opening() -> Iterator[BinaryIO]:
        with bucket.open(key) as stream:
            yield cast(BinaryIO, VerifiedReader(stream, None, entry.size, bucket.where(key)))
    return opening


def _reader(store: Store, bucket: Records, backup: Backup, entry: FileEntry
            ) -> Callable[[], AbstractContextManager[BinaryIO]]:
    """`stored_file`, its failures said as a restore's (the engine checks the md5 as it
    stages the bytes)."""
    opening = stored_file(store, bucket, backup, entry)

    @contextlib.contextmanager
    def opened() -> Iterator[BinaryIO]:
        try:
            with opening() as stream:
                yield stream
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
    return opened


def _check_target(dest: Path) -> bool:
    """The target must be new or an empty directory: a restore from a remote alone has no
    workspace to compare with, no safety backup to make, and must not mix its files with
    others. One that holds a killed restore's staged files may be what that restore left:
    True, and `_check_leftovers` decides once the backup's file list is known."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise UsageError(f"--target {dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        if _holds_staged_files(dest):
            return True
        _refuse_not_empty(dest)
    return False


# Entries looked at for a killed restore's staged files before a target is refused as not
# empty (a user's big folder named by mistake is not walked whole).
LOOKED_AT = 100_000


def _holds_staged_files(dest: Path) -> bool:
    seen = 0
    for _, folders, names in os.walk(dest):
        if any(name.startswith(TEMP_PREFIX) for name in names):
            return True
        seen += len(folders) + len(names)
        if seen > LOOKED_AT:
            return False
    return False


def _check_leftovers(dest: Path, files: tuple[FileEntry, ...], dry_run: bool) -> None:
    """A target that a killed restore left (kill -9 between its renames) holds staged files
    and files of the backup, each whole (renamed only once verified): the re-run completes
    it. Anything else there (another file, another backup's, a link) is not ours."""
    wanted = {f.path: f for f in files}
    for found in dest.rglob("*"):
        if found.is_dir() and not found.is_symlink():
            continue
        if found.name.startswith(TEMP_PREFIX) and found.is_file() and not found.is_symlink():
            continue
        entry = wanted.get(found.relative_to(dest).as_posix())
        if entry is None or found.is_symlink() or not found.is_file() \
                or md5_file(found) != (entry.md5, entry.size):
            _refuse_not_empty(dest)
    if not dry_run:
        # The engine removes those beside the files it writes; these are all ours.
        discard(p for p in dest.rglob(TEMP_PREFIX + "*")
                if p.is_file() and not p.is_symlink())


def _refuse_not_empty(dest: Path) -> None:
    raise UsageError(f"--target {dest} is not empty: a restore from a remote writes into "
                     "a new or empty directory", hint="name a new directory")


# Git-stored files read into memory before any write: the pointer files (which outputs the
# backup declares) and the settings (which other git-stored files it protects).
def _read_small_blobs(bucket: Records, backup: Backup, files: tuple[FileEntry, ...]
                      ) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for entry in files:
        if entry.store != "git" or not (is_pointer_file(entry.path)
                                        or entry.path == CONFIG_PATH):
            continue
        key = bucket.blob_key(backup.timestamp, entry.md5)
        reader: VerifiedReader | None = None
        try:
            with bucket.open(key) as stream:
                reader = VerifiedReader(stream, entry.md5, entry.size, bucket.where(key))
                data = b"".join(iter(reader.read, b""))
        except KeyMissing:
            raise VerificationError(
                f"cannot restore {backup.tag}: {entry.path} is missing in "
                f"{bucket.where()}; nothing was written") from None
        except VerificationError as exc:
            if reader is not None and reader.count == entry.size:  # the size right, not md5
                raise VerificationError(
                    f"cannot restore {backup.tag}: {entry.path} in {bucket.where()} does not "
                    "match its manifest (size or md5 differ); nothing was written") from None
            raise VerificationError(f"cannot restore {backup.tag}: {exc.message}; nothing "
                                    "was written") from None
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
