"""What an export archive holds, as plain data: the member names and the archive's own
manifest (`manifest.json`, the first member), validated on read.

`manifest.json` carries both parts of the backup's manifest exactly as the backup has them:
the tag message's JSON and the file list's bytes (as a string), so that an import checks the
file list against the summary exactly as a restore does (md5 of the list = `files_md5`,
totals and outputs agree). Every other member is `files/<path>`, one per file of the list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hdversion.errors import ManifestError
from hdversion.model.manifest import FileEntry, FileList, Manifest, manifest_json
from hdversion.model.timestamps import tag_for

ARCHIVE_SCHEMA = "hdversion/archive"
ARCHIVE_VERSION = 1
MANIFEST_MEMBER = "manifest.json"
FILES_PREFIX = "files/"
# Bigger than any real manifest (a backup of 20,000 files makes about 2 MiB), small enough
# to hold in memory: a larger first member is refused before it is read.
MAX_MANIFEST_SIZE = 64 * 1024 * 1024
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def member_name(path: str) -> str:
    return FILES_PREFIX + path


@dataclass(frozen=True)
class ArchiveManifest:
    tag: str
    commit: str  # the backup commit (informative: an import needs no git objects)
    message: dict[str, Any]  # the tag message's JSON line, as the tag holds it
    file_list: bytes | None  # the file list's bytes (None for a version-1 backup)
    manifest: Manifest
    files: tuple[FileEntry, ...]

    @classmethod
    def build(cls, tag: str, commit: str, message: str, file_list: bytes | None
              ) -> ArchiveManifest:
        """From the tag's whole message: only its JSON line travels (the human line is
        never read, here or on import)."""
        try:
            decoded = json.loads(manifest_json(message))
        except ValueError as exc:
            raise ManifestError(f"manifest of {tag} is not JSON: {exc}") from None
        return cls.from_dict({"schema": ARCHIVE_SCHEMA, "version": ARCHIVE_VERSION,
                              "tag": tag, "commit": commit, "manifest": decoded,
                              "file_list": None if file_list is None else file_list.decode()})

    def to_bytes(self) -> bytes:
        data = {"schema": ARCHIVE_SCHEMA, "version": ARCHIVE_VERSION, "tag": self.tag,
                "commit": self.commit, "manifest": self.message,
                "file_list": None if self.file_list is None else self.file_list.decode()}
        return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes) -> ArchiveManifest:
        try:
            decoded = json.loads(data)
        except ValueError as exc:
            raise ManifestError(f"the archive's manifest.json is not JSON: {exc}") from None
        return cls.from_dict(decoded)

    @classmethod
    def from_dict(cls, data: Any) -> ArchiveManifest:
        if not isinstance(data, dict) or data.get("schema") != ARCHIVE_SCHEMA:
            raise ManifestError("not an hdversion archive (manifest.json has no "
                                f"{ARCHIVE_SCHEMA!r} schema)")
        version = data.get("version")
        if version != ARCHIVE_VERSION:
            raise ManifestError(f"archive version {version!r} is not one this hdversion "
                                f"reads ({ARCHIVE_VERSION}): upgrade hdversion")
        tag, commit, raw_list = data.get("tag"), data.get("commit"), data.get("file_list")
        if not isinstance(commit, str) or not _COMMIT_RE.match(commit):
            raise ManifestError("malformed archive manifest: bad commit")
        if raw_list is not None and not isinstance(raw_list, str):
            raise ManifestError("malformed archive manifest: file_list must be a string")
        message = data.get("manifest")
        manifest = Manifest.from_dict(message)
        if tag != tag_for(manifest.timestamp):
            raise ManifestError(f"the archive names tag {tag!r} for a backup made at "
                                f"{manifest.timestamp}")
        assert isinstance(message, dict)  # from_dict accepted it
        file_list = None if raw_list is None else raw_list.encode()
        if manifest.inline_files is not None:  # version 1: the files are in the message
            if file_list is not None:
                raise ManifestError("malformed archive manifest: a version-1 backup with "
                                    "a separate file list")
            files = manifest.inline_files
            FileList(files).check_against(manifest)  # no path twice
        elif file_list is None:
            raise ManifestError("malformed archive manifest: no file list")
        else:
            files = FileList.parse(file_list, manifest).files
        return cls(tag, commit, message, file_list, manifest, files)
