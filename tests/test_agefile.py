"""util/agefile.py against pyrage, both ways: what it writes, pyrage opens; what pyrage
writes, it opens (the passphrase form is written here to the age specification, the
recipient form is pyrage's own); bounds on what a hostile header may ask."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from hdversion.errors import KeyUnavailableError, TamperedError
from hdversion.util.agefile import MAGIC, Opening, Sealing, decrypting, encrypting

SIZES = [0, 1, 64 * 1024, 2 * 64 * 1024 + 1]


def sealed(data: bytes, sealing: Sealing) -> bytes:
    out = io.BytesIO()
    with encrypting(out, sealing) as sink:
        for start in range(0, len(data), 10_000):  # as a tar stream writes: in pieces
            sink.write(data[start:start + 10_000])
    return out.getvalue()


def opened(path: Path, opening: Opening) -> bytes:
    with decrypting(path, opening) as plain:
        data = plain.read()
        plain.finish()
    return bytes(data)


@pytest.mark.parametrize("size", SIZES)
def test_the_passphrase_form_is_age_both_ways(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    ours = sealed(data, Sealing(passphrase="pw"))
    assert ours.startswith(MAGIC + b"-> scrypt ")
    assert pyrage.passphrase.decrypt(ours, "pw") == data
    theirs = tmp_path / "theirs.age"
    theirs.write_bytes(pyrage.passphrase.encrypt(data, "pw"))
    assert opened(theirs, Opening(passphrase="pw")) == data


@pytest.mark.parametrize("size", SIZES)
def test_the_recipient_form_round_trips_in_pieces(tmp_path: Path, size: int) -> None:
    key = x25519.Identity.generate()
    data = bytes(size)
    ours = sealed(data, Sealing(recipients=(str(key.to_public()),)))
    assert pyrage.decrypt(ours, [key]) == data
    path = tmp_path / "a.age"
    path.write_bytes(ours)
    assert opened(path, Opening(identities=(str(key),))) == data


def test_a_reader_left_early_ends_its_thread(tmp_path: Path) -> None:
    key = x25519.Identity.generate()
    path = tmp_path / "big.age"
    path.write_bytes(pyrage.encrypt(bytes(4 * 1024 * 1024), [key.to_public()]))
    with decrypting(path, Opening(identities=(str(key),))) as plain:
        assert plain.read(10) == bytes(10)
    assert not [t for t in threading.enumerate() if t.name == "age"]


def test_a_hostile_work_factor_is_refused_before_it_is_spent(tmp_path: Path) -> None:
    good = pyrage.passphrase.encrypt(b"data", "pw")
    header, rest = good.split(b"\n", 2)[1], good.split(b"\n", 2)[2]
    stanza = header.rsplit(b" ", 1)[0] + b" 30"
    path = tmp_path / "hostile.age"
    path.write_bytes(MAGIC + stanza + b"\n" + rest)
    with pytest.raises(TamperedError, match=r"work factor 2\^30 is refused"):
        opened(path, Opening(passphrase="pw"))


def test_a_passphrase_for_a_recipient_file_and_the_reverse(tmp_path: Path) -> None:
    key = x25519.Identity.generate()
    path = tmp_path / "a.age"
    path.write_bytes(pyrage.encrypt(b"data", [key.to_public()]))
    with pytest.raises(KeyUnavailableError, match="no identity was given"):
        opened(path, Opening(passphrase="pw"))
    path.write_bytes(pyrage.passphrase.encrypt(b"data", "pw"))
    with pytest.raises(KeyUnavailableError, match="none was given"):
        opened(path, Opening(identities=(str(key),)))


class FullDisk(io.BytesIO):
    """A file that takes 100,000 bytes, then fails as a full disk does."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > 100_000:
            raise OSError(28, "No space left on device")
        return super().write(data)


@pytest.mark.parametrize("kind", ["recipient", "passphrase"])
def test_a_full_disk_is_the_error_told_not_a_broken_pipe(kind: str) -> None:
    """pyrage's thread meets the full disk while the tar stream still writes into the pipe:
    the error told is the disk's."""
    key = x25519.Identity.generate()
    sealing = (Sealing(recipients=(str(key.to_public()),)) if kind == "recipient"
               else Sealing(passphrase="pw"))
    with pytest.raises(OSError, match="No space left on device"), \
            encrypting(FullDisk(), sealing) as sink:
        for _ in range(64):
            sink.write(bytes(64 * 1024))
