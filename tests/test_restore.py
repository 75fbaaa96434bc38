"""restore: verified before any file is touched, atomic, with a safety backup."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hdversion.paths import QUARANTINE, TEMP_PREFIX
from hdversion.util.hashing import md5_file
from hdversion.util.pausepoints import PausePoint
from tests.conftest import (
    HDVERSION,
    Project,
    pause_marker,
    start_paused,
    watch_renames_into_cache,
)
from tests.test_errors import assert_clean_failure

MODEL = "models/keras_mlp_model.h5"


def backup(project: Project, *args: str) -> dict:
    result = project.cli("backup", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def restore(project: Project, *args: str) -> tuple[int, dict, str]:
    result = project.cli("restore", "--json", *args)
    return result.returncode, json.loads(result.stdout or "{}"), result.stderr


def workspace_state(project: Project) -> dict[str, bytes]:
    """Every file outside .git/.dvc, by content: to prove that nothing was touched."""
    state = {}
    for path in project.root.rglob("*"):
        rel = path.relative_to(project.root).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".dvc/", "backups/", "logs/")):
            state[rel] = path.read_bytes()
    return state


def test_restore_latest_after_damage_is_verified(project: Project) -> None:
    made = backup(project)
    original = project.read(MODEL)
    project.damage(MODEL)
    code, report, _ = restore(project)
    assert code == 0
    assert report["tag"] == made["tag"]
    assert project.read(MODEL) == original
    assert report["verified"] is True
    by_path = {f["path"]: f for f in report["files"]}
    assert by_path[MODEL]["action"] == "restored"
    assert all(f["verified"] for f in report["files"])
    assert project.dvc("status").stdout.strip() == "Data and pipelines are up to date."


def test_restore_makes_a_safety_backup_of_unsaved_changes(project: Project) -> None:
    made = backup(project)
    project.damage(MODEL, b"a model nobody backed up")
    code, report, _ = restore(project, "--timestamp", made["timestamp"])
    assert code == 0
    safety = report["safety_backup"]
    assert safety and safety != made["tag"]
    listed = json.loads(project.cli("list", "--json", check=True).stdout)
    kept = next(b for b in listed if b["tag"] == safety)
    assert kept["kind"] == "safety"
    # "The latest" is still the regular backup, not the state the restore replaced...
    code, again, _ = restore(project)
    assert code == 0 and again["tag"] == made["tag"]
    # ...and the unsaved model can be brought back from the safety backup by its timestamp.
    code, _, _ = restore(project, "--timestamp", kept["timestamp"], "--force")
    assert code == 0
    assert project.read(MODEL) == b"a model nobody backed up"


def test_restore_force_skips_safety_backup(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    code, report, _ = restore(project, "--force")
    assert code == 0 and report["safety_backup"] is None
    assert len(json.loads(project.cli("list", "--json").stdout)) == 1


def test_no_safety_backup_when_workspace_is_already_backed_up(project: Project) -> None:
    first = backup(project)
    project.retrain(seed=5)
    backup(project)
    code, report, _ = restore(project, "--timestamp", first["timestamp"])
    assert code == 0 and report["safety_backup"] is None
    assert project.read("params.yaml") == b"seed: 1\n"
    assert project.dvc("status").stdout.strip() == "Data and pipelines are up to date."


def test_restore_older_backup_restores_pointer_and_git_files(project: Project) -> None:
    first = backup(project)
    first_model = project.read(MODEL)
    project.retrain(seed=9)
    backup(project)
    head, status = project.git("rev-parse", "HEAD"), project.git("status", "--porcelain")
    code, _, _ = restore(project, "--timestamp", first["timestamp"])
    assert code == 0
    assert project.read(MODEL) == first_model
    assert project.read("params.yaml") == b"seed: 1\n"
    assert project.git("show", f"{first['tag']}:dvc.lock") == project.read("dvc.lock").decode()
    assert project.git("rev-parse", "HEAD") == head
    assert project.git("symbolic-ref", "--short", "HEAD").strip() == "main"
    assert status != "" and project.git("status", "--porcelain") == ""  # HEAD is seed 1


def test_restore_into_target_leaves_workspace_alone(project: Project, tmp_path: Path) -> None:
    made = backup(project)
    project.damage(MODEL)
    before = workspace_state(project)
    target = tmp_path / "recovered"
    code, report, _ = restore(project, "--target", str(target))
    assert code == 0 and report["safety_backup"] is None
    assert workspace_state(project) == before
    for entry in made["files"]:
        assert md5_file(target / entry["path"])[0] == entry["md5"]


def test_restore_only_some_paths(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    project.damage("models/sklearn_mlp_model.joblib")
    code, report, _ = restore(project, "--only", MODEL, "--force")
    assert code == 0
    assert [f["path"] for f in report["files"]] == [MODEL]
    assert project.read("models/sklearn_mlp_model.joblib") == b"damaged"
    code, report, _ = restore(project, "--only", "models/optuna")
    assert {f["path"] for f in report["files"]} == {
        f"models/optuna/study_{i}.pkl" for i in range(3)}


def test_restore_only_the_pointer_file_when_it_is_emptied(project: Project) -> None:
    made = backup(project)
    lock = next(f for f in made["files"] if f["path"] == "dvc.lock")
    (project.root / "dvc.lock").write_bytes(b"")
    project.damage(MODEL)
    code, report, stderr = restore(project, "--only", "dvc.lock")
    assert code == 0, stderr
    assert [(f["path"], f["verified"]) for f in report["files"]] == [("dvc.lock", True)]
    data = (project.root / "dvc.lock").read_bytes()
    assert hashlib.md5(data).hexdigest() == lock["md5"] and len(data) == lock["size"]
    assert project.read(MODEL) == b"damaged"  # --only: nothing else
    # A backup makes pointer files from the outputs: an old dvc.lock is no unsaved work.
    assert project.git("tag").split() == [made["tag"]]


def test_dry_run_changes_nothing(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    before = workspace_state(project)
    code, report, _ = restore(project, "--dry-run")
    assert code == 0
    actions = {f["path"]: f["action"] for f in report["files"]}
    assert actions[MODEL] == "would restore"
    assert actions["models/sklearn_mlp_model.joblib"] == "unchanged"
    assert workspace_state(project) == before
    assert len(json.loads(project.cli("list", "--json").stdout)) == 1


def test_restore_from_remote_when_cache_is_gone(project: Project) -> None:
    made = backup(project)
    shutil.rmtree(project.root / ".dvc" / "cache")
    project.damage(MODEL)
    code, report, _ = restore(project, "--force")
    assert code == 0 and report["verified"]
    model = next(f for f in made["files"] if f["path"] == MODEL)
    assert md5_file(project.root / MODEL)[0] == model["md5"]


def corrupt(path: Path) -> None:
    path.chmod(0o644)
    path.write_bytes(b"bit rot")


def object_path(root: Path, md5: str) -> Path:
    return root / "files" / "md5" / md5[:2] / md5[2:]


def test_corrupt_cache_object_is_quarantined_and_fetched_again(project: Project) -> None:
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    corrupt(object_path(project.root / ".dvc" / "cache", md5))
    project.damage(MODEL)
    code, report, _ = restore(project, "--force")
    assert code == 0, report
    assert report["quarantined_objects"] == [md5]
    assert md5_file(project.root / MODEL)[0] == md5
    quarantine = list((project.root / QUARANTINE).iterdir())
    assert [p.read_bytes() for p in quarantine] == [b"bit rot"]


def flip_a_byte(path: Path) -> None:
    """Same-size damage: only hashing the bytes finds it."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def test_same_size_damage_in_the_cache_is_found_as_it_is_written(project: Project) -> None:
    """The cache is hashed once, as the file is staged: a bad object is quarantined there,
    fetched again, and the file restored from the good copy."""
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    cached = object_path(project.root / ".dvc" / "cache", md5)
    flip_a_byte(cached)
    project.damage(MODEL)
    code, report, stderr = restore(project, "--force")
    assert code == 0, stderr
    assert report["quarantined_objects"] == [md5] and report["verified"] is True
    assert md5_file(project.root / MODEL)[0] == md5 == md5_file(cached)[0]
    assert not list((project.root / "models").glob(TEMP_PREFIX + "*"))


