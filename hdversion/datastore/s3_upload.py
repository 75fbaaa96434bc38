"""Uploads to S3 from a pool of threads (s3transfer's TransferManager, boto3's own), with the
client that s3fs would make from the same remote configuration.

s3fs builds, signs and sends every request from its one event-loop thread, and that thread
is the bottleneck of a push: 0.65-0.75x the throughput of boto3's threads in the bench
(bench/README.md, "Push to S3"). s3transfer sends the same requests from `jobs` threads.

The client is made from the arguments DVC gave s3fs for the remote (credentials, profile,
endpoint, region, TLS verification, timeouts, the AWS config file's `s3` section, encryption
and ACL options, requester pays), the way s3fs makes its own, so that both reach the same
bucket as the same identity with the same options. An argument this module does not know
how to pass on means no uploader (None): the upload stays with s3fs rather than go out
without an option the user set."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fsspec.callbacks import Callback

from hdversion.datastore.resumable import Chunks
from hdversion.datastore.s3_resume import ResumableUpload, part_size
from hdversion.util.progress import Transferred

# The part size of large files s3fs uploads (boto3's is 8 MiB), how many large files go at
# once and how many parts of each (see `upload_files`).
S3_PART = 8 * 1024 * 1024
S3_MAX_PARTS = 10_000
LARGE_AT_ONCE = 2
PARTS_AT_ONCE = 8

# s3fs's own arguments that change nothing in how an object is uploaded.
_UPLOAD_NEUTRAL = {"version_aware", "cache_regions", "default_block_size", "default_fill_cache",
                   "default_cache_type", "max_concurrency", "fixed_upload_size", "loop",
                   "asynchronous", "skip_instance_cache", "use_listings_cache",
                   "listings_expiry_time", "max_paths"}
# The AWS config file's transfer settings, as DVC names them (boto3's names), in s3transfer's.
_TRANSFER_NAMES = {"max_concurrency": "max_request_concurrency",
                   "max_io_queue": "max_io_queue_size",
                   "multipart_threshold": "multipart_threshold",
                   "multipart_chunksize": "multipart_chunksize"}
# Arguments of botocore's Session (s3fs passes its leftover arguments to aiobotocore's).
_SESSION_ARGUMENTS = {"profile"}


# A file to upload: local path, "bucket/key", size, and its md5 when it is to be checked as
# it is sent (None: checked before, by the caller).
Upload = tuple[Path, str, int, str | None]
# The arguments every upload's request adds (an Object Lock retention: `Records.put_args`).
PutArgs = Callable[[], dict[str, Any]]


class S3Uploader:
    """One botocore client and its thread pool, for every upload of one push."""

    def __init__(self, client: Any, extra_args: dict[str, Any], transfer: dict[str, Any],
                 jobs: int) -> None:
        self.client = client
        self.extra_args = extra_args
        self.transfer = transfer
        self.jobs = jobs

    @property
    def threshold(self) -> int:
        """From this size on, a file goes in a resumable multipart upload."""
        from s3transfer.manager import TransferConfig

        return int(TransferConfig(**self.transfer).multipart_threshold)

    def upload(self, files: Iterable[Upload], on_chunk: Callable[[int], None] | None = None,
               put_args: PutArgs = dict) -> None:
        """Upload files, `jobs` requests at a time; the first failure is raised once the
        others have stopped. A file from the multipart threshold on goes as a
        `ResumableUpload` (LARGE_AT_ONCE files at once, PARTS_AT_ONCE parts of each): it
        resumes what a killed run left of its upload, a failure leaves its parts for the
        next run, and given its md5 it is hashed as it is sent. The others go through
        s3transfer, which aborts a multipart upload that fails. `on_chunk`: the bytes
        sent, from the threads. `put_args`: asked as each file is handed over (an Object
        Lock date counts from then)."""
        from s3transfer.manager import TransferConfig, TransferManager
        from s3transfer.subscribers import BaseSubscriber
        from s3transfer.utils import set_default_checksum_algorithm

        class Sent(BaseSubscriber):  # type: ignore[misc]  # s3transfer has no type hints
            def __init__(self, counter: Transferred) -> None:
                self.counter = counter

            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any
                            ) -> None:
                self.counter.add(bytes_transferred)

        config = TransferConfig(**{"max_request_concurrency": self.jobs, **self.transfer})
        window = min(PARTS_AT_ONCE, config.max_request_concurrency)
        with TransferManager(self.client, config) as manager, \
                ThreadPoolExecutor(max_workers=LARGE_AT_ONCE) as large:
            futures = []
            for path, key, size, md5 in files:
                bucket, _, name = key.partition("/")
                extra_args = {**self.extra_args, **put_args()}
                if size < self.threshold:
                    subscribers = [Sent(Transferred(on_chunk))] if on_chunk else None
                    futures.append(manager.upload(str(path), bucket, name,
                                                  extra_args=extra_args,
                                                  subscribers=subscribers))
                    continue
                if self.client.meta.config.request_checksum_calculation == "when_supported":
                    set_default_checksum_algorithm(extra_args)  # as s3transfer does
                parts = Chunks(size, part_size(config.multipart_chunksize, size))
                futures.append(large.submit(ResumableUpload(
                    self.client, bucket, name, path, parts, extra_args, window,
                    on_chunk, md5).run))
            for future in futures:
                future.result()


def s3_uploader(fs: Any, jobs: int, transfer: dict[str, Any] | None) -> S3Uploader | None:
    """An uploader for what the s3fs file system `fs` reaches, or None when its arguments
    hold anything this module cannot pass on (s3fs then uploads, as before)."""
    try:
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.session import Session
        from s3transfer.manager import TransferManager
    except ImportError:
        return None
    options = dict(fs.storage_options)
    session_kwargs = {key: options.pop(key) for key in list(options)
                      if key in _SESSION_ARGUMENTS}
    known = {"key", "secret", "token", "endpoint_url", "use_ssl", "anon", "client_kwargs",
             "config_kwargs", "s3_additional_kwargs", "requester_pays"}
    if set(options) - known - _UPLOAD_NEUTRAL:
        return None  # a session of the caller's, a new s3fs option
    config_kwargs = fs._prepare_config_kwargs()  # s3fs's timeouts added to the remote's
    if set(config_kwargs) - set(Config.OPTION_DEFAULTS):
        return None  # an aiohttp-only option: connector arguments and the like
    config_kwargs["max_pool_connections"] = max(jobs, config_kwargs.get(
        "max_pool_connections") or 0)
    extra_args = {**fs.s3_additional_kwargs, **fs.req_kw}
    if set(extra_args) - set(TransferManager.ALLOWED_UPLOAD_ARGS) \
            or set(transfer or {}) - set(_TRANSFER_NAMES):
        return None

    client_kwargs = dict(fs.client_kwargs)
    init_kwargs = {name: value for name, value in (
        ("aws_access_key_id", fs.key), ("aws_secret_access_key", fs.secret),
        ("aws_session_token", fs.token), ("endpoint_url", fs.endpoint_url))
        if value is not None and value != client_kwargs.get(name)}
    if "use_ssl" not in client_kwargs:
        init_kwargs["use_ssl"] = fs.use_ssl
    if fs.anon:
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            init_kwargs.pop(name, None)
            client_kwargs.pop(name, None)
        config_kwargs["signature_version"] = UNSIGNED

    session = Session(**session_kwargs)
    with_loader = getattr(fs, "session", None)
    if with_loader is not None:
        # The service descriptions s3fs's session has already read: reading them again
        # costs a tenth of a second.
        session.register_component("data_loader", with_loader.get_component("data_loader"))
    client = session.create_client("s3", config=Config(**config_kwargs), **init_kwargs,
                                   **client_kwargs)
    return S3Uploader(client, extra_args,
                      {_TRANSFER_NAMES[name]: value for name, value in (transfer or {}).items()},
                      jobs)


# One client per s3fs file system (by its id, the file system held): a sync pushes backup
# after backup, and making a client costs a tenth of a second.
_UPLOADERS: dict[int, tuple[Any, S3Uploader | None]] = {}


class _Sent(Callback):  # type: ignore[misc]  # fsspec has no type hints
    """fsspec's progress of a bulk put, each file's bytes counted by its own Transferred."""

    def __init__(self, on_chunk: Callable[[int], None] | None) -> None:
        super().__init__()
        self.on_chunk = on_chunk

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> Callback:
        return _FileSent(Transferred(self.on_chunk))


class _FileSent(Callback):  # type: ignore[misc]
    def __init__(self, counter: Transferred) -> None:
        super().__init__()
        self.counter = counter

    def call(self, hook_name: str | None = None, **kwargs: Any) -> None:
        self.counter.reach(int(self.value))


def checked_in_flight(fs: Any) -> int | None:
    """The size from which `upload_files` hashes a file as it sends it, and completes its
    upload only if it has the md5 it is given (an S3Uploader's resumable uploads, Azure's
    `azure_resume`); None where every file must be hashed before (s3fs, GCS)."""
    if fs.protocol == "azure":
        from hdversion.datastore.azure_resume import client_sizes

        return client_sizes(fs.fs.service_client)[0] + 1  # resumable block uploads
    uploader = _uploader_for(fs) if fs.protocol == "s3" else None
    return None if uploader is None else uploader.threshold


def upload_files(fs: Any, files: Iterable[Upload],
                 on_chunk: Callable[[int], None] | None = None,
                 put_args: PutArgs = dict) -> None:
    """Upload files (local path, remote path, size, md5 to check in flight or None), `jobs`
    at a time, through the DVC file system `fs`; on S3 the files are sent as `files` yields
    them. An md5 is given only from `checked_in_flight(fs)` on.

    On S3, through an S3Uploader (boto3's threads) where one can be made; otherwise through
    s3fs, with the large files in parts of S3_PART (s3fs's own 50 MiB parts cost the server
    more and leave a 128 MiB file three requests to share), LARGE_AT_ONCE files at a time,
    PARTS_AT_ONCE parts each, beside the small ones: s3fs holds every part in flight in
    memory, so this bounds it (jobs x 2 x S3_PART for the small files, LARGE_AT_ONCE x
    PARTS_AT_ONCE x S3_PART for the large ones) whatever the number of large files. On
    Azure, a file given its md5 as a resumable block upload (`azure_resume`), one after
    another; the others through adlfs.
    `on_chunk`: the bytes sent (`util.progress.Transferred`), as the SDK reports them.
    `put_args`: what each upload's request adds (S3 only): asked per file by boto3's
    threads, once per call through s3fs."""
    uploader = _uploader_for(fs) if fs.protocol == "s3" else None
    if uploader is not None:
        try:
            uploader.upload(files, on_chunk, put_args)
        finally:
            fs.fs.invalidate_cache()  # s3fs's listings of these keys are out of date
        return
    files = list(files)
    if fs.protocol == "azure":
        from hdversion.datastore.azure_resume import upload_resumable

        for path, key, size, md5 in files:
            if md5 is not None:  # resumed from what a killed run staged
                upload_resumable(fs.fs, path, key, size, md5, min(PARTS_AT_ONCE, fs.jobs),
                                 on_chunk, put_args())
                fs.fs.invalidate_cache()
        files = [file for file in files if file[3] is None]
        if not files:
            return
    if fs.protocol != "s3" or not fs.fs.async_impl:
        fs.put([str(path) for path, _, _, _ in files], [key for _, key, _, _ in files],
               callback=_Sent(on_chunk))
        return
    extra = put_args()
    import asyncio

    from fsspec.asyn import sync

    small = [(str(path), key) for path, key, size, _ in files if size < 2 * S3_PART]
    large = [(str(path), key, size) for path, key, size, _ in files if size >= 2 * S3_PART]
    # S3 takes at most 10,000 parts of an object.
    part = max([S3_PART, *(-(-size // S3_MAX_PARTS) for _, _, size in large)])

    async def put_all() -> None:
        puts = []
        if small:
            puts.append(fs.fs._put([p for p, _ in small], [k for _, k in small],
                                   batch_size=fs.jobs, callback=_Sent(on_chunk),
                                   **extra))
        if large:
            puts.append(fs.fs._put([p for p, _, _ in large], [k for _, k, _ in large],
                                   batch_size=LARGE_AT_ONCE, chunksize=part,
                                   max_concurrency=PARTS_AT_ONCE,
                                   callback=_Sent(on_chunk), **extra))
        await asyncio.gather(*puts)

    sync(fs.fs.loop, put_all)


def shared_uploader(fs: Any) -> S3Uploader | None:
    """The uploader of the DVC file system `fs` (S3), made once per s3fs file system; the
    bulk download uses its client too (`s3_download`)."""
    return _uploader_for(fs)


def _uploader_for(fs: Any) -> S3Uploader | None:
    held, uploader = _UPLOADERS.get(id(fs.fs), (None, None))
    if held is not fs.fs:
        uploader = s3_uploader(fs.fs, fs.jobs, getattr(fs, "_transfer_config", None))
        _UPLOADERS[id(fs.fs)] = (fs.fs, uploader)
    return uploader
