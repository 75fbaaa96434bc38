"""Prune of many backups (issue 28): a prune reads the file lists of the kept backups only,
keeps the data of the ones removed for the undelete window by what their tags record, reads
no other tag's message beyond the catalog, and writes every tombstone in one git run. Each
shortcut is checked against the outcome it must keep: a broken tag named as old is left
alone and reported, a pin and an alias among many keep theirs, each tombstone buries its
own tag, a directory whose listing no store has keeps its files by the file lists."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hdversion.gitrepo.repo import GitRepo
from hdversion.model.timestamps import format_timestamp
from tests.conftest import Project
from tests.histories import History
from tests.test_newest import add_tags
from tests.test_prune import (
    cache,
    objects_of,
    remote,
)
from tests.test_undelete import with_default_window

PRUNED = "refs/hdversion/pruned/"
DELETED = "refs/hdversion/deleted/"


def hourly(project: Project, count: int) -> tuple[str, list[str]]:
    """A real backup, then `count` backups an hour apart before it (forged from its tag, in
    one fast-import): its tag, and their timestamps newest first."""
    project.cli("backup", check=True)
    real = project.git("tag", "-l", "backup/*").split()[-1]
    now = datetime.now(UTC)
    stamps = [format_timestamp(now - timedelta(hours=h)) for h in range(1, count + 1)]
    add_tags(project, real, stamps)
    return real, stamps


def prune_json(project: Project, *args: str) -> dict:
    result = project.cli("prune", "--json", "--offline", *args)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def refs_under(project: Project, namespace: str) -> dict[str, str]:
    out = project.git("for-each-ref", "--format=%(refname) %(objectname)", namespace)
    return {ref.removeprefix(namespace): sha for ref, sha in
            (line.split(" ") for line in out.splitlines())}


def test_a_broken_tag_named_as_old_is_left_alone_and_reported(project: Project) -> None:
    real, stamps = hourly(project, 30)
    broken = format_timestamp(datetime.now(UTC) - timedelta(days=400))
    add_tags(project, real, [broken], broken=True)
    warning = (f"tag backup/{broken} is not a valid backup (manifest says 20000101_000000): "
               "left alone, its data kept")
    for dry_run in (("--dry-run",), ()):
        result = prune_json(project, "--keep-last", "2", *dry_run)
        assert warning in result["warnings"]
        assert f"backup/{broken}" not in result["removed"]
        assert f"backup/{broken}" not in {b["tag"] for b in result["backups"]}
    assert f"backup/{broken}" in project.git("tag", "-l", "backup/*").split()
    assert set(project.git("tag", "-l", "backup/*").split()) == {
        real, f"backup/{stamps[0]}", f"backup/{broken}"}
    # The text output says it too.
    text = project.cli("prune", "--offline", "--keep-last", "2", "--dry-run")
    assert text.returncode == 0, text.stderr
    assert f"tag backup/{broken} is not a valid backup" in text.stderr


def test_a_pin_and_an_alias_among_many_keep_theirs_and_each_tombstone_buries_its_tag(
        project: Project) -> None:
    real, stamps = hourly(project, 40)
    pinned, aliased = stamps[17], stamps[31]
    assert project.cli("pin", pinned, "-m", "audit").returncode == 0
    alias = project.cli("alias", "set", "prod", aliased)
    assert alias.returncode == 0, alias.stderr
    before = refs_under(project, "refs/tags/backup/")

    result = prune_json(project, "--keep-last", "3")
    decided = {b["tag"]: b for b in result["backups"]}
    assert decided[f"backup/{pinned}"]["reasons"] == ["pinned: audit"]
    assert decided[f"backup/{aliased}"]["reasons"] == ["alias prod"]
    kept = {real, *(f"backup/{s}" for s in (*stamps[:2], pinned, aliased))}
    assert {tag for tag, b in decided.items() if b["keep"]} == kept
    assert set(project.git("tag", "-l", "backup/*").split()) == kept
    removed = sorted(result["removed"])
    assert len(removed) == 41 - len(kept)
    # Every tombstone names the very tag object it buries, and that object is kept for
    # undelete under the same timestamp.
    stones, deleted = refs_under(project, PRUNED), refs_under(project, DELETED)
    assert sorted(f"backup/{t}" for t in stones) == removed == sorted(
        f"backup/{t}" for t in deleted)
    for timestamp, blob in stones.items():
        stone = json.loads(project.git("cat-file", "blob", blob))
        assert stone["tag_object"] == before[timestamp] == deleted[timestamp], timestamp


@pytest.fixture
def windowed(history_template: History, tmp_path: Path) -> History:
    """test_prune's history (seeds 1, 2, 3, 1), its prunes keeping the default undelete
    window."""
    return with_default_window(history_template, tmp_path)


def only_listing(history: History, number: int) -> str:
    """The directory listing of backup `number` that no other backup of the history has."""
    data = history.backups[number]
    others = set().union(*(objects_of(b) for i, b in enumerate(history.backups) if i != number))
    (listing,) = {o["md5"] for o in data["outputs"] if o["md5"].endswith(".dir")} - others
    return listing


def drop_everywhere(history: History, md5: str) -> None:
    for store in (history.project.root / ".dvc" / "cache", history.project.root / "backups"):
        (store / "files" / "md5" / md5[:2] / md5[2:]).unlink()


def test_a_directory_whose_listing_no_store_has_keeps_its_files_by_the_file_list(
        windowed: History) -> None:
    """A backup removed now keeps its data for the undelete window by what its tag records;
    where no store has its directory's listing, the files come from its file list (read
    then, and only then)."""
    seed2 = windowed.backups[1]
    listing = only_listing(windowed, 1)
    drop_everywhere(windowed, listing)
    in_the_directory = {f["md5"] for f in seed2["files"] if f["store"] == "dvc"
                        and f["path"].startswith("models/optuna/")}
    unique = in_the_directory - set().union(*(objects_of(b) for b in windowed.backups
                                              if b is not seed2))
    assert unique
    result = windowed.prune("--keep", "1")
    assert seed2["tag"] in result["removed"]
    assert unique <= remote(windowed) and unique <= cache(windowed)
    # Its other data, by its tag's outputs.
    assert objects_of(seed2) - {listing} <= remote(windowed)


def test_a_lingering_backup_with_an_invalid_file_list_and_no_listing_stops_the_prune(
        windowed: History) -> None:
    """As a kept backup whose file list is invalid counts as DVC reads its commit, one kept
    for the undelete window whose directory's listing no store has stops the prune: its
    files would look unused."""
    seed2 = windowed.backups[1]
    project, tag = windowed.project, seed2["tag"]
    message = project.git("for-each-ref", "--format=%(contents)", f"refs/tags/{tag}").strip()
    human, manifest = message.splitlines()[0], json.loads(message.splitlines()[-1])
    manifest["files_md5"] = "0" * 32  # the file list no longer matches its tag
    commit = project.git("rev-parse", f"{tag}^{{commit}}").strip()
    project.git("tag", "-d", tag)
    text = f"{human}\n\n" + json.dumps(manifest)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=project.root, check=True,
                   input=(f"tag {tag}\nfrom {commit}\ntagger b <b@b> 0 +0000\n"
                          f"data {len(text.encode())}\n{text}\n").encode())
    listing = only_listing(windowed, 1)
    drop_everywhere(windowed, listing)
    tags = set(project.git("tag", "-l", "backup/*").split())
    result = project.cli("prune", "--keep", "1", "--offline")
    assert result.returncode != 0
    assert f"cannot tell which files the directory listing {listing} holds" in result.stderr
    assert set(project.git("tag", "-l", "backup/*").split()) == tags


def test_many_blobs_are_written_in_order_by_one_git_run(tmp_path: Path) -> None:
    """The tombstones' writer: each id names its own bytes, whatever they hold (an empty
    blob, newlines, NUL bytes, the stream's own words)."""
    root = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    contents = [b"", b"{}\n", b"data 3\nget-mark :1\n\0\xff", *(b"%d" % i for i in range(300))]
    ids = GitRepo(root).write_blobs(contents)
    assert len(ids) == len(contents)
    for object_id, data in zip(ids, contents, strict=True):
        assert subprocess.run(["git", "cat-file", "blob", object_id], cwd=root, check=True,
                              capture_output=True).stdout == data
    assert GitRepo(root).write_blobs([]) == []