def test_a_damaged_directory_listing_in_the_cache_is_repaired_though_no_file_needs_it(
        project: Project) -> None:
    """A file of a directory output to restore, its object whole in the cache, only the
    directory's listing flipped: the restore does not need the listing to stage the file,
    yet hashes it, quarantines it and puts the local remote's copy back, read-only, for
    DVC."""
    made = backup(project)
    out = next(o for o in made["outputs"] if o["md5"].endswith(".dir"))
    listing = out["md5"]
    member = next(f["path"] for f in made["files"] if f["path"].startswith(out["path"] + "/"))
    cached = object_path(project.root / ".dvc" / "cache", listing)
    flip_a_byte(cached)
    project.damage(member)
    code, report, stderr = restore(project, "--force")
    assert code == 0 and report["verified"] is True, stderr
    assert report["quarantined_objects"] == [listing]
    assert md5_file(cached)[0] == listing.removesuffix(".dir")
    assert not cached.stat().st_mode & 0o222


def test_a_listing_is_rebuilt_only_under_its_own_name(project: Project) -> None:
    """Made again from a file list, a listing is kept only if it hashes to its name: a wrong
    member, or a name aimed outside the cache, writes nothing anywhere."""
    from hdversion.ops.cache_objects import rebuild_listings
    from hdversion.ops.project import Project as HdProject

    made = backup(project)
    out = next(o for o in made["outputs"] if o["md5"].endswith(".dir"))
    members = [(f["path"][len(out["path"]) + 1:], f["md5"]) for f in made["files"]
               if f["path"].startswith(out["path"] + "/")]
    cache = project.root / ".dvc" / "cache"
    cached = object_path(cache, out["md5"])
    cached.chmod(0o644)
    cached.unlink()
    hd = HdProject.open(project.root)
    wrong = [(members[0][0], "0" * 32), *members[1:]]
    before = sorted(p for p in project.root.parent.rglob("*") if ".git" not in p.parts)
    assert rebuild_listings(hd, {out["md5"]: wrong}) == []
    assert rebuild_listings(hd, {"../../../../escape.dir": members}) == []
    assert not cached.exists()
    assert sorted(p for p in project.root.parent.rglob("*") if ".git" not in p.parts) == before
    assert rebuild_listings(hd, {out["md5"]: members}) == [out["md5"]]
    assert md5_file(cached)[0] == out["md5"].removesuffix(".dir")
    assert not cached.stat().st_mode & 0o222


