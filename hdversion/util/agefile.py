"""age-encrypted files (age-encryption.org/v1) written and read as streams, in bounded
memory, so that an export archive can be carried encrypted and any age tool opens it.

To recipients (X25519 `age1...` keys) pyrage does the work: its `encrypt_io`/`decrypt_io`
copy one file object into another, so each runs in a thread on one end of a pipe while the
tar stream runs on the other. pyrage's passphrase functions take and return whole `bytes`
(the archive in memory, twice), so the passphrase (scrypt) form is written here from the
`cryptography` library's primitives, to the letter of the age specification: an scrypt
stanza wrapping a 16-byte file key, the header's HMAC, then the STREAM payload
(ChaCha20-Poly1305 over 64 KiB chunks, the last one marked). tests/test_agefile.py checks
it against pyrage both ways.

A reader's plaintext is authenticated 64 KiB at a time; a file cut short shows only at its
end, so a caller acts on nothing before `finish()` has read and authenticated the rest.
Errors: a key that opens nothing is `KeyUnavailableError` (exit 7); bytes that fail their
authentication, `TamperedError` (exit 5)."""

from __future__ import annotations

import base64
import contextlib
import functools
import hmac
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import IO, Any, BinaryIO

from hdversion.errors import KeyUnavailableError, TamperedError, UsageError

MAGIC = b"age-encryption.org/v1\n"
_CHUNK = 64 * 1024
_TAG = 16
# age's own default work factor (about 1 s and 256 MiB here); a file asking more than 2^20
# (1 GiB of memory) is refused rather than obeyed.
SCRYPT_LOG_N = 18
MAX_SCRYPT_LOG_N = 20
# A header is a few hundred bytes per recipient: a larger one is not read into memory.
_MAX_HEADER = 64 * 1024
_SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"


@dataclass(frozen=True)
class Sealing:
    """Who can open an archive: age recipients (`age1...`), or one passphrase."""

    recipients: tuple[str, ...] = ()
    passphrase: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Opening:
    """What opens an archive: identities (`AGE-SECRET-KEY-1...`) and/or a passphrase."""

    identities: tuple[str, ...] = field(default=(), repr=False)
    passphrase: str | None = field(default=None, repr=False)
    how: str = "no key"  # said in a refusal: where the keys came from


def is_age(head: bytes) -> bool:
    return head.startswith(MAGIC)


