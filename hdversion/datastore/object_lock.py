"""S3 Object Lock, through the remote's own s3fs client (the SDK DVC opened with the
remote's credentials and endpoint): the retention every write to a locked remote carries,
deletions that never touch a locked version, and what a bucket says about its versioning
and lock (`remote test`).

Clocks: a retention date is the server's moment of the write plus the remote's retention.
The server's clock is read once per remote and operation, from the `Date` header of a
request this module makes anyway (whole seconds, so the server's instant is within a second
after it); each write's date is then the local clock plus that offset, rounded up. A
client whose clock is behind by hours still locks for the full retention.

Deleting on a locked bucket (Object Lock implies versioning): a plain DELETE would only add
a delete marker, hiding the object from listings while its locked bytes stay (and are billed)
for ever, since no later listing shows them to sweep. So each key's versions are listed, each
version's retention read (HEAD of that version), and only the versions whose retention has
passed (by the server's clock) are deleted, by version id: permanently. A key with a version
still locked stays listed, and is reported with the latest date; a later prune sweeps it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from hdversion.datastore.explain import exception_chain
from hdversion.errors import ConfigurationError, RemoteError, UsageError
from hdversion.model.object_lock import LOCK_KEY, BucketLock, LockPolicy
from hdversion.model.remote_records import BACKUPS_DIR
from hdversion.model.storages import scheme_of

if TYPE_CHECKING:
    from hdversion.datastore.records import Records

# Keys whose versions are judged and deleted at once: each waits on a few requests.
VERSION_WORKERS = 8
RECORD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class ServerClock:
    """The server's clock as an offset from this machine's: between `low` and `high`
    seconds ahead (negative: behind)."""

    low: float
    high: float

    def latest_now(self) -> datetime:
        """The latest the server's clock can read now: a retention counted from it is never
        shorter than asked."""
        return datetime.fromtimestamp(time.time() + self.high, UTC)

    def earliest_now(self) -> datetime:
        """The earliest it can read now: a version whose retention ends after it is taken
        for locked."""
        return datetime.fromtimestamp(time.time() + self.low, UTC)


@dataclass(frozen=True)
class Retention:
    policy: LockPolicy
    clock: ServerClock

    def put_args(self) -> dict[str, Any]:
        """The arguments of a PutObject or CreateMultipartUpload that lock the object."""
        return {"ObjectLockMode": self.policy.s3_mode,
                "ObjectLockRetainUntilDate": self.policy.until(self.clock.latest_now())}


def is_s3(records: Records) -> bool:
    return not records.local and scheme_of(records.url) == "s3"


def _split(records: Records, key: str = "") -> tuple[str, str]:
    path = records.path(key) if key else records.root
    bucket, _, name = path.partition("/")
    return bucket, name


def _call(records: Records, method: str, **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = records.fs.fs.call_s3(method, **kwargs)
    return response


def _timed(records: Records, method: str, **kwargs: Any
           ) -> tuple[dict[str, Any], ServerClock | None]:
    sent = time.time()
    response = _call(records, method, **kwargs)
    received = time.time()
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if not date:
        return response, None
    server = parsedate_to_datetime(date).timestamp()
    return response, ServerClock(server - received, server + 1 - sent)


def error_code(exc: BaseException) -> str:
    """S3's error code of a request's failure (s3fs wraps botocore's ClientError)."""
    for link in exception_chain(exc):
        response = getattr(link, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
    return ""


def lock_configuration(records: Records) -> tuple[dict[str, Any] | None, ServerClock | None]:
    """The bucket's Object Lock configuration (None: not enabled) and the server's clock."""
    bucket, _ = _split(records)
    try:
        response, clock = _timed(records, "get_object_lock_configuration", Bucket=bucket)
    except Exception as exc:  # the SDKs raise anything
        said = error_code(exc) + str(exc)
        if "NoSuchBucket" in said or isinstance(exc, FileNotFoundError):
            # No bucket, no lock: what the caller then does says what is wrong (a deletion
            # from a bucket that is gone deletes nothing, a write fails as it would).
            return None, None
        if "ObjectLockConfigurationNotFound" in said:
            _, clock = _timed(records, "head_bucket", Bucket=bucket)
            return None, clock
        raise RemoteError(records.explain("cannot read the Object Lock configuration of",
                                          exc)) from None
    config = response.get("ObjectLockConfiguration") or {}
    return (config if config.get("ObjectLockEnabled") == "Enabled" else None), clock


def read_policy(records: Records) -> LockPolicy | None:
    """hdversion's record of the remote's lock (`remote add --lock`), or None."""
    from hdversion.datastore.records import KeyMissing

    try:
        data = records.read(LOCK_KEY, RECORD_LIMIT)
    except KeyMissing:
        return None
    except ValueError:
        data = b""
    try:
        return LockPolicy.from_json(data)
    except ValueError as exc:
        raise ConfigurationError(f"{records.where(LOCK_KEY)}: {exc}",
                                 hint="write it again: hdversion remote add NAME URL --lock "
                                      "DURATION") from None


def load_retention(records: Records) -> Retention | None:
    """What every write to the remote must carry: None for a remote without hdversion's
    lock record (and for every store that is not S3)."""
    if not is_s3(records):
        return None
    policy = read_policy(records)
    if policy is None:
        return None
    config, clock = lock_configuration(records)
    if config is None:
        raise ConfigurationError(
            f"{records.where()} asks for Object Lock ({records.where(LOCK_KEY)}), but its "
            "bucket has none: nothing was written unlocked",
            hint="use a bucket created with Object Lock enabled")
    return Retention(policy, clock or ServerClock(0.0, 1.0))


def set_policy(records: Records, policy: LockPolicy) -> Retention:
    """Lock the remote's writes from now on: the bucket must have Object Lock (exit 7 if
    not, exit 2 for a store that is not S3); the record is written, itself locked."""
    if not is_s3(records):
        kind = "a directory" if records.local else f"{scheme_of(records.url)}://"
        raise UsageError(f"--lock is for an S3 bucket with Object Lock; {records.where()} "
                         f"is {kind}",
                         hint="Azure and GCS keep objects by the container's or bucket's own "
                              "immutability policy, set outside hdversion (docs/configuration.md)")
    records.check()  # a bucket that is not there is said as such
    config, clock = lock_configuration(records)
    if config is None:
        raise ConfigurationError(
            f"bucket of {records.where()} has no Object Lock: --lock needs a bucket created "
            "with Object Lock enabled (S3 cannot turn it on for an existing bucket's objects)",
            hint="create one: aws s3api create-bucket --bucket NAME "
                 "--object-lock-enabled-for-bucket")
    retention = Retention(policy, clock or ServerClock(0.0, 1.0))
    records.use_retention(retention)
    records.write(LOCK_KEY, policy.to_json())
    return retention


def bucket_lock(records: Records) -> BucketLock:
    """What the remote's bucket or container says about keeping its objects."""
    if records.local:
        return BucketLock("directory", None, None, None, None,
                          "a directory has no object lock: protect it with the file "
                          "system (read-only snapshots, a write-once drive)")
    scheme = scheme_of(records.url)
    if scheme == "s3":
        bucket, _ = _split(records)
        try:
            versioning = _call(records, "get_bucket_versioning", Bucket=bucket).get("Status")
        except Exception as exc:  # the SDKs raise anything
            raise RemoteError(records.explain("cannot read the versioning of", exc)) from None
        config, _ = lock_configuration(records)
        default = None
        rule = ((config or {}).get("Rule") or {}).get("DefaultRetention") or {}
        if rule:
            span = (f"{rule['Days']} days" if rule.get("Days")
                    else f"{rule.get('Years')} years")
            default = f"{rule.get('Mode', '').lower()} {span}".strip()
        return BucketLock("s3", versioning, config is not None, default,
                          read_policy(records))
    if scheme == "azure":
        return _azure_lock(records)
    return _gcs_lock(records)


def _azure_lock(records: Records) -> BucketLock:
    """A container's immutability policy is set through Azure's management plane (ARM),
    which Azurite does not serve; the blob service says only whether the container has a
    legal hold or an immutability policy (its properties' flags), when the service sends
    them."""
    from fsspec.asyn import sync

    container, _ = _split(records)
    unsupported = ("Azure: the immutability policy's retention is set and read through "
                   "Azure's management API, not the blob service; hdversion does not lock "
                   "writes there (--lock is S3's)")
    fs = records.fs.fs

    async def properties() -> Any:
        # adlfs's service client is the SDK's asyncio one: its calls must run on adlfs's loop.
        return await fs.service_client.get_container_client(
            container).get_container_properties()

    try:
        props = sync(fs.loop, properties)
    except Exception as exc:  # the SDKs raise anything
        raise RemoteError(records.explain("cannot read the properties of", exc)) from None
    immutable = getattr(props, "has_immutability_policy", None)
    legal_hold = getattr(props, "has_legal_hold", None)
    versioning = getattr(props, "immutable_storage_with_versioning_enabled", None)
    if immutable is None and legal_hold is None:
        return BucketLock("azure", None, None, None, None,
                          unsupported + "; the service reported no immutability flags")
    return BucketLock("azure", "Enabled" if versioning else None,
                      bool(immutable or legal_hold),
                      "immutability policy" if immutable else
                      ("legal hold" if legal_hold else None), None, unsupported)


def _gcs_lock(records: Records) -> BucketLock:
    """A GCS bucket's retention policy and versioning, from its metadata (GET bucket)."""
    bucket, _ = _split(records)
    unsupported = ("GCS: hdversion does not set per-object retention (--lock is S3's); "
                   "a bucket retention policy, set outside hdversion, keeps every object")
    try:
        info = records.fs.fs.call("GET", "b/{}", bucket, json_out=True)
    except Exception as exc:  # the SDKs raise anything
        raise RemoteError(records.explain("cannot read the metadata of", exc)) from None
    policy = info.get("retentionPolicy") or {}
    versioning = (info.get("versioning") or {}).get("enabled")
    seconds = policy.get("retentionPeriod")
    default = (f"{'locked ' if policy.get('isLocked') else ''}{int(seconds) // 86400} days"
               f" ({seconds} s)" if seconds else None)
    return BucketLock("gs", "Enabled" if versioning else None, bool(seconds), default, None,
                      unsupported)


# -- deleting what is not locked --------------------------------------------------------
@dataclass
class Deleting:
    """A deletion on a locked bucket: the keys deleted (every version gone) and those that
    stay because a version of them is locked (key -> the latest retention date; None: a
    legal hold, no date)."""

    deleted: set[str]
    locked: dict[str, datetime | None]


def delete_unlocked(records: Records, keys: Iterable[str],
                    clock: ServerClock | None = None) -> Deleting:
    """Delete every version of each key whose retention has passed (by the server's clock,
    read here unless given); leave the locked ones. The server refuses to delete a locked
    version whatever this module judges (no bypass header is ever sent): a refusal counts
    as locked."""
    wanted = sorted(set(keys))
    result = Deleting(set(), {})
    if not wanted:
        return result
    if clock is None:
        _, clock = lock_configuration(records)
    now = (clock or ServerClock(0.0, 1.0)).earliest_now()

    def one(key: str) -> tuple[str, bool, datetime | None]:
        bucket, name = _split(records, key)
        listed = _call(records, "list_object_versions", Bucket=bucket, Prefix=name)
        versions = [v for v in listed.get("Versions", []) if v.get("Key") == name]
        markers = [m for m in listed.get("DeleteMarkers", []) if m.get("Key") == name]
        locked = False
        latest: datetime | None = None
        for version in versions:
            head = _call(records, "head_object", Bucket=bucket, Key=name,
                         VersionId=version["VersionId"])
            until = head.get("ObjectLockRetainUntilDate")
            hold = head.get("ObjectLockLegalHoldStatus") == "ON"
            if hold or (until is not None and until > now):
                locked = True
                if until is not None and not hold:
                    latest = until if latest is None else max(latest, until)
                continue
            try:
                _call(records, "delete_object", Bucket=bucket, Key=name,
                      VersionId=version["VersionId"])
            except Exception as exc:  # the SDKs raise anything
                if error_code(exc) != "AccessDenied" and "AccessDenied" not in str(exc):
                    raise
                locked = True  # the server's word: locked after all
                latest = until if latest is None or until is None else max(latest, until)
        if not locked:
            for marker in markers:
                _call(records, "delete_object", Bucket=bucket, Key=name,
                      VersionId=marker["VersionId"])
        return key, locked, latest

    try:
        with ThreadPoolExecutor(max_workers=VERSION_WORKERS) as pool:
            for key, locked, latest in pool.map(one, wanted):
                if locked:
                    result.locked[key] = latest
                else:
                    result.deleted.add(key)
    except (RemoteError, ConfigurationError):
        raise
    except Exception as exc:  # the SDKs raise anything
        raise RemoteError(f"deleting from {records.where()} failed after "
                          f"{len(result.deleted)} object(s): "
                          + records.explain("cannot delete from", exc)) from None
    finally:
        records.fs.fs.invalidate_cache()
    return result


def extend_retention(records: Records, keys: Iterable[str]) -> int:
    """Lock objects a backup uses but did not write (another backup's, reused) at least as
    long as the remote locks what it writes now: a backup made today on an object locked a
    month ago is otherwise deletable as soon as the old date passes. Only ever lengthened
    (S3 refuses to shorten a lock, and a longer one stays), in the object's own mode. The
    number of objects extended; nothing on a remote that does not lock."""
    args = records.put_args()
    until = args.get("ObjectLockRetainUntilDate")
    if until is None:
        return 0

    def one(key: str) -> bool:
        bucket, name = _split(records, key)
        head = _call(records, "head_object", Bucket=bucket, Key=name)
        current = head.get("ObjectLockRetainUntilDate")
        if current is not None and current >= until:
            return False
        mode = head.get("ObjectLockMode") or args["ObjectLockMode"]
        _call(records, "put_object_retention", Bucket=bucket, Key=name,
              VersionId=head["VersionId"], Retention={"Mode": mode, "RetainUntilDate": until})
        return True

    try:
        with ThreadPoolExecutor(max_workers=VERSION_WORKERS) as pool:
            return sum(pool.map(one, sorted(set(keys))))
    except (RemoteError, ConfigurationError):
        raise
    except Exception as exc:  # the SDKs raise anything
        raise RemoteError(records.explain("cannot extend the lock of objects in", exc)
                          ) from None


def lock_enabled(records: Records) -> tuple[bool, ServerClock | None]:
    """Whether deletions in the remote must go version by version (Object Lock on S3), and
    whether the bucket locks every new object by itself (a default retention): then an
    object meant to go soon (a lease) must say so. Returned as (enabled, the server's
    clock when the bucket has a default retention, else None)."""
    if not is_s3(records):
        return False, None
    config, clock = lock_configuration(records)
    rule = ((config or {}).get("Rule") or {}).get("DefaultRetention")
    return config is not None, (clock or ServerClock(0.0, 1.0)) if rule else None


# How long a lease stays locked on a bucket whose default retention would lock it for days:
# the shortest a retention date can say (whole seconds), so that its run can remove it.
LEASE_RETENTION_SECONDS = 1


def short_retention(clock: ServerClock) -> dict[str, Any]:
    """Explicit retention for an object that must go when its run ends (a lease), on a
    bucket with a default retention: an explicit date replaces the bucket's default."""
    until = (clock.latest_now() + timedelta(seconds=LEASE_RETENTION_SECONDS)).replace(
        microsecond=0) + timedelta(seconds=1)
    return {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until}


def folder_versions(records: Records, folder: str) -> list[str]:
    """Every key under a folder that has a version or a delete marker (a locked bucket
    hides a deleted key's versions from plain listings)."""
    bucket, name = _split(records, folder.rstrip("/") + "/")
    keys: set[str] = set()
    prefix = records.root.partition("/")[2]
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    paginate: dict[str, Any] = {}
    while True:
        listed = _call(records, "list_object_versions", Bucket=bucket, Prefix=name,
                       **paginate)
        for entry in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
            keys.add(str(entry["Key"]).removeprefix(prefix))
        if not listed.get("IsTruncated"):
            return sorted(keys)
        paginate = {"KeyMarker": listed.get("NextKeyMarker"),
                    "VersionIdMarker": listed.get("NextVersionIdMarker")}


def hide_locked_backup(records: Records, folder: str, manifest: str) -> bool:
    """Delete a pruned backup's folder on a locked bucket, its manifest first: the versions
    whose retention has passed go for good; a key with a version still locked is hidden by
    a delete marker (the only DELETE without a version id hdversion sends, allowed under a
    lock: it deletes no bytes), so that the remote no longer lists a backup whose objects
    prune sweeps; its locked versions stay for the ransomware runbook, and a later prune
    deletes them. True when the folder had anything."""
    keys = folder_versions(records, folder)
    if not keys:
        return False
    ordered = sorted(keys, key=lambda k: k != manifest)
    bucket, _ = _split(records)
    _, clock = lock_configuration(records)
    try:
        for key in ordered:
            outcome = delete_unlocked(records, [key], clock)
            if key in outcome.locked and _listed(records, key):
                _call(records, "delete_object", Bucket=bucket, Key=_split(records, key)[1])
    except (RemoteError, ConfigurationError):
        raise
    except Exception as exc:  # the SDKs raise anything
        raise RemoteError(records.explain("cannot delete from", exc)) from None
    finally:
        records.fs.fs.invalidate_cache()
    return True


def backup_folders_with_versions(records: Records) -> set[str]:
    """The backups' folders (timestamps) that hold any version or delete marker: on a
    locked bucket, those a prune hid but could not delete yet are among them."""
    top = records.path(BACKUPS_DIR + "/").partition("/")[2]
    bucket, _ = _split(records)
    names: set[str] = set()
    paginate: dict[str, Any] = {}
    while True:
        listed = _call(records, "list_object_versions", Bucket=bucket, Prefix=top,
                       **paginate)
        for entry in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
            rest = str(entry["Key"])[len(top):]
            if "/" in rest:
                names.add(rest.split("/", 1)[0])
        if not listed.get("IsTruncated"):
            return names
        paginate = {"KeyMarker": listed.get("NextKeyMarker"),
                    "VersionIdMarker": listed.get("NextVersionIdMarker")}


def _listed(records: Records, key: str) -> bool:
    """Whether a key's current version is an object (not a delete marker): asked of the
    server, not of s3fs's listing cache."""
    bucket, name = _split(records, key)
    try:
        _call(records, "head_object", Bucket=bucket, Key=name)
    except FileNotFoundError:
        return False
    except Exception as exc:  # the SDKs raise anything
        if error_code(exc) in ("404", "NoSuchKey"):
            return False
        raise
    return True
