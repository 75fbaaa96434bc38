"""Manifest version 2 on real repositories: small tag messages whatever the number of files,
the file list in the backup commit (checked against its tag), version-1 tags still listed and
restored, and any DVC repository (no config/config.yaml) backed up."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hdversion.paths import FILE_LIST
from hdversion.util.hashing import md5_file
from tests.conftest import Project, run_cli
from tests.test_errors import assert_clean_failure
from tests.test_restore import MODEL, backup, restore, workspace_state

V1_FIXTURE = Path(__file__).parent / "fixtures" / "manifest-v1.json"
DVC = str(Path(sys.executable).with_name("dvc"))
MAX_TAG_MESSAGE = 16 * 1024


def tag_message(project: Project, tag: str) -> str:
    return project.git("for-each-ref", "--format=%(contents)", f"refs/tags/{tag}").strip()


def tag_json(project: Project, tag: str) -> str:
    """The tag message's manifest line (the last, after the human line)."""
    return tag_message(project, tag).splitlines()[-1]


@pytest.mark.reliability  # long tier; the fast tier checks 2,000 files and the model 20,000
def test_tag_message_stays_small_with_20000_files(project: Project) -> None:
    """A directory output of 20,000 files: the tag holds one entry for it, the commit the
    per-file list; list and restore still work."""
    folder = project.root / "data" / "images"
    folder.mkdir(parents=True)
    for i in range(20_000):
        (folder / f"img_{i:05d}.bin").write_bytes(i.to_bytes(4, "big") * 3)
    assert project.dvc("add", "-q", "data/images").returncode == 0
    made = backup(project, "-m", "many files")
    message = tag_message(project, made["tag"])
    assert len(message.encode()) < MAX_TAG_MESSAGE, len(message.encode())
    manifest = json.loads(message.splitlines()[-1])
    assert manifest["version"] == 2 and "files" not in manifest
    [images] = [o for o in manifest["outputs"] if o["path"] == "data/images"]
    assert images["nfiles"] == 20_000 and images["size"] == 20_000 * 12
    assert images["md5"].endswith(".dir")
    assert manifest["total_files"] == len(made["files"]) > 20_000

    file_list = json.loads(project.git("show", f"{made['tag']}:{FILE_LIST}"))
    assert len(file_list["files"]) == manifest["total_files"]

    [listed] = json.loads(project.cli("list", "--json", check=True).stdout)
    assert listed["total_files"] == manifest["total_files"]

    member = "data/images/img_12345.bin"
    original = project.read(member)
    project.damage(member, b"broken")
    code, report, stderr = restore(project, "--force", "--only", member)
    assert code == 0, stderr
    assert [f["path"] for f in report["files"]] == [member]
    assert project.read(member) == original


def test_a_directory_of_2000_files_restores_from_its_file_list(project: Project) -> None:
    folder = project.root / "data" / "images"
    folder.mkdir(parents=True)
    for i in range(2_000):
        (folder / f"img_{i:04d}.bin").write_bytes(i.to_bytes(4, "big") * 3)
    assert project.dvc("add", "-q", "data/images").returncode == 0
    made = backup(project)
    manifest = json.loads(tag_json(project, made["tag"]))
    [images] = [o for o in manifest["outputs"] if o["path"] == "data/images"]
    assert images["nfiles"] == 2_000 and "files" not in manifest
    shutil.rmtree(folder)
    code, report, stderr = restore(project, "--force", "--only", "data/images")
    assert code == 0 and report["verified"] is True, stderr
    assert len(list(folder.iterdir())) == 2_000


