"""Sealed bytes: how an encrypted remote holds every object and record (issue 27).

    sealed  := MAGIC (8 bytes) || salt (16 random bytes) || chunk_0 || ... || chunk_n
    chunk_i := AES-256-GCM(k, nonce_i, plaintext_i, aad=name)
    nonce_i := i (11 bytes, big-endian) || 0x01 for the last chunk, else 0x00
    k       := HKDF-SHA256(purpose key, salt, "hdversion sealed " || name)

Every plaintext chunk holds CHUNK bytes but the last, which holds 0 to CHUNK (an empty
object is one empty last chunk). This is the STREAM construction of age and Tink's
streaming AEAD: a fresh key per object (the salt), so counters never repeat under one key;
the chunk's place in its nonce, so chunks cannot be reordered or repeated; the last flag,
so a stream cut at a chunk boundary or with bytes added fails; the name the bytes are
stored under in both the key and the associated data, so sealed bytes moved under another
name (object A's bytes under B's) fail. Nothing is trusted before its chunk authenticated,
and a reader yields only authenticated chunks. The cipher is `cryptography`'s: none here.
"""

from __future__ import annotations

import hashlib
import secrets
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

    def _cipher(self, salt: bytes, name: str) -> Any:  # cryptography's AESGCM
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                   info=b"hdversion sealed " + name.encode()).derive(self._key)
        return AESGCM(key)

    def sealing(self, name: str, source: IO[bytes]) -> SealingReader:
        """A stream of the sealed bytes of what `source` yields, to be stored as `name`."""
        return SealingReader(self, name, source)

    def opening(self, name: str, sealed: IO[bytes], where: str) -> OpeningReader:
        """A stream of the plaintext of `sealed`, stored as `name`; TamperedError, naming
        `where`, as soon as a chunk fails (nothing of that chunk is yielded)."""
        return OpeningReader(self, name, sealed, where)

    def seal_bytes(self, name: str, data: bytes) -> bytes:
        import io

        return self.sealing(name, io.BytesIO(data)).read()

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


class SealingReader(_Buffered):
    """Sealed bytes, made chunk by chunk as they are read; the plaintext's md5 and size are
    known once the stream ended (`md5`, `size`), for the caller's check of what it sealed."""

    def __init__(self, sealer: Sealer, name: str, source: IO[bytes]) -> None:
        super().__init__()
        self._source, self._name = source, name
        salt = secrets.token_bytes(SALT_BYTES)
        self._aead = sealer._cipher(salt, name)
        self._aad = name.encode()
        self._header: bytes | None = MAGIC + salt
        self._pending: bytes | None = None
        self._index = 0
        self._digest = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self._ended = False

    @property
    def md5(self) -> str:
        return self._digest.hexdigest()

    def _plain(self) -> bytes:
        data = _read_full(self._source, CHUNK)
        self._digest.update(data)
        self.size += len(data)
        return data

    def _next_block(self) -> bytes | None:
        if self._header is not None:
            header, self._header = self._header, None
            return header
        if self._ended:
            return None
        current = self._pending if self._pending is not None else self._plain()
        following = self._plain() if len(current) == CHUNK else b""
        last = not following
        self._pending = None if last else following
        sealed = self._aead.encrypt(_nonce(self._index, last), current, self._aad)
        self._index += 1
        self._ended = last
        return bytes(sealed)


class OpeningReader(_Buffered):
    """Plaintext of sealed bytes, each chunk authenticated before a byte of it is given."""

    def __init__(self, sealer: Sealer, name: str, sealed: IO[bytes], where: str) -> None:
        super().__init__()
        self._sealer, self._name, self._sealed, self._where = sealer, name, sealed, where
        self._aad = name.encode()
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
            self._aead = self._sealer._cipher(header[len(MAGIC):], self._name)
        current = self._pending if self._pending is not None else \
            _read_full(self._sealed, CHUNK + TAG_BYTES)
        following = _read_full(self._sealed, CHUNK + TAG_BYTES) \
            if len(current) == CHUNK + TAG_BYTES else b""
        last = not following
        self._pending = None if last else following
        from cryptography.exceptions import InvalidTag

        try:
            plain = self._aead.decrypt(_nonce(self._index, last), current, self._aad)
        except InvalidTag:
            raise self._fail(f"chunk {self._index} fails its authentication") from None
        self._index += 1
        self._ended = last
        return bytes(plain)
