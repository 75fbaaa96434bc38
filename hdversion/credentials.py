"""Cloud credentials: the standard chains first, or config/cloud_credentials.json.

Secrets only ever reach DVC in memory (as config overrides of the opened repository); they
are never written to a tracked file, and every message hdversion prints or journals passes
through `redact`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hdversion.errors import ConfigurationError

# The library warns through logging; the CLI shows these as `warning: ...` on stderr.
log = logging.getLogger("hdversion")

CREDENTIALS_PATH = "config/cloud_credentials.json"
KNOWN_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "s3_bucket",
    "s3_endpoint_url",
    "azure_connection_string",
    "azure_container",
    "gcp_bucket",
    "gcp_endpoint_url",
)
SECRET_KEYS = ("aws_secret_access_key", "azure_connection_string", "aws_access_key_id")
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
    return _ACCOUNT_KEY.sub(lambda m: f"{m.group(1)}=***", text)


for _name in SECRET_ENV:
    register_secret(os.environ.get(_name))


@dataclass(frozen=True)
class CloudCredentials:
    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path, is_tracked: bool, is_ignored: bool = True) -> CloudCredentials:
        path = root / CREDENTIALS_PATH
        if not path.exists():
            return cls()
        if is_tracked:
            raise ConfigurationError(
                f"{CREDENTIALS_PATH} is tracked by git: secrets would be pushed with the repo",
                hint=f"git rm --cached {CREDENTIALS_PATH}, rotate the keys, and keep it ignored",
            )
        if not is_ignored:
            log.warning("%s is not git-ignored: add it to .gitignore", CREDENTIALS_PATH)
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning("%s is readable by other users (chmod 600 %s)", CREDENTIALS_PATH,
                        CREDENTIALS_PATH)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"{CREDENTIALS_PATH} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{CREDENTIALS_PATH} must hold a JSON object")
        unknown = sorted(set(data) - set(KNOWN_KEYS))
        if unknown:
            raise ConfigurationError(
                f"{CREDENTIALS_PATH}: unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(KNOWN_KEYS)}"
            )
        values = {k: str(v) for k, v in data.items() if v not in (None, "")}
        for key in SECRET_KEYS:
            register_secret(values.get(key))
        return cls(values)

    def remote_options(self, scheme: str) -> dict[str, str]:
        """DVC remote options (in memory) for a remote of this URL scheme."""
        v = self.values
        if scheme == "s3":
            options = {"access_key_id": v.get("aws_access_key_id", ""),
                       "secret_access_key": v.get("aws_secret_access_key", ""),
                       "endpointurl": v.get("s3_endpoint_url", "")}
        elif scheme == "azure":
            options = {"connection_string": v.get("azure_connection_string", "")}
        elif scheme == "gs":
            options = {"endpointurl": v.get("gcp_endpoint_url", "")}
        else:
            options = {}
        return {k: val for k, val in options.items() if val}

    def default_url(self, storage: str) -> str | None:
        """A remote URL for a storage name when DVC has no remote of that name."""
        bucket = {"s3": self.values.get("s3_bucket"),
                  "azure": self.values.get("azure_container"),
                  "gcp": self.values.get("gcp_bucket")}.get(storage)
        if not bucket:
            return None
        scheme = {"s3": "s3", "azure": "azure", "gcp": "gs"}[storage]
        return f"{scheme}://{bucket}/hdversion"
