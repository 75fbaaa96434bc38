"""What killed runs leave (model/leftovers.py tells them; ops/operation.remove_leftovers
removes them): partial files of transfers and staged writes, a DVC rwlock file cut short. The
next run removes them and says so; no reader takes them for an object; what another run may
still be writing stays."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hdversion.paths import TEMP_PREFIX
from tests.conftest import Project
from tests.test_restore import MODEL, backup, object_path


def test_partial_files_of_killed_transfers_are_removed(project: Project) -> None:
    backup(project)
    token = "A" * 22
    partials = [project.root / ".dvc/cache/files/md5/ab" / f".{token}.tmp",
                project.root / "backups/files/md5/cd" / f"cdef.{token}.tmp"]
    bystander = project.root / "backups/files/md5/cd/notes.tmp"
    for path in [*partials, bystander]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 1000)
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in partials)
    assert bystander.exists()
    assert "partial file" in result.stderr


@pytest.mark.parametrize("content", [b"", b'{"write": {"/x": {"pid": 1,'],
                         ids=["empty", "cut-short"])
def test_a_broken_dvc_rwlock_left_by_a_kill_is_reset(project: Project, content: bytes) -> None:
    """A kill while DVC rewrites `.dvc/tmp/rwlock` in place leaves it empty or cut short, and
    DVC then refuses every command. It holds no valid lock: the next backup resets it (under
    hdversion's lock and DVC's) and says so, and DVC works again."""
    backup(project)
    project.damage(MODEL, os.urandom(50_000))  # the backup has something to commit
    rwlock = project.root / ".dvc" / "tmp" / "rwlock"
    rwlock.write_bytes(content)
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert "reset .dvc/tmp/rwlock" in result.stderr
    status = project.dvc("status")
    assert status.returncode == 0, status.stderr


def test_a_valid_dvc_rwlock_is_left_alone(project: Project) -> None:
    """Another DVC command's entry (a dead pid's is DVC's own to clear) is a lock, not a
    leftover."""
    backup(project)
    rwlock = project.root / ".dvc" / "tmp" / "rwlock"
    held = b'{"read": {"/elsewhere/file": [{"pid": 1, "cmd": "dvc status"}]}}'
    rwlock.write_bytes(held)
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert "rwlock" not in result.stderr


def test_the_hashed_stats_write_left_by_a_kill_is_removed(project: Project) -> None:
    """The digest of the outputs' stats is written beside its name and renamed: a kill in
    between leaves `.dvc/tmp/.hdversion-tmp-*`, which the next run removes."""
    backup(project)
    left = project.root / ".dvc" / "tmp" / f"{TEMP_PREFIX}4242-0"
    left.write_bytes(b"half a digest")
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert not left.exists()
    assert "partial file" in result.stderr


def test_verify_repair_removes_partial_files_of_a_killed_repair(project: Project) -> None:
    """A killed `verify --repair` leaves DVC's partial upload in the local remote; the
    repair's rerun removes it, as backup, restore and prune do."""
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    partial = object_path(project.root / "backups", md5).with_name(f".{'B' * 22}.tmp")
    partial.write_bytes(b"\0" * 1000)
    result = project.cli("verify", "--repair")
    assert result.returncode == 0, result.stderr
    assert not partial.exists()
    assert "partial file" in result.stderr


@pytest.mark.parametrize(("name", "partial"), [
    (f"{'5b' * 15}.{'A' * 22}.tmp", True),  # DVC's partial download or upload
    (f".{'a-_9' * 5}xy.tmp", True),  # DVC's, with no name before the token
    (f"{TEMP_PREFIX}18d1e3e9{'0' * 22}bd.16454", True),  # hdversion's copy into a remote
    (f"{TEMP_PREFIX}4242-0", True),  # hdversion's staged write
    ("5b" * 15, False),  # an object
    ("5b" * 14 + "ab.dir", False),  # a directory listing
    ("notes.tmp", False),  # no token: not a write of DVC's
    (f"x.{'A' * 21}.tmp", False),
    (f"x.{'A' * 22}.tmp.dir", False),
])
def test_what_a_killed_write_leaves_is_not_an_object(name: str, partial: bool) -> None:
    from hdversion.model.leftovers import is_partial_name

    assert is_partial_name(name) is partial


