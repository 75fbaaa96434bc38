"""A large file sent in chunks that a later run resumes: the loop S3's multipart uploads
(`s3_resume.py`) and Azure's block uploads (`azure_resume.py`) share.

The file is read once, in order, a chunk at a time. Each chunk's bytes go into the whole
file's md5 and to the cloud's `ChunkTarget`, which either keeps the chunk an earlier run left
(only once its own check says those are these bytes: S3 a part's ETag, Azure a block's id) or
hands back a `Send` that the loop starts once fewer than `window` sends are in flight (each
chunk in flight is held in memory: window x chunk size). A file shorter or longer than the
size it was listed with is refused, and so are bytes that do not hash to the object's name:
VerificationError, with nothing left in flight, so that the cloud never completes the
object. A test can stop the run between two chunks (PausePoint.BETWEEN_PARTS).

GCS's sessions (`gcs_resume.py`) take one chunk at a time from an offset the server
reports: their own, sequential loop."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from hdversion.errors import VerificationError
from hdversion.util.pausepoints import PausePoint, pause_point

T = TypeVar("T")


@dataclass(frozen=True)
class Chunks:
    """A file of `size` bytes cut into chunks of `chunk_size` (the last one shorter),
    numbered from 0."""

    size: int
    chunk_size: int

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.chunk_size))

    def offset(self, index: int) -> int:
        return index * self.chunk_size

    def length(self, index: int) -> int:
        return min(self.chunk_size, self.size - index * self.chunk_size)


@dataclass(frozen=True)
class Send(Generic[T]):
    """A chunk to send: `start` sends it (its bytes reported to `on_chunk` as they land)
    and answers what the chunk is once it has."""

    start: Callable[[], Future[T]]


# What a cloud makes of chunk `index` of the file (its bytes): what an earlier run left of it,
# kept, or a Send.
ChunkTarget = Callable[[int, bytes], T | Send[T]]


@dataclass(frozen=True)
class SentChunks(Generic[T]):
    """Every chunk, kept or sent, in order; and the md5 of the whole file (hex)."""

    chunks: list[T]
    md5: str


def send_chunks(path: Path, chunks: Chunks, target: ChunkTarget[T], window: int,
                md5: str | None, where: str, on_chunk: Callable[[int], None] | None = None
                ) -> SentChunks[T]:
    """Read `path` once, chunk after chunk, into `target`; VerificationError if it is not
    `chunks.size` bytes or, given `md5` (the object's name), does not hash to it. On any
    failure the sends in flight are cancelled or waited for before it is raised."""
    done: dict[int, T] = {}
    pending: dict[Future[T], int] = {}
    whole = hashlib.md5(usedforsecurity=False)

    def collect() -> None:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            done[pending.pop(future)] = future.result()
        if len(done) < chunks.count:
            # The marker goes under the working directory: the uploader knows no project.
            pause_point(Path.cwd(), PausePoint.BETWEEN_PARTS)

    try:
        with path.open("rb") as source:
            for index in range(chunks.count):
                body = source.read(chunks.length(index))
                if len(body) != chunks.length(index):
                    raise VerificationError(f"{path} is shorter than when it was listed; "
                                            "not written")
                whole.update(body)
                outcome = target(index, body)
                if not isinstance(outcome, Send):
                    done[index] = outcome
                    if on_chunk is not None:
                        on_chunk(len(body))
                    continue
                while len(pending) >= max(1, window):
                    collect()
                pending[outcome.start()] = index
            if source.read(1):
                raise VerificationError(f"{path} is longer than when it was listed; "
                                        "not written")
        while pending:
            collect()
    except BaseException:
        for future in pending:
            future.cancel()
        wait(pending)
        raise
    if md5 is not None and whole.hexdigest() != md5:
        raise VerificationError(f"{where}: data hashes to {whole.hexdigest()}, expected "
                                f"{md5}; not written")
    return SentChunks([done[index] for index in range(chunks.count)], whole.hexdigest())
