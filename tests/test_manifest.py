"""The manifest schema: what a backup records, validated on every read (version 2: the tag's
summary plus the file list in the commit; version 1: every file in the tag)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from hdversion.errors import ManifestError
from hdversion.model.manifest import (
    HUMAN_LINE_MAX,
    FileEntry,
    FileList,
    Manifest,
    OutputEntry,
)
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


# -- the tag message: a human line, a blank line, the JSON line (issue 24) --

def printable(line: str) -> bool:
    return all(not unicodedata.category(c).startswith("C") for c in line) and \
        "\n" not in line


def test_a_tag_message_is_a_human_line_a_blank_line_and_the_json() -> None:
    made = manifest(message="seed = 1, roc_auc 0.91")
    text = made.to_tag_message()
    assert text.split("\n") == ["seed = 1, roc_auc 0.91", "", made.to_json()]
    assert Manifest.from_tag_message(text) == made
    assert Manifest.from_tag_message(text + "\n") == made  # as git may give it back


@pytest.mark.parametrize("changes, line", [
    ({"message": ""}, "backup of main (backup)"),
    ({"message": " \t "}, "backup of main (backup)"),
    ({"message": "", "branch": None, "kind": "safety"}, "backup of a detached HEAD (safety)"),
    ({"message": "", "branch": "feat/\x1b]0;owned\x07x"}, "backup of feat/]0;ownedx (backup)"),
])
def test_an_empty_message_says_what_the_backup_is_of(changes: dict[str, object],
                                                     line: str) -> None:
    assert manifest(**changes).to_tag_message().split("\n")[0] == line


HOSTILE_MESSAGES = {
    "a megabyte": "x" * 1024 * 1024,
    "newlines": "first\nsecond\r\nthird\n\n{\"schema\": \"hdversion/manifest\"}",
    "escape sequences": "\x1b[2J\x1b[31mred\x1b[0m\x07 bell",
    "unicode line and paragraph separators": "a\u2028b\u2029c\x85d",
    "a right-to-left override": "report\u202etxt.exe",
    "git's record separator": "a\x1eb\x00c",
    "a lone surrogate (an undecodable argv byte)": "caf\udce9",
    "a JSON-looking message": manifest(timestamp="20990101_000000",
                                       message="forged").to_json(),
}


@pytest.mark.parametrize("name", list(HOSTILE_MESSAGES))
def test_a_hostile_message_is_neutralized_in_the_human_line(name: str) -> None:
    """One printable line of at most HUMAN_LINE_MAX characters, encodable for git; the JSON
    line keeps the message whole, and it alone is read back."""
    made = manifest(message=HOSTILE_MESSAGES[name])
    text = made.to_tag_message()
    human, blank, json_line = text.split("\n")
    assert blank == "" and json_line == made.to_json()
    assert human and printable(human) and len(human) <= HUMAN_LINE_MAX, repr(human)
    human.encode()  # git is given bytes: no lone surrogate
    read = Manifest.from_tag_message(text)
    assert read == made and read.message == HOSTILE_MESSAGES[name]
    assert read.timestamp == "20250331_120000"


def test_the_human_line_is_cut_with_an_ellipsis() -> None:
    human = manifest(message="word " * 100).to_tag_message().split("\n")[0]
    assert len(human) == HUMAN_LINE_MAX and human.endswith("word\u2026")
    assert manifest(message="y" * HUMAN_LINE_MAX).to_tag_message().split("\n")[0] == \
        "y" * HUMAN_LINE_MAX


def test_the_old_form_of_a_tag_message_is_still_read() -> None:
    """A tag made before the human line: the message is the JSON line alone (and version 1's
    fixture, written by hdversion 0.1.0)."""
    made = manifest()
    assert Manifest.from_tag_message(made.to_json()) == made
    assert Manifest.from_tag_message(V1_FIXTURE.read_text()).version == 1


@pytest.mark.parametrize("human", [
    "x" * 1024 * 1024,  # a megabyte
    "\x1b[31mred\x1b[0m",  # an escape sequence
    "disagrees with the JSON line",
    "line one\nline two",  # more than one line before the blank one
    "{\"schema\": \"hdversion/manifest\", \"version\": 99}",  # JSON-looking
])
def test_a_hand_made_human_line_is_tolerated_not_trusted(human: str) -> None:
    """Whatever stands before the blank line is not read: the manifest is the JSON line,
    validated as ever."""
    made = manifest(message="what the JSON says")
    read = Manifest.from_tag_message(f"{human}\n\n{made.to_json()}")
    assert read == made and read.message == "what the JSON says"


@pytest.mark.parametrize("text, why", [
    ("a human line\n" + manifest().to_json(), "neither the manifest's JSON line alone"),
    (manifest().to_json() + "\n\nnot json", "not JSON"),  # position decides, not content
    ("human\n\n{\"schema\": \"other\"}", "not an hdversion manifest"),
    ("human\n\n" + json.dumps({**manifest().to_dict(), "version": 99}),
     "newer than this hdversion"),
])
def test_a_tag_message_of_another_layout_is_refused(text: str, why: str) -> None:
    with pytest.raises(ManifestError, match=why):
        Manifest.from_tag_message(text)
