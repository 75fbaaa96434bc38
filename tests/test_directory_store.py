"""`DirectoryStore.present` reads only the wanted objects' entries (a backup's check of the
local remote): it must answer exactly what the store's own listing answers (`Store.present`
over `list`), whatever else sits among the objects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hdversion.datastore.store import FSYNC_FEW, DirectoryStore, FolderListings, Store
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import md5_bytes


def test_present_answers_what_the_listing_answers(tmp_path: Path) -> None:
    objects = tmp_path / "files" / "md5"
    store = DirectoryStore("local", objects)
    kept = {md5_bytes(bytes([n]) * (n + 1)): bytes([n]) * (n + 1) for n in range(20)}
    for md5, data in kept.items():
        (objects / md5[:2]).mkdir(parents=True, exist_ok=True)
        (objects / md5[:2] / md5[2:]).write_bytes(data)
    short = next(iter(kept))
    (objects / short[:2] / short[2:]).write_bytes(b"x")  # present, at another size
    # Not objects: a folder and a link under an object's name, a staged write, a README
    # and what sits beside the objects' folder (a wanted name must not climb out).
    folder, link, staged = (md5_bytes(bytes([n])) for n in (101, 102, 103))
    (objects / folder[:2] / folder[2:]).mkdir(parents=True)
    (objects / link[:2]).mkdir(exist_ok=True)
    os.symlink(objects / short[:2] / short[2:], objects / link[:2] / link[2:])
    (objects / staged[:2]).mkdir(exist_ok=True)
    (objects / staged[:2] / f"{TEMP_PREFIX}1-1").write_bytes(b"partial")
    (objects / "README").write_text("not an object")
    (tmp_path / "files" / "secret").write_text("outside the objects")
    wanted = [*kept, folder, link, staged, "0" * 32, "..secret", "../secret", "READMEx",
              "zz" + "0" * 30]

    answer = store.present(wanted)
    assert answer == Store.present(store, wanted)
    assert set(answer) == set(kept)
    assert answer[short].size == 1
    assert all(answer[md5].size == len(data) for md5, data in kept.items() if md5 != short)


def _tree(root: Path) -> dict[str, tuple[bool, bytes | None, int]]:
    found = {}
    for path in sorted(root.rglob("*")):
        kind = path.is_symlink() or path.is_dir()
        found[path.relative_to(root).as_posix()] = (
            kind, None if kind else path.read_bytes(), path.lstat().st_mode & 0o777)
    return found


def test_write_new_with_folder_listings_does_what_a_stat_each_does(tmp_path: Path) -> None:
    # Ingest's tee asks one listing per folder whether an object is there, not a stat per
    # object: the store must end the same either way, whatever sits under the names.
    new, held, under_folder, under_link = (bytes([n]) * 100 for n in range(4))
    results = {}
    for way in ("stat", "listed"):
        objects = tmp_path / way / "files" / "md5"
        store = DirectoryStore("local", objects, durable=False)
        md5 = {data: md5_bytes(data) for data in (new, held, under_folder, under_link)}
        for data in (held, under_link):
            (objects / md5[data][:2]).mkdir(parents=True, exist_ok=True)
        (objects / md5[held][:2] / md5[held][2:]).write_bytes(b"other bytes, same name")
        (objects / md5[under_folder][:2] / md5[under_folder][2:]).mkdir(parents=True)
        os.symlink(objects / md5[held][:2] / md5[held][2:],
                   objects / md5[under_link][:2] / md5[under_link][2:])
        listed = FolderListings(store) if way == "listed" else None
        errors = []
        for data in (new, held, under_folder, under_link, new):
            try:
                store.write_new(md5[data], data, listed)
            except OSError as exc:
                errors.append((md5[data], type(exc)))
        results[way] = (_tree(tmp_path / way), errors)
    assert results["listed"] == results["stat"]
    tree, errors = results["listed"]
    assert errors == [(md5_bytes(under_folder), IsADirectoryError)]
    key = f"files/md5/{md5_bytes(new)[:2]}/{md5_bytes(new)[2:]}"
    assert tree[key] == (False, new, 0o444)
    assert tree[f"files/md5/{md5_bytes(held)[:2]}/{md5_bytes(held)[2:]}"][1] == \
        b"other bytes, same name"  # held: not written again
    assert not list(tmp_path.rglob(TEMP_PREFIX + "*"))


def test_a_folder_listing_knows_what_this_run_wrote(tmp_path: Path) -> None:
    store = DirectoryStore("local", tmp_path / "objects", durable=False)
    listed = FolderListings(store)
    data = b"written once"
    md5 = md5_bytes(data)
    store.write_new(md5, data, listed)
    first = (tmp_path / "objects" / md5[:2] / md5[2:]).stat()
    store.write_new(md5, data, listed)
    again = (tmp_path / "objects" / md5[:2] / md5[2:]).stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o277])
def test_new_objects_are_read_only_under_any_umask(tmp_path: Path, umask: int) -> None:
    # Created 0o444 where the umask leaves it so (no chmod), changed to it where it does not.
    store = DirectoryStore("local", tmp_path / "objects", durable=False)
    data = b"an object"
    previous = os.umask(umask)
    try:
        store.write_new(md5_bytes(data), data)
    finally:
        os.umask(previous)
    md5 = md5_bytes(data)
    assert (tmp_path / "objects" / md5[:2] / md5[2:]).stat().st_mode & 0o777 == 0o444


@pytest.mark.parametrize("small_count", [1, FSYNC_FEW, FSYNC_FEW + 1])
def test_a_flush_fsyncs_big_objects_and_a_few_small_ones_alone_many_small_ones_together(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_count: int) -> None:
    # A power cut cannot be made here: what is flushed, and how, is watched. A syncfs waits
    # for the whole file system (the cache's copy of a big object's bytes, anything else
    # written there): only many small objects take one; the folders go too (an fsync of a
    # file does not make its rename last).
    import hdversion.datastore.store as store_module

    objects = tmp_path / "objects"
    store = DirectoryStore("local", objects, durable=False)
    big = os.urandom(70 * 1024)
    smalls = [b"small %d" % number for number in range(small_count)]
    for data in (big, *smalls):
        store.write_new(md5_bytes(data), data)
    alone: list[Path] = []
    together: list[Path] = []
    monkeypatch.setattr(store_module, "make_durable", lambda paths: alone.extend(paths))
    monkeypatch.setattr(store_module, "flush_together", lambda paths: together.extend(paths))
    store.flush({md5_bytes(data): len(data) for data in (big, *smalls)})

    def paths(datas: list[bytes]) -> list[Path]:
        files = [objects / md5_bytes(data)[:2] / md5_bytes(data)[2:] for data in datas]
        return sorted({*files, *(path.parent for path in files)})

    if small_count <= FSYNC_FEW:
        assert sorted(map(Path, alone)) == paths([big, *smalls]) and together == []
    else:
        assert sorted(map(Path, alone)) == paths([big])
        # One syncfs per file system of the folders: each folder of a small object (and the
        # store's own, which holds their entries) named by some path in it.
        assert {os.path.dirname(path) for path in together} == {
            os.path.dirname(path) for path in paths(smalls)}


def test_a_flush_of_an_object_deleted_meanwhile_says_so(tmp_path: Path) -> None:
    # A prune from another clone may delete an object between the backup's check of the
    # remote and its flush: not "cannot write", but what happened.
    from hdversion.errors import RemoteError

    store = DirectoryStore("local", tmp_path / "objects", durable=False)
    data = b"deleted meanwhile"
    store.write_new(md5_bytes(data), data)
    store.delete([md5_bytes(data)])
    with pytest.raises(RemoteError, match="is gone from local since it was checked"):
        store.flush({md5_bytes(data): len(data)})
