"""The manifest schema: what a backup records, validated on every read (version 2: the tag's
summary plus the file list in the commit; version 1: every file in the tag)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdversion.errors import ManifestError
from hdversion.model.manifest import FileEntry, FileList, Manifest, OutputEntry
from hdversion.util.hashing import md5_bytes
from tests.conftest import Project
from tests.test_errors import assert_clean_failure
from tests.test_restore import backup

V1_FIXTURE = Path(__file__).parent / "fixtures" / "manifest-v1.json"

FILES = (
    FileEntry("models/m.h5", "0" * 32, 10),
    FileEntry("models/optuna/a.pkl", "2" * 32, 3),
    FileEntry("models/optuna/b.pkl", "3" * 32, 4),
    FileEntry("dvc.lock", "1" * 32, 5, "git"),
)
OUTPUTS = (
    OutputEntry("models/m.h5", "0" * 32, 10, 1),
    OutputEntry("models/optuna", "4" * 32 + ".dir", 7, 2),
)


def file_list() -> FileList:
    return FileList(FILES)


def manifest(**changes: object) -> Manifest:
    base = Manifest(
        timestamp="20250331_120000", created_at="2025-03-31T12:00:00+00:00", host="h",
        user="u", hdversion_version="0.1.0", dvc_version="3.67.1", base_commit="abc",
        branch="main", message="m", outputs=OUTPUTS, total_files=4, total_size=22,
        files_md5=md5_bytes(file_list().to_bytes()),
    )
    data = base.to_dict()
    data.update(changes)
    return Manifest.from_dict(data)


def v1(**changes: object) -> dict[str, object]:
    data = json.loads(V1_FIXTURE.read_text())
    data.update(changes)
    return data


def test_round_trip_is_one_line_of_json() -> None:
    original = manifest()
    text = original.to_json()
    assert "\n" not in text
    assert Manifest.from_json(text) == original
    assert (original.total_files, original.total_size, original.version) == (4, 22, 2)
    assert FileList.parse(file_list().to_bytes(), original).files == FILES


def test_a_version_1_manifest_is_still_read() -> None:
    """The fixture is a tag message written by hdversion 0.1.0 (manifest version 1)."""
    old = Manifest.from_json(V1_FIXTURE.read_text())
    assert old.version == 1 and old.inline_files is not None
    assert old.total_files == len(old.inline_files) == 13
    assert old.total_size == sum(f.size for f in old.inline_files)
    assert "models/keras_mlp_model.h5" in {f.path for f in old.inline_files}
    assert old.outputs == () and old.files_md5 is None


@pytest.mark.parametrize("changes, message", [
    ({"version": 99}, "newer than this hdversion"),
    ({"version": "2"}, "bad version"),
    ({"version": 0}, "bad version"),
    ({"schema": "other"}, "not an hdversion manifest"),
    ({"timestamp": "2025-03-31"}, "bad timestamp"),
    ({"outputs": [{"path": "../etc/passwd", "md5": "0" * 32, "size": 1, "nfiles": 1}]},
     "unsafe file path"),
    ({"outputs": [{"path": "models/./m", "md5": "0" * 32, "size": 1, "nfiles": 1}]},
     "unsafe file path"),
    ({"outputs": [{"path": "m", "md5": "0" * 31 + ".dir", "size": 1, "nfiles": 1}]},
     "bad md5"),
    ({"outputs": [{"path": "m", "md5": "0" * 32, "size": 1, "nfiles": -1}]}, "bad nfiles"),
    ({"total_files": True}, "total_files"),
    ({"files_md5": "nope"}, "bad files_md5"),
    ({"kind": "weird"}, "unknown kind"),
    ({"metrics": [1]}, "metrics must be an object"),
])
def test_invalid_manifests_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        manifest(**changes)


@pytest.mark.parametrize("files, message", [
    ([{"path": "../etc/passwd", "md5": "0" * 32, "size": 1}], "unsafe file path"),
    ([{"path": "/etc/passwd", "md5": "0" * 32, "size": 1}], "unsafe file path"),
    ([{"path": "a//b", "md5": "0" * 32, "size": 1}], "unsafe file path"),
    ([{"path": "a", "md5": "xyz", "size": 1}], "bad md5"),
    ([{"path": "a", "md5": "0" * 32, "size": -1}], "bad size"),
    ([{"path": "a", "md5": "0" * 32, "size": 1, "store": "s3"}], "bad store"),
])
def test_invalid_version_1_files_are_refused(files: list[object], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict(v1(files=files))


def test_the_file_list_must_be_the_one_the_tag_names() -> None:
    other = FileList((*FILES[:1], FileEntry("models/x", "9" * 32, 9), *FILES[2:]))
    with pytest.raises(ManifestError, match="does not match its tag"):
        FileList.parse(other.to_bytes(), manifest())


@pytest.mark.parametrize("files, message", [
    # A list whose md5 the tag names, but which disagrees with the tag's summary.
    (FILES[:3], "totals"),
    ((FileEntry("models/m.h5", "0" * 32, 9), FILES[1],
      FileEntry("models/optuna/b.pkl", "3" * 32, 5), FILES[3]), "output models/m.h5"),
    ((FileEntry("models/m.h5", "5" * 32, 10), *FILES[1:]), "md5 of models/m.h5"),
    ((*FILES[:3], FileEntry("models/m.h5", "1" * 32, 5, "git")), "listed twice"),
])
def test_a_file_list_that_disagrees_with_its_tag_is_refused(
        files: tuple[FileEntry, ...], message: str) -> None:
    data = FileList(files).to_bytes()
    with pytest.raises(ManifestError, match=message):
        FileList.parse(data, manifest(files_md5=md5_bytes(data)))


@pytest.mark.parametrize("data, message", [
    (b"{", "not JSON"),
    (b'{"schema": "other", "files": []}', "not an hdversion file list"),
    (b'{"schema": "hdversion/files", "files": {}}', "files must be a list"),
])
def test_broken_file_lists_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        FileList.parse(data, manifest(files_md5=md5_bytes(data)))


def test_not_json() -> None:
    with pytest.raises(ManifestError, match="not JSON"):
        Manifest.from_json("{")
    with pytest.raises(ManifestError):
        Manifest.from_json(json.dumps([1, 2]))


def test_a_tag_message_stays_small_whatever_the_number_of_files() -> None:
    """20,000 files in one directory output: the tag holds one entry for it; the file list
    (in the commit) holds the files and is checked against it."""
    members = tuple(FileEntry(f"data/images/img_{i:05d}.bin", f"{i:032x}", 12)
                    for i in range(20_000))
    listing = FileList(members).to_bytes()
    tag = manifest(outputs=[{"path": "data/images", "md5": "a" * 32 + ".dir",
                             "size": 240_000, "nfiles": 20_000, "store": "dvc"}],
                   total_files=20_000, total_size=240_000, files_md5=md5_bytes(listing))
    assert len(tag.to_json().encode()) < 16 * 1024
    assert len(FileList.parse(listing, tag).files) == 20_000


# -- moved from test_hardening.py (by component) --

def test_a_tag_with_an_invalid_manifest_is_named(project: Project) -> None:
    made = backup(project)
    project.git("tag", "-a", "-m", '{"schema": "hdversion/manifest", "version": 2}',
                "backup/20240101_000000", made["commit"])
    result = project.cli("restore", "--timestamp", "20240101_000000")
    assert_clean_failure(result, 5, "backup/20240101_000000 exists but its manifest is invalid")
