"""Objects moved to and from S3 in one request each, from a pool of threads, with the client
of the bulk upload (`s3_upload`: the client s3fs would make from the same remote
configuration): a GET per object downloaded, a PUT per small object uploaded.

s3fs sends every request from its one event-loop thread: a pull of many small objects
through it ran at 0.4x the throughput of boto3's threads (bench/README.md, "Issue 28: many
objects in a bucket"). s3transfer's TransferManager, right for large files, spends a third
more of the client's CPU than a plain put_object on a small one (its futures, its
submission thread, its chunked reader), and on a loopback server the client's CPU is what
the server does not get. Here each thread sends its own request (no HEAD first)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hdversion.datastore.s3_upload import shared_uploader
from hdversion.errors import VerificationError, WriteError
from hdversion.util.hashing import CHUNK
from hdversion.util.progress import Transferred

# How many times a download whose body broke off is tried (s3transfer's own default).
ATTEMPTS = 5


# Files up to this size are uploaded by one put_object from their bytes in memory (a
# thread's at a time), larger ones by s3transfer.
SMALL_PUT = 1024 * 1024


class S3Requests:
    """get_object and put_object from any thread, with the arguments every read (a
    customer-provided encryption key, requester pays) and every write (encryption, ACL)
    of the remote carries."""

    def __init__(self, client: Any, get_args: dict[str, Any], put_args: dict[str, Any]
                 ) -> None:
        self.client, self.args, self.put_args = client, get_args, put_args

    def put(self, path: str, data: bytes, args: dict[str, Any]) -> None:
        """`data` as the object at "bucket/key", in one request; `args`: what this write
        adds (an Object Lock retention). What the SDK raises passes untouched."""
        bucket, _, key = path.partition("/")
        self.client.put_object(Bucket=bucket, Key=key, Body=data, **self.put_args, **args)

    def get(self, path: str, target: Path, limit: int | None, where: str,
            on_chunk: Callable[[int], None] | None = None) -> None:
        """The object at "bucket/key" into the local file `target` (created), stopped as
        soon as the size announced or the bytes received pass `limit` (VerificationError,
        what landed left for the caller to remove). FileNotFoundError when there is none,
        WriteError when the local file cannot be written; what else the SDK raises, as s3fs
        would raise it (`translate_boto_error`). `on_chunk`: the bytes received, a body
        read again after a broken one not counted twice."""
        from s3transfer.utils import S3_RETRYABLE_DOWNLOAD_ERRORS

        received = Transferred(on_chunk)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._get(path, target, limit, where, received)
                return
            except S3_RETRYABLE_DOWNLOAD_ERRORS:
                if attempt == ATTEMPTS:
                    raise

    def _get(self, path: str, target: Path, limit: int | None, where: str,
             received: Transferred) -> None:
        from botocore.exceptions import ClientError
        from s3fs.errors import translate_boto_error

        bucket, _, key = path.partition("/")
        try:
            answer = self.client.get_object(Bucket=bucket, Key=key, **self.args)
        except ClientError as exc:
            raise translate_boto_error(exc) from None
        body = answer["Body"]
        try:
            announced = answer.get("ContentLength")
            if limit is not None and announced is not None and announced > limit:
                raise VerificationError(f"{where} holds more than the {limit} bytes its "
                                        "manifest records")
            try:
                out = target.open("wb")
            except OSError as exc:
                raise WriteError(f"cannot write {target}: {exc.strerror or exc}") from None
            count = 0
            with out:
                for chunk in body.iter_chunks(CHUNK):
                    count += len(chunk)
                    if limit is not None and count > limit:
                        raise VerificationError(f"{where} holds more than the {limit} bytes "
                                                "its manifest records")
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise WriteError(f"cannot write {target}: {exc.strerror or exc}"
                                         ) from None
                    received.reach(count)
        finally:
            body.close()


def s3_requests(fs: Any) -> S3Requests | None:
    """Requests to what the DVC file system `fs` (S3) reaches, with the bulk upload's
    client and its arguments; None where that client cannot be made (s3fs then reads and
    writes, as before)."""
    from s3transfer.manager import TransferManager

    uploader = shared_uploader(fs)
    if uploader is None:
        return None
    # What s3fs adds to a read: the arguments of the remote a GET takes.
    get_args = {name: value for name, value in uploader.extra_args.items()
                if name in TransferManager.ALLOWED_DOWNLOAD_ARGS}
    return S3Requests(uploader.client, get_args, uploader.extra_args)
