"""Key records: who may open an encrypted remote (restic's model). The remote's master key
(`master.py`) is stored once per key record, wrapped: AES-256-GCM under a key-encryption key
(KEK) that only the holder of a key file, a passphrase or an age identity can make, with
the repository, the record's id and its kind as associated data (a record copied to another
remote, or renamed, does not open).

    keyfile     KEK = HKDF-SHA256 of the 32 random bytes of a key file
                (one text line `hdversion-key-1:<base64>`, mode 0600)
    passphrase  KEK = scrypt(passphrase, salt 16 bytes, N=2**17, r=8, p=1 by default)
    age         KEK = 32 random bytes, age-encrypted (X25519) to a recipient; opened with
                the recipient's identity file

A record is read from the remote, so it is untrusted: its size is bounded, every field is
typed, and the scrypt parameters are bounded before any work (a hostile record must not ask
for gigabytes of memory or hours of CPU). Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hdversion.crypto.master import SECRET_BYTES, MasterKey

FORMAT = "hdversion-key"
VERSION = 1
KINDS = ("keyfile", "passphrase", "age")
# A key record is a few hundred bytes (an age one about 600): anything past this is refused
# unread.
MAX_RECORD_BYTES = 16 * 1024
KEY_FILE_PREFIX = "hdversion-key-1:"
NONCE_BYTES = 12
SALT_BYTES = 16

# scrypt: restic's and the scrypt paper's interactive cost scaled up; ~0.3 s and 128 MiB
# here (128 * N * r bytes).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
# What a record read from a remote may ask for: at most 2 GiB of memory (128 * 2**20 * 16)
# and a few seconds of CPU per parallel lane.
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 2**20, 16, 4

_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_REPOSITORY_RE = re.compile(r"^[0-9a-f]{32}$")


class KeyRecordError(ValueError):
    """A key record that is not one: malformed, over its bounds, or not the record it is
    named as. The message names the rule."""


def new_id() -> str:
    return secrets.token_hex(8)


def is_key_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


@dataclass(frozen=True)
class Scrypt:
    n: int
    r: int
    p: int
    salt: bytes

    def derive(self, passphrase: bytes) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt as Kdf

        return Kdf(salt=self.salt, length=32, n=self.n, r=self.r, p=self.p).derive(passphrase)


@dataclass(frozen=True)
class KeyRecord:
    id: str  # 16 hex digits; the record's file name in the remote
    kind: str  # one of KINDS
    created: str  # ISO 8601, UTC
    label: str  # who made it, where (user@host), or what the user named it
    wrapped: bytes  # nonce (12 bytes) + AES-256-GCM of the master secret
    scrypt: Scrypt | None = None  # passphrase records
    recipient: str = ""  # age records: the recipient (age1...)
    age_kek: bytes = b""  # age records: the KEK, age-encrypted to `recipient`

    def to_json(self) -> bytes:
        data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "id": self.id,
                                "kind": self.kind, "created": self.created,
                                "label": self.label, "wrapped": _b64(self.wrapped)}
        if self.scrypt is not None:
            data["scrypt"] = {"n": self.scrypt.n, "r": self.scrypt.r, "p": self.scrypt.p,
                              "salt": _b64(self.scrypt.salt)}
        if self.kind == "age":
            data["age"] = {"recipient": self.recipient, "kek": _b64(self.age_kek)}
        return json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True)
class KeyFile:
    """The 32 random bytes of a key file."""

    secret: bytes

    @classmethod
    def new(cls) -> KeyFile:
        return cls(secrets.token_bytes(SECRET_BYTES))

    def text(self) -> str:
        return f"{KEY_FILE_PREFIX}{_b64(self.secret)}\n"


def parse_key_file(text: str) -> KeyFile:
    """A key file's contents (KeyRecordError when it is not one)."""
    line = text.strip()
    if not line.startswith(KEY_FILE_PREFIX):
        raise KeyRecordError(f"not an hdversion key file (it does not start with "
                             f"{KEY_FILE_PREFIX!r})")
    secret = _unb64(line[len(KEY_FILE_PREFIX):], "the key file")
    if len(secret) != SECRET_BYTES:
        raise KeyRecordError(f"the key file holds {len(secret)} bytes, not {SECRET_BYTES}")
    return KeyFile(secret)


