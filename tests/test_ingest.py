"""New artifact bytes are read once before DVC's commit (datastore/ingest.py): hashed, teed
into the cache where DVC would copy, and their hashes given to DVC's state database."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dvc.repo import Repo

from hdversion.datastore.ingest import (
    READ_WHOLE,
    _cache_copies,
    _read,
    _read_small,
    _reflink_works,
    _Store,
    float_seconds,
    ingest_new_files,
    read_files,
)
from hdversion.datastore.store import DirectoryStore
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import md5_bytes
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused


def _cache_object(root: Path, md5: str) -> Path:
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_new_files_are_read_once_cached_and_known_to_dvc(project: Project) -> None:
    with Repo(str(project.root)) as repo:
        ingest_new_files(repo)  # the copied project's files have new inodes: all unknown
    model, study = b"retrained model bytes", b"a new study"
    project.damage("models/keras_mlp_model.h5", model)
    project.damage("models/optuna/study_1.pkl", study)
    # DVC's .dvcignore keeps a file out of a directory output: it must not enter the cache.
    (project.root / ".dvcignore").write_text("*.swp\n")
    (project.root / "models" / "optuna" / "notes.swp").write_bytes(b"editor scratch")

    remote = project.root / "backups" / "files" / "md5"
    with Repo(str(project.root)) as repo:
        assert ingest_new_files(repo, DirectoryStore("local", remote, durable=False)) == 2
        for path, data in (("models/keras_mlp_model.h5", model),
                           ("models/optuna/study_1.pkl", study)):
            md5 = md5_bytes(data)
            for copy in (_cache_object(project.root, md5), remote / md5[:2] / md5[2:]):
                assert copy.read_bytes() == data
                assert copy.stat().st_mode & 0o777 == 0o444
            _meta, hash_info = repo.state.get(str(project.root / path), repo.fs)
            assert hash_info is not None and hash_info.value == md5_bytes(data)
        assert ingest_new_files(repo) == 0  # known now: nothing is read again
    assert not _cache_object(project.root, md5_bytes(b"editor scratch")).exists()
    assert not list((project.root / ".dvc" / "cache").rglob(TEMP_PREFIX + "*"))
    assert not list(remote.rglob(TEMP_PREFIX + "*"))

    backup = json.loads(project.cli("backup", "--json", check=True).stdout)
    recorded = {f["path"]: f["md5"] for f in backup["files"]}
    assert recorded["models/keras_mlp_model.h5"] == md5_bytes(model)
    assert recorded["models/optuna/study_1.pkl"] == md5_bytes(study)
    assert "models/optuna/notes.swp" not in recorded


def test_a_backup_tees_new_bytes_into_the_local_remote(project: Project) -> None:
    project.cli("backup", check=True)
    data = b"retrained once more"
    project.damage("models/keras_mlp_model.h5", data)
    md5 = md5_bytes(data)
    in_remote = project.root / "backups" / "files" / "md5" / md5[:2] / md5[2:]
    proc = start_paused(project.root, PausePoint.AFTER_DVC_COMMIT, "backup")
    try:
        assert in_remote.read_bytes() == data  # there before the push
    finally:
        pause_marker(project.root).unlink()
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def _read_one_small(path: str, info: dict[str, Any], stores: list[_Store]) -> str | None:
    return _read_small([path], {path: info}, stores, None)[0]


@pytest.mark.parametrize("read", [_read, _read_one_small], ids=["streamed", "read whole"])
def test_a_file_changed_while_read_is_left_to_dvc(
        project: Project, read: Callable[[str, dict[str, Any], list[_Store]], str | None]
) -> None:
    path = project.root / "models" / "keras_mlp_model.h5"
    with Repo(str(project.root)) as repo:
        info = repo.fs.info(str(path))
        cache = Path(repo.cache.local.path)
        odb = [_Store(DirectoryStore("cache", cache, durable=False))]
        os.utime(path, ns=(0, 1_000_000_000))  # written again since it was listed
        assert read(str(path), info, odb) is None
        assert read(str(path), repo.fs.info(str(path)), odb) == md5_bytes(path.read_bytes())
        path.unlink()
        assert read(str(path), info, odb) is None
    assert not list((project.root / ".dvc" / "cache").rglob(TEMP_PREFIX + "*"))


def test_small_and_big_files_read_together_each_land_under_their_md5(tmp_path: Path) -> None:
    # Files under READ_WHOLE are read whole 64 to a task, the others streamed, in one pool:
    # every file's md5 must come back under its own path, and each object in each store.
    sizes = [0, 1, 4096, READ_WHOLE - 1, READ_WHOLE, 3 * READ_WHOLE + 5] + [4096] * 150
    infos, expected = {}, {}
    for number, size in enumerate(sizes):
        path = tmp_path / "data" / f"{number:03d}"
        path.parent.mkdir(exist_ok=True)
        data = os.urandom(size)
        path.write_bytes(data)
        stat = path.stat()
        infos[str(path)] = {"size": size, "ino": stat.st_ino, "mtime_ns": stat.st_mtime_ns}
        expected[str(path)] = md5_bytes(data)
    cache, remote = tmp_path / "cache", tmp_path / "remote"
    stores = [_Store(DirectoryStore("cache", cache, durable=False)),
              _Store(DirectoryStore("local", remote, durable=False), best_effort=True)]
    assert read_files(infos, stores) == expected
    for path, md5 in expected.items():
        for objects in (cache, remote):
            stored = objects / md5[:2] / md5[2:]
            assert stored.read_bytes() == Path(path).read_bytes()
            assert stored.stat().st_mode & 0o777 == 0o444
    assert not list(tmp_path.rglob(TEMP_PREFIX + "*"))


def test_float_seconds_is_the_st_mtime_python_gives(tmp_path: Path) -> None:
    # DVC's state database keys a file by the float st_mtime: a hash remembered under a
    # float one bit off is never found again (ns / 1e9 is off for about one time in four).
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    rng = random.Random(28)
    for _ in range(2000):
        ns = rng.randrange(0, 4 * 10**18)
        os.utime(probe, ns=(ns, ns))
        stat = probe.stat()
        assert float_seconds(stat.st_mtime_ns) == stat.st_mtime, ns


def test_links_are_left_to_dvc(tmp_path: Path) -> None:
    assert _cache_copies(["copy"], tmp_path)
    assert not _cache_copies(["hardlink"], tmp_path)
    assert not _cache_copies(["symlink", "copy"], tmp_path)
    # A reflink is free where the file system has it; elsewhere DVC falls back to a copy.
    assert _cache_copies(["reflink", "copy"], tmp_path) is not _reflink_works(tmp_path)
    assert not _cache_copies(["reflink"], tmp_path) or not _reflink_works(tmp_path)
    assert not list(tmp_path.iterdir())  # the reflink probe left nothing


def test_a_local_remote_that_cannot_be_written_is_left_to_the_push(project: Project) -> None:
    project.damage("models/keras_mlp_model.h5", b"retrained")
    (project.root / "backups").write_text("a file where the remote's folder should be")
    with Repo(str(project.root)) as repo:
        objects = project.root / "backups" / "files" / "md5"
        assert ingest_new_files(repo, DirectoryStore("local", objects, durable=False)) > 0
    assert _cache_object(project.root, md5_bytes(b"retrained")).read_bytes() == b"retrained"
    result = project.cli("backup")
    assert result.returncode != 0
    assert "cannot write to the local remote" in result.stderr


def test_a_restore_tells_dvc_what_it_wrote(project: Project) -> None:
    project.cli("backup", check=True)
    original = project.read("models/keras_mlp_model.h5")
    project.damage("models/keras_mlp_model.h5", b"edited by hand")
    project.cli("restore", "--force", check=True)
    assert project.read("models/keras_mlp_model.h5") == original
    with Repo(str(project.root)) as repo:
        assert ingest_new_files(repo) == 0  # the next backup reads nothing again


def test_an_unchanged_workspace_is_known_without_asking_dvc(project: Project) -> None:
    from hdversion.datastore.hashed_record import load_record
    from hdversion.datastore.workspace import _stat_outputs, _stats_digest, _walk_outputs
    from hdversion.ops.project import Project as Opened

    def digest_now() -> str:
        outputs = Opened.open(project.root).store.workspace.outputs()
        return _stats_digest(_stat_outputs(_walk_outputs(project.root, outputs)))

    project.cli("backup", check=True)
    record = load_record(project.root)
    assert record is not None and record.digest == digest_now()
    # Stats as DVC's state database keys them (size, mtime, inode): any write shows.
    project.damage("models/optuna/study_0.pkl", b"x" * 5000)
    assert record.digest != digest_now()
    project.cli("backup", check=True)
    record = load_record(project.root)
    assert record is not None and record.digest == digest_now()


@pytest.mark.parametrize("grown", [False, True], ids=["whole", "grown since walked"])
def test_a_file_system_that_reads_in_pieces_still_gives_the_whole_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grown: bool) -> None:
    # A local file is read whole in one call; a network file system may return less per
    # read (its read size): no local file system here does, so the reads are cut by hand.
    path = tmp_path / "small"
    data = os.urandom(5000)
    path.write_bytes(data)
    stat = path.stat()
    info = {"size": stat.st_size - (1 if grown else 0), "ino": stat.st_ino,
            "mtime_ns": stat.st_mtime_ns}
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, size: real_read(fd, min(size, 1500)))
    found = _read_small([str(path)], {str(path): info}, [], None)
    assert found == [None if grown else md5_bytes(data)]


def test_the_local_remote_is_flushed_before_the_tag_names_what_the_tee_wrote(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tee renames objects into the local remote without an fsync each: one syncfs of
    # its file system must come before the tag (a power cut after it must not empty an
    # object the tag names). No power cut can be made here: the flush itself is watched.
    import hdversion.datastore.store as store_module
    from hdversion import api

    api.backup(repo=project.root, message="first")
    data = b"retrained: teed, then tagged"
    project.damage("models/keras_mlp_model.h5", data)
    md5 = md5_bytes(data)
    remote = project.root / "backups" / "files" / "md5"
    flushed: list[tuple[str, bool, list[str]]] = []

    def watching(real: Callable[[list[Path]], None]) -> Callable[[list[Path]], None]:
        def watched(paths: list[Path]) -> None:
            real(paths)
            flushed.extend((str(path), os.path.isfile(path),
                            project.git("tag", "-l", "backup/*").split()) for path in paths)
        return watched

    for how in ("make_durable", "flush_together"):
        monkeypatch.setattr(store_module, how, watching(getattr(store_module, how)))
    tags_before = project.git("tag", "-l", "backup/*").split()
    made = api.backup(repo=project.root, message="second").backup.tag
    # The new object there, no new tag yet.
    assert (str(remote / md5[:2] / md5[2:]), True, tags_before) in flushed
    assert made not in tags_before


def test_a_local_remote_that_cannot_be_flushed_fails_the_backup_before_its_tag(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # A disk that fails its flush (EIO) cannot be made here: the flush is made to fail.
    # The backup must not tag objects that may not have reached the disk.
    import errno

    import hdversion.datastore.store as store_module
    from hdversion import api
    from hdversion.errors import WriteError

    api.backup(repo=project.root, message="first")
    project.damage("models/keras_mlp_model.h5", b"teed, never flushed")
    tags_before = project.git("tag", "-l", "backup/*").split()

    def failing(paths: list[Path]) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store_module, "make_durable", failing)
    with pytest.raises(WriteError, match="Input/output error"):
        api.backup(repo=project.root, message="second")
    assert project.git("tag", "-l", "backup/*").split() == tags_before
