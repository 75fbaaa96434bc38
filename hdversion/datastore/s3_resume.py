"""A large file's multipart upload to S3 that a later run resumes rather than restarts.

s3transfer aborts a multipart upload that fails, and one a killed process leaves is never
looked at again: a 10 GiB object cut at 9 GiB was sent again whole. Here the upload of a
large file (`S3Uploader`, from the multipart threshold on) first asks the bucket for the
incomplete uploads of its own key (ListMultipartUploads, ListParts). The newest whose
listed parts have the sizes this file's parts have (the same part size) is resumed: the file
is read once, in order, and each part it holds is checked against this file's bytes (its
ETag against their md5: a part is never trusted on its listing alone) while the parts it
lacks are sent. A part that does not match aborts that upload, and a new one starts.

The key is the object's md5 and the whole file is hashed as it is read: the upload is
completed only if the bytes read (those sent, those checked) hash to it, else aborted. So
completing another run's upload lands the same bytes as a new upload would, a large file is
read once (not hashed first, then read again to be sent), and the object is visible only
once complete (S3 makes a multipart object appear at CompleteMultipartUpload).

Where a part's ETag is not the md5 of its bytes (SSE-KMS, SSE-C: S3 says so) nothing can
check a listed part against the file, so no upload is resumed: a new one starts, as
s3transfer's would. An encrypted remote's objects are sealed with a new salt at each put
(`datastore/encrypted.py`), so the bytes of an earlier run's parts never match and are not
resumed either: its uploads go through s3fs (`BucketStore.upload`), not here.

A part's upload that fails leaves the upload in the bucket for the next run to resume (a
lifecycle rule aborting incomplete uploads after some days cleans what no run resumes;
docs/configuration.md); only a part that came back with the wrong ETag aborts it."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdversion.datastore.resumable import Chunks, Send, send_chunks
from hdversion.errors import VerificationError

# The arguments each request of a multipart upload takes from the upload's own, as
# s3transfer passes them on (`s3transfer.upload.UploadSubmissionTask`).
UPLOAD_PART_ARGS = ("ChecksumAlgorithm", "SSECustomerKey", "SSECustomerAlgorithm",
                    "SSECustomerKeyMD5", "RequestPayer", "ExpectedBucketOwner")
COMPLETE_ARGS = ("SSECustomerKey", "SSECustomerAlgorithm", "SSECustomerKeyMD5",
                 "RequestPayer", "ExpectedBucketOwner")
LIST_ARGS = ("RequestPayer", "ExpectedBucketOwner")
# Server-side encryption whose ETags are not the md5 of the bytes.
_OPAQUE_ETAGS = ("aws:kms", "aws:kms:dsse")


@dataclass(frozen=True)
class SentPart:
    number: int
    etag: str
    checksum: dict[str, str]  # the part's checksum member, when the upload asks for one


class _Mismatch(Exception):
    """A part the upload being resumed holds is not this file's bytes."""


