"""The chain of verified sources (`ops/sources.py`): a backup's git-stored files are read
from its commit and checked against the manifest by one reader, which restore and export
share; copy fills the cache through it before it writes the target."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hdversion.paths import QUARANTINE
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused
from tests.test_errors import assert_clean_failure
from tests.test_restore import MODEL, backup, object_path, workspace_state
from tests.test_trust import forge

FORGED = "20240101_000000"


def forged_with_a_wrong_git_file(project: Project, path: str) -> dict:
    """A backup whose manifest records other bytes for `path` than its commit holds (same
    size): only the md5 check can tell."""
    made = backup(project)
    files = [{**f, "md5": "0" * 32} if f["path"] == path else f for f in made["files"]]
    assert any(f["path"] == path and f["store"] == "git" for f in made["files"])
    forge(project, made, FORGED, 2, files)
    return made


@pytest.mark.parametrize("path, refusal", [
    ("params.yaml", "params.yaml (git blob of backup/" + FORGED + ")"),
    ("dvc.lock", "its commit's dvc.lock does not match the manifest; no file was changed"),
])
def test_restore_refuses_a_git_stored_file_that_is_not_the_manifest_s(
        project: Project, path: str, refusal: str) -> None:
    forged_with_a_wrong_git_file(project, path)
    project.damage(MODEL)
    state = workspace_state(project)
    result = project.cli("restore", "--force", "--timestamp", FORGED)
    assert_clean_failure(result, 5, refusal)
    assert workspace_state(project) == state


def test_export_refuses_a_git_stored_file_that_is_not_the_manifest_s(project: Project) -> None:
    forged_with_a_wrong_git_file(project, "params.yaml")
    output = project.root.parent / "out.tar.gz"
    result = project.cli("export", FORGED, "-o", str(output))
    assert_clean_failure(result, 5, "its commit's params.yaml does not match the manifest; "
                         "no archive was written")
    assert not output.exists()


def test_copy_fills_an_empty_cache_from_a_directory_remote_before_the_target(
        project: Project, tmp_path: Path) -> None:
    """Copy reads through the chain: a directory's listing the cache lacks comes from the
    source (checked by its name), every object is made good in the cache from the source
    before it is put into the target (a damaged cache copy quarantined, then replaced), and
    an object damaged in the source is never copied."""
    first = backup(project)
    project.retrain(2)
    second = backup(project)
    usb = tmp_path / "usb"
    assert project.cli("remote", "add", "usb", str(usb)).returncode == 0
    cache = project.root / ".dvc" / "cache"
    shutil.rmtree(cache / "files")
    bad_in_source, bad_in_cache = (next(f["md5"] for f in made["files"] if f["path"] == MODEL)
                                   for made in (first, second))
    flip(object_path(project.root / "backups", bad_in_source))
    in_cache = object_path(cache, bad_in_cache)
    in_cache.parent.mkdir(parents=True)
    shutil.copyfile(object_path(project.root / "backups", bad_in_cache), in_cache)
    flip(in_cache)

    result = project.cli("copy", "--from", "local", "--to", "usb", "--json")
    assert result.returncode == 5, result.stderr
    report = json.loads(result.stdout)
    assert report["damaged"] == [first["tag"]]
    assert report["copied"] == {second["tag"]: {"name": "usb", "ok": True, "detail": ""}}
    assert not object_path(usb, bad_in_source).exists()
    assert [p.name.split(".")[0] for p in (project.root / QUARANTINE).iterdir()] == [
        bad_in_cache]
    # The target alone restores what was copied, verified.
    shutil.rmtree(cache / "files")
    shutil.rmtree(project.root / "backups")
    restored = project.cli("restore", "--json", "--remote", "usb", "-t", second["timestamp"],
                           "--target", str(tmp_path / "out"))
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["verified"]


def flip(path: Path) -> None:
    """Damage a file at the same size: only a hash can tell."""
    data = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])


@pytest.mark.parametrize("damage, refusal", [
    (lambda data: bytes([data[0] ^ 0xFF]) + data[1:], "(md5 differs from the manifest)"),
    (lambda data: data[:-1], "(shorter than the manifest)"),
    (lambda data: data + b"more", "(md5 differs from the manifest)"),
])
def test_export_verifies_each_object_as_it_enters_the_archive(
        project: Project, tmp_path: Path, damage: Callable[[bytes], bytes],
        refusal: str) -> None:
    """An object re-hashed in the cache, then changed before its turn in the archive (the
    export paused after its first member): the export refuses, no archive is left."""
    made = backup(project)
    files = sorted(made["files"], key=lambda f: f["path"])
    later = next(f for f in reversed(files) if f["store"] == "dvc")
    assert later["path"] != files[0]["path"]
    out = tmp_path / "out"
    out.mkdir()
    proc = start_paused(project.root, PausePoint.BETWEEN_ARCHIVE_MEMBERS, "export",
                        made["timestamp"], "-o", str(out / "a.tar.gz"))
    cached = object_path(project.root / ".dvc" / "cache", later["md5"])
    data = cached.read_bytes()
    cached.chmod(0o644)
    cached.write_bytes(damage(data))
    pause_marker(project.root).unlink()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 5, stderr
    assert f"{later['path']} changed while exporting {refusal}; no archive was written" \
        in stderr
    assert list(out.iterdir()) == []