def write_v1_tag(project: Project, timestamp: str, files: list[dict[str, object]]) -> str:
    """A version-1 backup as hdversion 0.1.0 made it: the fixture's message (written by that
    version) with this repository's files, on a commit without a file list."""
    message = json.loads(V1_FIXTURE.read_text())
    message.update(timestamp=timestamp, files=files,
                   base_commit=project.git("rev-parse", "HEAD").strip())
    head_tree = project.git("rev-parse", "HEAD^{tree}").strip()
    env = {**os.environ, "GIT_INDEX_FILE": str(project.root / ".git" / "v1-index")}

    def git(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(["git", *args], cwd=project.root, env=env, input=stdin,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("read-tree", head_tree)
    for path in ("dvc.lock", "data/raw/heart.csv.dvc"):
        git("update-index", "--add", path)
    commit = git("commit-tree", git("write-tree"), "-p", "HEAD", "-m", "hdversion backup")
    git("tag", "-a", "--cleanup=verbatim", "-F", "-", f"backup/{timestamp}", commit,
        stdin=json.dumps(message, sort_keys=True, separators=(",", ":")))
    return commit


def test_a_version_1_backup_is_listed_and_restored(project: Project) -> None:
    made = backup(project)  # puts the objects in the cache and the local remote
    v1_files = [{k: f[k] for k in ("md5", "path", "size", "store")} for f in made["files"]]
    write_v1_tag(project, "20240101_000000", v1_files)

    listed = {b["timestamp"]: b for b in json.loads(project.cli("list", "--json",
                                                                check=True).stdout)}
    old = listed["20240101_000000"]
    assert old["version"] == 1 and len(old["files"]) == len(v1_files)
    assert old["total_files"] == len(v1_files)
    assert listed[made["timestamp"]]["version"] == 2
    assert "20240101_000000" in project.cli("list", check=True).stdout

    original = project.read(MODEL)
    project.damage(MODEL)
    code, report, stderr = restore(project, "--force", "--timestamp", "20240101_000000")
    assert code == 0, stderr
    assert report["verified"] is True and project.read(MODEL) == original
    assert {f["path"] for f in report["files"]} == {f["path"] for f in v1_files}


def test_a_file_list_that_does_not_match_its_tag_is_refused(project: Project) -> None:
    """A hand-made tag whose commit carries another file list: restore refuses (exit 5) before
    any file changes, and says which backup is invalid."""
    made = backup(project)
    message = json.loads(tag_json(project, made["tag"]))
    message["timestamp"] = "20240101_000000"
    message["files_md5"] = "0" * 32
    project.git("tag", "-a", "--cleanup=verbatim", "-m",
                json.dumps(message, separators=(",", ":")), "backup/20240101_000000",
                made["commit"])
    project.damage(MODEL)
    before = workspace_state(project)
    result = project.cli("restore", "--force", "--timestamp", "20240101_000000")
    assert_clean_failure(result, 5, "backup/20240101_000000", "does not match its tag")
    assert workspace_state(project) == before


def test_any_dvc_repository_without_settings(tmp_path: Path) -> None:
    """git init, dvc init, dvc add one file: no config/config.yaml, no params.yaml, no
    dvc.yaml, and backup, list and restore work."""
    root = tmp_path / "plain"
    root.mkdir()

    def sh(*cmd: str) -> None:
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)

    sh("git", "init", "-q", "-b", "main")
    sh("git", "config", "user.name", "Test")
    sh("git", "config", "user.email", "test@example.invalid")
    sh(DVC, "init", "-q")
    (root / "model.bin").write_bytes(os.urandom(5000))
    sh(DVC, "add", "-q", "model.bin")
    sh("git", "add", "-A")
    sh("git", "commit", "-q", "-m", "plain DVC project")
    original = (root / "model.bin").read_bytes()

    made = run_cli(root, "backup", "--json", check=True)
    data = json.loads(made.stdout)
    assert {f["path"] for f in data["files"]} == {"model.bin", "model.bin.dvc"}
    listed = json.loads(run_cli(root, "list", "--json", check=True).stdout)
    assert [b["tag"] for b in listed] == [data["tag"]]

    (root / "model.bin").chmod(0o644)
    (root / "model.bin").write_bytes(b"ruined")
    restored = run_cli(root, "restore", "--json", check=True)
    assert json.loads(restored.stdout)["verified"] is True
    assert (root / "model.bin").read_bytes() == original
    assert md5_file(root / "model.bin")[0] == next(
        f["md5"] for f in data["files"] if f["path"] == "model.bin")


def test_a_file_named_in_the_settings_must_exist(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()

    def sh(*cmd: str) -> None:
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)

    sh("git", "init", "-q")
    sh(DVC, "init", "-q")
    (root / "model.bin").write_bytes(b"weights")
    sh(DVC, "add", "-q", "model.bin")
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, train.yaml]\n")
    assert_clean_failure(run_cli(root, "backup"), 7, "train.yaml")


# -- the tag message's human line (issue 24) -----------------------------------------------

