"""What a remote holds about each backup beside DVC's objects, so that the remote alone (no
clone, no git server) can list and restore it:

    <url>/files/md5/xx/yyyy...                  DVC's objects (DVC's own layout)
    <url>/hdversion/backups/<T>/blobs/<md5>     the bytes of the backup's git-stored files
    <url>/hdversion/backups/<T>/manifest.json   both parts of the manifest, written last

The record is untrusted when read back: its schema and version are checked, the tag part
parses as a manifest of that very timestamp, and the file list must be the one the tag part
names (`FileList.parse`: md5, totals, outputs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hdversion.errors import ManifestError
from hdversion.model.manifest import FileList, Manifest
from hdversion.model.timestamps import is_timestamp

SCHEMA = "hdversion/remote-manifest"
VERSION = 1
BACKUPS_DIR = "hdversion/backups"
# An encrypted remote's config and key records: plain, as a key must be found before anything
# can be opened (crypto/keys.py, datastore/keyring.py).
ENCRYPTION_DIR = "hdversion/encryption"
ENCRYPTION_CONFIG = f"{ENCRYPTION_DIR}/config.json"  # its presence makes a remote encrypted
OBJECTS_DIR = "files/md5"  # DVC 3's objects: <OBJECTS_DIR>/xx/yyyy...
MANIFEST_NAME = "manifest.json"
BLOBS_DIR = "blobs"
# A manifest record larger than this is refused unread: a file list of 20,000 files is
# ~2 MB; a hostile bucket must not make a reader hold gigabytes.
MAX_RECORD_SIZE = 64 * 1024 * 1024
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
# An object's name in its two-hex-digit folder: the rest of its md5 (a directory's listing
# ends in `.dir`). A partial transfer's file (`.tmp`, `.hdversion-tmp-*`) is no object.
_OBJECT_NAME_RE = re.compile(r"^[0-9a-f]{30}(\.dir)?$")


# The aliases a remote knows (`hdversion/aliases/<name>.json`: the alias's record, as git
# holds it): so that a machine with the bucket alone fetches `prod`.
ALIASES_DIR = "hdversion/aliases"


def alias_key(name: str) -> str:
    return f"{ALIASES_DIR}/{name}.json"


def backup_dir(timestamp: str) -> str:
    return f"{BACKUPS_DIR}/{timestamp}"


def manifest_key(timestamp: str) -> str:
    return f"{backup_dir(timestamp)}/{MANIFEST_NAME}"


def blob_key(timestamp: str, md5: str) -> str:
    return f"{backup_dir(timestamp)}/{BLOBS_DIR}/{md5}"


def object_key(md5: str) -> str:
    """Where DVC 3 keeps an object, relative to the remote's URL."""
    return f"{OBJECTS_DIR}/{md5[:2]}/{md5[2:]}"


def is_object_name(name: str) -> bool:
    """Whether a file name in a two-hex-digit folder of `OBJECTS_DIR` is a DVC object's."""
    return _OBJECT_NAME_RE.match(name) is not None


@dataclass(frozen=True)
class RemoteManifest:
    """A backup as its remote describes it."""

    manifest: Manifest
    file_list: FileList
    commit: str | None  # the backup commit (informative: no git is needed to restore)

    @property
    def timestamp(self) -> str:
        return self.manifest.timestamp


def record_bytes(tag_message: str, file_list: bytes, commit: str) -> bytes:
    """The manifest record: the tag message and the file list, byte for byte."""
    data = {"schema": SCHEMA, "version": VERSION, "commit": commit,
            "tag": tag_message, "files": file_list.decode("utf-8")}
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()


def parse_record(data: bytes, timestamp: str) -> RemoteManifest:
    """The record stored under `timestamp`'s folder; ManifestError unless every part checks
    out (a record moved to another folder is refused too)."""
    if not is_timestamp(timestamp):
        raise ManifestError(f"folder {timestamp!r} is not a backup timestamp")
    if len(data) > MAX_RECORD_SIZE:
        raise ManifestError(f"manifest larger than {MAX_RECORD_SIZE} bytes")
    try:
        decoded: Any = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"manifest is not JSON: {exc}") from None
    if not isinstance(decoded, dict) or decoded.get("schema") != SCHEMA:
        raise ManifestError("not an hdversion remote manifest")
    version = decoded.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ManifestError(f"malformed remote manifest: bad version {version!r}")
    if version > VERSION:
        raise ManifestError(f"remote manifest version {version} is newer than this hdversion "
                            f"understands ({VERSION}): upgrade hdversion")
    tag, files, commit = decoded.get("tag"), decoded.get("files"), decoded.get("commit")
    if not isinstance(tag, str) or not isinstance(files, str):
        raise ManifestError("malformed remote manifest: tag and files must be strings")
    if commit is not None and not (isinstance(commit, str) and _COMMIT_RE.match(commit)):
        raise ManifestError("malformed remote manifest: bad commit")
    manifest = Manifest.from_json(tag)
    if manifest.version < 2:
        raise ManifestError("a remote manifest must be of version 2 or later")
    if manifest.timestamp != timestamp:
        raise ManifestError(f"manifest says {manifest.timestamp}, its folder {timestamp}")
    file_list = FileList.parse(files.encode("utf-8"), manifest)
    return RemoteManifest(manifest, file_list, commit)
