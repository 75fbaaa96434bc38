"""The backup manifest: one versioned schema, validated on every read.

Version 2 has two parts:
- the tag message: a line for people (`git tag -n1`), a blank line, then the manifest as one
  line of JSON (git's message clean-up cannot touch it): what `list` shows and what
  identifies the backup, with one entry per DVC output; it stays small whatever the number
  of files. Only the JSON line is read (`manifest_json`): the human line is never trusted;
  a message of the JSON line alone (the first form) reads the same;
- the file list (`paths.FILE_LIST` in the backup commit's tree): every file with its md5,
  size and store, read only by the commands that need files. The tag names the list's md5,
  and the list must agree with the tag's outputs and totals, or it is refused.

Version 1 tags carried every file in the message; they are still read (`inline_files`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from hdversion.errors import ManifestError
from hdversion.model.timestamps import is_timestamp

SCHEMA = "hdversion/manifest"
# The tag message's first line, for `git tag -n1`: at most this many characters.
HUMAN_LINE_MAX = 100
FILE_LIST_SCHEMA = "hdversion/files"
VERSION = 2
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_DIR_MD5_RE = re.compile(r"^[0-9a-f]{32}\.dir$")

Store = Literal["dvc", "git"]
Kind = Literal["backup", "safety"]
STORES: tuple[Store, ...] = ("dvc", "git")
KINDS: tuple[Kind, ...] = ("backup", "safety")


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the repository root, with forward slashes
    md5: str
    size: int
    store: Store = "dvc"  # "dvc": an object in the DVC cache/remotes; "git": a blob in the commit


@dataclass(frozen=True)
class OutputEntry:
    """A DVC output as a whole: one file, or a directory (md5 `<hash>.dir`, DVC's listing)."""

    path: str
    md5: str
    size: int  # bytes of the file, or of every file in the directory
    nfiles: int
    store: Store = "dvc"  # "git" for `cache: false` outputs, kept in the backup commit

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")

    def holds(self, path: str) -> bool:
        return within(path, self.path)


@dataclass(frozen=True)
class Manifest:
    """What the tag message says about a backup."""

    timestamp: str
    created_at: str
    host: str
    user: str
    hdversion_version: str
    dvc_version: str
    base_commit: str | None
    branch: str | None
    message: str
    outputs: tuple[OutputEntry, ...]
    total_files: int
    total_size: int
    files_md5: str | None  # md5 of the file list's bytes; None for version 1
    missing: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "backup"
    version: int = VERSION
    inline_files: tuple[FileEntry, ...] | None = None  # version 1: every file in the message

    def to_dict(self) -> dict[str, Any]:
        """The version-2 tag message."""
        return {
            "schema": SCHEMA, "version": VERSION,
            "timestamp": self.timestamp, "created_at": self.created_at, "kind": self.kind,
            "message": self.message, "host": self.host, "user": self.user,
            "hdversion_version": self.hdversion_version, "dvc_version": self.dvc_version,
            "base_commit": self.base_commit, "branch": self.branch,
            "outputs": [{"path": o.path, "md5": o.md5, "size": o.size, "nfiles": o.nfiles,
                         "store": o.store} for o in self.outputs],
            "total_files": self.total_files, "total_size": self.total_size,
            "files_md5": self.files_md5,
            "missing": list(self.missing), "metrics": self.metrics, "params": self.params,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_tag_message(self) -> str:
        """The annotated tag's message: the human line, a blank line, the JSON line."""
        return f"{human_line(self)}\n\n{self.to_json()}"

    @classmethod
    def from_tag_message(cls, message: str) -> Manifest:
        return cls.from_json(manifest_json(message))

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
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ManifestError(f"malformed manifest: bad version {version!r}")
        if version > VERSION:
            raise ManifestError(
                f"manifest version {version!r} is newer than this hdversion understands "
                f"({VERSION}): upgrade hdversion"
            )
        try:
            if version == 1:
                files = tuple(_file_entry(item) for item in _list(data, "files"))
                outputs: tuple[OutputEntry, ...] = ()
                total_files, total_size = len(files), sum(f.size for f in files)
                files_md5 = None
                inline: tuple[FileEntry, ...] | None = files
            else:
                outputs = tuple(_output_entry(item) for item in _list(data, "outputs"))
                total_files, total_size = _count(data, "total_files"), _count(data, "total_size")
                files_md5 = _str(data, "files_md5")
                if not _MD5_RE.match(files_md5):
                    raise ValueError("bad files_md5")
                inline = None
            manifest = cls(
                timestamp=_str(data, "timestamp"),
                created_at=_str(data, "created_at"),
                host=_str(data, "host"),
                user=_str(data, "user"),
                hdversion_version=_str(data, "hdversion_version"),
                dvc_version=_str(data, "dvc_version"),
                base_commit=_optional_str(data, "base_commit"),
                branch=_optional_str(data, "branch"),
                message=str(data.get("message", "")),
                outputs=outputs,
                total_files=total_files,
                total_size=total_size,
                files_md5=files_md5,
                missing=tuple(str(p) for p in data.get("missing", [])),
                metrics=_mapping(data, "metrics"),
                params=_mapping(data, "params"),
                kind=data.get("kind", "backup"),
                version=version,
                inline_files=inline,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed manifest: {exc}") from None
        if not is_timestamp(manifest.timestamp):
            raise ManifestError(f"malformed manifest: bad timestamp {manifest.timestamp!r}")
        if manifest.kind not in KINDS:
            raise ManifestError(f"malformed manifest: unknown kind {manifest.kind!r}")
        return manifest


def human_line(manifest: Manifest) -> str:
    """The tag message's first line: the backup's message, or what it is a backup of, as
    one line of printable characters (whitespace of any kind made one space; control,
    format and surrogate characters dropped, so a terminal showing `git tag -n1` runs no
    escape sequence), at most HUMAN_LINE_MAX long."""
    import unicodedata  # here: reading tags (`list`) never writes this line

    def printable(text: str) -> str:
        kept = "".join(" " if c.isspace() else c for c in text
                       if c.isspace() or unicodedata.category(c)[0] != "C")
        return " ".join(kept.split())

    # A message of megabytes is cut before it is cleaned: the line keeps a hundred.
    line = printable(manifest.message[:HUMAN_LINE_MAX * 40]) or printable(
        f"backup of {manifest.branch or 'a detached HEAD'} ({manifest.kind})")
    if len(line) > HUMAN_LINE_MAX:
        line = line[:HUMAN_LINE_MAX - 1].rstrip() + "\u2026"
    return line


def manifest_json(message: str) -> str:
    """The manifest's JSON line in a tag message, found by position, never by content: the
    last line, after a blank one (a human line, a blank line, the JSON: what hdversion
    writes), or the whole message when it is one line (the first form, still read).
    Whatever stands before the blank line is ignored; ManifestError for any other layout."""
    text = message.strip()
    if "\n" not in text:
        return text
    lines = text.split("\n")
    if len(lines) < 3 or lines[-2].strip():
        raise ManifestError("tag message is neither the manifest's JSON line alone nor a "
                            "line, a blank line and that JSON line")
    return lines[-1]


@dataclass(frozen=True)
class FileList:
    """Every file of a backup; for version 2, read from the backup commit and checked
    against the tag's manifest before anything trusts it."""

    files: tuple[FileEntry, ...]

    def to_bytes(self) -> bytes:
        data = {"schema": FILE_LIST_SCHEMA, "version": VERSION,
                "files": [{"path": e.path, "md5": e.md5, "size": e.size, "store": e.store}
                          for e in self.files]}
        return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes, manifest: Manifest) -> FileList:
        """The file list of `manifest`'s backup, refused unless it is the one the tag names
        and agrees with the tag's outputs and totals."""
        # Imported here: `list` reads manifests, never file lists, and hashlib is a large import.
        from hdversion.util.hashing import md5_bytes

        if manifest.files_md5 is None or md5_bytes(data) != manifest.files_md5:
            raise ManifestError(
                f"the file list of backup {manifest.timestamp} does not match its tag "
                "(md5 differs)"
            )
        try:
            decoded = json.loads(data)
        except ValueError as exc:
            raise ManifestError(f"file list is not JSON: {exc}") from None
        if not isinstance(decoded, dict) or decoded.get("schema") != FILE_LIST_SCHEMA:
            raise ManifestError("not an hdversion file list")
        try:
            files = tuple(_file_entry(item) for item in _list(decoded, "files"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed file list: {exc}") from None
        listed = cls(files)
        listed.check_against(manifest)
        return listed

    def check_against(self, manifest: Manifest) -> None:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ManifestError("malformed file list: a path is listed twice")
        if (len(self.files), sum(f.size for f in self.files)) != (
                manifest.total_files, manifest.total_size):
            raise ManifestError("the file list does not match the tag's totals")
        for output in manifest.outputs:
            members = [f for f in self.files if output.holds(f.path)]
            if (len(members), sum(f.size for f in members)) != (output.nfiles, output.size):
                raise ManifestError(
                    f"the file list does not match the tag's output {output.path}")
            if not output.is_dir and members and members[0].md5 != output.md5:
                raise ManifestError(f"the file list's md5 of {output.path} differs from the tag")


def _str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be a string or null")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list")
    return value


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise TypeError(f"{key} must be an object")
    return dict(value)


def within(path: str, top: str) -> bool:
    """`path` is `top` or lies inside the folder `top` (relative paths, forward slashes)."""
    return path == top or path.startswith(top + "/")


# Path components that would leave or stay in place: a set test (a generator per path took
# a fifth of reading a catalog of 100,000 tags).
_UNSAFE_PARTS = frozenset(("", ".", ".."))


def check_path(path: Any) -> str:
    """A relative, normalized path with forward slashes, or ValueError."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"unsafe file path {path!r}")
    if (path.startswith("/") or "\\" in path or "\0" in path
            or not _UNSAFE_PARTS.isdisjoint(path.split("/"))):
        raise ValueError(f"unsafe file path {path!r}")
    return path


def _file_entry(item: Any) -> FileEntry:
    if not isinstance(item, dict):
        raise TypeError("file entry must be an object")
    path, md5, size = check_path(item["path"]), item["md5"], item["size"]
    store = item.get("store", "dvc")
    if not isinstance(md5, str) or not _MD5_RE.match(md5):
        raise ValueError(f"bad md5 for {path}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"bad size for {path}")
    if store not in STORES:
        raise ValueError(f"bad store for {path}")
    return FileEntry(path=path, md5=md5, size=size, store=store)


def _output_entry(item: Any) -> OutputEntry:
    if not isinstance(item, dict):
        raise TypeError("output entry must be an object")
    path, md5 = check_path(item["path"]), item["md5"]
    size, nfiles, store = item["size"], item["nfiles"], item.get("store", "dvc")
    if not isinstance(md5, str) or not (_MD5_RE.match(md5) or _DIR_MD5_RE.match(md5)):
        raise ValueError(f"bad md5 for output {path}")
    for name, value in (("size", size), ("nfiles", nfiles)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"bad {name} for output {path}")
    if store not in STORES:
        raise ValueError(f"bad store for output {path}")
    return OutputEntry(path=path, md5=md5, size=size, nfiles=nfiles, store=store)
