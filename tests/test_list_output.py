"""`list --json` served whole from the cache of its output (ops/list_output.py): the same
bytes and warnings as a listing built from the tags, a new listing the moment any ref it is
made from changes (here, by a fetch or by another process), and a cache file that is not
exactly as hdversion wrote it rebuilt, never an error."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Project

OUTPUT = Path(".git") / "hdversion-list-output"
RECORDS = Path(".git") / "hdversion-list-cache"  # the cache of records (ops/list_cache.py)
BROKEN = "backup/20200101_000000"


def _listed(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    result = project.cli("list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return result


def _built(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """The listing with no cache of hdversion's at all: every tag read and validated."""
    (project.root / OUTPUT).unlink(missing_ok=True)
    (project.root / RECORDS).unlink(missing_ok=True)
    result = _listed(project, *args)
    assert (project.root / OUTPUT).is_file()
    return result


def _served(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """The listing when the whole output's cache is there."""
    assert (project.root / OUTPUT).is_file()
    return _listed(project, *args)


def _retag(project: Project, tag: str, old: str, new: str) -> None:
    """The tag made again under its name, its message with `old` replaced by `new` (as
    another clone's tag of the same second would arrive)."""
    message = project.git("tag", "-l", "--format=%(contents)", tag).strip()
    commit = project.git("rev-list", "-n", "1", tag).strip()
    project.git("tag", "-d", tag)
    project.git("tag", "-a", tag, commit, "-m", message.replace(old, new))


@pytest.fixture(scope="module")
def listed_template(project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three backups, the oldest pruned (a tombstone), one pinned, one with an alias, a
    broken backup tag and an alias whose record does not parse (two warnings): made once,
    copied for each test."""
    root = tmp_path_factory.mktemp("listed") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    for message in ("first", "second", "third"):
        project.cli("backup", "-m", message, check=True)
    project.cli("prune", "--keep-last", "2", "--keep-deleted-within", "7d", check=True)
    assert project.git("for-each-ref", "refs/hdversion/pruned/").strip()
    tags = project.git("tag", "-l", "backup/*").split()
    assert len(tags) == 2
    project.cli("pin", tags[0].removeprefix("backup/"), "-m", "keep", check=True)
    project.cli("alias", "set", "prod", tags[1].removeprefix("backup/"), check=True)
    project.git("tag", "-a", BROKEN, "HEAD", "-m", "not a manifest")
    broken = project.git("rev-parse", BROKEN).strip()
    project.git("update-ref", "refs/hdversion/aliases/bad", broken)
    return root


@pytest.fixture
def listed(listed_template: Path, tmp_path: Path) -> Project:
    root = tmp_path / "project"
    shutil.copytree(listed_template, root, symlinks=True)
    return Project(root)


def test_the_served_output_is_the_built_one_byte_for_byte_warnings_too(listed: Project
                                                                       ) -> None:
    built = _built(listed)
    records = json.loads(built.stdout)
    assert [r["message"] for r in records] == ["third", "second"]
    assert records[1]["pinned"]["reason"] == "keep" and records[0]["aliases"] == ["prod"]
    assert f"skipped tag {BROKEN}" in built.stderr and "skipped alias 'bad'" in built.stderr
    served = _served(listed)
    assert (served.stdout, served.stderr) == (built.stdout, built.stderr)
    # Proof that the bytes come from the cache: a change there (same length) is shown.
    cached = (listed.root / OUTPUT).read_bytes()
    (listed.root / OUTPUT).write_bytes(cached.replace(b'"third"', b'"THIRD"'))
    assert '"THIRD"' in _served(listed).stdout
    # Each filter is its own listing.
    kind = _listed(listed, "--kind", "backup")
    assert kind.stdout == built.stdout and kind.stderr == built.stderr
    assert _listed(listed, "--kind", "safety").stdout == "[]\n"
    assert _built(listed, "--kind", "safety").stdout == "[]\n"


def test_any_change_to_the_refs_is_listed_at_once(listed: Project, tmp_path: Path) -> None:
    newest, older = (r["tag"] for r in json.loads(_built(listed).stdout))

    def fresh() -> list[dict[str, object]]:
        served = json.loads(_served(listed).stdout)
        assert served == json.loads(_built(listed).stdout)
        return served

    # A backup tag made again with another message (another object, the same name).
    _retag(listed, older, '"second"', '"edited"')
    assert [r["message"] for r in fresh()] == ["third", "edited"]
    # A pin moved to another backup, an alias moved.
    listed.cli("unpin", older.removeprefix("backup/"), check=True)
    listed.cli("pin", newest.removeprefix("backup/"), "-m", "newest", check=True)
    assert [r["pinned"] and r["pinned"]["reason"] for r in fresh()] == ["newest", None]
    listed.cli("alias", "set", "prod", older.removeprefix("backup/"), check=True)
    assert [r["aliases"] for r in fresh()] == [[], ["prod"]]
    # A tag another process adds, then deletes.
    added = "backup/20210101_000000"
    message = listed.git("tag", "-l", "--format=%(contents)", older).strip()
    listed.git("tag", "-a", added, f"{older}^{{commit}}", "-m", message.replace(
        older.removeprefix("backup/"), added.removeprefix("backup/")))
    assert [r["tag"] for r in fresh()] == [newest, older, added]
    listed.git("tag", "-d", added)
    assert [r["tag"] for r in fresh()] == [newest, older]
    # A tag the fetch brings from origin (another clone's backup).
    origin = tmp_path / "origin.git"
    listed.git("init", "-q", "--bare", str(origin))
    listed.git("remote", "add", "origin", str(origin))
    listed.git("push", "-q", "origin", "refs/tags/*:refs/tags/*")
    subprocess.run(["git", "tag", "-a", added, f"{older}^{{commit}}", "-m", message.replace(
        older.removeprefix("backup/"), added.removeprefix("backup/"))], cwd=origin,
        check=True, capture_output=True)
    assert [r["tag"] for r in json.loads(_listed(listed).stdout)] == [newest, older, added]


def test_a_cache_not_as_written_is_rebuilt_without_error(listed: Project) -> None:
    built = _built(listed)
    good = (listed.root / OUTPUT).read_bytes()
    head, _, body = good.partition(b"\n")
    header = json.loads(head)

    def file(fields: dict[str, object], text: bytes) -> bytes:
        return json.dumps({**header, **fields}).encode() + b"\n" + text

    hostile = [
        b"", b"\n", b"not json\n" + body, good[:len(good) // 2],  # cut short
        good + b"more",
        file({"format": 99}, body), file({"key": "0" * 64}, body),
        file({"length": len(body) + 1}, body), file({"length": -1}, b""),
        file({"backups": "2"}, body), file({"invalid": [["a"]]}, body),
        file({"invalid": "x"}, body), file({"broken_aliases": {"a": 1}}, body),
        b"\xff\xfe" + good,
    ]
    for text in hostile:
        (listed.root / OUTPUT).write_bytes(text)
        again = _listed(listed)
        assert (again.stdout, again.stderr) == (built.stdout, built.stderr), text[:80]
        assert (listed.root / OUTPUT).read_bytes() == good, text[:80]
    # A folder where the file goes: listed, nothing cached, no error.
    (listed.root / OUTPUT).unlink()
    (listed.root / OUTPUT).mkdir()
    again = _listed(listed)
    assert (again.stdout, again.stderr) == (built.stdout, built.stderr)


def test_a_cache_past_its_bound_is_not_read(listed: Project) -> None:
    built = _built(listed)
    head, _, body = (listed.root / OUTPUT).read_bytes().partition(b"\n")
    # Well formed and under the right key, but past the bound for so few refs (1 MiB and
    # 1 KiB a byte of their listing, under 1 KiB here): not read, rebuilt.
    padded = body + b" " * (4 << 20)
    header = {**json.loads(head), "length": len(padded)}
    (listed.root / OUTPUT).write_bytes(json.dumps(header).encode() + b"\n" + padded)
    again = _listed(listed)
    assert again.stdout == built.stdout
    assert (listed.root / OUTPUT).stat().st_size == len(head) + 1 + len(body)
