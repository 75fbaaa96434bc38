"""The master key of an encrypted remote: 32 random bytes from which every key that touches
its data is derived (HKDF-SHA256, one purpose each), so that one wrapped secret per key
record is all a user holds, and rotating access never re-encrypts data (restic's design)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

SECRET_BYTES = 32


@dataclass(frozen=True)
class MasterKey:
    repository: str  # the encrypted remote's id (32 hex digits), in its config record
    secret: bytes = field(repr=False)

    @classmethod
    def new(cls) -> MasterKey:
        return cls(secrets.token_hex(16), secrets.token_bytes(SECRET_BYTES))

    def subkey(self, purpose: str, length: int = 32) -> bytes:
        """A key for one purpose ("objects", "names", "records"...), bound to the
        repository: two remotes never share a derived key, nor two purposes."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=length,
                    salt=bytes.fromhex(self.repository),
                    info=b"hdversion 1 " + purpose.encode()).derive(self.secret)
