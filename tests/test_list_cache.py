"""`list --json` from the cache of rendered records (ops/list_cache.py): used when the tag
is the same object, ignored when it is not or when the cache is not hdversion's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Project

CACHE = Path(".git") / "hdversion-list-cache"
OUTPUT = Path(".git") / "hdversion-list-output"  # the whole output's (ops/list_output.py)
# What a listing the cache serves whole must not load: the manifest's model (no tag is
# read) and logging (nothing to warn of).
LOADS = ("import atexit, sys\n"
         "atexit.register(lambda: print('LOADED', sorted(m for m in sys.modules if m in "
         "('logging', 'hdversion.model.manifest'))))\n"
         "sys.argv = ['hdversion', 'list', '--json', '--offline']\n"
         "from hdversion.cli.app import main\nmain()\n")


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


def test_the_second_listing_comes_from_the_cache_and_is_the_same(project: Project,
                                                                 tmp_path: Path) -> None:
    first = _backed_up_twice(project)
    assert _list(project) == first
    loaded = subprocess.run([sys.executable, "-c", LOADS], cwd=project.root,
                            capture_output=True, text=True, timeout=120)
    assert loaded.stdout.endswith("LOADED []\n"), loaded.stdout[-300:] + loaded.stderr
    # Proof that the cache is read: a record changed there (same shape) is what is shown.
    text = (project.root / CACHE).read_text()
    (project.root / CACHE).write_text(text.replace('"first"', '"from the cache"'))
    (project.root / OUTPUT).unlink()  # else the whole output is served, as it was
    assert '"from the cache"' in _list(project)
    # logging, loaded on first use, still says what went wrong, as a warning.
    project.git("remote", "add", "origin", str(tmp_path / "nowhere.git"))
    fetched = project.cli("list", "--json")
    assert fetched.returncode == 0
    assert "warning: " in fetched.stderr and "--offline skips the fetch" in fetched.stderr


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
    header, *lines = (project.root / CACHE).read_text().split("\n")
    data = json.loads(header)
    rows = [line.split("\t") for line in lines]
    assert len(rows) == 2 and all(len(row) == 5 for row in rows)

    def cache(head: dict[str, object], body: list[list[str]]) -> str:
        return "\n".join([json.dumps(head), *("\t".join(row) for row in body)])
    hostile = [
        "not json",
        cache({**data, "format": 99}, rows),
        cache({**data, "hdversion": "0.0.1"}, rows),
        cache({**data, "layout": "another"}, rows),
        cache(data, [["../../etc", *rows[0][1:]], rows[1]]),
        cache(data, [rows[0], rows[1][:4]]),  # a field short
        cache(data, [rows[0], [*rows[1], "extra"]]),
        cache(data, [rows[0], [*rows[1][:3], '"why"', rows[1][4]]]),  # record and reason
        cache(data, [rows[0], [*rows[1][:3], "", ""]]),  # neither
        cache(data, [rows[0], [*rows[1][:3], "not json", ""]]),
        cache(data, [rows[0], rows[0]]),  # one tag twice
        # Well formed, but one tag's record under every tag's id.
        cache(data, [rows[0], [rows[1][0], *rows[0][1:]]]),
    ]
    for text in hostile:
        (project.root / CACHE).write_text(text)
        (project.root / OUTPUT).unlink(missing_ok=True)
        assert _list(project) == first, text
        assert json.loads((project.root / CACHE).read_text().split("\n")[0]) == data


def test_a_cache_that_cannot_be_written_changes_nothing(project: Project) -> None:
    project.cli("backup", check=True)
    (project.root / CACHE).mkdir()  # a folder where the file would go
    listed = json.loads(_list(project))
    assert len(listed) == 1 and listed[0]["pinned"] is None
    project.cli("pin", listed[0]["tag"].removeprefix("backup/"), "-m", "keep", check=True)
    assert json.loads(_list(project))[0]["pinned"]["reason"] == "keep"


def _add_tags(project: Project, source: str, count: int) -> None:
    """`count` more backup tags with `source`'s manifest and commit, written by one `git
    fast-import` as loose refs (as many backups or a fetch leave them)."""
    manifest = json.loads(project.git("for-each-ref", "--format=%(contents)",
                                      f"refs/tags/{source}").strip().splitlines()[-1])
    commit = project.git("rev-parse", f"{source}^{{commit}}").strip()
    stream = []
    for i in range(count):
        manifest["timestamp"] = f"20200101_00{i // 60:02d}{i % 60:02d}"
        manifest["created_at"] = f"2020-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00"
        text = json.dumps(manifest, separators=(",", ":"))
        stream.append(f"tag backup/{manifest['timestamp']}\nfrom {commit}\n"
                      f"tagger b <b@b> {1577836800 + i} +0000\n"
                      f"data {len(text.encode())}\n{text}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=project.root, check=True,
                   input="".join(stream).encode(), timeout=120)


def _loose_tags(project: Project) -> list[Path]:
    return [p for p in (project.root / ".git/refs/tags/backup").rglob("*") if p.is_file()]


def _tag_ids(project: Project) -> str:
    return project.git("for-each-ref", "--format=%(refname) %(objectname)",
                       "refs/tags/backup/")


def test_many_loose_backup_tags_are_packed_and_list_the_same(project: Project) -> None:
    project.cli("backup", "-m", "first", check=True)
    tag = project.git("tag", "-l", "backup/*").split()[0]
    _list(project)
    assert len(_loose_tags(project)) == 1  # few: left as they are
    _add_tags(project, tag, 60)
    refs = _tag_ids(project)
    assert len(_loose_tags(project)) == 61
    # git busy with its refs (its lock held): the listing goes on, the tags stay loose.
    lock = project.root / ".git/packed-refs.lock"
    lock.write_text("")
    busy = project.cli("list", "--offline")
    assert busy.returncode == 0, busy.stderr
    assert len(_loose_tags(project)) == 61
    lock.unlink()
    listed = json.loads(_list(project))
    assert _loose_tags(project) == []
    assert _tag_ids(project) == refs  # the same tags, the same objects, now packed
    assert sorted(r["tag"] for r in listed) == sorted(
        line.split()[0].removeprefix("refs/tags/") for line in refs.splitlines())
    assert json.loads(_list(project)) == listed
