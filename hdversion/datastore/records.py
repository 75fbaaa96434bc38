"""A remote read and written as a plain store of keys, outside DVC's object layout: the
per-backup folders (`model/remote_records.py`) that make a remote self-describing.

Opened two ways: from a configured DVC remote of a project (for writing after a backup, for
prune and sync), or from nothing but a URL, an optional endpoint and the credentials of the
environment or a credentials file (`list/restore --remote-url`: no clone, no git).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from fsspec.callbacks import Callback

from hdversion.config.credentials import CloudCredentials
from hdversion.datastore.explain import (
    classify,
    endpoint_of,
    exception_chain,
    probe_endpoint,
    write_error_in,
)
from hdversion.datastore.session import DvcSession, check_remote
from hdversion.errors import (
    HdversionError,
    RemoteError,
    UsageError,
    VerificationError,
    WriteError,
)
from hdversion.model.leases import LEASES_DIR, Held, Lease, kind_of
from hdversion.model.leftovers import is_partial_name
from hdversion.model.object_lock import LOCK_KEY
from hdversion.model.remote_records import (
    BACKUPS_DIR,
    ENCRYPTION_DIR,
    MANIFEST_NAME,
    OBJECTS_DIR,
    backup_dir,
    is_object_name,
    manifest_key,
)
from hdversion.model.storages import LOCAL_SCHEME, STORAGES, scheme_of
from hdversion.model.timestamps import is_timestamp
from hdversion.paths import GCS_UPLOADS
from hdversion.util.atomic import atomic_write_bytes, fsync_path
from hdversion.util.progress import Advance, Transferred
from hdversion.util.redact import redact

if TYPE_CHECKING:
    from hdversion.crypto.master import MasterKey
    from hdversion.crypto.sealing import Sealer
    from hdversion.datastore.object_lock import Retention, ServerClock

# Downloads at once from a bucket: each mostly waits on the network.
DOWNLOADS = 8


class KeyMissing(Exception):
    """The remote has no object under that key."""


@dataclass
class Records:
    url: str  # as the user gave it (for messages: redacted)
    fs: Any  # a DVC (dvc_objects) FileSystem
    root: str  # the URL's path as the file system names it
    local: bool
    # The Object Lock every write carries (datastore/object_lock.py): read from the remote
    # before its first write, once per operation; None when the remote has none.
    retention: Retention | None = field(default=None, init=False, repr=False)
    _retention_read: bool = field(default=False, init=False, repr=False)
    _locked_bucket: bool | None = field(default=None, init=False, repr=False)
    # The server's clock when the bucket locks every new object by default (None: it does
    # not); read with `_locked_bucket`.
    _default_lock: ServerClock | None = field(default=None, init=False, repr=False)
    # An encrypted remote's master key, unlocked when the records were opened (`unlock`):
    # every record but the plain ones is sealed, and the store seals every object.
    master: MasterKey | None = field(default=None, init=False, repr=False)
    _sealer: Sealer | None = field(default=None, init=False, repr=False)
    # Where a GCS remote's unfinished uploads are recorded (`datastore/gcs_resume.py`): the
    # project's; None without one (`--remote-url`), where nothing resumes.
    uploads: Path | None = field(default=None, init=False, repr=False)

    # -- encryption ----------------------------------------------------------------------
    def unlock(self, name: str = "") -> None:
        """Whether the remote is encrypted (its config record), and if so its master key
        from the keys the user supplied: KeyUnavailableError (exit 7) when none opens it.
        `name`: the DVC remote's, for messages."""
        from hdversion.datastore.keyring import master_key_of

        self.use_master(master_key_of(self, name))

    def use_master(self, master: MasterKey | None) -> None:
        from hdversion.crypto.sealing import Sealer

        self.master = master
        self._sealer = None if master is None else Sealer(master.subkey("records"))

    def blob_key(self, timestamp: str, md5: str) -> str:
        """Where a backup's git-stored file is kept: under its md5, or in an encrypted
        remote under a keyed name (an md5 would tell who knows a config file that it is
        there)."""
        from hdversion.model.remote_records import blob_key

        if self.master is None:
            return blob_key(timestamp, md5)
        import hashlib
        import hmac

        keyed = hmac.new(self.master.subkey("blob names"), md5.encode(), hashlib.sha256)
        return blob_key(timestamp, keyed.hexdigest()[:32])

    def sealed(self, key: str) -> bool:
        """Whether the record under `key` is sealed: all hdversion writes in an encrypted
        remote but its encryption config and keys and its Object Lock setting (a key must
        be found, and a lock read, before anything is opened). Objects are the store's."""
        return self._sealer is not None and key.startswith("hdversion/") \
            and not key.startswith(f"{ENCRYPTION_DIR}/") and key != LOCK_KEY

    # -- naming --------------------------------------------------------------------------
    def path(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key}"

    def where(self, key: str = "") -> str:
        return redact(f"{self.url.rstrip('/')}/{key}" if key else self.url)

    # -- reading -------------------------------------------------------------------------
    def check(self) -> None:
        """RemoteError (exit 7) unless the remote answers, takes the credentials and its
        bucket (container, directory) exists."""
        if self.local:
            if Path(self.root).exists() and not Path(self.root).is_dir():
                raise RemoteError(f"remote {self.where()} is a file, not a directory")
            if not Path(self.root).is_dir():
                raise RemoteError(f"remote {self.where()} does not exist (no such directory)")
            return
        bucket = self.root.split("/", 1)[0]
        with self._errors("cannot read"):
            # A listing, not `exists`: the SDKs answer "no" to `exists` also for refused
            # credentials; a listing raises what is really wrong.
            self.fs.fs.ls(bucket, detail=False)

    def size(self, key: str) -> int:
        """The size of a record (its plaintext's, where it is sealed: -1 when no plaintext
        seals to it), or of an object as stored."""
        with self._errors("cannot read", missing=key):
            info = self.fs.info(self.path(key))
        if info.get("type") == "directory" or info.get("size") is None:
            raise KeyMissing(key)
        if self.sealed(key):
            from hdversion.crypto.sealing import plain_size

            return plain_size(int(info["size"])) or -1
        return int(info["size"])

    def read(self, key: str, limit: int) -> bytes:
        """The bytes under `key`; ValueError when there are more than `limit`."""
        with self.open(key) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{key} holds more than {limit} bytes")
        return bytes(data)

    @contextmanager
    def open(self, key: str) -> Iterator[IO[bytes]]:
        """A stream of the object; its reads raise KeyMissing or RemoteError (never an
        SDK's own exception), and what the caller's code raises passes untouched."""
        with self._errors("cannot read", missing=key):
            stream = self.fs.open(self.path(key), mode="rb")
        try:
            reading = cast(IO[bytes], _Reading(self, key, stream))
            if self._sealer is not None and self.sealed(key):
                reading = cast(IO[bytes], self._sealer.opening(key, reading, self.where(key)))
            yield reading
        finally:
            with contextlib.suppress(Exception):
                stream.close()

    def get_file(self, key: str, path: Path, limit: int | None,
                 on_chunk: Advance | None = None) -> None:
        """Download the object into a local file by the SDK's own download (one streamed
        request; a stream read block by block took twice as long from S3), stopped as soon
        as the size the server announces or the bytes received pass `limit` (no limit when
        None): VerificationError, what landed left for the caller to remove. KeyMissing,
        RemoteError as `open`. `on_chunk`: the bytes received (`Transferred`). Objects only:
        a sealed record is read with `open`."""
        if self.sealed(key):
            raise ValueError(f"{key} is sealed: read it with open()")
        with self._errors("cannot read", missing=key):
            try:
                self.fs.get_file(self.path(key), str(path),
                                 callback=_SizeLimit(limit, Transferred(on_chunk)))
            except Exception as exc:
                if any(isinstance(link, _Oversized) for link in exception_chain(exc)):
                    raise VerificationError(f"{self.where(key)} holds more than the {limit} "
                                            "bytes its manifest records") from None
                written = write_error_in([exc])
                if written is not None:  # the local disk's, not the remote's
                    raise WriteError(f"cannot write {path}: {written.strerror or written}"
                                     ) from None
                raise

    def backup_folders(self) -> list[str]:
        """The names under `hdversion/backups/` (timestamps, if the remote is honest)."""
        top = self.path(BACKUPS_DIR)
        with self._errors("cannot list"):
            try:
                entries = self.fs.ls(top, detail=False)
            except FileNotFoundError:
                return []
        names = {str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries}
        return sorted(n for n in names if n and str(n) != BACKUPS_DIR.rsplit("/", 1)[-1]
                      and not is_partial_name(n))

    def prunable_folders(self) -> list[str]:
        """`backup_folders`, and on a locked bucket also the folders a prune hid behind
        delete markers while their versions are locked (a later prune deletes them)."""
        from hdversion.datastore.object_lock import backup_folders_with_versions

        folders = set(self.backup_folders())
        if self.locked_bucket():
            with self._errors("cannot list"):
                folders |= {n for n in backup_folders_with_versions(self)
                            if is_timestamp(n)}
        return sorted(folders)

    def holds_objects(self) -> bool:
        """Whether the remote holds any DVC object: one listing of the objects' folder, then
        one of each two-hex-digit folder until one holds an object (an emptied folder, a
        partial transfer's file hold none)."""
        with self._errors("cannot list"):
            try:
                folders = self.fs.ls(self.path(OBJECTS_DIR), detail=False)
            except FileNotFoundError:
                return False
            for folder in sorted(str(f).rstrip("/") for f in folders):
                if len(folder.rsplit("/", 1)[-1]) != 2:
                    continue
                try:
                    names = self.fs.ls(folder, detail=False)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if any(is_object_name(str(n).rstrip("/").rsplit("/", 1)[-1]) for n in names):
                    return True
        return False

    def has(self, key: str) -> bool:
        try:
            self.size(key)
        except KeyMissing:
            return False
        return True

    # -- writing -------------------------------------------------------------------------
    def put_args(self) -> dict[str, Any]:
        """What every upload to the remote adds to its request: the Object Lock retention
        of a locked S3 remote (counted from this moment by the server's clock), else
        nothing. Every write path (`write`, `BucketStore.put`/`put_file`/`put_files`) asks
        here."""
        if not self._retention_read:
            from hdversion.datastore.object_lock import load_retention

            self.retention = load_retention(self)
            self._retention_read = True
        return {} if self.retention is None else self.retention.put_args()

    def locked_bucket(self) -> bool:
        """Whether the remote is an S3 bucket with Object Lock (asked once per operation):
        there deletions go version by version, and never touch a locked one."""
        if self._locked_bucket is None:
            from hdversion.datastore.object_lock import lock_enabled

            with self._errors("cannot read"):
                self._locked_bucket, self._default_lock = lock_enabled(self)
        return self._locked_bucket

    def use_retention(self, retention: Retention) -> None:
        """Lock every write from now on (`remote add --lock`, before its record is read)."""
        self.retention, self._retention_read = retention, True

    def write(self, key: str, data: bytes, locked: bool = True) -> None:
        """Write one object whole: a directory gets it by rename, an object store by one
        PUT (never visible half-written). `locked`: with the remote's Object Lock retention,
        if it has one (everything but leases). Sealed where the remote is encrypted."""
        if self._sealer is not None and self.sealed(key):
            data = self._sealer.seal_bytes(key, data)
        if self.local:
            try:
                atomic_write_bytes(Path(self.path(key)), data)
            except OSError as exc:
                raise WriteError(f"cannot write {self.where(key)}: {exc.strerror or exc}"
                                 ) from None
            return
        with self._errors("cannot write to"):
            args = self.put_args() if locked else self._unlocked_args()
            self.fs.pipe_file(self.path(key), data, **args)

    def _unlocked_args(self) -> dict[str, Any]:
        """For an object that must go when its run ends: nothing, or on a bucket whose
        default retention would lock it for days, an explicit retention of a second."""
        if not self.locked_bucket() or self._default_lock is None:
            return {}
        from hdversion.datastore.object_lock import short_retention

        return short_retention(self._default_lock)

    # -- leases (model/leases.py): a store's shared and exclusive locks -------------------
    def put_lease(self, name: str, lease: Lease) -> None:
        """Write (or write again: a refresh) a lease; its time in the store is now. Never
        under Object Lock: a lease must go when its run ends."""
        self.write(f"{LEASES_DIR}/{name}", lease.to_json(), locked=False)

    def leases(self) -> list[Held]:
        """The leases in the store with their modification times by the store's clock, from
        a fresh listing (never a cached one: a lease written a moment ago by another run
        must show)."""
        found: list[Held] = []
        if self.local:
            try:
                entries = list(os.scandir(self.path(LEASES_DIR)))
            except (FileNotFoundError, NotADirectoryError):
                return []
            for entry in entries:
                kind = kind_of(entry.name)
                if kind is not None:
                    with contextlib.suppress(FileNotFoundError):
                        found.append(Held(entry.name, kind, entry.stat().st_mtime))
            return found
        top = self.path(LEASES_DIR)
        with self._errors("cannot list"):
            self.fs.fs.invalidate_cache(top)
            try:
                listed = self.fs.fs.ls(top, detail=True)
            except FileNotFoundError:
                return []
        for entry in listed:
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            kind, mtime = kind_of(name), entry_mtime(entry)
            if kind is not None and mtime is not None:
                found.append(Held(name, kind, mtime))
        return found

    def lease(self, name: str) -> Lease | None:
        """What a lease says of its holder; None when it is gone or cannot be read."""
        try:
            return Lease.from_json(self.read(f"{LEASES_DIR}/{name}", 4096))
        except (KeyMissing, RemoteError, ValueError):
            return None

    def delete_lease(self, name: str) -> None:
        with self._errors("cannot delete from"), contextlib.suppress(FileNotFoundError):
            if self.local:
                os.unlink(self.path(f"{LEASES_DIR}/{name}"))
            elif self.locked_bucket():
                # A versioned bucket: a plain DELETE would leave the version behind a
                # delete marker, for ever. Leases carry no retention: every version goes.
                from hdversion.datastore.object_lock import (
                    LEASE_RETENTION_SECONDS,
                    delete_unlocked,
                )

                key = f"{LEASES_DIR}/{name}"
                until = delete_unlocked(self, [key]).locked.get(key)
                if until is not None and self._default_lock is not None:
                    # Written within its seconds of retention (a bucket default's stand-in):
                    # once more when they have passed by the server's clock.
                    left = (until - self._default_lock.earliest_now()).total_seconds()
                    time.sleep(min(max(left, 0.0) + 0.5, 3 * LEASE_RETENTION_SECONDS + 3))
                    delete_unlocked(self, [key])
            else:
                self.fs.fs.rm_file(self.path(f"{LEASES_DIR}/{name}"))

    def delete_backup(self, timestamp: str) -> bool:
        """Delete a backup's folder, its manifest first: a crash half-way leaves a folder
        without a manifest, which no reader trusts and the next prune deletes. True when
        there was something to delete."""
        if not is_timestamp(timestamp):
            raise UsageError(f"not a backup timestamp: {timestamp!r}")
        from hdversion.datastore.object_lock import hide_locked_backup

        if self.locked_bucket():
            return hide_locked_backup(self, backup_dir(timestamp), manifest_key(timestamp))
        folder = self.path(backup_dir(timestamp))
        with self._errors("cannot delete from"):
            try:
                found = list(self.fs.find(folder))
            except FileNotFoundError:
                found = []
            if not found:
                return False
            manifest = self.path(manifest_key(timestamp))
            ordered = sorted(found, key=lambda p: not str(p).endswith("/" + MANIFEST_NAME))
            for path in ordered:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(path)
                if path == manifest and self.local:
                    with contextlib.suppress(OSError):
                        fsync_path(Path(manifest).parent)
            if self.local:
                for folder_path in sorted({str(Path(p).parent) for p in found}, reverse=True):
                    with contextlib.suppress(OSError):
                        os.rmdir(folder_path)
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
        return True

    @contextmanager
    def _errors(self, doing: str, missing: str | None = None) -> Iterator[None]:
        try:
            yield
        except (KeyMissing, HdversionError):
            raise  # ours, from the caller's own checks (a size, a hash) or explained already
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            # A key whose folder is a file (a damaged directory remote) names nothing.
            if missing is not None:
                raise KeyMissing(missing) from None
            raise RemoteError(self.explain(doing, exc)) from None
        except Exception as exc:  # the SDKs raise anything
            raise RemoteError(self.explain(doing, exc)) from None

    def explain(self, doing: str, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        kind = classify(exc)
        where = self.where()
        if kind == "missing":
            return redact(f"credentials missing for {where}: none in the environment, the "
                          f"SDK's profile or --credentials ({type(exc).__name__}: {text})")
        if kind == "refused":
            return redact(f"credentials refused for {where} ({type(exc).__name__}: {text})")
        if kind == "unreachable":
            return redact(f"cannot reach {where} ({type(exc).__name__}: {text})")
        if isinstance(exc, FileNotFoundError):
            return redact(f"{doing} {where}: the bucket or container does not exist")
        return redact(f"{doing} {where}: {type(exc).__name__}: {text}")


def entry_mtime(entry: dict[str, Any]) -> float | None:
    """When a listed object was written, by the store's clock, as each SDK's listing spells
    it."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = entry.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


class _Reading:
    """An object's stream whose failures are the remote's (KeyMissing, RemoteError)."""

    def __init__(self, bucket: Records, key: str, stream: Any) -> None:
        self.bucket, self.key, self.stream = bucket, key, stream

    def read(self, size: int = -1) -> bytes:
        with self.bucket._errors("cannot read", missing=self.key):
            return bytes(self.stream.read(size))


class _Oversized(Exception):
    """A download went past the size its manifest records."""


class _SizeLimit(Callback):  # type: ignore[misc]  # fsspec has no type hints
    """A download's progress callback that stops it (raising _Oversized) as soon as the
    object's announced size or the bytes received exceed `limit`; no limit when None (a
    directory's listing, whose size no manifest records). The bytes received within the
    limit are counted by `received`."""

    def __init__(self, limit: int | None, received: Transferred) -> None:
        super().__init__()
        self.limit, self.received = limit, received

    def call(self, hook_name: str | None = None, **kwargs: Any) -> None:
        if self.limit is not None and max(self.size or 0, self.value) > self.limit:
            raise _Oversized(f"more than {self.limit} bytes")
        self.received.reach(int(self.value))


def records_of_remote(session: DvcSession, remote: str) -> Records:
    """The configured DVC remote `remote` of a project, as a Records (its root is the
    remote's URL: DVC's objects are under `files/md5` there)."""
    with session.open() as repo:
        check_remote(repo, remote)
        url = str(repo.config["remote"][remote]["url"])
        odb = session.remote_odb(repo, remote)
        fs = odb.fs
        # odb.path is <url>/files/md5
        root = odb.path.rstrip(fs.sep).rsplit(fs.sep, 2)[0]
    records = Records(url, fs, root, scheme_of(url) == LOCAL_SCHEME)
    records.uploads = Path(session.root) / GCS_UPLOADS
    return records


def open_url(url: str, endpoint_url: str | None = None,
             credentials: CloudCredentials | None = None) -> Records:
    """A remote from its URL alone. Credentials come from the environment as each SDK reads
    it (AWS_*, AZURE_STORAGE_*, GOOGLE_APPLICATION_CREDENTIALS / STORAGE_EMULATOR_HOST), or
    from a credentials file (config/cloud_credentials.json's format). RemoteError (exit 7)
    when it cannot be used; UsageError (exit 2) for a URL of no known kind."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    scheme = scheme_of(url)
    if scheme in (LOCAL_SCHEME, "file"):
        if scheme == "file":
            url = urlsplit(url).path
        path = Path(url).expanduser().resolve()
        if endpoint_url:
            raise UsageError("--endpoint-url is for a cloud URL (s3://, azure://, gs://)")
        from dvc_objects.fs.local import LocalFileSystem

        bucket = Records(str(path), LocalFileSystem(), str(path),  # type: ignore[no-untyped-call]
                        True)
        bucket.check()
        return bucket
    if scheme not in STORAGES.values():
        raise UsageError(f"unknown remote URL {url!r}: use s3://, azure://, gs:// or a "
                         "directory")
    options = _options(scheme, endpoint_url, credentials or CloudCredentials())
    from dvc.fs import get_cloud_fs

    try:
        cls, conf, root = get_cloud_fs(None, url=url, **options)
        fs = cls(**conf)
    except Exception as exc:  # DVC and the SDKs raise anything
        raise RemoteError(redact(f"cannot open {url}: {type(exc).__name__}: {exc}")) from None
    bucket = Records(url, fs, str(root), False)
    _check_endpoint(bucket, options)
    bucket.check()
    return bucket


def _options(scheme: str, endpoint_url: str | None,
             credentials: CloudCredentials) -> dict[str, Any]:
    """DVC remote options for a URL opened without a project."""
    options: dict[str, Any] = dict(credentials.remote_options(scheme))
    if scheme == "s3":
        if endpoint_url:
            options["endpointurl"] = endpoint_url
    elif scheme == "azure":
        env = os.environ
        if "connection_string" not in options:
            if env.get("AZURE_STORAGE_CONNECTION_STRING"):
                options["connection_string"] = env["AZURE_STORAGE_CONNECTION_STRING"]
            elif env.get("AZURE_STORAGE_ACCOUNT"):
                options["account_name"] = env["AZURE_STORAGE_ACCOUNT"]
                if env.get("AZURE_STORAGE_KEY"):
                    options["account_key"] = env["AZURE_STORAGE_KEY"]
                if env.get("AZURE_STORAGE_SAS_TOKEN"):
                    options["sas_token"] = env["AZURE_STORAGE_SAS_TOKEN"]
            else:
                raise RemoteError(
                    "credentials missing for azure: set AZURE_STORAGE_CONNECTION_STRING (or "
                    "AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY), or pass --credentials FILE")
        if endpoint_url:
            raise UsageError("--endpoint-url is not used for azure://: the connection "
                             "string names the endpoint (BlobEndpoint=...)")
    elif scheme == "gs":
        if endpoint_url:
            options["endpointurl"] = endpoint_url
        if options.get("endpointurl") and not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            # An emulator (a named endpoint, no service account): it takes no login.
            options["allow_anonymous_login"] = True
        elif os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            options["credentialpath"] = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
    return options


def _check_endpoint(bucket: Records, options: dict[str, Any]) -> None:
    probe_endpoint(endpoint_of(options), bucket.url)

