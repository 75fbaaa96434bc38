"""Deleting from a bucket with credentials that may not: a refused deletion is an error,
never a silent skip, and prune asks before it deletes anything whether it may.

A machine that only backs up is best given a key that cannot delete (docs/cloud.md, "Split
credentials"): ransomware holding it cannot wipe the backups. That key still deletes its own
leases (`hdversion/locks/`), so the probe names a key outside them.

S3's bulk delete answers 200 with a list of the keys it refused, which s3fs drops (it
deletes with `on_error="omit"`): read here, the first refusal raises. Azure's and GCS's
file systems raise a refused deletion themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hdversion.datastore.explain import classify
from hdversion.datastore.object_lock import error_code, is_s3
from hdversion.errors import DeletionRefusedError, RemoteError

if TYPE_CHECKING:
    from hdversion.datastore.records import Records

# A key no one writes: the probe deletes it (it is absent, so nothing goes).
PROBE_KEY = "hdversion/delete-check"
# S3 deletes at most this many keys per request.
S3_DELETE_BATCH = 1000


def delete_keys(records: Records, keys: Sequence[str]) -> None:
    """Delete keys of the remote (absent ones count as deleted); DeletionRefusedError on
    the first the server refuses, RemoteError (or what the SDK raises) otherwise."""
    if not keys:
        return
    if not is_s3(records):
        # Gone already is what a deletion wants.
        with contextlib.suppress(FileNotFoundError):
            records.fs.fs.rm([records.path(k) for k in keys])
        return
    bucket, _, _ = records.path(keys[0]).partition("/")
    for start in range(0, len(keys), S3_DELETE_BATCH):
        batch = keys[start:start + S3_DELETE_BATCH]
        objects = [{"Key": records.path(k).partition("/")[2]} for k in batch]
        try:
            answer = records.fs.fs.call_s3("delete_objects", Bucket=bucket,
                                           Delete={"Objects": objects, "Quiet": True})
        except FileNotFoundError:
            return  # the bucket is gone, and what it held with it
        finally:
            records.fs.fs.invalidate_cache()
        refused = [e for e in answer.get("Errors") or [] if e.get("Code") != "NoSuchKey"]
        if refused:
            first = refused[0]
            raise DeletionRefusedError(refusal(records, f"{first.get('Code')} on "
                                                        f"{first.get('Key')}"),
                                       hint=HINT)


def check_may_delete(records: Records) -> None:
    """Whether these credentials may delete in the remote, asked by deleting a key that is
    not there (nothing goes either way): DeletionRefusedError if refused. On a versioned
    bucket the probe names the version "null", so that it leaves no delete marker."""
    if records.local:
        return
    try:
        if is_s3(records):
            bucket, _, key = records.path(PROBE_KEY).partition("/")
            versioned = records.locked_bucket()
            records.fs.fs.call_s3("delete_object", Bucket=bucket, Key=key,
                                  **({"VersionId": "null"} if versioned else {}))
        else:
            records.fs.fs.rm_file(records.path(PROBE_KEY))
    except FileNotFoundError:
        return  # allowed to try: the key is simply absent
    except Exception as exc:  # the SDKs raise anything
        if classify(exc) == "refused" or error_code(exc) == "AccessDenied":
            raise DeletionRefusedError(refusal(records, type(exc).__name__),
                                       hint=HINT) from None
        if isinstance(exc, RemoteError):
            raise
        raise RemoteError(records.explain("cannot delete from", exc)) from None


def refusal(records: Records, what: str) -> str:
    return (f"{records.where()} refuses deletions with these credentials ({what}): they "
            "may write and read, not delete")


HINT = ("prune with credentials that may delete, e.g. `hdversion prune --profile admin` (an "
        "AWS profile) or from the machine that holds them; a machine that only backs up is "
        "best left without that right (docs/cloud.md, \"Split credentials\")")