def test_an_empty_cache_reads_the_local_remote_in_place_and_falls_back_on_damage(
        project: Project, tmp_path: Path) -> None:
    """With the cache gone, objects are read straight from the local remote (and put in the
    cache in the same pass); a damaged one there gives way to the next remote, and never
    enters the cache."""
    made = backup(project)
    spare = tmp_path / "spare"
    assert project.cli("remote", "add", "spare", str(spare)).returncode == 0
    synced = project.cli("sync", "--remote", "spare")
    assert synced.returncode == 0, synced.stderr
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    flip_a_byte(object_path(project.root / "backups", md5))
    shutil.rmtree(project.root / ".dvc" / "cache")
    for entry in made["files"]:
        if entry["store"] == "dvc":
            project.damage(entry["path"])
    code, report, stderr = restore(project, "--force")
    assert code == 0, stderr
    assert report["verified"] is True
    assert report["fetched_from"]["local"] >= 1 and report["fetched_from"]["spare"] == 1
    for entry in made["files"]:
        assert md5_file(project.root / entry["path"])[0] == entry["md5"]
        if entry["store"] == "dvc":
            assert md5_file(object_path(project.root / ".dvc" / "cache", entry["md5"]))[0] \
                == entry["md5"]
    assert project.dvc("status").stdout.strip() == "Data and pipelines are up to date."


