"""Sealed bytes: how an encrypted remote holds every object and record (issue 27).

    sealed  := MAGIC (8 bytes) || salt (16 random bytes) || chunk_0 || ... || chunk_n
    chunk_i := AES-256-GCM(k, nonce_i, plaintext_i, aad_i)
    nonce_i := i (11 bytes, big-endian) || 0x01 for the last chunk, else 0x00
    aad_i   := the name the bytes are stored under for the last chunk, else empty
    k       := HKDF-SHA256(purpose key, salt, "hdversion sealed")

Every plaintext chunk holds CHUNK bytes but the last, which holds 0 to CHUNK (an empty
object is one empty last chunk). This is the STREAM construction of age and Tink's
streaming AEAD: a fresh key per object (the salt), so counters never repeat under one key;
the chunk's place in its nonce, so chunks cannot be reordered or repeated; the last flag,
so a stream cut at a chunk boundary or with bytes added fails; the stored name in the last
chunk's associated data, so sealed bytes moved under another name (object A's bytes under
B's) fail at their end. The name is bound by the last chunk, not the first, so that a writer
can seal bytes before it knows their name (a backup's new files are sealed as they are read
and hashed, named by their md5 at the end): each chunk is authentic as it is read, and
which object the bytes are is settled at their end, where every reader of hdversion
decides anyway (a file is used only once its md5 is checked). The cipher is
`cryptography`'s: none here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import IO, Any

from hdversion.errors import TamperedError

MAGIC = b"hdvseal1"
SALT_BYTES = 16
HEADER_BYTES = len(MAGIC) + SALT_BYTES
TAG_BYTES = 16
CHUNK = 1 << 20  # plaintext bytes per chunk: per-chunk Python work stays far below AES's
COUNTER_BYTES = 11
_LAST, _MORE = b"\x01", b"\x00"


def sealed_size(plain: int) -> int:
    """The sealed size of `plain` bytes."""
    chunks = max(1, -(-plain // CHUNK))
    return HEADER_BYTES + plain + chunks * TAG_BYTES


def plain_size(sealed: int | None) -> int | None:
    """The plaintext size that seals to `sealed` bytes; None when no plaintext does (the
    sealed bytes are damaged) or the size is not known."""
    if sealed is None or sealed < HEADER_BYTES + TAG_BYTES:
        return None
    body = sealed - HEADER_BYTES
    chunks = -(-body // (CHUNK + TAG_BYTES))
    plain = body - chunks * TAG_BYTES
    return plain if plain >= 0 and sealed_size(plain) == sealed else None


class Sealer:
    """Seals and opens bytes under one purpose key (objects, records): each sealed thing
    named by where it is stored."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a sealing key is 32 bytes")
        self._key = key

    def _cipher(self, salt: bytes) -> Any:  # cryptography's AESGCM
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                   info=b"hdversion sealed").derive(self._key)
        return AESGCM(key)

    def writer(self, out: Callable[[bytes], object]) -> SealingWriter:
        """Seals what is written to it into `out`, block by block; `finish(name)` seals the
        last chunk under the name the bytes will be stored as."""
        return SealingWriter(self, out)

    def opening(self, name: str, sealed: IO[bytes], where: str) -> OpeningReader:
        """A stream of the plaintext of `sealed`, stored as `name`; TamperedError, naming
        `where`, as soon as a chunk fails (nothing of that chunk is yielded)."""
        return OpeningReader(self, name, sealed, where)

    def seal_bytes(self, name: str, data: bytes) -> bytes:
        blocks: list[bytes] = []
        writer = self.writer(blocks.append)
        writer.write(data)
        writer.finish(name)
        return b"".join(blocks)

    def open_bytes(self, name: str, sealed: bytes, where: str) -> bytes:
        import io

        return self.opening(name, io.BytesIO(sealed), where).read()


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(COUNTER_BYTES, "big") + (_LAST if last else _MORE)


def _read_full(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes: fewer only at the end of the stream."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class _Buffered:
    """A readable stream over blocks made on demand."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._done = False

    def _next_block(self) -> bytes | None:  # None at the end
        raise NotImplementedError

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            block = self._next_block()
            if block is None:
                self._done = True
            else:
                self._buffer += block
        if size < 0 or size >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
            return out
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def readable(self) -> bool:
        return True


class SealingWriter:
    """Sealed chunks written to `out` as plaintext comes: a whole chunk is held back until
    more comes (only the last chunk is flagged last, and bound to the name)."""

    def __init__(self, sealer: Sealer, out: Callable[[bytes], object]) -> None:
        self._out = out
        salt = secrets.token_bytes(SALT_BYTES)
        self._aead = sealer._cipher(salt)
        self._pending = bytearray()
        self._index = 0
        out(MAGIC + salt)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._pending += data
        if len(self._pending) <= CHUNK:
            return
        view = memoryview(self._pending)
        start = 0
        # Strictly more than a chunk: the last whole chunk may be the stream's last.
        while len(self._pending) - start > CHUNK:
            self._out(self._aead.encrypt(_nonce(self._index, False),
                                         view[start:start + CHUNK], b""))
            self._index += 1
            start += CHUNK
        view.release()
        del self._pending[:start]

    def finish(self, name: str) -> None:
        """The last chunk, bound to `name` (where the bytes are stored)."""
        self._out(self._aead.encrypt(_nonce(self._index, True), bytes(self._pending),
                                     name.encode()))
        self._pending.clear()


class OpeningReader(_Buffered):
    """Plaintext of sealed bytes, each chunk authenticated before a byte of it is given."""

    def __init__(self, sealer: Sealer, name: str, sealed: IO[bytes], where: str) -> None:
        super().__init__()
        self._sealer, self._name, self._sealed, self._where = sealer, name, sealed, where
        self._aead: Any = None
        self._pending: bytes | None = None
        self._index = 0
        self._ended = False

    def _fail(self, why: str) -> TamperedError:
        return TamperedError(f"{self._where}: {why}; its bytes were altered, cut short, "
                             "stored under another name, or sealed with another key",
                             hint="run `hdversion verify --read-data` to see every damaged "
                                  "object; another remote may hold a good copy")

    def _next_block(self) -> bytes | None:
        if self._ended:
            return None
        if self._aead is None:
            header = _read_full(self._sealed, HEADER_BYTES)
            if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
                raise self._fail("not sealed by hdversion")
            self._aead = self._sealer._cipher(header[len(MAGIC):])
        current = self._pending if self._pending is not None else \
            _read_full(self._sealed, CHUNK + TAG_BYTES)
        following = _read_full(self._sealed, CHUNK + TAG_BYTES) \
            if len(current) == CHUNK + TAG_BYTES else b""
        last = not following
        self._pending = None if last else following
        from cryptography.exceptions import InvalidTag

        try:
            plain = self._aead.decrypt(_nonce(self._index, last), current,
                                       self._name.encode() if last else b"")
        except InvalidTag:
            raise self._fail(f"chunk {self._index} fails its authentication") from None
        self._index += 1
        self._ended = last
        return bytes(plain)
