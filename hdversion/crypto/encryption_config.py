"""The record that makes a remote encrypted (`hdversion/encryption/config.json`, plain JSON):
which repository of backups it is (the id every derived key and key record is bound to) and
the format its objects are sealed in. Written once, when the remote becomes encrypted;
untrusted when read (a remote is anyone's to write), so every field is checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hdversion.crypto.keys import is_repository_id

FORMAT = "hdversion-encryption"
VERSION = 1
CIPHER = "AES-256-GCM"
NAMES = "HMAC-SHA256"
CHUNK = 1024 * 1024
MAX_BYTES = 4096


class EncryptionConfigError(ValueError):
    """config.json is not one this version reads; the message names the rule."""


@dataclass(frozen=True)
class EncryptionConfig:
    repository: str  # 32 hex digits
    cipher: str = CIPHER
    names: str = NAMES
    chunk: int = CHUNK

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "version": VERSION,
                           "repository": self.repository, "cipher": self.cipher,
                           "names": self.names, "chunk": self.chunk},
                          indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def parse(cls, data: bytes) -> EncryptionConfig:
        if len(data) > MAX_BYTES:
            raise EncryptionConfigError(f"it is over {MAX_BYTES} bytes")
        try:
            raw: Any = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EncryptionConfigError(f"it is not JSON ({exc})") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise EncryptionConfigError(f"it is not an {FORMAT} record")
        version = raw.get("version")
        if version != VERSION:
            raise EncryptionConfigError(
                f"it is of version {version!r}, this hdversion reads version {VERSION}"
                + (" (made by a newer hdversion: upgrade)"
                   if isinstance(version, int) and version > VERSION else ""))
        repository = raw.get("repository")
        if not isinstance(repository, str) or not is_repository_id(repository):
            raise EncryptionConfigError("its repository is not 32 hex digits")
        for name, wanted in (("cipher", CIPHER), ("names", NAMES), ("chunk", CHUNK)):
            if raw.get(name) != wanted or isinstance(raw.get(name), bool):
                raise EncryptionConfigError(f"its {name} is {raw.get(name)!r}, not {wanted!r}")
        return cls(repository)