def read_key_lines(path: Path, what: str) -> tuple[str, ...]:
    """The keys of a recipients or identity file, one a line, `#` comments and blank lines
    skipped (age's own file format)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} file {path}: {exc}") from None
    keys = tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.strip().startswith("#"))
    if not keys:
        raise UsageError(f"{what} file {path} holds no key")
    return keys


def check_recipients(recipients: Sequence[str]) -> None:
    """UsageError (exit 2), before any work, for a recipient that is not an age1 key."""
    from pyrage import RecipientError, x25519

    for text in recipients:
        try:
            x25519.Recipient.from_str(text)
        except RecipientError as exc:
            raise UsageError(f"{text!r} is not an age recipient ({exc}); nothing was written",
                             hint="an X25519 public key, age1... (age-keygen -y prints "
                             "one)") from None


# ---- writing ----

@contextmanager
def encrypting(out: BinaryIO, sealing: Sealing) -> Iterator[BinaryIO]:
    """A writable stream whose bytes reach `out` age-encrypted; whole once the block ends."""
    if sealing.passphrase is not None:
        writer = _PassphraseWriter(out, sealing.passphrase)
        yield writer  # type: ignore[misc]
        writer.close()
        return
    import pyrage
    from pyrage import x25519

    recipients = [x25519.Recipient.from_str(r) for r in sealing.recipients]
    read_end, write_end = os.pipe()
    source = os.fdopen(read_end, "rb")
    pump = _Pump(lambda: pyrage.encrypt_io(source, out, recipients), source)
    sink = os.fdopen(write_end, "wb")
    try:
        yield sink
        sink.close()
    except BaseException as exc:
        with contextlib.suppress(OSError):
            sink.close()
        pump.join()
        if isinstance(exc, BrokenPipeError) and pump.error is not None:
            # The copy stopped first (a full disk...): its error is the one to tell.
            raise OSError(f"age encryption failed: {pump.error}") from None
        raise
    pump.join()
    if pump.error is not None:
        raise OSError(f"age encryption failed: {pump.error}")


class _PassphraseWriter:
    def __init__(self, out: BinaryIO, passphrase: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

        file_key = secrets.token_bytes(16)
        salt = secrets.token_bytes(16)
        wrapped = ChaCha20Poly1305(_scrypt(passphrase, salt, SCRYPT_LOG_N)).encrypt(
            bytes(12), file_key, None)
        header = (MAGIC + b"-> scrypt " + _b64(salt) + b" %d\n" % SCRYPT_LOG_N
                  + _b64(wrapped) + b"\n---")
        mac = hmac.new(_hkdf(file_key, b"", b"header"), header, sha256).digest()
        nonce = secrets.token_bytes(16)
        out.write(header + b" " + _b64(mac) + b"\n" + nonce)
        self.out, self.aead = out, ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self.pending, self.counter = bytearray(), 0

    def write(self, data: bytes) -> int:
        self.pending += data
        # A full chunk is sealed only once more bytes follow it: the last one is marked.
        while len(self.pending) > _CHUNK:
            self._seal(bytes(self.pending[:_CHUNK]), last=False)
            del self.pending[:_CHUNK]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._seal(bytes(self.pending), last=True)
        self.pending.clear()

    def _seal(self, chunk: bytes, last: bool) -> None:
        self.out.write(self.aead.encrypt(_nonce(self.counter, last), chunk, None))
        self.counter += 1


# ---- reading ----

@dataclass(frozen=True)
class Header:
    stanzas: tuple[tuple[bytes, ...], ...]  # each stanza's type and arguments
    bodies: tuple[bytes, ...]
    signed: bytes  # the header up to "---", as the MAC covers it
    mac: bytes
    size: int  # bytes up to the payload

    @property
    def passphrase(self) -> bool:
        return any(s[0] == b"scrypt" for s in self.stanzas)


def read_header(raw: IO[bytes], name: str) -> Header:
    """Parse an age header (raising TamperedError for one that is malformed)."""
    data = raw.read(_MAX_HEADER)
    end = data.find(b"\n---")
    if not data.startswith(MAGIC) or end < 0:
        raise TamperedError(f"{name}: its age header is malformed or longer than "
                            f"{_MAX_HEADER} bytes; nothing was written")
    line_end = data.find(b"\n", end + 4)
    if line_end < 0 or data[end + 4:end + 5] != b" ":
        raise TamperedError(f"{name}: its age header is malformed; nothing was written")
    stanzas, bodies = [], []
    lines = data[len(MAGIC):end].split(b"\n") if end > len(MAGIC) - 1 else []
    for line in lines:
        if line.startswith(b"-> "):
            stanzas.append(tuple(line[3:].split(b" ")))
            bodies.append(b"")
        elif stanzas:
            bodies[-1] += line
        else:
            raise TamperedError(f"{name}: its age header is malformed; nothing was written")
    try:
        mac = _unb64(data[end + 5:line_end])
        decoded = tuple(_unb64(b) for b in bodies)
    except ValueError:
        raise TamperedError(f"{name}: its age header is malformed; nothing was "
                            "written") from None
    return Header(tuple(stanzas), decoded, data[:end + 4], mac, line_end + 1)


def check_opens(path: Path, opening: Opening) -> None:
    """KeyUnavailableError (exit 7) unless `opening` opens the age file at `path`: asked
    before any lock is taken or file written."""
    with decrypting(path, opening) as plain:
        plain.read(1)


@contextmanager
def decrypting(path: Path, opening: Opening) -> Iterator[Any]:
    """The plaintext of the age file at `path`, as a stream with `read` and `finish` (read
    to the end and authenticate all); KeyUnavailableError before any byte if `opening`
    opens nothing."""
    with path.open("rb") as raw:
        header = read_header(raw, path.name)
        raw.seek(header.size)
        if header.passphrase:
            yield _passphrase_reader(raw, header, opening, path.name)
            return
        with _identity_reader(path, opening) as reader:
            yield reader


def _passphrase_reader(raw: IO[bytes], header: Header, opening: Opening,
                       name: str) -> _PayloadReader:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    if opening.passphrase is None:
        raise KeyUnavailableError(f"{name} is encrypted with a passphrase; none was given; "
                                  "nothing was written",
                                  hint="set HDVERSION_PASSPHRASE, or run on a terminal to "
                                  "be asked")
    stanza = header.stanzas[0]
    if len(header.stanzas) != 1 or len(stanza) != 3 or len(header.bodies[0]) != 32:
        raise TamperedError(f"{name}: a passphrase stanza must be the header's only one, "
                            "well formed; nothing was written")
    try:
        salt = _unb64(stanza[1])
        log_n = int(stanza[2])
    except ValueError:
        raise TamperedError(f"{name}: its scrypt stanza is malformed") from None
    if not 1 <= log_n <= MAX_SCRYPT_LOG_N or len(salt) != 16:
        raise TamperedError(f"{name}: its scrypt work factor 2^{log_n} is refused (at most "
                            f"2^{MAX_SCRYPT_LOG_N}); nothing was written")
    try:
        file_key = ChaCha20Poly1305(_scrypt(opening.passphrase, salt, log_n)).decrypt(
            bytes(12), header.bodies[0], None)
    except InvalidTag:
        raise KeyUnavailableError(f"{name}: the passphrase does not open it ({opening.how}); "
                                  "nothing was written") from None
    expected = hmac.new(_hkdf(file_key, b"", b"header"), header.signed, sha256).digest()
    if not hmac.compare_digest(expected, header.mac):
        raise TamperedError(f"{name}: its age header fails its authentication; nothing was "
                            "written")
    nonce = raw.read(16)
    if len(nonce) != 16:
        raise TamperedError(f"{name} is truncated (no payload); nothing was written")
    return _PayloadReader(raw, ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload")), name)


class _PayloadReader:
    """The STREAM payload, chunk by chunk, each authenticated before it is returned."""

    def __init__(self, raw: IO[bytes], aead: Any, name: str) -> None:
        self.raw, self.aead, self.name = raw, aead, name
        self.buffer, self.counter, self.done = b"", 0, False
        self.ahead = raw.read(_CHUNK + _TAG)

    def read(self, size: int = -1) -> bytes:
        while not self.done and (size < 0 or len(self.buffer) < size):
            self._next()
        if size < 0:
            size = len(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def finish(self) -> None:
        while not self.done:
            self._next()
            self.buffer = b""

    def _next(self) -> None:
        from cryptography.exceptions import InvalidTag

        sealed = self.ahead
        self.ahead = self.raw.read(_CHUNK + _TAG) if len(sealed) == _CHUNK + _TAG else b""
        last = not self.ahead
        try:
            chunk = self.aead.decrypt(_nonce(self.counter, last), sealed, None)
        except InvalidTag:
            raise TamperedError(f"{self.name} fails its age authentication: damaged or "
                                "truncated; nothing was written") from None
        if last and not chunk and self.counter > 0:
            raise TamperedError(f"{self.name}: an empty last chunk; refused")
        self.counter += 1
        self.buffer += chunk
        self.done = last


@contextmanager
def _identity_reader(path: Path, opening: Opening) -> Iterator[_PipeReader]:
    import pyrage
    from pyrage import IdentityError, x25519

    if not opening.identities:
        raise KeyUnavailableError(f"{path.name} is encrypted to age recipients; no identity "
                                  "was given; nothing was written",
                                  hint="pass --identity FILE or set HDVERSION_AGE_IDENTITY")
    try:
        identities = [x25519.Identity.from_str(i) for i in opening.identities]
    except IdentityError as exc:
        raise KeyUnavailableError(f"not an age identity ({exc}; {opening.how})") from None
    read_end, write_end = os.pipe()
    sink = os.fdopen(write_end, "wb")
    source = open(path, "rb")  # noqa: SIM115 (the pump closes it)

    def decrypt() -> None:
        try:
            pyrage.decrypt_io(source, sink, identities)
        finally:
            source.close()

    pump = _Pump(decrypt, sink)
    reader = _PipeReader(os.fdopen(read_end, "rb"), pump, path.name, opening)
    try:
        yield reader
    finally:
        reader.pipe.close()  # a pump still writing gets a broken pipe and ends
        pump.join()


class _Pump:
    """One pyrage copy in a thread; `closing` (its end of the pipe) closed when it ends."""

    def __init__(self, work: Any, closing: IO[bytes]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported to the reading side
                self.error = exc
            finally:
                with contextlib.suppress(OSError):  # a reader gone first: nothing to tell
                    closing.close()

        self.thread = threading.Thread(target=run, name="age", daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join()


class _PipeReader:
    def __init__(self, pipe: IO[bytes], pump: _Pump, name: str, opening: Opening) -> None:
        self.pipe, self.pump, self.name, self.opening = pipe, pump, name, opening

    def read(self, size: int = -1) -> bytes:
        data = self.pipe.read(size)
        if not data and size != 0:
            self._check()
        return data

    def finish(self) -> None:
        while self.pipe.read(_CHUNK):
            pass
        self._check()

    def _check(self) -> None:
        """At the end of the plaintext: whether it ended because the file is whole."""
        import pyrage

        self.pump.join()
        error = self.pump.error
        if error is None:
            return
        if isinstance(error, pyrage.DecryptError) and "no matching keys" in str(error).lower():
            raise KeyUnavailableError(f"{self.name}: no identity given opens it "
                                      f"({self.opening.how}); nothing was written",
                                      hint="pass the identity file of one of its recipients")
        raise TamperedError(f"{self.name} fails its age authentication ({error}): damaged "
                            "or truncated; nothing was written")


# ---- the specification's primitives ----

@functools.lru_cache(maxsize=4)  # an import opens its archive three times: one derivation
def _scrypt(passphrase: str, salt: bytes, log_n: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=_SCRYPT_LABEL + salt, length=32, n=1 << log_n, r=8,
                  p=1).derive(passphrase.encode())


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
