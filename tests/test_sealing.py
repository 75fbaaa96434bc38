"""The sealed format (hdversion/crypto/sealing.py): what it gives back, and every way of
changing sealed bytes it must catch, each by its own rule."""

from __future__ import annotations

import io

import pytest

from hdversion.crypto import sealing
from hdversion.crypto.master import MasterKey
from hdversion.crypto.sealing import (
    CHUNK,
    HEADER_BYTES,
    TAG_BYTES,
    Sealer,
    plain_size,
    sealed_size,
)
from hdversion.errors import TamperedError

SIZES = [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7]


def sealer(master: MasterKey | None = None) -> Sealer:
    return Sealer((master or MasterKey("00" * 16, b"k" * 32)).subkey("objects"))


def data(size: int) -> bytes:
    return bytes((i * 7 + size) % 251 for i in range(size))


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_and_sizes(size: int) -> None:
    plain = data(size)
    blocks: list[bytes] = []
    writer = sealer().writer(blocks.append)
    for start in range(0, size, 65_537):  # written in pieces of any size
        writer.write(plain[start:start + 65_537])
    writer.finish("name")
    sealed = b"".join(blocks)
    assert sealed == sealed[:0] + sealed and len(sealed) == sealed_size(size)
    assert plain_size(len(sealed)) == size
    assert plain not in sealed or size < 64  # nothing of it shows (tiny ones trivially)
    opened = sealer().opening("name", io.BytesIO(sealed), "here")
    got = b"".join(iter(lambda: opened.read(65536), b""))
    assert got == plain


def test_each_seal_is_fresh() -> None:
    one = sealer().seal_bytes("n", b"same bytes")
    two = sealer().seal_bytes("n", b"same bytes")
    assert one != two and one[:8] == two[:8] == sealing.MAGIC


def test_impossible_sizes_have_no_plaintext() -> None:
    assert plain_size(None) is None and plain_size(HEADER_BYTES + TAG_BYTES - 1) is None
    assert plain_size(HEADER_BYTES + TAG_BYTES) == 0
    # A size between two whole chunks' worth: the first chunk's tag would be cut.
    assert plain_size(HEADER_BYTES + CHUNK + TAG_BYTES + 5) is None


def fails(sealed: bytes, name: str = "name", key: Sealer | None = None) -> str:
    with pytest.raises(TamperedError) as caught:
        (key or sealer()).open_bytes(name, sealed, "remote/obj")
    assert "remote/obj" in caught.value.message
    return caught.value.message


def test_a_flipped_bit_anywhere_fails() -> None:
    sealed = bytearray(sealer().seal_bytes("name", data(CHUNK + 100)))
    for where in (HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + CHUNK + TAG_BYTES - 1,
                  len(sealed) - 1):
        flipped = bytearray(sealed)
        flipped[where] ^= 1
        assert "fails its authentication" in fails(bytes(flipped))
    changed = bytearray(sealed)
    changed[0] ^= 1
    assert "not sealed by hdversion" in fails(bytes(changed))


def test_cut_at_a_chunk_boundary_or_lengthened_fails() -> None:
    sealed = sealer().seal_bytes("name", data(2 * CHUNK + 10))
    whole_chunks = HEADER_BYTES + 2 * (CHUNK + TAG_BYTES)
    # The first two chunks are whole and authentic, but not sealed as the last one.
    assert "chunk 1 fails" in fails(sealed[:whole_chunks])
    assert "chunk 0 fails" in fails(sealed[:HEADER_BYTES + CHUNK + TAG_BYTES])
    assert "fails its authentication" in fails(sealed + b"more")
    assert "not sealed by hdversion" in fails(sealed[:HEADER_BYTES - 1])


def test_chunks_reordered_fail() -> None:
    sealed = sealer().seal_bytes("name", data(3 * CHUNK))
    step = CHUNK + TAG_BYTES
    first, second = (sealed[HEADER_BYTES + i * step:HEADER_BYTES + (i + 1) * step]
                     for i in range(2))
    swapped = sealed[:HEADER_BYTES] + second + first + sealed[HEADER_BYTES + 2 * step:]
    assert "chunk 0 fails" in fails(swapped)


def test_bytes_under_another_name_or_key_fail() -> None:
    sealed = sealer().seal_bytes("object-a", b"model bytes")
    assert "fails its authentication" in fails(sealed, name="object-b")
    other = sealer(MasterKey("11" * 16, b"k" * 32))
    assert "fails its authentication" in fails(sealed, name="object-a", key=other)
    purposes = Sealer(MasterKey("00" * 16, b"k" * 32).subkey("records"))
    assert "fails its authentication" in fails(sealed, name="object-a", key=purposes)


def test_nothing_of_a_failing_chunk_is_given() -> None:
    sealed = bytearray(sealer().seal_bytes("name", data(CHUNK + 10)))
    sealed[-1] ^= 1  # the second, last chunk
    opened = sealer().opening("name", io.BytesIO(bytes(sealed)), "remote/obj")
    assert opened.read(CHUNK) == data(CHUNK + 10)[:CHUNK]  # the first chunk is good
    with pytest.raises(TamperedError):
        opened.read(1)


def test_the_last_flag_alone_catches_a_cut() -> None:
    """With no name to bind (the last chunk's data then as empty as the others'), the
    nonce's last-chunk flag is what refuses a stream cut at a chunk boundary."""
    sealed = sealer().seal_bytes("", data(2 * CHUNK + 10))
    assert "chunk 1 fails" in fails(sealed[:HEADER_BYTES + 2 * (CHUNK + TAG_BYTES)], name="")
