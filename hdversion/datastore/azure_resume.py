"""A large file's block upload to Azure Blob that a later run resumes rather than restarts.

adlfs sends a large file through the SDK's `upload_blob`: staged blocks, then one commit of
the block list. A killed run leaves its blocks uncommitted, and the next run ignored them and
sent the file again from byte 0. Here a file from the SDK's single-put limit on
(`ResumableBlobUpload`) is staged in blocks whose ids are derived from what they hold: the
upload's key (the object's name, the file's size and the block size), the block's index and
the md5 of its bytes. Each block goes with its Content-MD5, so Azure stores a block only if
its bytes are the ones hashed. A new run reads the blob's uncommitted blocks
(`get_block_list`), reads the file once, in order, hashes each block and keeps a listed block
only if its id is the one this block of the file would have now (its md5 recomputed from the
file: a changed file or another writer's block is not reused) and its size is this block's;
it sends the others, and commits the list only if the whole file hashes to the object's name
(the blob's Content-MD5 set to it, as a single Put Blob's is).

Azure checks a block's bytes when it is staged and never after: neither the block list nor
the commit says what a kept block holds. A block staged without a Content-MD5 under an id
this scheme would make (another writer's) is the one case its id cannot catch, so the blocks
kept are read back once the list is committed and each hashed against its id; one that is
other bytes is staged again from the file and the list committed again (else the object is
deleted: VerificationError). Reading back what was kept costs a download of it, not an
upload.

Ids have the length of the SDK's own (46 bytes before base64): Azure takes only ids of one
length per blob, and a run killed inside adlfs's `upload_blob` leaves blocks with the SDK's.
Uncommitted blocks no run commits are deleted by Azure after a week. An encrypted remote's
objects are sealed with a new salt at each put (`datastore/encrypted.py`): its uploads go
through adlfs (`BucketStore.upload`) and are not resumed. Azure's immutability is the
container's policy (`object_lock.py`), the same for a committed list as for a Put Blob."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable, Coroutine
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hdversion.datastore.resumable import Chunks, Send, send_chunks
from hdversion.errors import VerificationError

MIB = 1024 * 1024
# The SDK's defaults for `upload_blob` (one Put Blob up to 64 MiB, else blocks of 4 MiB),
# where the client does not say its own.
SINGLE_PUT = 64 * MIB
BLOCK = 4 * MIB
# Azure commits at most this many blocks into one blob.
MAX_BLOCKS = 50_000
# The prefix of this scheme's ids: a later scheme changes it and reuses none of these.
ID_SCHEME = "h1"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Blocks:
    """The object `md5` of `size` bytes cut into blocks of `block_size` (the last one
    shorter), and the id each block's bytes give it."""

    md5: str
    size: int
    block_size: int

    @property
    def chunks(self) -> Chunks:
        return Chunks(self.size, self.block_size)

    @property
    def upload_key(self) -> str:
        """What a run must share with another to reuse its blocks."""
        text = f"{self.md5} {self.size} {self.block_size}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def block_id(self, index: int, body_md5: bytes) -> str:
        """46 characters, the length of the SDK's own ids (before base64)."""
        digest = base64.urlsafe_b64encode(body_md5).decode().rstrip("=")
        return f"{ID_SCHEME}{self.upload_key}{index:06d}{digest}"