@dataclass(frozen=True)
class Passphrase:
    text: bytes = b""


@dataclass(frozen=True)
class AgeIdentities:
    """The identities of an age identity file (`AGE-SECRET-KEY-1...` lines)."""

    text: str


Supplied = KeyFile | Passphrase | AgeIdentities


def kind_of(supplied: Supplied) -> str:
    return {KeyFile: "keyfile", Passphrase: "passphrase",
            AgeIdentities: "age"}[type(supplied)]


# -- wrapping ------------------------------------------------------------------------------
def _aad(repository: str, key_id: str, kind: str) -> bytes:
    return f"hdversion key record 1\0{repository}\0{key_id}\0{kind}".encode()


def _key_file_kek(key_file: KeyFile) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"hdversion key file 1").derive(key_file.secret)


def _seal(kek: bytes, master: MasterKey, key_id: str, kind: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, master.secret,
                                       _aad(master.repository, key_id, kind))


def wrap(master: MasterKey, new_key: Supplied | str, label: str,
         key_id: str | None = None, scrypt: tuple[int, int, int] | None = None) -> KeyRecord:
    """A new key record of `master` for a key file, a passphrase, or an age recipient (a
    `str`: age1...). `scrypt`: (N, r, p) for a passphrase (default SCRYPT_N, _R, _P)."""
    key_id = key_id or new_id()
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if isinstance(new_key, KeyFile):
        return KeyRecord(key_id, "keyfile", created, label,
                         _seal(_key_file_kek(new_key), master, key_id, "keyfile"))
    if isinstance(new_key, Passphrase):
        if not new_key.text:
            raise KeyRecordError("an empty passphrase protects nothing")
        n, r, p = scrypt or (SCRYPT_N, SCRYPT_R, SCRYPT_P)
        params = Scrypt(n, r, p, secrets.token_bytes(SALT_BYTES))
        return KeyRecord(key_id, "passphrase", created, label,
                         _seal(params.derive(new_key.text), master, key_id, "passphrase"),
                         scrypt=params)
    if isinstance(new_key, str):
        import pyrage

        recipient = _recipient(new_key)
        kek = secrets.token_bytes(32)
        return KeyRecord(key_id, "age", created, label,
                         _seal(kek, master, key_id, "age"), recipient=new_key.strip(),
                         age_kek=pyrage.encrypt(kek, [recipient]))
    raise KeyRecordError("an age identity file opens a record; a new age key is a recipient")


def _recipient(text: str) -> Any:
    import pyrage

    try:
        return pyrage.x25519.Recipient.from_str(text.strip())
    except pyrage.RecipientError as exc:
        raise KeyRecordError(f"not an age X25519 recipient (age1...): {exc}") from None


def check_recipient(text: str) -> str:
    """The recipient, stripped; KeyRecordError when it is not one."""
    _recipient(text)
    return text.strip()


def identities(supplied: AgeIdentities) -> list[Any]:
    """The X25519 identities of an identity file (KeyRecordError when it holds none)."""
    import pyrage

    found = []
    for line in supplied.text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError as exc:
            raise KeyRecordError(f"not an age identity file: {exc}") from None
    if not found:
        raise KeyRecordError("the age identity file holds no AGE-SECRET-KEY-1 line")
    return found