def retag(project: Project, tag: str, commit: str, message: str) -> None:
    """Replace a tag by one with `message`, as another hdversion (or a hand) made it."""
    project.git("tag", "-d", tag)
    subprocess.run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", tag, commit],
                   cwd=project.root, check=True, capture_output=True, input=message.encode())


def test_git_tag_n1_shows_the_message_and_the_json_stays_the_manifest(
        project: Project) -> None:
    message = "seed = 1\n\x1b[31mretrained\x07 by hand"
    made = backup(project, "-m", message)
    shown = project.git("tag", "-n1", "-l", "backup/*").strip()
    assert re.fullmatch(rf"{made['tag']}\s+seed = 1 \[31mretrained by hand", shown), shown
    human, blank, json_line = tag_message(project, made["tag"]).split("\n")
    assert (human, blank) == ("seed = 1 [31mretrained by hand", "")
    assert json.loads(json_line)["message"] == message  # the message whole, in the JSON
    [listed] = json.loads(project.cli("list", "--json", check=True).stdout)
    assert listed["message"] == message

    unnamed = backup(project)
    assert tag_message(project, unnamed["tag"]).split("\n")[0] == "backup of main (backup)"


def test_a_long_message_makes_a_short_human_line(project: Project) -> None:
    """As long as a command line takes (128 KiB an argument): the human line keeps 100
    characters, the manifest the whole message."""
    message = "a long story " * 9000
    made = backup(project, "-m", message)
    human = tag_message(project, made["tag"]).split("\n")[0]
    assert len(human) == 100 and human.endswith("\u2026")
    [listed] = json.loads(project.cli("list", "--json", check=True).stdout)
    assert listed["message"] == message


def test_old_and_new_tag_messages_list_restore_and_verify(project: Project) -> None:
    """A tag of the old form (the JSON line alone) beside new ones: both listed (and from
    `list --json`'s cache, keyed by the tag object), verified and restored; a tag whose
    human line disagrees with its JSON is read by the JSON."""
    old = backup(project, "-m", "old form")
    retag(project, old["tag"], old["commit"], tag_json(project, old["tag"]))
    assert "\n" not in tag_message(project, old["tag"])
    old_model = project.read(MODEL)
    project.retrain(2)
    new = backup(project, "-m", "new form")
    first = project.cli("list", "--json", check=True).stdout
    assert project.cli("list", "--json", check=True).stdout == first  # from the cache
    listed = {b["tag"]: b["message"] for b in json.loads(first)}
    assert listed == {old["tag"]: "old form", new["tag"]: "new form"}
    assert old["tag"] in project.git("tag", "-n1", "-l", "backup/*")

    # Another object under the same name: the cache does not serve the old record.
    retag(project, new["tag"], new["commit"],
          f"forged: production model\n\n{tag_json(project, new['tag'])}")
    relisted = json.loads(project.cli("list", "--json", "--offline", check=True).stdout)
    assert {b["tag"]: b["message"] for b in relisted} == listed
    assert "forged: production model" not in project.cli("list", check=True).stdout

    checked = project.cli("verify", old["timestamp"], new["timestamp"], "--json", "--offline")
    assert checked.returncode == 0, checked.stderr
    assert [c["ok"] for c in json.loads(checked.stdout)["backups"]] == [True, True]
    code, report, stderr = restore(project, "--force", "--timestamp", old["timestamp"])
    assert code == 0 and report["verified"] is True, stderr
    assert project.read(MODEL) == old_model


def test_a_hostile_human_line_is_tolerated_not_trusted(project: Project) -> None:
    """Made by hand: a megabyte of escape sequences, and a JSON manifest of another backup,
    before the blank line; the backup is listed and restored by its JSON line."""
    made = backup(project, "-m", "the real one")
    other = json.loads(tag_json(project, made["tag"]))
    other.update(timestamp="20990101_000000", message="forged")
    human = "\x1b[2J" * 262_144 + json.dumps(other)
    retag(project, made["tag"], made["commit"], f"{human}\n\n{tag_json(project, made['tag'])}")
    result = project.cli("list", "--json")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    [listed] = json.loads(result.stdout)
    assert (listed["tag"], listed["message"]) == (made["tag"], "the real one")
    project.damage(MODEL)
    code, report, stderr = restore(project, "--force")
    assert code == 0 and report["tag"] == made["tag"] and report["verified"], stderr
