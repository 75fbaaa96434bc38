"""What a restore may write. A backup's manifest is untrusted input (tags are fetched from
`origin`, and anyone can make a tag), so before the first write every path must be one the
backup itself protects:
- a normalized relative path, with no `.git` or `.dvc` component;
- a DVC output (or a member of a directory output) declared by the backup's own pointer files,
  a pointer file, or a git-tracked file the settings name;
- reached without a symlinked directory that leads out of the destination.
Any violation refuses the whole restore (exit 5) and names the path."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from hdversion.errors import UnsafePathError
from hdversion.model.manifest import FileEntry, check_path, within
from hdversion.model.pointers import declared_outputs, is_pointer_file

FORBIDDEN_PARTS = (".git", ".dvc")


def check_paths(files: Iterable[FileEntry], pointer_bytes: Mapping[str, bytes],
                git_tracked: Iterable[str], backup: str) -> None:
    """Refuse (UnsafePathError) unless every file is one the backup protects.
    `pointer_bytes` holds the backup's own pointer files, read from its commit."""
    files = list(files)
    outputs: list[str] = []
    for path, data in pointer_bytes.items():
        outputs += declared_outputs(path, data)
    allowed = outputs + [p.strip("/") for p in git_tracked]
    for entry in files:
        path = entry.path
        try:
            check_path(path)
        except ValueError:
            raise UnsafePathError(backup, path, "not a plain relative path") from None
        if any(part in FORBIDDEN_PARTS for part in path.split("/")):
            raise UnsafePathError(backup, path, "inside .git or .dvc")
        if is_pointer_file(path) and entry.store == "git":
            continue
        if any(within(path, out) for out in allowed):
            continue
        raise UnsafePathError(backup, path, "neither a DVC output of the backup's pointer "
                              "files, a pointer file, nor a configured git-tracked file")


def check_destination(dest: Path, paths: Iterable[str]) -> None:
    """Refuse to write through a symlinked directory that leads out of `dest`."""
    real_dest = Path(os.path.realpath(dest))
    seen: set[str] = set()  # a directory output's 10,000 files share a few folders
    for path in paths:
        folder = path.rpartition("/")[0]
        if folder in seen:
            continue
        seen.add(folder)
        real = Path(os.path.realpath(dest / folder))
        if real != real_dest and real_dest not in real.parents:
            raise UnsafePathError(None, path, "reached through a symbolic link that leads "
                                  f"outside {dest}")
