"""A remote's encryption at rest (`remote test`), read through the remote's own SDK client:
hdversion's client-side record in the remote, the server-side encryption every write asks
for (S3: DVC's `sse`, `sse_kms_key_id`, `sse_customer_key` options, which dvc-s3 hands to
s3fs as request arguments of every call, and `s3_upload` to boto3's uploads), and the
bucket's or container's default (S3 GetBucketEncryption, an Azure container's default
encryption scope, a GCS bucket's default KMS key), which the server applies to a write
that asks for none.

Azure and GCS writes ask for nothing themselves (docs/design-decisions.md, "Server-side
encryption on every cloud"): their encryption with a key of the user's is the container's
or bucket's default, which covers every writer (hdversion, DVC, anything else)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hdversion.datastore.object_lock import error_code
from hdversion.model.encryption_at_rest import (
    BY_BUCKET,
    BY_REMOTE,
    CLIENT_SIDE_KEY,
    AtRest,
    ServerSide,
)
from hdversion.model.storages import scheme_of

if TYPE_CHECKING:
    from hdversion.datastore.records import Records

# An S3 bucket without default encryption answers this (before 2023 most had none; AWS
# now encrypts every new object with SSE-S3 and reports it as the default).
_NO_S3_DEFAULT = "ServerSideEncryptionConfigurationNotFoundError"


def at_rest(records: Records) -> AtRest:
    """What the remote says about encrypting its bytes at rest. RemoteError when it cannot
    be read at all; a default these credentials may not read is said in `unknown`."""
    client_side = records.has(CLIENT_SIDE_KEY)
    if records.local:
        return AtRest("directory", client_side, (),
                      "" if client_side else "a directory is as safe as its disk: encrypt the "
                      "disk (LUKS, FileVault, BitLocker) or the remote (client-side)")
    scheme = scheme_of(records.url)
    if scheme == "s3":
        asked = s3_requested(records.fs.fs.s3_additional_kwargs)
        default, unknown = _s3_default(records)
        return AtRest("s3", client_side, tuple(s for s in (asked, default) if s), unknown)
    if scheme == "azure":
        default, unknown = _read_default(records, _azure_default, "the container's default "
                                         "encryption scope")
        return AtRest("azure", client_side, (default,) if default else (), unknown)
    default, unknown = _read_default(records, _gcs_default, "the bucket's default KMS key")
    return AtRest("gs", client_side, (default,) if default else (), unknown)


def s3_requested(arguments: dict[str, Any]) -> ServerSide | None:
    """The encryption every write asks for, from s3fs's request arguments (never the
    SSE-C key itself, a secret)."""
    if arguments.get("SSECustomerKey") or arguments.get("SSECustomerAlgorithm"):
        return ServerSide("SSE-C", None, BY_REMOTE)
    scheme = arguments.get("ServerSideEncryption")
    if not scheme:
        return None
    return ServerSide(str(scheme), arguments.get("SSEKMSKeyId") or None, BY_REMOTE)


def s3_default(configuration: dict[str, Any]) -> ServerSide | None:
    """A GetBucketEncryption answer's default (its first rule's)."""
    for rule in configuration.get("Rules") or []:
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm"):
            return ServerSide(str(default["SSEAlgorithm"]),
                              default.get("KMSMasterKeyID") or None, BY_BUCKET)
    return None


def azure_default(properties: Any) -> ServerSide | None:
    """A container's default encryption scope, from its properties (azure-storage-blob's
    ContainerProperties); None for Microsoft's own keys (no scope)."""
    scope = getattr(getattr(properties, "encryption_scope", None),
                    "default_encryption_scope", None)
    return ServerSide("encryption scope", str(scope), BY_BUCKET) if scope else None


def gcs_default(bucket: dict[str, Any]) -> ServerSide | None:
    """A GCS bucket's default customer-managed key, from its metadata (GET b/NAME)."""
    key = (bucket.get("encryption") or {}).get("defaultKmsKeyName")
    return ServerSide("kms", str(key), BY_BUCKET) if key else None


def _s3_default(records: Records) -> tuple[ServerSide | None, str]:
    bucket = records.root.partition("/")[0]
    try:
        answer = records.fs.fs.call_s3("get_bucket_encryption", Bucket=bucket)
    except Exception as exc:  # the SDKs raise anything
        if _NO_S3_DEFAULT in error_code(exc) + str(exc):
            return None, ""
        return None, records.explain("cannot read the default encryption of", exc)
    return s3_default(answer.get("ServerSideEncryptionConfiguration") or {}), ""


def _azure_default(records: Records) -> ServerSide | None:
    from fsspec.asyn import sync

    fs = records.fs.fs
    container = records.root.partition("/")[0]

    async def properties() -> Any:
        client = fs.service_client.get_container_client(container)
        return await client.get_container_properties()

    return azure_default(sync(fs.loop, properties))


def _gcs_default(records: Records) -> ServerSide | None:
    bucket = records.root.partition("/")[0]
    return gcs_default(records.fs.fs.call("GET", "b/{}", bucket, json_out=True))


def _read_default(records: Records, read: Any, what: str) -> tuple[ServerSide | None, str]:
    try:
        return read(records), ""
    except Exception as exc:  # the SDKs raise anything
        return None, records.explain(f"cannot read {what} of", exc)
