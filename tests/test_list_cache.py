"""`list --json` from the cache of rendered records (ops/list_cache.py): used when the tag
is the same object, ignored when it is not or when the cache is not hdversion's."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Project

CACHE = Path(".git") / "hdversion-list-cache.json"


def _list(project: Project) -> str:
    result = project.cli("list", "--json", "--offline")
    assert result.returncode == 0, result.stderr
    return result.stdout


def _backed_up_twice(project: Project) -> str:
    project.cli("backup", "-m", "first", check=True)
    project.cli("backup", "-m", "second", check=True)
    first = _list(project)
    assert (project.root / CACHE).is_file()
    return first


def test_the_second_listing_comes_from_the_cache_and_is_the_same(project: Project) -> None:
    first = _backed_up_twice(project)
    assert _list(project) == first
    # Proof that the cache is read: a record changed there (same shape) is what is shown.
    data = json.loads((project.root / CACHE).read_text())
    for entry in data["tags"].values():
        entry["record"] = entry["record"].replace('"first"', '"from the cache"')
    (project.root / CACHE).write_text(json.dumps(data))
    assert '"from the cache"' in _list(project)


def test_a_tag_made_again_with_another_message_is_read_again(project: Project) -> None:
    _backed_up_twice(project)
    tag = json.loads(_list(project))[-1]["tag"]
    message = project.git("tag", "-l", "--format=%(contents)", tag).strip()
    commit = project.git("rev-list", "-n", "1", tag).strip()
    project.git("tag", "-d", tag)
    project.git("tag", "-a", tag, commit, "-m", message.replace('"first"', '"edited"'))
    listed = json.loads(_list(project))
    assert listed[-1]["message"] == "edited"


def test_a_cache_that_is_not_hdversions_is_ignored(project: Project) -> None:
    first = _backed_up_twice(project)
    data = json.loads((project.root / CACHE).read_text())
    hostile = [
        "not json",
        json.dumps({**data, "format": 99}),
        json.dumps({**data, "hdversion": "0.0.1"}),
        json.dumps({**data, "tags": {"../../etc": {"record": "{}"}}}),
        json.dumps({**data, "tags": {k: {"record": 5} for k in data["tags"]}}),
        json.dumps({**data, "tags": {k: {"record": "{}", "invalid": "x"}
                                     for k in data["tags"]}}),
        # Well formed, but one tag's record under every tag's id.
        json.dumps({**data, "tags": {k: next(iter(data["tags"].values()))
                                     for k in data["tags"]}}),
    ]
    for text in hostile:
        (project.root / CACHE).write_text(text)
        assert _list(project) == first, text
        assert json.loads((project.root / CACHE).read_text())["format"] == 1  # rebuilt


def test_a_cache_that_cannot_be_written_changes_nothing(project: Project) -> None:
    project.cli("backup", check=True)
    (project.root / CACHE).mkdir()  # a folder where the file would go
    listed = json.loads(_list(project))
    assert len(listed) == 1 and listed[0]["pinned"] is None
    project.cli("pin", listed[0]["tag"].removeprefix("backup/"), "-m", "keep", check=True)
    assert json.loads(_list(project))[0]["pinned"]["reason"] == "keep"