class ResumableUpload:
    """One file to one key (`run`), the file read once, in order: each part's bytes go into
    the whole file's md5 and to the upload (or, for a part an earlier run sent, are checked
    against its ETag). Given `md5` (the object's name), the upload is completed only if the
    bytes sent hash to it (else aborted: VerificationError), so the file need not be hashed
    before its upload starts. `window`: parts in flight at once (each held in memory:
    window x part size). `on_chunk`: the bytes of each part sent, and of each part kept."""

    def __init__(self, client: Any, bucket: str, key: str, path: Path, parts: Chunks,
                 extra_args: dict[str, Any], window: int,
                 on_chunk: Callable[[int], None] | None = None, md5: str | None = None
                 ) -> None:
        self.client, self.bucket, self.key, self.path = client, bucket, key, path
        self.parts, self.extra_args, self.window = parts, extra_args, max(1, window)
        self.on_chunk, self.md5 = on_chunk, md5
        self.part_args = _only(extra_args, UPLOAD_PART_ARGS)
        self.checksum_member = (f"Checksum{extra_args['ChecksumAlgorithm'].upper()}"
                                if "ChecksumAlgorithm" in extra_args else None)
        self.resumed = False

    @property
    def comparable(self) -> bool:
        """Whether a part's ETag is the md5 of its bytes, so that a listed part can be
        checked against the file."""
        return ("SSECustomerKey" not in self.extra_args
                and self.extra_args.get("ServerSideEncryption") not in _OPAQUE_ETAGS)

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=self.window) as pool:
            found = self._resumable() if self.comparable else None
            upload_id, listed = found if found is not None else (self._create(), {})
            self.resumed = found is not None
            try:
                sent = self._send(pool, upload_id, listed)
            except _Mismatch:
                self._abort(upload_id)
                upload_id, self.resumed = self._create(), False
                sent = self._send(pool, upload_id, {})
        completed = self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=upload_id,
            MultipartUpload={"Parts": [
                {"PartNumber": p.number, "ETag": p.etag, **p.checksum} for p in sent]},
            **_only(self.extra_args, COMPLETE_ARGS))
        if self.resumed:
            self._lock_anew(completed)

    def _create(self) -> str:
        answer = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                     **self.extra_args)
        return str(answer["UploadId"])

    def _abort(self, upload_id: str) -> None:
        with suppress(Exception):  # gone meanwhile: nothing to abort
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                               UploadId=upload_id,
                                               **_only(self.extra_args, LIST_ARGS))

    # -- resuming ---------------------------------------------------------------------
    def _resumable(self) -> tuple[str, dict[int, dict[str, Any]]] | None:
        """The newest incomplete upload of this key whose listed parts have the sizes of
        this file's parts, with those parts by number; or None. Their bytes are checked as
        the file is read (`_send`)."""
        from botocore.exceptions import ClientError

        try:
            uploads = self._incomplete()
        except ClientError as exc:
            if _denied(exc):
                return None  # credentials that may not list uploads: a new one, as before
            raise
        for upload in uploads:
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=self.key, UploadId=upload["UploadId"],
                **_only(self.extra_args, LIST_ARGS))
            try:
                listed = {part["PartNumber"]: part for page in pages
                          for part in page.get("Parts", [])}
            except ClientError as exc:
                if _denied(exc) or _code(exc) == "NoSuchUpload":
                    continue  # not ours to read, or completed or aborted meanwhile
                raise
            if all(1 <= number <= self.parts.count
                   and part["Size"] == self.parts.length(number - 1)
                   for number, part in listed.items()):
                return upload["UploadId"], listed
        return None  # none, or another part size (another writer's settings): left alone

    def _incomplete(self) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.key, **_only(self.extra_args, LIST_ARGS))
        found = [upload for page in pages for upload in page.get("Uploads", [])
                 if upload["Key"] == self.key]
        return sorted(found, key=lambda upload: upload["Initiated"], reverse=True)

    def _kept(self, part: dict[str, Any], body: bytes) -> SentPart:
        digest, checksum = self._digest(body)
        if part["ETag"].strip('"') != digest:
            raise _Mismatch
        if self.checksum_member and self.checksum_member in part:
            checksum = {self.checksum_member: part[self.checksum_member]}
        return SentPart(part["PartNumber"], part["ETag"], checksum)

    def _lock_anew(self, completed: dict[str, Any]) -> None:
        """An upload created by an earlier run was locked from then (Object Lock): lock the
        object from now, as a new upload would be."""
        until = self.extra_args.get("ObjectLockRetainUntilDate")
        if until is None:
            return
        self.client.put_object_retention(
            Bucket=self.bucket, Key=self.key, VersionId=completed["VersionId"],
            Retention={"Mode": self.extra_args["ObjectLockMode"], "RetainUntilDate": until},
            **_only(self.extra_args, LIST_ARGS))

    # -- sending ----------------------------------------------------------------------
    def _send(self, pool: ThreadPoolExecutor, upload_id: str,
              listed: dict[int, dict[str, Any]]) -> list[SentPart]:
        """The file read part after part (`send_chunks`): a `listed` part checked
        (`_Mismatch` if it is other bytes), any other sent, `window` at a time; bytes that
        are not the file as listed, or do not hash to `md5`, abort the upload."""
        def part(index: int, body: bytes) -> SentPart | Send[SentPart]:
            if index + 1 in listed:
                return self._kept(listed[index + 1], body)
            return Send(lambda: pool.submit(self._upload_part, upload_id, index + 1, body))

        try:
            return send_chunks(self.path, self.parts, part, self.window, self.md5,
                               f"s3://{self.bucket}/{self.key}", self.on_chunk).chunks
        except VerificationError:
            self._abort(upload_id)
            raise

    def _upload_part(self, upload_id: str, number: int, body: bytes) -> SentPart:
        digest, checksum = self._digest(body)
        answer = self.client.upload_part(Bucket=self.bucket, Key=self.key,
                                         UploadId=upload_id, PartNumber=number, Body=body,
                                         **self.part_args)
        if self.comparable and answer["ETag"].strip('"') != digest:
            raise VerificationError(f"s3://{self.bucket}/{self.key}: part {number} arrived "
                                    "as other bytes than were sent; the upload is aborted")
        if self.checksum_member and self.checksum_member in answer:
            checksum = {self.checksum_member: answer[self.checksum_member]}
        if self.on_chunk is not None:
            self.on_chunk(len(body))
        return SentPart(number, answer["ETag"], checksum)

    def _digest(self, body: bytes) -> tuple[str, dict[str, str]]:
        """The part's md5 (its ETag) and, when the upload asks for CRC32, that checksum
        (the one algorithm hdversion's uploads ask for: s3transfer's default)."""
        digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if self.checksum_member != "ChecksumCRC32":
            return digest, {}
        crc = zlib.crc32(body).to_bytes(4, "big")
        return digest, {"ChecksumCRC32": base64.b64encode(crc).decode()}


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _denied(exc: Exception) -> bool:
    return _code(exc) in ("AccessDenied", "403")


def _only(args: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: args[name] for name in names if name in args}


def part_size(chunksize: int, size: int) -> int:
    """The part size s3transfer would use for a file of `size` (S3's limits: 5 MiB to
    5 GiB, at most 10,000 parts), so that a run resumes what another run started."""
    from s3transfer.utils import ChunksizeAdjuster

    return int(ChunksizeAdjuster().adjust_chunksize(chunksize, size))