def test_a_killed_sync_leaves_no_object_in_a_remote_outside_the_repository(
        project: Project, tmp_path: Path) -> None:
    """What a killed sync may leave in a directory remote outside the repository: partial
    writes, never an object. No reader counts them (a listing, verify, the bucket-alone
    listing); the next sync there removes those untouched for an hour (other clones may be
    writing the fresh ones)."""
    made = backup(project)
    disk = tmp_path / "disk2"
    project.cli("remote", "add", "disk2", str(disk), check=True)
    project.cli("sync", "--remote", "disk2", check=True)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    folder = object_path(disk, md5).parent
    old = [folder / f"{TEMP_PREFIX}{md5[2:]}.16454", folder / f"{md5[2:]}.{'C' * 22}.tmp"]
    fresh = folder / f"{TEMP_PREFIX}{md5[2:]}.16455"
    beside = disk / "hdversion" / "backups" / f"{TEMP_PREFIX}16454-0"
    for path in [*old, fresh, beside]:
        path.write_bytes(b"half an object")
    for path in old:
        os.utime(path, (path.stat().st_atime - 7200, path.stat().st_mtime - 7200))

    result = project.cli("sync", "--remote", "disk2")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in old) and fresh.exists()
    assert "partial file" in result.stderr
    listed = json.loads(project.cli("list", "--json", "--remote", "disk2", check=True).stdout)
    assert [b["complete"] for b in listed] == [True]
    verified = project.cli("verify", "--remote", "disk2")
    assert verified.returncode == 0, verified.stderr
    alone = project.cli("list", "--json", "--remote-url", str(disk))
    assert alone.returncode == 0, alone.stderr
    assert [b["tag"] for b in json.loads(alone.stdout)] == [made["tag"]]
    assert TEMP_PREFIX not in alone.stderr  # not a backup that is "skipped"


def _settle(store: Path) -> None:
    """Every folder of a store dated an hour back: as a store untouched for a while is."""
    for folder in [store, *(p for p in store.iterdir() if p.is_dir())]:
        then = folder.stat().st_mtime - 3600
        os.utime(folder, (then, then))


def test_a_store_folder_written_since_the_last_run_is_listed_again(project: Project) -> None:
    """Each run lists only the store folders whose mtime moved since a run found them clean
    (datastore/partials.py): a partial file a killed run leaves moves its folder's mtime, so
    the next run still finds and removes it; a folder as recorded is not listed at all."""
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    cache, remote = project.root / ".dvc/cache/files/md5", project.root / "backups/files/md5"
    _settle(cache)
    _settle(remote)
    project.cli("backup", check=True)  # finds both stores clean, records their folders
    recorded = json.loads((project.root / ".dvc/tmp/hdversion-clean-folders").read_bytes())
    assert md5[:2] in recorded["stores"][str(remote)]

    token = "B" * 22
    killed = [cache / md5[:2] / f"{md5[2:]}.{token}.tmp", remote / md5[:2] / f"{TEMP_PREFIX}1-0"]
    for path in killed:
        path.write_bytes(b"half an object")
    result = project.cli("backup")
    assert result.returncode == 0, result.stderr
    assert not any(path.exists() for path in killed)
    assert "partial file" in result.stderr

    # The shortcut itself: a folder whose mtime is the recorded one is not listed.
    _settle(remote)
    project.cli("backup", check=True)
    folder = remote / md5[:2]
    before = folder.stat()
    unseen = folder / f"{TEMP_PREFIX}2-0"
    unseen.write_bytes(b"made, then the folder's mtime put back")
    os.utime(folder, ns=(before.st_atime_ns, before.st_mtime_ns))
    project.cli("backup", check=True)
    assert unseen.exists()


def test_a_folder_with_a_fresh_partial_in_a_shared_store_is_not_recorded_clean(
        tmp_path: Path) -> None:
    """In a store other clones share, a partial younger than an hour stays (another clone may
    be writing it): its folder is not recorded clean, so a later run still removes it once it
    is old enough, even if the folder is not written again."""
    from hdversion.datastore.partials import remove_partials

    store = tmp_path / "md5"
    (store / "ab").mkdir(parents=True)
    (store / "cd").mkdir()
    fresh = store / "ab" / f"{TEMP_PREFIX}7-0"
    fresh.write_bytes(b"being written")
    _settle(store)
    removed, clean = remove_partials(store, 3600, {})
    assert removed == [] and fresh.exists()
    assert set(clean) == {"cd"}
    then = fresh.stat().st_mtime - 7200
    os.utime(fresh, (then, then))
    removed, clean = remove_partials(store, 3600, clean)
    assert removed == [fresh] and set(clean) == {"cd"}


def test_a_folder_written_moments_ago_is_not_recorded_clean(tmp_path: Path) -> None:
    """A write within the same timestamp tick as the one recorded would not move the mtime:
    a folder is recorded only once its mtime is settled (two seconds old)."""
    from hdversion.datastore.partials import remove_partials

    store = tmp_path / "md5"
    (store / "ab").mkdir(parents=True)
    assert remove_partials(store, 0, {})[1] == {}
    _settle(store)
    assert set(remove_partials(store, 0, {})[1]) == {"ab"}
