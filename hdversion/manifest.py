"""The backup manifest: one versioned schema, validated on every read.

It is the annotated tag's message (one line of JSON, so git's message clean-up cannot touch it)
and later also an object in each remote, so a machine with only the bucket can list backups.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from hdversion.errors import HdversionError
from hdversion.timestamps import is_timestamp

SCHEMA = "hdversion/manifest"
VERSION = 1
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")

Store = Literal["dvc", "git"]
Kind = Literal["backup", "safety"]


class ManifestError(HdversionError):
    pass


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the repository root, with forward slashes
    md5: str
    size: int
    store: Store = "dvc"  # "dvc": an object in the DVC cache/remotes; "git": a blob in the commit


@dataclass(frozen=True)
class Manifest:
    timestamp: str
    created_at: str
    host: str
    user: str
    hdversion_version: str
    dvc_version: str
    base_commit: str | None
    branch: str | None
    message: str
    files: tuple[FileEntry, ...]
    missing: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "backup"

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.files)

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies, and `list` renders 1,000 of these.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["files"] = [
            {"path": e.path, "md5": e.md5, "size": e.size, "store": e.store} for e in self.files
        ]
        data["missing"] = list(self.missing)
        return {"schema": SCHEMA, "version": VERSION, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest is not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ManifestError("not an hdversion manifest")
        version = data.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ManifestError(
                f"manifest version {version!r} is newer than this hdversion understands "
                f"({VERSION}): upgrade hdversion"
            )
        try:
            files = tuple(_file_entry(item) for item in data["files"])
            manifest = cls(
                timestamp=_str(data, "timestamp"),
                created_at=_str(data, "created_at"),
                host=_str(data, "host"),
                user=_str(data, "user"),
                hdversion_version=_str(data, "hdversion_version"),
                dvc_version=_str(data, "dvc_version"),
                base_commit=data.get("base_commit"),
                branch=data.get("branch"),
                message=str(data.get("message", "")),
                files=files,
                missing=tuple(str(p) for p in data.get("missing", [])),
                metrics=dict(data.get("metrics") or {}),
                params=dict(data.get("params") or {}),
                kind=data.get("kind", "backup"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed manifest: {exc}") from None
        if not is_timestamp(manifest.timestamp):
            raise ManifestError(f"malformed manifest: bad timestamp {manifest.timestamp!r}")
        if manifest.kind not in ("backup", "safety"):
            raise ManifestError(f"malformed manifest: unknown kind {manifest.kind!r}")
        return manifest


def _str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _file_entry(item: Any) -> FileEntry:
    if not isinstance(item, dict):
        raise TypeError("file entry must be an object")
    path, md5, size = item["path"], item["md5"], item["size"]
    store = item.get("store", "dvc")
    if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"unsafe file path {path!r}")
    if not isinstance(md5, str) or not _MD5_RE.match(md5):
        raise ValueError(f"bad md5 for {path}")
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"bad size for {path}")
    if store not in ("dvc", "git"):
        raise ValueError(f"bad store for {path}")
    return FileEntry(path=path, md5=md5, size=size, store=store)
