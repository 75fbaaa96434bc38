"""A push of many objects into a directory remote (`DirectoryStore.put_files`, `put_staged`):
every object staged and verified, then made durable at once by the flush's rule, then
renamed into place. No power cut can be made here: the flush is watched, and made to fail
(EIO) where a disk would."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

import hdversion.datastore.store as store_module
from hdversion.crypto.master import MasterKey
from hdversion.datastore.encrypted import EncryptedStore
from hdversion.datastore.store import FSYNC_FEW, DirectoryStore, Store
from hdversion.errors import VerificationError, WriteError
from hdversion.model.leftovers import is_partial_name
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import md5_bytes, md5_file
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused

BIG = 70 * 1024  # over atomic.FLUSH_ALONE: fsynced alone whatever the count
MASTER = MasterKey("ab" * 16, bytes(range(32)))


def local_files(folder: Path, datas: list[bytes]) -> list[tuple[str, Path]]:
    """Each object's bytes in a file of its own, as the cache holds them."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for number, data in enumerate(datas):
        path = folder / f"object-{number}"
        path.write_bytes(data)
        files.append((md5_bytes(data), path))
    return files


def stored(objects: Path) -> tuple[dict[str, bytes], list[Path]]:
    """A store folder's objects (md5 -> bytes) and what else is there (staged files)."""
    found: dict[str, bytes] = {}
    other: list[Path] = []
    for path in objects.rglob("*"):
        if path.is_dir():
            continue
        if path.parent != objects and not is_partial_name(path.name):
            found[path.parent.name + path.name] = path.read_bytes()
        else:
            other.append(path)
    return found, other


Watched = list[tuple[str, list[str], list[str]]]


def watch_flushes(monkeypatch: pytest.MonkeyPatch, objects: Path) -> Watched:
    """Every flush (how, the paths it makes durable, the objects then under their names)."""
    seen: Watched = []

    def watching(how: str) -> Callable[[list[str]], None]:
        real = getattr(store_module, how)

        def watched(paths: list[str]) -> None:
            seen.append((how, sorted(map(str, paths)), sorted(stored(objects)[0])))
            real(paths)
        return watched

    for how in ("make_durable", "flush_together"):
        monkeypatch.setattr(store_module, how, watching(how))
    return seen


@pytest.mark.parametrize("small_count", [1, FSYNC_FEW, FSYNC_FEW + 1])
def test_objects_are_staged_then_flushed_by_the_flush_rule_then_renamed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_count: int) -> None:
    objects = tmp_path / "remote"
    store = DirectoryStore("local", objects)
    big = os.urandom(BIG)
    smalls = [b"small object %d" % number for number in range(small_count)]
    files = local_files(tmp_path / "cache", [big, *smalls])
    flushes = watch_flushes(monkeypatch, objects)
    counted: list[int] = []
    store.put_files(files, counted.append)

    # Nothing under its name while the bytes were flushed; the flush took the staged files
    # (not their folders: the flush before the tag does those), each once.
    assert flushes and all(names == [] for _how, _paths, names in flushes)
    flushed = {how: paths for how, paths, _names in flushes if paths}
    assert all(Path(path).name.startswith(TEMP_PREFIX)
               for paths in flushed.values() for path in paths)
    if small_count <= FSYNC_FEW:  # a few: fsynced each, no syncfs of the file system
        assert list(flushed) == ["make_durable"]
        assert len(flushed["make_durable"]) == 1 + small_count
    else:
        assert len(flushed["make_durable"]) == 1  # the big one alone
        # One syncfs per file system: a staged file of each folder names it.
        assert {os.path.dirname(path) for path in flushed["flush_together"]} == {
            str(objects / md5_bytes(data)[:2]) for data in smalls}
    found, other = stored(objects)
    assert found == {md5_bytes(data): data for data in (big, *smalls)} and other == []
    assert all((objects / md5[:2] / md5[2:]).stat().st_mode & 0o777 == 0o444
               for md5 in found)
    assert sum(counted) == len(big) + sum(map(len, smalls))


@pytest.mark.parametrize("bad_size", [20, BIG], ids=["small", "big"])
def test_an_object_that_does_not_hash_to_its_name_puts_nothing(
        tmp_path: Path, bad_size: int) -> None:
    objects = tmp_path / "remote"
    store = DirectoryStore("local", objects)
    files = local_files(tmp_path / "cache", [b"good %d" % n for n in range(FSYNC_FEW + 5)])
    bad = tmp_path / "cache" / "bad"
    bad.write_bytes(os.urandom(bad_size))
    claimed = md5_bytes(b"what the manifest says")
    files.insert(10, (claimed, bad))
    with pytest.raises(VerificationError) as refused:
        store.put_files(files)
    where = objects / claimed[:2] / claimed[2:]
    assert refused.value.message == (f"{where}: data hashes to {md5_file(bad)[0]}, expected "
                                     f"{claimed}; not written")
    assert stored(objects) == ({}, [])  # nothing named, no staged file left


