"""A backup hashes a `dvc add`ed directory from the last backup's record (datastore/
hashed_record.py): only what changed is read, and the hash it records is always the one DVC
would compute. Each way the shortcut could record a wrong hash is a case here, checked
against the md5s of the files themselves (not DVC's state database, which trusts mtimes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hdversion.datastore.hashed_record import listing_bytes, load_record
from hdversion.datastore.workspace import Snapshot, dir_listing
from hdversion.paths import HASHED_STATS
from hdversion.util.hashing import md5_bytes, md5_file
from tests.conftest import run_cli

# Each case backs up a repository first (a few seconds): the long tier, but for the listing's
# format and one changed file.
DVC = str(Path(sys.executable).with_name("dvc"))
long_tier = pytest.mark.reliability
FILES = {"a.bin": b"a" * 100, "b.bin": b"b" * 200, "sub/c.bin": b"c" * 300,
         "sub/deeper/d.bin": b"d" * 400, "é ü.bin": b"unicode"}


def sh(root: Path, *cmd: str) -> str:
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, (cmd, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Path]:
    """A generic git + DVC repository with a `dvc add`ed folder `data/` and file
    `model.bin`, backed up once (which leaves the record)."""
    root = tmp_path / "plain"
    root.mkdir()
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.email", "t@t")
    sh(root, "git", "config", "user.name", "t")
    sh(root, DVC, "init", "-q")
    # A file a folder rule hides stays hidden, though a later rule would keep it (as git).
    (root / ".dvcignore").write_text("*.tmp\nscratch/\n!x.bin\n")
    for name, data in FILES.items():
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / name).write_bytes(data)
    (root / "model.bin").write_bytes(b"a file output, which DVC hashes")
    sh(root, DVC, "add", "-q", "data", "model.bin")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "data")
    run_cli(root, "backup", check=True)
    assert load_record(root) is not None
    yield root


def truth(root: Path, ignored: tuple[str, ...] = ()) -> str:
    """The hash DVC gives data/, from the bytes themselves."""
    folder = root / "data"
    members = {p.relative_to(folder).as_posix(): md5_file(p)[0]
               for p in folder.rglob("*") if p.is_file()}
    for name in ignored:
        members.pop(name)
    return md5_bytes(listing_bytes(members)) + ".dir"


def snapshot(root: Path, monkeypatch: pytest.MonkeyPatch, quick: bool) -> Snapshot:
    """A backup's snapshot, in this process; `quick`: DVC must not save data/'s stage (the
    record answered), else it must."""
    from dvc.stage import Stage

    from hdversion.ops.project import Project

    real_save = Stage.save
    saved: list[str] = []

    def save(stage: Stage, *args: object, **kwargs: object) -> None:
        saved.append(stage.addressing)
        real_save(stage, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Stage, "save", save)
    workspace = Project.open(root).store.workspace
    snap = workspace.snapshot(workspace.outputs())
    assert ("data.dvc" not in saved) == quick, saved
    return snap


def recorded(snap: Snapshot) -> str:
    return {o.path: o.md5 for o in snap.outputs}["data"]


def rewrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def test_the_listing_is_dvcs_byte_for_byte() -> None:
    members = {"b/x": "0" * 32, "a": "1" * 32, "a b/é": "2" * 32, "a.b": "3" * 32,
               "a/b": "4" * 32}
    assert listing_bytes(members) == dir_listing(sorted(members.items()))


@long_tier
def test_an_unchanged_folder_is_not_hashed_again(plain: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before = load_record(plain)
    snap = snapshot(plain, monkeypatch, quick=True)
    assert before is not None and recorded(snap) == before.outputs["data"].md5 == truth(plain)
    assert len([f for f in snap.files if f.path.startswith("data/")]) == len(FILES)
    # The pointer file the backup keeps is the one `dvc add` wrote.
    assert snap.pointer_files["data.dvc"] == (plain / "data.dvc").read_bytes()


def test_one_changed_file_gives_dvcs_hash_and_pointer_file(
        plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rewrite(plain / "data" / "sub" / "c.bin", b"changed" * 10)
    snap = snapshot(plain, monkeypatch, quick=True)
    assert recorded(snap) == truth(plain)
    # Its object and listing are in the cache: DVC finds the workspace committed, and
    # `dvc add` writes the very pointer file the backup recorded.
    sh(plain, DVC, "add", "-q", "data")
    assert (plain / "data.dvc").read_bytes() == snap.pointer_files["data.dvc"]
    assert "up to date" in sh(plain, DVC, "status")
    assert md5_bytes(b"changed" * 10) in {f.md5 for f in snap.files}


@long_tier
@pytest.mark.parametrize("change", ["added", "removed", "renamed", "folder removed"])
def test_added_removed_and_renamed_files(plain: Path, monkeypatch: pytest.MonkeyPatch,
                                         change: str) -> None:
    data = plain / "data"
    if change == "added":
        (data / "sub" / "new.bin").write_bytes(b"new")
    elif change == "removed":
        (data / "b.bin").unlink()
    elif change == "renamed":
        (data / "b.bin").rename(data / "sub" / "b.bin")
    else:
        for name in ("sub/deeper/d.bin", "sub/c.bin"):
            (data / name).unlink()
        (data / "sub" / "deeper").rmdir()
        (data / "sub").rmdir()
    snap = snapshot(plain, monkeypatch, quick=True)
    assert recorded(snap) == truth(plain)


def written_in_the_records_own_tick(plain: Path) -> None:
    """A racy write: the file changed after it was hashed, within the timestamp granularity,
    so its stats are those recorded. Made here by giving the record the stats the file has
    now and a time no later than its last change (the file system's clock cannot be
    stopped, so the record is moved instead)."""
    target = plain / "data" / "a.bin"
    rewrite(target, b"A" * 100)  # same size
    info = os.stat(target)
    path = plain / HASHED_STATS
    data = json.loads(path.read_bytes())
    data["outputs"]["data"]["files"]["a.bin"] = [
        info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns]
    data["outputs"]["data"]["stamp_ns"] = max(info.st_mtime_ns, info.st_ctime_ns)
    path.write_text(json.dumps(data))


def only_its_ctime_changed(plain: Path) -> None:
    """Rewritten, then its size and mtime put back (as `cp -p` or rsync -t would): only the
    ctime tells, and DVC's state database (size, mtime, inode) would answer the old md5."""
    target = plain / "data" / "b.bin"
    info = os.stat(target)
    rewrite(target, b"B" * 200)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


