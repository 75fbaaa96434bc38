"""Cloud credentials: the standard chains first, or config/cloud_credentials.json.

Secrets only ever reach DVC in memory (as config overrides of the opened repository); they
are never written to a tracked file, and every message hdversion prints or journals passes
through `redact`.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hdversion.errors import ConfigurationError
from hdversion.model.storages import STORAGES, storage_of_scheme, url_prefix
from hdversion.paths import CREDENTIALS_PATH
from hdversion.util.log import log
from hdversion.util.redact import register_secret

# The library warns through logging; the CLI shows these as `warning: ...` on stderr.

KNOWN_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_sse_customer_key",
    "s3_bucket",
    "s3_endpoint_url",
    "azure_connection_string",
    "azure_container",
    "gcp_bucket",
    "gcp_endpoint_url",
)
SECRET_KEYS = ("aws_secret_access_key", "azure_connection_string", "aws_access_key_id",
               "aws_sse_customer_key")
# An SSE-C key (base64 of 32 bytes) for S3 remotes that name no encryption of their own:
# without it S3 refuses every read of what was written with it, a read from the bucket
# alone (`--remote-url`) included.
SSE_CUSTOMER_OPTION = "sse_customer_key"
# A remote's own encryption, which an SSE-C key of the file must not join (S3 takes one).
S3_ENCRYPTION_OPTIONS = ("sse", "sse_kms_key_id", SSE_CUSTOMER_OPTION)
# What names an S3 remote's key in DVC's config; an AWS profile chosen for one run
# (`prune --profile`) replaces them all, wherever they were set.
S3_KEY_OPTIONS = ("access_key_id", "secret_access_key", "session_token", "credentialpath",
                  "profile")


@dataclass(frozen=True)
class CloudCredentials:
    values: dict[str, str] = field(default_factory=dict)
    # An AWS profile for every S3 remote of this run, over the remote's own keys: a machine
    # whose usual key may only write uses its admin profile to prune.
    profile: str | None = None

    def with_profile(self, profile: str | None) -> CloudCredentials:
        if profile is None:
            return self
        if not profile.strip() or profile != profile.strip():
            raise ConfigurationError(f"--profile {profile!r} is not an AWS profile name")
        return CloudCredentials(self.values, profile)

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
        return cls.read(path, CREDENTIALS_PATH)

    @classmethod
    def read(cls, path: Path, name: str | None = None) -> CloudCredentials:
        """The credentials in a file of this format (`--credentials FILE` too)."""
        name = name or str(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"{name} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{name} must hold a JSON object")
        unknown = sorted(set(data) - set(KNOWN_KEYS))
        if unknown:
            raise ConfigurationError(
                f"{name}: unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(KNOWN_KEYS)}"
            )
        values = {k: str(v) for k, v in data.items() if v not in (None, "")}
        for key in SECRET_KEYS:
            register_secret(values.get(key))
        return cls(values)

    def remote_options(self, scheme: str) -> dict[str, str]:
        """DVC remote options (in memory) for a remote of this URL scheme."""
        v = self.values
        storage = storage_of_scheme(scheme)
        if storage == "s3" and self.profile is not None:
            options = {"profile": self.profile, "endpointurl": v.get("s3_endpoint_url", ""),
                       SSE_CUSTOMER_OPTION: v.get("aws_sse_customer_key", "")}
        elif storage == "s3":
            options = {"access_key_id": v.get("aws_access_key_id", ""),
                       "secret_access_key": v.get("aws_secret_access_key", ""),
                       "endpointurl": v.get("s3_endpoint_url", ""),
                       SSE_CUSTOMER_OPTION: v.get("aws_sse_customer_key", "")}
        elif storage == "azure":
            options = {"connection_string": v.get("azure_connection_string", "")}
        elif storage == "gcp":
            options = {"endpointurl": v.get("gcp_endpoint_url", "")}
        else:
            options = {}
        return {k: val for k, val in options.items() if val}

    def default_url(self, storage: str) -> str | None:
        """A remote URL for a storage name when DVC has no remote of that name."""
        bucket = self.values.get(_BUCKET_KEYS[storage]) if storage in _BUCKET_KEYS else None
        if not bucket:
            return None
        return f"{url_prefix(storage)}{bucket}/hdversion"


_BUCKET_KEYS = {"s3": "s3_bucket", "azure": "azure_container", "gcp": "gcp_bucket"}
assert set(_BUCKET_KEYS) == set(STORAGES)
