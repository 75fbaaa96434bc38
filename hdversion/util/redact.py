"""Secrets never leave the process: every message hdversion prints or journals passes through
`redact`, which masks every registered secret and any account key in a connection string."""

from __future__ import annotations

import os
import re

# Secrets the standard chains may hold; redacted wherever they appear.
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_CONNECTION_STRING",
              "AZURE_STORAGE_KEY", "AZURE_CLIENT_SECRET")
_ACCOUNT_KEY = re.compile(r"(AccountKey|SharedAccessSignature|sig)=([^;&\s'\"]+)", re.I)

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= 6:
        _secrets.add(value)
        for match in _ACCOUNT_KEY.finditer(value):
            _secrets.add(match.group(2))


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    if "=" not in text:  # the pattern needs one; scanning 1 MB of `list --json` takes 50 ms
        return text
    return _ACCOUNT_KEY.sub(lambda m: f"{m.group(1)}=***", text)



def redact_bytes(data: bytes) -> bytes:
    """redact of UTF-8 text given as bytes: the same bytes, untouched (not decoded) when
    there is nothing to mask, as in a served `list --json` of 93 MB."""
    if not _secrets and b"=" not in data:
        return data
    return redact(data.decode()).encode()

for _name in SECRET_ENV:
    register_secret(os.environ.get(_name))