@long_tier
@pytest.mark.parametrize("change", [written_in_the_records_own_tick, only_its_ctime_changed],
                         ids=lambda change: change.__name__)
def test_a_file_whose_stats_hide_its_change_is_read_again(
        plain: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], None]) -> None:
    change(plain)
    snap = snapshot(plain, monkeypatch, quick=True)
    assert recorded(snap) == truth(plain)


@long_tier
def test_ignored_files_stay_out(plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (plain / "data" / "sub" / "scratch.tmp").write_bytes(b"ignored by *.tmp")
    (plain / "data" / "sub" / "scratch" / "deeper").mkdir(parents=True)
    (plain / "data" / "sub" / "scratch" / "deeper" / "x.bin").write_bytes(b"in scratch/")
    snap = snapshot(plain, monkeypatch, quick=True)
    assert recorded(snap) == truth(plain, ignored=("sub/scratch.tmp",
                                                   "sub/scratch/deeper/x.bin"))


@long_tier
def test_a_dvcignore_change_leaves_the_folder_to_dvc(plain: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # b.bin was hashed and is unchanged, but is no longer DVC's to track.
    (plain / ".dvcignore").write_text("*.tmp\nscratch/\n!x.bin\nb.bin\n")
    snap = snapshot(plain, monkeypatch, quick=False)
    assert recorded(snap) == truth(plain, ignored=("b.bin",))


@long_tier
def test_an_object_gone_from_the_cache_is_put_back_by_dvc(
        plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    md5 = md5_bytes(FILES["a.bin"])
    obj = plain / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.unlink()
    snap = snapshot(plain, monkeypatch, quick=False)
    assert recorded(snap) == truth(plain)
    assert obj.read_bytes() == FILES["a.bin"]


@long_tier
def test_a_missing_output_is_recorded_missing(plain: Path) -> None:
    (plain / "data" / "a.bin").chmod(0o644)
    for path in sorted((plain / "data").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (plain / "data").rmdir()
    result = run_cli(plain, "backup", "--allow-missing", "--json", check=True)
    assert json.loads(result.stdout)["missing"] == ["data"]
    assert "data" not in (load_record(plain) or pytest.fail("no record")).outputs


def test_the_walk_tells_files_folders_and_links_apart(tmp_path: Path) -> None:
    from hdversion.datastore.hashed_record import walk_output

    folder = tmp_path / "out"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a")
    (folder / "sub" / "deeper" / "b.bin").write_bytes(b"bb")
    os.mkfifo(folder / "fifo")  # neither a file nor a folder: not DVC's either
    walk = walk_output(folder) or pytest.fail("no walk")
    info = os.stat(folder / "sub" / "deeper" / "b.bin")
    assert walk.plain and walk.is_dir and walk.device == os.stat(folder).st_dev
    assert walk.files.keys() == {"a.bin", "sub/deeper/b.bin"}
    assert walk.files["sub/deeper/b.bin"] == (2, info.st_mtime_ns, info.st_ino,
                                              info.st_ctime_ns)
    # A link to a file is walked with its target's stats, and makes the walk not plain.
    (folder / "link.bin").symlink_to(folder / "a.bin")
    linked = walk_output(folder) or pytest.fail("no walk")
    assert not linked.plain and linked.files["link.bin"] == linked.files["a.bin"]


def test_a_forgotten_record_is_none_until_kept_back(tmp_path: Path) -> None:
    from hdversion.datastore.hashed_record import (
        Record,
        forget_record,
        keep_record,
        save_record,
    )

    save_record(tmp_path, Record("digest", {}))
    assert forget_record(tmp_path)
    assert load_record(tmp_path) is None  # a run killed now leaves none
    keep_record(tmp_path)
    assert load_record(tmp_path) == Record("digest", {})
    # Only the record set aside by this run's forget comes back: a run that found none
    # leaves none, whatever an earlier one set aside.
    assert forget_record(tmp_path)
    assert not forget_record(tmp_path)
    keep_record(tmp_path)
    assert load_record(tmp_path) is None


@long_tier
def test_an_unchanged_backup_keeps_the_record_a_changed_one_writes_anew(
        plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = plain / HASHED_STATS
    # The backup that made the record may have read files again (written in its own tick)
    # and written a record without them racy; model.bin is DVC's to hash every time.
    snapshot(plain, monkeypatch, quick=True)
    kept = path.read_bytes()
    snapshot(plain, monkeypatch, quick=True)
    assert path.read_bytes() == kept
    target = plain / "data" / "sub" / "c.bin"
    rewrite(target, b"changed" * 10)
    snap = snapshot(plain, monkeypatch, quick=True)
    record = load_record(plain) or pytest.fail("no record")
    info = os.stat(target)
    assert record.outputs["data"].md5 == recorded(snap) == truth(plain)
    assert record.outputs["data"].files["sub/c.bin"] == (
        info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
    # The next one finds it as recorded, and keeps it.
    kept = path.read_bytes()
    snapshot(plain, monkeypatch, quick=True)
    assert path.read_bytes() == kept


@pytest.mark.parametrize(("files", "applies"), [
    ({}, False),
    ({".dvcignore": "# a comment\n\n   \n"}, False),
    ({".dvcignore": "*.tmp\n"}, True),
    ({".dvcignore": "\\#not-a-comment\n"}, True),
    ({".dvcignore": "# only a comment\n", "models/.dvcignore": "scratch/\n"}, True),
    # Below the output's folder: DVC's walk of it reads that one (a plain walk has none).
    ({"models/weights/.dvcignore": "*.tmp\n"}, False),
    ({".dvcignore": b"\xff\xfe not text"}, True),
])
def test_ignore_rules_apply_where_a_dvcignore_above_the_output_holds_a_rule(
        tmp_path: Path, files: dict[str, str | bytes], applies: bool) -> None:
    from hdversion.datastore.hashed_record import ignore_rules_apply

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (tmp_path / name).write_bytes(text)
        else:
            (tmp_path / name).write_text(text)
    assert ignore_rules_apply(tmp_path, "models/weights") is applies


def test_a_dvcignore_that_is_a_folder_counts_as_rules(tmp_path: Path) -> None:
    from hdversion.datastore.hashed_record import ignore_rules_apply

    (tmp_path / ".dvcignore").mkdir()
    assert ignore_rules_apply(tmp_path, "data") is True