def test_a_flush_that_fails_renames_nothing_and_is_a_write_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A disk that fails its flush (EIO) cannot be made here: the flush is made to fail.
    objects = tmp_path / "remote"
    store = DirectoryStore("local", objects)
    files = local_files(tmp_path / "cache", [b"object %d" % n for n in range(FSYNC_FEW + 1)])

    def failing(paths: list[str]) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store_module, "flush_together", failing)
    with pytest.raises(WriteError) as failed:
        store.put_files(files)
    assert failed.value.message == f"cannot write {objects}: Input/output error"
    assert stored(objects) == ({}, [])


def test_a_write_that_fails_stages_nothing_more_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A full disk cannot be made here: a write past the tenth object fails with ENOSPC.
    objects = tmp_path / "remote"
    store = DirectoryStore("local", objects)
    files = local_files(tmp_path / "cache", [b"object %d" % n for n in range(300)])
    real_write_all = store_module.write_all
    writes: list[int] = []

    def filling(fd: int, data: bytes) -> None:
        writes.append(fd)
        if len(writes) > 10:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(store_module, "write_all", filling)
    with pytest.raises(WriteError, match="No space left on device"):
        store.put_files(files)
    assert stored(objects) == ({}, [])
    assert len(writes) < len(files)  # the others stopped


def test_an_encrypted_directory_remote_is_pushed_by_the_same_two_phases(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = tmp_path / "remote"
    store = EncryptedStore(DirectoryStore("local", objects), MASTER)
    datas = [b"secret %d" % n for n in range(FSYNC_FEW + 1)]
    files = local_files(tmp_path / "cache", datas)
    flushes = watch_flushes(monkeypatch, objects)
    counted: list[int] = []
    store.put_files(files, counted.append)
    together = [paths for how, paths, names in flushes if how == "flush_together" and paths]
    assert all(names == [] for _how, _paths, names in flushes)
    found, other = stored(objects)
    # The sealed staged files at once: one syncfs for the folders of all of them.
    assert together and {os.path.dirname(path) for path in together[0]} == {
        str(objects / name[:2]) for name in found}
    assert other == [] and len(found) == len(datas)
    assert all(data.startswith(b"hdvseal1") for data in found.values())
    for data in datas:
        with store.open(md5_bytes(data)) as stream:
            assert stream.read() == data
    assert sum(counted) == sum(map(len, datas))
    # A wrong object: refused as the encrypted store's `put` refuses it, nothing more stored.
    bad = tmp_path / "cache" / "bad"
    bad.write_bytes(b"not what it claims")
    claimed = md5_bytes(b"claimed")
    with pytest.raises(VerificationError) as refused:
        store.put_files([*local_files(tmp_path / "more", [b"another"]), (claimed, bad)])
    assert refused.value.message == (f"{store.where(claimed)}: data hashes to "
                                     f"{md5_bytes(b'not what it claims')}, expected "
                                     f"{claimed}; not written")
    assert stored(objects) == (found, [])


def test_a_store_that_is_not_durable_is_not_flushed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = tmp_path / "cache-like"
    store = DirectoryStore("local", objects, durable=False)
    files = local_files(tmp_path / "cache", [b"object %d" % n for n in range(FSYNC_FEW + 1)])
    flushes = watch_flushes(monkeypatch, objects)
    store.put_files(files)
    assert flushes == []
    assert len(stored(objects)[0]) == len(files)


def test_the_stores_put_files_by_one_contract(tmp_path: Path) -> None:
    # The two-phase put leaves the store as `put_file` one by one does.
    datas = [os.urandom(BIG), *(b"object %d" % n for n in range(FSYNC_FEW + 1))]
    files = local_files(tmp_path / "cache", datas)
    one_by_one = DirectoryStore("local", tmp_path / "one-by-one")
    for md5, path in files:
        one_by_one.put_file(md5, path)
    at_once = DirectoryStore("local", tmp_path / "at-once")
    at_once.put_files(files)
    assert stored(tmp_path / "at-once") == stored(tmp_path / "one-by-one")
    assert isinstance(at_once, Store) and at_once.list().keys() == one_by_one.list().keys()


@pytest.mark.reliability
def test_kill_a_push_between_its_renames(project: Project) -> None:
    """kill -9 of a backup whose push into the local remote renamed one object and not the
    others: every file under an object's name is whole (it hashes to it), the rest are
    staged files the leftovers' rule knows; the next backup completes the remote."""
    project.cli("backup", check=True)
    objects = project.root / "backups" / "files" / "md5"
    names = sorted(stored(objects)[0])
    assert len(names) > 1
    for path in objects.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
            path.unlink()
    proc = start_paused(project.root, PausePoint.BETWEEN_OBJECT_RENAMES, "backup")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    pause_marker(project.root).unlink(missing_ok=True)
    found, other = stored(objects)
    assert len(found) == 1 and all(md5_bytes(data) == md5.removesuffix(".dir")
                                   for md5, data in found.items())
    assert other and all(is_partial_name(path.name) for path in other)
    assert len(project.git("tag").split()) == 1  # no tag over the killed push
    project.cli("backup", check=True)
    found, _other = stored(objects)
    assert sorted(found) == names
    assert all(md5_bytes(data) == md5.removesuffix(".dir") for md5, data in found.items())