def test_damage_in_the_only_remote_with_an_empty_cache_changes_nothing(project: Project
                                                                       ) -> None:
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    in_remote = object_path(project.root / "backups", md5)
    flip_a_byte(in_remote)
    damaged = in_remote.read_bytes()
    shutil.rmtree(project.root / ".dvc" / "cache")
    project.damage(MODEL, b"current model")
    before = workspace_state(project)
    code, _, stderr = restore(project, "--force")
    assert code == 5 and MODEL in stderr
    assert workspace_state(project) == before
    # A read changes no remote: the damaged copy stays, as evidence (DVC's own fetch, with
    # verify, deleted it there).
    assert in_remote.read_bytes() == damaged
    assert not object_path(project.root / ".dvc" / "cache", md5).exists()
    assert not list((project.root / ".dvc" / "cache").rglob(TEMP_PREFIX + "*"))


def test_corrupt_in_cache_and_remote_refuses_before_touching_anything(project: Project) -> None:
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    corrupt(object_path(project.root / ".dvc" / "cache", md5))
    in_remote = object_path(project.root / "backups", md5)
    corrupt(in_remote)
    damaged = in_remote.read_bytes()
    project.damage(MODEL, b"current model")
    project.damage("models/sklearn_mlp_model.joblib", b"current sklearn")
    before = workspace_state(project)
    code, _, stderr = restore(project, "--force")
    assert code == 5
    assert MODEL in stderr and "no workspace file was changed" in stderr
    assert workspace_state(project) == before
    assert in_remote.read_bytes() == damaged  # the remote is only read


def test_write_error_half_way_leaves_old_files(project: Project) -> None:
    """A real write error: the restore runs under RLIMIT_FSIZE, so the large model cannot be
    staged while the small files can. Nothing is renamed, the staged files are gone."""
    import resource
    import subprocess

    big = os.urandom(300_000)  # larger than the limit below, and than DVC's databases grow
    project.damage(MODEL, big)
    backup(project)
    project.damage(MODEL, b"old keras")
    project.damage("models/sklearn_mlp_model.joblib", b"old sklearn")
    project.damage("data/processed/processed_data.npz", b"old data")
    before = workspace_state(project)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    result = subprocess.run([HDVERSION, "restore", "--force"], cwd=project.root,
                            capture_output=True, text=True, preexec_fn=limit)
    assert result.returncode == 1, result.stderr
    assert "no file was changed" in result.stderr and "File too large" in result.stderr
    assert workspace_state(project) == before
    assert not list(project.root.rglob(TEMP_PREFIX + "*"))


@pytest.mark.parametrize("point, renamed", [(PausePoint.BEFORE_FLUSH, 0),
                                            (PausePoint.BEFORE_RENAME, 0),
                                            (PausePoint.BETWEEN_RENAMES, 1)])
def test_killed_restore_leaves_each_file_old_or_new(project: Project, point: PausePoint,
                                                    renamed: int) -> None:
    import signal

    made = backup(project)
    expected = {f["path"]: f["md5"] for f in made["files"]}
    damaged = ("models/sklearn_mlp_model.joblib", MODEL, "data/processed/processed_data.npz")
    for path in damaged:
        project.damage(path, b"old " + path.encode())
    old = workspace_state(project)
    proc = start_paused(project.root, point, "restore", "--force")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for path, data in workspace_state(project).items():
        if TEMP_PREFIX in path:
            continue
        assert data == old.get(path) or md5_file(project.root / path)[0] == expected.get(path)
    new = [path for path in damaged if project.read(path) != old[path]]
    assert len(new) == renamed  # between the renames: some files new, the others old
    # Staged, never renamed:
    assert len(list(project.root.rglob(TEMP_PREFIX + "*"))) == len(damaged) - renamed
    code, report, _ = restore(project, "--force")
    assert code == 0 and report["verified"]
    assert not list(project.root.rglob(TEMP_PREFIX + "*"))


def test_backup_after_a_killed_restore_takes_no_staged_file(project: Project) -> None:
    import signal

    backup(project)
    project.damage("models/optuna/study_1.pkl", b"old study")  # inside a directory output
    proc = start_paused(project.root, PausePoint.BEFORE_RENAME, "restore", "--force")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((project.root / "models" / "optuna").glob(TEMP_PREFIX + "*"))
    made = backup(project)
    assert not [f["path"] for f in made["files"] if TEMP_PREFIX in f["path"]]
    assert not list(project.root.rglob(TEMP_PREFIX + "*"))


