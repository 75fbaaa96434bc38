"""`DirectoryStore.present` reads only the wanted objects' entries (a backup's check of the
local remote): it must answer exactly what the store's own listing answers (`Store.present`
over `list`), whatever else sits among the objects."""

from __future__ import annotations

import os
from pathlib import Path

from hdversion.datastore.store import DirectoryStore, Store
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
