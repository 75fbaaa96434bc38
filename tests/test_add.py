"""`hdversion add` writes what `dvc add` writes (ops/add.py): the same pointer file, the same
`.gitignore` line and the same cache, and DVC finds the workspace committed afterwards; the
folder is teed into the local remote and recorded, so that the next backup reads nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.repo import Repo

from hdversion.datastore.hashed_record import load_record
from hdversion.util.hashing import md5_bytes
from tests.conftest import run_cli

DVC = str(Path(sys.executable).with_name("dvc"))
FILES = {"a.bin": b"a" * 100, "sub/b.bin": b"b" * 5000, "sub/deeper/c.bin": b"c",
         "é.bin": b"unicode", "x.tmp": b"ignored by the .dvcignore"}


def sh(root: Path, *cmd: str) -> str:
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, (cmd, done.stdout, done.stderr)
    return done.stdout


def repository(root: Path) -> Path:
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.email", "t@t")
    sh(root, "git", "config", "user.name", "t")
    sh(root, DVC, "init", "-q")
    (root / ".dvcignore").write_text("*.tmp\n")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "init")
    for name, data in FILES.items():
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / name).write_bytes(data)
    return root


def cache_files(root: Path) -> dict[str, bytes]:
    cache = root / ".dvc" / "cache"
    return {p.relative_to(cache).as_posix(): p.read_bytes()
            for p in cache.rglob("*") if p.is_file()}


def test_add_writes_what_dvc_add_writes(tmp_path: Path) -> None:
    ours, theirs = repository(tmp_path / "ours"), repository(tmp_path / "theirs")
    result = run_cli(ours, "add", "data", "--json", check=True)
    assert json.loads(result.stdout)["pointer_files"] == ["data.dvc"]
    # DVC's state database knows each file's hash, keyed as DVC keys it (asked before any
    # DVC command, which would hash and record the files itself).
    with Repo(str(ours)) as repo:
        paths = [str(ours / "data" / name) for name in FILES if not name.endswith(".tmp")]
        infos = {path: repo.fs.info(path) for path in paths}
        assert {path: hash_info.value if hash_info else None
                for path, _, hash_info in repo.state.get_many(paths, repo.fs, infos)} == {
            path: md5_bytes(Path(path).read_bytes()) for path in paths}
    sh(theirs, DVC, "add", "-q", "data")
    assert (ours / "data.dvc").read_bytes() == (theirs / "data.dvc").read_bytes()
    assert (ours / ".gitignore").read_bytes() == (theirs / ".gitignore").read_bytes()
    assert cache_files(ours) == cache_files(theirs)
    assert "up to date" in sh(ours, DVC, "status")
    # Teed into the local remote and recorded: the backup that follows copies and reads
    # nothing, and records the hash DVC wrote.
    record = load_record(ours)
    assert record is not None and record.outputs["data"].md5 in (ours / "data.dvc").read_text()
    assert (ours / "backups" / "files" / "md5").is_dir()
    sh(ours, "git", "add", "-A")
    sh(ours, "git", "commit", "-qm", "data")
    made = json.loads(run_cli(ours, "backup", "--json", check=True).stdout)
    assert made["tag"].startswith("backup/")
    assert "up to date" in sh(ours, DVC, "status")


@pytest.mark.reliability
def test_add_refuses_a_path_outside_the_project(tmp_path: Path) -> None:
    ours = repository(tmp_path / "ours")
    (tmp_path / "elsewhere").mkdir()
    result = run_cli(ours, "add", str(tmp_path / "elsewhere"))
    assert result.returncode == 2, result.stderr
    assert "is not inside the project" in result.stderr


def test_a_folder_holding_a_tracked_folder_is_refused_as_dvc_refuses_it(tmp_path: Path
                                                                         ) -> None:
    # DVC's index must see data/sub.dvc, though the walk it builds the index by skips the
    # folder being added where that folder holds no stage.
    ours, theirs = repository(tmp_path / "ours"), repository(tmp_path / "theirs")
    for root in (ours, theirs):
        sh(root, DVC, "add", "-q", "data/sub")
    refused = run_cli(ours, "add", "data")
    dvc = subprocess.run([DVC, "add", "data"], cwd=theirs, capture_output=True,
                         text=True)
    assert dvc.returncode != 0 and "overlap" in dvc.stderr.lower()
    assert refused.returncode == 1, refused.stderr
    assert "'data/sub'('data/sub.dvc')" in refused.stderr and "overlap" in refused.stderr
    assert not (ours / "data.dvc").exists()


def test_dvcs_index_is_built_without_walking_into_the_folders_named(tmp_path: Path) -> None:
    # The speed of adding a big new folder rests on DVC's collection asking git's ignore
    # check of each folder before it walks in: were that to change, this fails.
    from hdversion.datastore.workspace import _build_index_without

    ours = repository(tmp_path / "ours")
    sh(ours, DVC, "add", "-q", "data/sub")
    with Repo(str(ours)) as repo:
        _build_index_without(repo, [str(ours / "data")])
        assert list(repo.index.stages) == []
        assert "is_ignored" not in vars(repo.scm)  # git's own check again
    with Repo(str(ours)) as repo:
        _build_index_without(repo, [])
        assert [Path(stage.path).relative_to(ours).as_posix()
                for stage in repo.index.stages] == ["data/sub.dvc"]


@pytest.mark.reliability
def test_a_tracked_folder_is_added_again_by_dvc(tmp_path: Path) -> None:
    ours, theirs = repository(tmp_path / "ours"), repository(tmp_path / "theirs")
    run_cli(ours, "add", "data", check=True)
    sh(theirs, DVC, "add", "-q", "data")
    for root in (ours, theirs):
        (root / "data" / "sub" / "b.bin").write_bytes(b"changed")
        (root / "data" / "new.bin").write_bytes(b"new")
    run_cli(ours, "add", "data", check=True)
    sh(theirs, DVC, "add", "-q", "data")
    assert (ours / "data.dvc").read_bytes() == (theirs / "data.dvc").read_bytes()
    assert "up to date" in sh(ours, DVC, "status")
    # DVC added it: the record no longer answers for it (its stats were not recorded).
    record = load_record(ours)
    assert record is not None and "data" not in record.outputs


def backup_tags(root: Path) -> list[str]:
    return sh(root, "git", "tag", "-l", "backup/*").split()


def test_backup_add_tracks_a_new_folder_and_backs_it_up_in_one_run(tmp_path: Path) -> None:
    ours, theirs = repository(tmp_path / "ours"), repository(tmp_path / "theirs")
    made = json.loads(run_cli(ours, "backup", "--add", "data", "--json", check=True).stdout)
    assert made["added"] == ["data.dvc"] and made["complete"] and not made["skipped"]
    sh(theirs, DVC, "add", "-q", "data")
    assert (ours / "data.dvc").read_bytes() == (theirs / "data.dvc").read_bytes()
    assert (ours / ".gitignore").read_bytes() == (theirs / ".gitignore").read_bytes()
    backed_up = {f["path"]: f["md5"] for f in made["files"] if f["path"].startswith("data/")}
    assert backed_up == {f"data/{name}": md5_bytes(data) for name, data in FILES.items()
                         if not name.endswith(".tmp")}
    assert backup_tags(ours) == [made["tag"]]
    # The pointer file is the user's to commit, as after `hdversion add`.
    assert "?? data.dvc" in sh(ours, "git", "status", "--short")
    assert "up to date" in sh(ours, DVC, "status")
    said = run_cli(ours, "backup", "--add", "data", check=True).stdout
    assert "added: data.dvc (commit it with git)" in said


def test_backup_add_refuses_a_path_outside_the_project_before_any_work(tmp_path: Path
                                                                        ) -> None:
    ours = repository(tmp_path / "ours")
    sh(ours, DVC, "add", "-q", "data")
    (tmp_path / "elsewhere").mkdir()
    result = run_cli(ours, "backup", "--add", str(tmp_path / "elsewhere"))
    assert result.returncode == 2, result.stderr
    assert "is not inside the project" in result.stderr
    assert backup_tags(ours) == []


def test_add_refuses_a_missing_path_and_adds_a_path_named_twice_once(tmp_path: Path) -> None:
    ours = repository(tmp_path / "ours")
    for command in (("add",), ("backup", "--add")):
        result = run_cli(ours, *command, "nosuch")
        assert result.returncode == 2, result.stderr
        assert "nothing to add at nosuch: no such file or folder" in result.stderr
    assert backup_tags(ours) == [] and not (ours / "nosuch.dvc").exists()
    made = json.loads(run_cli(ours, "backup", "--add", "data", "--add", "./data/", "--json",
                              check=True).stdout)
    assert made["added"] == ["data.dvc"]


def test_backup_add_refuses_an_unusable_remote_before_it_adds(tmp_path: Path) -> None:
    ours = repository(tmp_path / "ours")
    result = run_cli(ours, "backup", "--add", "data", "--remote", "nosuch")
    assert result.returncode == 7, result.stderr
    assert "no DVC remote named 'nosuch'" in result.stderr
    assert not (ours / "data.dvc").exists() and backup_tags(ours) == []


def test_a_backup_that_fails_after_its_add_names_the_pointer_files_left(tmp_path: Path
                                                                        ) -> None:
    ours = repository(tmp_path / "ours")
    (ours / "other").mkdir()
    (ours / "other" / "x.bin").write_bytes(b"x")
    sh(ours, DVC, "add", "-q", "other")
    sh(ours, "rm", "-r", "other")
    result = run_cli(ours, "backup", "--add", "data")
    assert result.returncode == 7, result.stderr
    assert "missing critical artifact(s): other" in result.stderr
    assert "data.dvc written by --add: commit with git" in result.stderr
    assert (ours / "data.dvc").exists() and backup_tags(ours) == []
