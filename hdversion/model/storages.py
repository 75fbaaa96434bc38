"""The cloud storages hdversion knows by name, and their URL schemes, in one place.

A storage name is also the name of the DVC remote that holds it (`--storage s3` is the DVC
remote `s3`); any other DVC remote is reached with `--remote NAME`.
"""

from __future__ import annotations

from dataclasses import dataclass

# storage name -> URL scheme of its remotes
STORAGES: dict[str, str] = {"s3": "s3", "azure": "azure", "gcp": "gs"}
LOCAL_SCHEME = "local"
# Every URL scheme DVC's config takes for a remote (its REMOTE_SCHEMAS; a test keeps them
# equal) with `verify`: `remote add` refuses any other itself, as a usage error, instead of
# letting DVC's config validation fail as DVC refusing. hdfs is left out: DVC has no
# `verify` for it, so its downloads could not be re-hashed (hdversion sets it on every remote).
DVC_SCHEMES = ("s3", "azure", "gs", "ssh", "http", "https", "webdav", "webdavs", "webhdfs",
               "oss", "gdrive", "remote")


def scheme_of(url: str) -> str:
    """The URL's scheme (`s3`, `azure`, `gs`...), or `local` for a directory."""
    return url.split("://", 1)[0] if "://" in url else LOCAL_SCHEME


def url_prefix(storage: str) -> str:
    return f"{STORAGES[storage]}://"


def storage_of_scheme(scheme: str) -> str | None:
    return next((name for name, s in STORAGES.items() if s == scheme), None)


@dataclass(frozen=True)
class RemoteInfo:
    """A configured DVC remote, as `remote list` shows it."""

    name: str
    url: str
    scheme: str
    default: bool
    verify: bool
    # The key file `remote add --encrypt` wrote (it alone opens the remote's data at first).
    key_file: str | None = None