def test_interrupted_restore_removes_its_staged_files(project: Project) -> None:
    import signal

    backup(project)
    project.damage(MODEL, b"old keras")
    before = workspace_state(project)
    proc = start_paused(project.root, PausePoint.BEFORE_RENAME, "restore", "--force")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert workspace_state(project) == before
    assert not list(project.root.rglob(TEMP_PREFIX + "*"))


def test_restore_interrupted_between_renames_leaves_each_file_old_or_new(project: Project
                                                                       ) -> None:
    import signal

    made = backup(project)
    damaged = ("models/sklearn_mlp_model.joblib", MODEL, "data/processed/processed_data.npz")
    for path in damaged:
        project.damage(path, b"old " + path.encode())
    proc = start_paused(project.root, PausePoint.BETWEEN_RENAMES, "restore", "--force")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    expected = {f["path"]: f["md5"] for f in made["files"]}
    new = [path for path in damaged if md5_file(project.root / path)[0] == expected[path]]
    old = [path for path in damaged if project.read(path) == b"old " + path.encode()]
    assert (len(new), len(old)) == (1, 2)
    assert not list(project.root.rglob(TEMP_PREFIX + "*"))  # the others' staged copies


def test_target_that_is_the_workspace_still_gets_a_safety_backup(project: Project) -> None:
    backup(project)
    project.damage(MODEL, b"unsaved work")
    code, report, _ = restore(project, "--target", ".")
    assert code == 0 and report["safety_backup"]


def test_no_safety_backup_for_content_of_another_size_that_is_backed_up(project: Project
                                                                        ) -> None:
    first = backup(project)
    project.damage(MODEL, b"a smaller, newer model")  # another size than the first backup's
    backup(project)
    code, report, _ = restore(project, "--timestamp", first["timestamp"])
    assert code == 0 and report["safety_backup"] is None


def test_a_file_changed_after_writing_fails_the_final_check(project: Project) -> None:
    """The final re-hash catches what happens after the rename (another writer, a bad disk):
    the restore is paused after its renames and the model is spoiled there."""
    backup(project)
    project.damage(MODEL)
    proc = start_paused(project.root, PausePoint.AFTER_RENAME, "restore", "--force", "--json")
    (project.root / MODEL).write_bytes(b"changed behind our back")
    pause_marker(project.root).unlink()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 5, stderr
    report = json.loads(stdout)
    assert report["verified"] is False
    assert [f["path"] for f in report["files"] if f["verified"] is False] == [MODEL]
    assert MODEL in stderr


def test_a_cache_outside_the_repository(project: Project, tmp_path: Path) -> None:
    """`dvc cache dir` (a shared cache, another disk): hdversion finds objects there."""
    shared = tmp_path / "shared-cache"
    assert project.dvc("cache", "dir", str(shared)).returncode == 0
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    cached = shared / "files" / "md5" / md5[:2] / md5[2:]
    assert cached.is_file()
    corrupt(cached)
    project.damage(MODEL)
    code, report, _ = restore(project, "--force")
    assert code == 0 and report["quarantined_objects"] == [md5]
    assert md5_file(project.root / MODEL)[0] == md5