def block_size(configured: int, size: int) -> int:
    """The client's block size, grown so that the file fits in Azure's 50,000 blocks."""
    return max(configured, -(-size // MAX_BLOCKS))


def client_sizes(service_client: Any) -> tuple[int, int]:
    """(single-put limit, block size) the SDK client of adlfs uploads with, so that a file
    below the limit still goes in one Put Blob, as before."""
    config = getattr(service_client, "_config", None)
    return (int(getattr(config, "max_single_put_size", SINGLE_PUT)),
            int(getattr(config, "max_block_size", BLOCK)))


class ResumableBlobUpload:
    """One file to one blob (`run`), the file read once, in order: each block's bytes go
    into the whole file's md5 and are staged (or, for a block an earlier run staged under
    the id these bytes give, kept). The list is committed only if the bytes read hash to
    the object's name (else VerificationError, nothing committed). `blob`: the SDK's
    asyncio BlobClient, run on `loop` (adlfs's). `window`: blocks in flight at once (each
    held in memory: window x block size). `on_chunk`: the bytes of each block sent, and
    of each block kept. `commit_args`: what every upload of the remote adds."""

    def __init__(self, blob: Any, loop: asyncio.AbstractEventLoop, path: Path,
                 blocks: Blocks, window: int, where: str,
                 on_chunk: Callable[[int], None] | None = None,
                 commit_args: dict[str, Any] | None = None) -> None:
        self.blob, self.loop, self.path, self.blocks = blob, loop, path, blocks
        self.window, self.where, self.on_chunk = max(1, window), where, on_chunk
        self.commit_args = commit_args or {}
        self.kept: dict[int, str] = {}  # index -> id of the blocks an earlier run staged
        self.md5 = b""  # the whole file's, once read

    def run(self) -> None:
        listed = self._uncommitted()
        ids = self._send(listed)
        self._commit(ids)
        if self.kept:
            self._check_kept(ids)

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> Future[_T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def _uncommitted(self) -> dict[str, int]:
        """The blob's uncommitted blocks, id -> size; none where there is no blob yet or the
        credentials may not read its block list (a new upload, as before)."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            _, uncommitted = self._call(self.blob.get_block_list("uncommitted")).result()
        except ResourceNotFoundError:
            return {}
        except HttpResponseError as exc:
            if exc.status_code == 403:
                return {}
            raise
        return {block.id: block.size for block in uncommitted}

    def _send(self, listed: dict[str, int]) -> list[str]:
        """The file read block after block (`send_chunks`): each staged unless `listed`
        holds its id at its size; the ids in order, once the whole file hashes to the
        object's name (else VerificationError, nothing committed)."""
        def block(index: int, body: bytes) -> str | Send[str]:
            block_id = self.blocks.block_id(index,
                                            hashlib.md5(body, usedforsecurity=False).digest())
            if listed.get(block_id) == len(body):
                self.kept[index] = block_id
                return block_id
            return Send(lambda: self._call(self._stage(block_id, body)))

        sent = send_chunks(self.path, self.blocks.chunks, block, self.window,
                           self.blocks.md5, self.where, self.on_chunk)
        self.md5 = bytes.fromhex(sent.md5)
        return sent.chunks

    async def _stage(self, block_id: str, body: bytes) -> str:
        # validate_content: the block's Content-MD5, which Azure checks before it stores it.
        await self.blob.stage_block(block_id, body, length=len(body), validate_content=True)
        if self.on_chunk is not None:
            self.on_chunk(len(body))
        return block_id

    def _commit(self, ids: list[str]) -> None:
        from azure.storage.blob import BlobBlock, ContentSettings

        # The metadata adlfs gives every file it puts; the Content-MD5 a Put Blob would have.
        self._call(self.blob.commit_block_list(
            [BlobBlock(block_id) for block_id in ids],
            content_settings=ContentSettings(content_md5=bytearray(self.md5)),
            metadata={"is_directory": "false"}, **self.commit_args)).result()

    # -- the kept blocks, read back -------------------------------------------------------
    def _check_kept(self, ids: list[str]) -> None:
        """Each kept block read back from the committed blob and hashed against its id;
        those that are other bytes staged again from the file and the list committed again,
        then read back again (still wrong: the blob deleted, VerificationError)."""
        wrong = self._wrong(sorted(self.kept))
        if not wrong:
            return
        chunks = self.blocks.chunks
        with self.path.open("rb") as source:
            for index in wrong:
                source.seek(chunks.offset(index))
                body = source.read(chunks.length(index))
                digest = hashlib.md5(body, usedforsecurity=False).digest()
                if self.blocks.block_id(index, digest) != ids[index]:
                    self._delete()
                    raise VerificationError(f"{self.where}: {self.path} changed while it "
                                            "was sent; what was sent is deleted")
                self._call(self._stage(ids[index], body)).result()
        self._commit(ids)
        if self._wrong(wrong):
            self._delete()
            raise VerificationError(f"{self.where}: blocks kept from an earlier upload "
                                    "are other bytes and could not be replaced; deleted")

    def _wrong(self, indexes: list[int]) -> list[int]:
        """Those of `indexes` whose bytes in the blob do not give their block's id."""
        wrong: list[int] = []
        pending: set[Future[tuple[int, bool]]] = set()
        for index in indexes:
            while len(pending) >= self.window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                wrong += [i for i, ok in (f.result() for f in done) if not ok]
            pending.add(self._call(self._read_back(index)))
        done, _ = wait(pending)
        wrong += [i for i, ok in (f.result() for f in done) if not ok]
        return sorted(wrong)

    async def _read_back(self, index: int) -> tuple[int, bool]:
        chunks = self.blocks.chunks
        stream = await self.blob.download_blob(offset=chunks.offset(index),
                                               length=chunks.length(index))
        body = await stream.readall()
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        return index, (len(body) == chunks.length(index)
                       and self.blocks.block_id(index, digest) == self.kept[index])

    def _delete(self) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError):  # deleted meanwhile
            self._call(self.blob.delete_blob()).result()


def upload_resumable(fs: Any, path: Path, rpath: str, size: int, md5: str, window: int,
                     on_chunk: Callable[[int], None] | None = None,
                     commit_args: dict[str, Any] | None = None) -> ResumableBlobUpload:
    """Upload the local file `path` (`size` bytes, expected to hash to `md5`) to `rpath`
    ("container/key") through the adlfs file system `fs`'s own SDK client and loop."""
    container, _, key = rpath.partition("/")
    blob = fs.service_client.get_blob_client(container, key)
    _, configured = client_sizes(fs.service_client)
    upload = ResumableBlobUpload(blob, fs.loop, path,
                                 Blocks(md5, size, block_size(configured, size)), window,
                                 f"azure://{rpath}", on_chunk, commit_args)
    upload.run()
    return upload