def unwrap(record: KeyRecord, repository: str, supplied: Supplied) -> MasterKey | None:
    """The master key if `supplied` opens `record` (of the remote whose id is
    `repository`); None when it does not: another key, or a record altered (the two are
    one failed authentication, by design)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if record.kind != kind_of(supplied):
        return None
    if isinstance(supplied, KeyFile):
        kek = _key_file_kek(supplied)
    elif isinstance(supplied, Passphrase):
        assert record.scrypt is not None
        kek = record.scrypt.derive(supplied.text)
    else:
        import pyrage

        try:
            kek = pyrage.decrypt(record.age_kek, identities(supplied))
        except pyrage.DecryptError:
            return None
        if len(kek) != 32:
            return None
    nonce, sealed = record.wrapped[:NONCE_BYTES], record.wrapped[NONCE_BYTES:]
    try:
        secret = AESGCM(kek).decrypt(nonce, sealed, _aad(repository, record.id, record.kind))
    except InvalidTag:
        return None
    return MasterKey(repository, secret)


# -- reading a record from a remote (untrusted) ---------------------------------------------
def parse_record(data: bytes, key_id: str) -> KeyRecord:
    """The record stored as `<key_id>.json`; KeyRecordError naming the rule it breaks."""
    if len(data) > MAX_RECORD_BYTES:
        raise KeyRecordError(f"key record {key_id} is over {MAX_RECORD_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyRecordError(f"key record {key_id} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise KeyRecordError(f"key record {key_id} is not a JSON object")
    fields = _Fields(raw, key_id)
    if fields.text("format") != FORMAT or fields.integer("version") != VERSION:
        raise KeyRecordError(f"key record {key_id} is not an {FORMAT} record of version "
                             f"{VERSION}")
    if fields.text("id") != key_id:
        raise KeyRecordError(f"key record {key_id} names another id "
                             f"({fields.text('id')[:40]!r}): renamed or copied")
    kind = fields.text("kind")
    if kind not in KINDS:
        raise KeyRecordError(f"key record {key_id} is of unknown kind {kind[:40]!r}")
    wrapped = _unb64(fields.text("wrapped"), f"key record {key_id}'s wrapped key")
    if len(wrapped) != NONCE_BYTES + SECRET_BYTES + 16:
        raise KeyRecordError(f"key record {key_id}'s wrapped key is {len(wrapped)} bytes, "
                             f"not {NONCE_BYTES + SECRET_BYTES + 16}")
    scrypt, recipient, age_kek = None, "", b""
    if kind == "passphrase":
        scrypt = _scrypt(_Fields(fields.obj("scrypt"), key_id), key_id)
    elif kind == "age":
        age = _Fields(fields.obj("age"), key_id)
        recipient, age_kek = age.text("recipient"), _unb64(age.text("kek"), "the age KEK")
    return KeyRecord(key_id, kind, fields.text("created"), fields.text("label"), wrapped,
                     scrypt, recipient, age_kek)


def _scrypt(fields: _Fields, key_id: str) -> Scrypt:
    n, r, p = fields.integer("n"), fields.integer("r"), fields.integer("p")
    if n < 2 or n & (n - 1) or n > MAX_SCRYPT_N:
        raise KeyRecordError(f"key record {key_id} asks scrypt for N={n}: a power of two up "
                             f"to 2**20 is allowed")
    if not 1 <= r <= MAX_SCRYPT_R:
        raise KeyRecordError(f"key record {key_id} asks scrypt for r={r}: 1 to "
                             f"{MAX_SCRYPT_R} is allowed")
    if not 1 <= p <= MAX_SCRYPT_P:
        raise KeyRecordError(f"key record {key_id} asks scrypt for p={p}: 1 to "
                             f"{MAX_SCRYPT_P} is allowed")
    salt = _unb64(fields.text("salt"), f"key record {key_id}'s salt")
    if not 16 <= len(salt) <= 64:
        raise KeyRecordError(f"key record {key_id}'s scrypt salt is {len(salt)} bytes")
    return Scrypt(n, r, p, salt)


class _Fields:
    def __init__(self, raw: dict[str, Any], key_id: str) -> None:
        self.raw, self.key_id = raw, key_id

    def _get(self, name: str, kind: type) -> Any:
        value = self.raw.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise KeyRecordError(f"key record {self.key_id}: {name!r} is missing or not a "
                                 f"{kind.__name__}")
        return value

    def text(self, name: str) -> str:
        value: str = self._get(name, str)
        if len(value) > 4096:
            raise KeyRecordError(f"key record {self.key_id}: {name!r} is too long")
        return value

    def integer(self, name: str) -> int:
        value: int = self._get(name, int)
        return value

    def obj(self, name: str) -> dict[str, Any]:
        value: dict[str, Any] = self._get(name, dict)
        return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyRecordError(f"{what} is not base64") from None


def is_repository_id(text: str) -> bool:
    return bool(_REPOSITORY_RE.match(text))