def test_a_file_where_a_folder_of_the_backup_should_be_refuses_and_changes_nothing(
        project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    shutil.rmtree(project.root / "models/optuna")
    (project.root / "models/optuna").write_bytes(b"a file, not the folder")
    before = workspace_state(project)
    code, _, stderr = restore(project, "--force")
    assert code == 1, stderr
    assert "models/optuna is a file, not a folder; no file was changed" in stderr
    assert workspace_state(project) == before
    assert not list(project.root.rglob(TEMP_PREFIX + "*"))


def test_every_staged_file_is_synced_before_its_rename_and_its_folder_after(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is invisible to any test that does not crash the machine, so the calls
    are watched in-process: each staged file made durable before it is renamed over its
    target (a big one fsynced, a small one whole when its file system was synced), and
    each target's folder fsynced after the last rename into it (so the renames last)."""
    from hdversion import api
    from hdversion.util import atomic

    made = backup(project)
    study = next(f["path"] for f in made["files"] if f["path"].startswith("models/optuna/"))
    for path in (MODEL, study, "params.yaml"):
        project.damage(path)
    synced: list[tuple[int, str]] = []  # (event number, real path)
    # (event number, file system, the staged files then with their sizes)
    flushed: list[tuple[int, int, dict[str, int]]] = []
    renamed: list[tuple[int, str, str]] = []
    events = itertools.count()
    real_fsync, real_replace, real_syncfs = os.fsync, os.replace, atomic.sync_filesystem

    def fsync(fd: int) -> None:
        synced.append((next(events), os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def sync_filesystem(folder: Path) -> None:
        staged = {os.path.realpath(p): p.stat().st_size
                  for p in project.root.rglob(TEMP_PREFIX + "*")}
        flushed.append((next(events), os.stat(folder).st_dev, staged))
        real_syncfs(folder)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real = os.path.realpath(src), os.path.join(os.path.realpath(os.path.dirname(dst)),
                                                   os.path.basename(dst))
        renamed.append((next(events), *real))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(atomic, "sync_filesystem", sync_filesystem)
    assert api.restore(repo=project.root, force=True, offline=True).all_verified
    root = os.path.realpath(project.root)
    into_workspace = [(at, src, dst) for at, src, dst in renamed
                      if os.path.basename(src).startswith(TEMP_PREFIX)
                      and not dst.startswith(os.path.join(root, ".dvc", ""))]
    assert sorted(os.path.relpath(dst, root) for _, _, dst in into_workspace) == \
        sorted([MODEL, study, "params.yaml"])
    for at, src, dst in into_workspace:
        device, size = os.stat(dst).st_dev, os.stat(dst).st_size
        assert any(i < at and path == src for i, path in synced) or any(
            i < at and dev == device and staged.get(src) == size
            for i, dev, staged in flushed), f"{src} not synced"
        folder = os.path.dirname(dst)
        last = max(i for i, _, d in into_workspace if os.path.dirname(d) == folder)
        assert any(i > last and path == folder for i, path in synced), f"{folder} not synced"


def test_damaged_bytes_in_the_only_remote_never_enter_the_cache(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """An object read in place from the local remote is copied into the cache in the same
    pass: that copy goes in only once its bytes hash to its name. Every rename into the cache
    is watched (in-process), since a later re-hash would quarantine a damaged copy and hide
    that it was ever there."""
    from hdversion import api
    from hdversion.errors import HdversionError

    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    remote_copy = object_path(project.root / "backups", md5)
    remote_copy.chmod(0o644)
    data = bytearray(remote_copy.read_bytes())
    data[len(data) // 2] ^= 1  # the same size: read in place, found wrong only by its hash
    remote_copy.write_bytes(bytes(data))
    cache = project.root / ".dvc" / "cache"
    shutil.rmtree(cache)
    project.damage(MODEL)
    before = workspace_state(project)
    damaged = watch_renames_into_cache(monkeypatch, cache)
    with pytest.raises(HdversionError) as refused:
        api.restore(repo=project.root, force=True, offline=True)
    assert refused.value.exit_code == 5
    assert "no workspace file was changed" in str(refused.value)
    assert damaged == []
    assert not object_path(cache, md5).exists()
    assert not list((project.root / QUARANTINE).rglob("*"))  # nothing was ever there
    assert workspace_state(project) == before


def test_a_refused_restore_into_a_new_target_leaves_no_folder(project: Project) -> None:
    """restore --target <a new folder> refused (a damaged object in every store) removes the
    folder it made and the folders made in it (they were left, empty)."""
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    for root in (project.root / ".dvc" / "cache", project.root / "backups"):
        copy = object_path(root, md5)
        copy.chmod(0o644)
        data = bytearray(copy.read_bytes())
        data[len(data) // 2] ^= 1
        copy.write_bytes(bytes(data))
    new = project.root.parent / "new-target"
    result = project.cli("restore", "--target", str(new), "--offline")
    assert result.returncode == 5, result.stderr
    assert "no workspace file was changed" in result.stderr
    assert not new.exists()


def test_an_interrupted_restore_into_a_new_target_leaves_nothing(project: Project) -> None:
    """Ctrl-C (a real SIGINT) with every file staged, none renamed: the new target folder,
    its staged files and the folders they were in are gone."""
    backup(project)
    new = project.root.parent / "new-target"
    proc = start_paused(project.root, PausePoint.BEFORE_RENAME, "restore", "--target",
                        str(new), "--offline")
    assert list(new.rglob(TEMP_PREFIX + "*"))  # stopped with its files staged
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not new.exists()


# -- moved from test_hardening.py (by component) --

STUDIES = "models/optuna"


def tag_message(project: Project, tag: str) -> dict:
    """The manifest a tag carries: its message's last line (after the human line)."""
    message = project.git("for-each-ref", "--format=%(contents)", f"refs/tags/{tag}")
    return json.loads(message.strip().splitlines()[-1])


def add_report_stage(project: Project) -> None:
    """A second stage that reads the Keras model: deleting the model then leaves a missing
    input of another stage."""
    with (project.root / "dvc.yaml").open("a") as stream:
        stream.write(
            "  report:\n"
            f"    cmd: {sys.executable} -c \"import shutil; "
            f"shutil.copy('{MODEL}', 'report.bin')\"\n"
            f"    deps: [{MODEL}]\n"
            "    outs: [report.bin]\n")
    assert project.dvc("repro", "-q").returncode == 0
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "report stage")


def test_a_deleted_artifact_beside_an_edited_one_is_restored(project: Project) -> None:
    add_report_stage(project)
    made = backup(project)
    model, report_bytes = project.read(MODEL), project.read("report.bin")
    (project.root / MODEL).unlink()
    project.damage("report.bin", b"edited by hand")
    code, report, stderr = restore(project)
    assert code == 0, stderr
    assert report["tag"] == made["tag"] and report["verified"] is True
    assert project.read(MODEL) == model and project.read("report.bin") == report_bytes
    safety = report["safety_backup"]
    listed = {b["tag"]: b for b in json.loads(project.cli("list", "--json").stdout)}
    assert listed[safety]["missing"] == [MODEL]


def test_restore_from_a_remote_that_does_not_exist(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    result = project.cli("restore", "--force", "--remote", "nosuch")
    assert_clean_failure(result, 7, "no DVC remote named 'nosuch'")
    assert project.read(MODEL) == b"damaged"


def test_a_restored_directory_output_equals_the_backup(project: Project) -> None:
    made = backup(project)
    extra = project.root / STUDIES / "study_9.pkl"
    extra.write_bytes(b"a study the backup does not have")
    code, report, stderr = restore(project)
    assert code == 0, stderr
    assert not extra.exists()
    actions = {f["path"]: f["action"] for f in report["files"]}
    assert actions[f"{STUDIES}/study_9.pkl"] == "removed"
    assert project.dvc("status").stdout.strip() == "Data and pipelines are up to date."
    # It went into the safety backup first, and comes back from there.
    safety = report["safety_backup"]
    assert safety and safety != made["tag"]
    code, _, stderr = restore(project, "--timestamp", safety.split("/")[1], "--only", STUDIES)
    assert code == 0, stderr
    assert extra.read_bytes() == b"a study the backup does not have"


def test_extra_files_in_a_target_directory_are_kept_and_reported(project: Project,
                                                                 tmp_path: Path) -> None:
    backup(project)
    target = tmp_path / "restored"
    assert restore(project, "--target", str(target))[0] == 0
    extra = target / STUDIES / "mine.pkl"
    extra.write_bytes(b"the user's own file")
    code, report, _ = restore(project, "--target", str(target))
    assert code == 0 and extra.read_bytes() == b"the user's own file"
    assert {f["path"]: f["action"] for f in report["files"]}[f"{STUDIES}/mine.pkl"] == \
        "extra, kept"


def test_a_directory_where_a_file_should_be_changes_nothing(project: Project) -> None:
    backup(project)
    project.damage(MODEL)
    blocked = project.root / "models" / "sklearn_mlp_model.joblib"
    blocked.unlink()
    blocked.mkdir()
    (blocked / "inside").write_text("x")
    before = workspace_state(project)
    result = project.cli("restore", "--force")
    assert_clean_failure(result, 1, "a directory is in its place", "no file was changed")
    assert workspace_state(project) == before
    assert not list(project.root.rglob(".hdversion-tmp-*"))


def test_a_backup_dated_in_the_future_is_not_the_latest(project: Project) -> None:
    made = backup(project)
    message = tag_message(project, made["tag"])
    message["timestamp"] = "20990101_000000"
    subprocess.run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-",
                    "backup/20990101_000000", made["commit"]], cwd=project.root, check=True,
                   input=json.dumps(message).encode(), capture_output=True)
    project.damage(MODEL)
    shown = project.cli("restore", "--dry-run")
    assert f"restoring the latest backup, {made['tag']}" in shown.stdout
    code, report, _ = restore(project, "--force")
    assert code == 0 and report["tag"] == made["tag"] and report["latest"] is True


def test_an_empty_cache_and_an_unreachable_remote_give_a_short_message(
        project: Project) -> None:
    backup(project)
    project.cli("remote", "add", "far", "s3://bucket/x", "--endpoint-url",
                "http://127.0.0.1:9", check=True)
    shutil.rmtree(project.root / ".dvc" / "cache")
    project.damage(MODEL)
    # With the local remote there, the restore skips 'far' and takes the local copy
    # (tests/test_verify.py); gone too, what is left to say is why 'far' could not help.
    shutil.rmtree(project.root / "backups")
    result = project.cli("restore", "--force", "--remote", "far")
    assert_clean_failure(result, 7, "'far'", "cannot reach")
    assert len(result.stderr) < 400, result.stderr


def test_a_damaged_directory_listing_is_fetched_again(project: Project) -> None:
    """A `.dir` object that is still valid JSON, but not the listing its name promises."""
    made = backup(project)
    listing = next(o["md5"] for o in made["outputs"] if o["path"] == STUDIES)
    member = next(f for f in made["files"] if f["path"].startswith(STUDIES + "/"))
    cache = project.root / ".dvc" / "cache"
    dir_object = object_path(cache, listing)
    dir_object.chmod(0o644)
    dir_object.write_text("[]")
    object_path(cache, member["md5"]).unlink()
    project.damage(member["path"])
    code, report, stderr = restore(project, "--force")
    assert code == 0, stderr
    assert listing in report["quarantined_objects"]
    assert md5_file(dir_object)[0] == listing.removesuffix(".dir")
    assert md5_file(project.root / member["path"])[0] == member["md5"]


def test_quarantined_objects_are_shown_to_people(project: Project) -> None:
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    corrupt(object_path(project.root / ".dvc" / "cache", md5))
    project.damage(MODEL)
    result = project.cli("restore", "--force")
    assert result.returncode == 0, result.stderr
    assert md5 in result.stdout and QUARANTINE in result.stdout


def test_dry_run_announces_the_safety_backup_and_claims_no_verification(
        project: Project) -> None:
    backup(project)
    project.damage(MODEL, b"unsaved work")
    code, report, _ = restore(project, "--dry-run")
    assert code == 0
    assert report["would_make_safety_backup"] is True and report["verified"] is None
    human = project.cli("restore", "--dry-run")
    assert "would be backed up first in a safety backup" in human.stdout
    assert len(project.git("tag").split()) == 1


def test_a_non_empty_target_directory(project: Project, tmp_path: Path) -> None:
    """Files of the user's in --target are left alone; files the backup has are replaced."""
    made = backup(project)
    target = tmp_path / "target"
    (target / "models").mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    (target / MODEL).write_bytes(b"an older model")
    code, report, stderr = restore(project, "--target", str(target))
    assert code == 0 and report["verified"] is True, stderr
    assert (target / "notes.txt").read_text() == "mine"
    expected = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    assert md5_file(target / MODEL)[0] == expected
    assert report["safety_backup"] is None
