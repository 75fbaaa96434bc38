"""The manifest schema: what a backup records, validated on every read."""

from __future__ import annotations

import json

import pytest

from hdversion.manifest import FileEntry, Manifest, ManifestError


def manifest(**changes: object) -> Manifest:
    base = Manifest(
        timestamp="20250331_120000", created_at="2025-03-31T12:00:00+00:00", host="h",
        user="u", hdversion_version="0.1.0", dvc_version="3.67.1", base_commit="abc",
        branch="main", message="m",
        files=(FileEntry("models/m.h5", "0" * 32, 10), FileEntry("dvc.lock", "1" * 32, 5, "git")),
    )
    data = base.to_dict()
    data.update(changes)
    return Manifest.from_dict(data)


def test_round_trip_is_one_line_of_json() -> None:
    original = manifest()
    text = original.to_json()
    assert "\n" not in text
    assert Manifest.from_json(text) == original
    assert original.total_size == 15


@pytest.mark.parametrize("changes, message", [
    ({"version": 99}, "newer than this hdversion"),
    ({"schema": "other"}, "not an hdversion manifest"),
    ({"timestamp": "2025-03-31"}, "bad timestamp"),
    ({"files": [{"path": "../etc/passwd", "md5": "0" * 32, "size": 1}]}, "unsafe file path"),
    ({"files": [{"path": "/etc/passwd", "md5": "0" * 32, "size": 1}]}, "unsafe file path"),
    ({"files": [{"path": "a", "md5": "xyz", "size": 1}]}, "bad md5"),
    ({"files": [{"path": "a", "md5": "0" * 32, "size": -1}]}, "bad size"),
    ({"kind": "weird"}, "unknown kind"),
])
def test_invalid_manifests_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        manifest(**changes)


def test_not_json() -> None:
    with pytest.raises(ManifestError, match="not JSON"):
        Manifest.from_json("{")
    with pytest.raises(ManifestError):
        Manifest.from_json(json.dumps([1, 2]))
