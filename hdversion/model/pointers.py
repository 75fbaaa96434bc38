"""What DVC's pointer files (dvc.lock, *.dvc) say a backup's outputs are: read from the
backup's own copies, to decide which paths a restore may write. Plain YAML, no DVC."""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from hdversion.errors import ManifestError


def is_pointer_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name == "dvc.lock" or (name.endswith(".dvc") and name != ".dvc")


def declared_outputs(path: str, data: bytes) -> list[str]:
    """The output paths (relative to the repository root, normalized) that a pointer file
    declares; ManifestError if it is not a pointer file DVC would read."""
    return [out_path for out_path, _ in _declared(path, data)]


def declared_dir_objects(path: str, data: bytes) -> dict[str, str]:
    """Directory outputs that a pointer file declares: path -> DVC's `<md5>.dir` object."""
    return {out_path: md5 for out_path, md5 in _declared(path, data)
            if isinstance(md5, str) and md5.endswith(".dir")}


def _declared(path: str, data: bytes) -> list[tuple[str, object]]:
    import yaml

    try:
        parsed = yaml.safe_load(data) or {}
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path} in the backup is not valid YAML: {exc}") from None
    if not isinstance(parsed, dict):
        raise ManifestError(f"{path} in the backup is not a DVC pointer file")
    outs: list[Any] = []
    if path.rsplit("/", 1)[-1] == "dvc.lock":
        stages = parsed.get("stages") or {}
        if not isinstance(stages, dict):
            raise ManifestError(f"{path} in the backup has no valid stages")
        for stage in stages.values():
            if isinstance(stage, dict):
                outs += list(stage.get("outs") or [])
    else:
        outs = list(parsed.get("outs") or [])
    base = posixpath.dirname(path)
    declared = []
    for out in outs:
        out_path = out.get("path") if isinstance(out, dict) else None
        if not isinstance(out_path, str) or not out_path or out_path.startswith("/"):
            raise ManifestError(f"{path} in the backup declares an unsafe output {out_path!r}")
        normal = posixpath.normpath(posixpath.join(base, out_path))
        if normal == ".." or normal.startswith("../") or normal == ".":
            raise ManifestError(f"{path} in the backup declares an output outside the "
                                f"workspace: {out_path!r}")
        declared.append((normal, out.get("md5")))
    return declared


def dir_listing_md5s(data: bytes) -> set[str]:
    """The file objects a DVC `.dir` listing names (JSON: [{"md5": ..., "relpath": ...}]);
    ManifestError for anything else: a listing read from a remote is untrusted."""
    try:
        entries = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ManifestError("a directory listing is not JSON") from None
    if not isinstance(entries, list):
        raise ManifestError("a directory listing is not a list")
    found: set[str] = set()
    for entry in entries:
        md5 = entry.get("md5") if isinstance(entry, dict) else None
        if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-f]{32}", md5):
            raise ManifestError("a directory listing names an object without a valid md5")
        found.add(md5)
    return found
