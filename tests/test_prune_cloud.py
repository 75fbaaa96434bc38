"""Prune against real cloud servers on 127.0.0.1 and a throwaway bare origin: several clones
sharing one bucket (other clones' backups, uploads whose tag is not pushed yet), an origin that
does not answer, a kept backup that lacks data, and each SDK's listing (sizes, ages)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hdversion.util.hashing import md5_file
from tests.conftest import Project
from tests.storage_servers import StorageServer
from tests.test_cloud import MODEL, PREFIX, configure, write_credentials

pytestmark = pytest.mark.cloud


def objects_of(data: dict) -> set[str]:
    """Every DVC object a backup needs (`backup --json`): its files' and its directory
    listings."""
    return {f["md5"] for f in data["files"] if f["store"] == "dvc"} | {
        o["md5"] for o in data["outputs"] if o["md5"].endswith(".dir") and o["store"] == "dvc"}


def key_of(md5: str) -> str:
    return f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}"


def keys_of(md5s: set[str]) -> set[str]:
    return {key_of(md5) for md5 in md5s}


def stored(top: Path) -> set[str]:
    """The objects a local DVC store (cache or local remote) holds."""
    top = top / "files" / "md5"
    return {p.parent.name + p.name for p in top.glob("*/*") if p.is_file()} \
        if top.is_dir() else set()


@dataclass
class Clone:
    project: Project
    server: StorageServer
    bucket: str

    @property
    def root(self) -> Path:
        return self.project.root

    @property
    def storage(self) -> str:
        return f"--storage={self.server.name}"

    def backup(self, seed: int, *args: str) -> dict:
        self.project.retrain(seed)
        result = self.project.cli("backup", "--json", "--cloud", self.storage, "-m",
                                  f"seed {seed}", *args)
        assert result.returncode == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def prune(self, *args: str, code: int = 0) -> dict:
        result = self.project.cli("prune", "--json", "--cloud", self.storage, *args)
        assert result.returncode == code, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def tags(self) -> set[str]:
        return set(self.project.git("tag", "-l", "backup/*").split())

    def keys(self) -> set[str]:
        return set(self.server.list_keys(self.bucket))

    def local_stores(self) -> tuple[set[str], set[str]]:
        return stored(self.root / ".dvc" / "cache"), stored(self.root / "backups")

    def state(self) -> tuple[set[str], set[str], set[str], set[str]]:
        """Everything prune may change here and in the bucket."""
        return (self.tags(), self.keys(), *self.local_stores())


def origin_tags(origin: Path) -> set[str]:
    out = subprocess.run(["git", "ls-remote", "--refs", str(origin), "refs/tags/*"],
                         check=True, capture_output=True, text=True).stdout
    return {line.split("\t")[1].removeprefix("refs/tags/") for line in out.splitlines()}


def store_of(report: dict, name: str) -> dict:
    [store] = [s for s in report["stores"] if s["store"] == name]
    return store


def make_origin(base: Path) -> Path:
    origin = base / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    return origin


def first_clone(project: Project, server: StorageServer, bucket: str, origin: Path) -> Clone:
    """The project, with the cloud remote's public config committed (it travels through git)
    and pushed to a bare origin; the secrets in the git-ignored credentials file."""
    configure(project, server, bucket)
    project.git("add", ".dvc/config", ".gitignore")
    project.git("commit", "-q", "-m", "cloud remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    return Clone(project, server, bucket)


def another_clone(origin: Path, root: Path, server: StorageServer, bucket: str,
                  restore: bool = True) -> Clone:
    """A clone of origin with the credentials written (they never travel through git), the
    latest backup restored from the bucket (the `dvc add`ed raw data is in no git commit)."""
    subprocess.run(["git", "clone", "-q", str(origin), str(root)], check=True)
    _, secrets = server.dvc_remote_config(bucket)
    write_credentials(root, secrets)
    clone = Clone(Project(root), server, bucket)
    if restore:
        result = clone.project.cli("restore", "--json", "--cloud", clone.storage)
        assert result.returncode == 0, (result.stdout, result.stderr)
    return clone


@pytest.fixture
def s3_bucket(s3_server: StorageServer, bucket_factory: Callable[[StorageServer], str]
              ) -> Iterator[str]:
    yield bucket_factory(s3_server)


@pytest.fixture
def clone_a(project: Project, s3_server: StorageServer, s3_bucket: str, tmp_path: Path
            ) -> Clone:
    return first_clone(project, s3_server, s3_bucket, make_origin(tmp_path))


def origin_of(clone: Clone) -> Path:
    return clone.root.parent / "origin.git"


# 1 -------------------------------------------------------------------------------------------
def test_another_clones_backup_survives_a_prune_here(clone_a: Clone, tmp_path: Path) -> None:
    """A prunes with a tag of B's it has never fetched: prune fetches it, keeps it, and b1 is
    restorable from the bucket in a third clone; a1's tag is gone from origin and the objects
    only a1 used are gone from the bucket, nothing else."""
    a, origin = clone_a, origin_of(clone_a)
    a1 = a.backup(2)
    a2 = a.backup(3)
    b = another_clone(origin, tmp_path / "b", a.server, a.bucket)
    b1 = b.backup(4)
    assert b1["git_remote"]["ok"] and b1["git_remote"]["detail"] == "pushed"
    assert b1["tag"] not in a.tags()  # A has not fetched it
    own_b = objects_of(b1) - objects_of(a1) - objects_of(a2)
    assert own_b and keys_of(own_b) <= a.keys()  # B has objects of its own in the bucket
    before = a.keys()

    report = a.prune("--keep", "1", "--grace", "0")

    assert sorted(report["removed"]) == sorted([a1["tag"], a2["tag"]])
    assert [d["tag"] for d in report["backups"] if d["keep"]] == [b1["tag"]]
    assert origin_tags(origin) == {b1["tag"]}
    assert a.tags() == {b1["tag"]}
    # a2's objects stay: A's workspace uses them. Only a1's own objects go.
    only_a1 = objects_of(a1) - objects_of(a2) - objects_of(b1)
    assert only_a1
    assert a.keys() == before - keys_of(only_a1)
    assert store_of(report, "s3")["deleted"] == len(only_a1)
    assert store_of(report, "s3")["kept_recent"] == 0

    c = another_clone(origin, tmp_path / "c", a.server, a.bucket, restore=False)
    target = tmp_path / "restored"
    result = c.project.cli("restore", "--json", "--cloud", c.storage,
                           f"--timestamp={b1['timestamp']}", "--target", str(target))
    assert result.returncode == 0, (result.stdout, result.stderr)
    for entry in b1["files"]:
        assert md5_file(target / entry["path"])[0] == entry["md5"], entry["path"]


# 2 -------------------------------------------------------------------------------------------
def test_an_upload_whose_tag_is_not_on_origin_yet_stays_for_the_grace_period(
        clone_a: Clone, tmp_path: Path) -> None:
    """B's backup is in the bucket, its tag not on origin (no pause point lies between the
    cloud push and the tag push: B's tag push is turned off instead). A's prune keeps B's
    objects for the grace period, and reports them; `--grace 0` deletes them."""
    a, origin = clone_a, origin_of(clone_a)
    a1 = a.backup(2)
    b = another_clone(origin, tmp_path / "b", a.server, a.bucket)
    before_b = a.keys()
    b.project.retrain(5)
    result = b.project.cli("backup", "--json", "--cloud", b.storage,
                           env={"HDVERSION_GIT_REMOTE": ""})
    assert result.returncode == 0, (result.stdout, result.stderr)
    b1 = json.loads(result.stdout)
    assert b1["tag"] not in origin_tags(origin)
    fresh = a.keys() - before_b
    assert fresh and fresh == keys_of(objects_of(b1) - objects_of(a1))
    before = a.state()

    report = a.prune("--keep", "1")
    assert report["removed"] == []
    s3 = store_of(report, "s3")
    assert s3["shared"] is True
    assert s3["kept_recent"] == len(fresh)
    assert s3["objects"] == 0 and s3["deleted"] == 0 and s3["bytes"] == 0
    assert a.state() == before

    report = a.prune("--keep", "1", "--grace", "0")
    s3 = store_of(report, "s3")
    assert s3["kept_recent"] == 0
    assert s3["objects"] == s3["deleted"] == len(fresh)
    assert a.keys() == before[1] - fresh
    assert a.tags() == before[0] and a.local_stores() == before[2:]


# 3 -------------------------------------------------------------------------------------------
def test_origin_unreachable_refuses_and_no_fetch_tags_keeps_the_shared_store(
        clone_a: Clone) -> None:
    a, origin = clone_a, origin_of(clone_a)
    a1 = a.backup(2)
    a2 = a.backup(3)
    a.project.git("remote", "set-url", "origin", "/nonexistent")
    before = a.state()
    result = a.project.cli("prune", "--keep", "1", "--cloud", a.storage)
    assert result.returncode == 7, (result.stdout, result.stderr)
    assert "--no-fetch-tags" in result.stderr and "nothing was removed" in result.stderr
    assert a.state() == before

    # This clone alone: a1 goes here (tag, and its data in the stores only this clone uses),
    # but its tag is still on origin, so the bucket, which other clones read, keeps its data.
    report = a.prune("--keep", "1", "--no-fetch-tags", "--grace", "0", code=3)
    assert report["removed"] == [a1["tag"]]
    assert report["git_remote"]["ok"] is False
    assert a.tags() == {a2["tag"]}
    assert origin_tags(origin) == {a1["tag"], a2["tag"]}
    assert a.keys() == before[1]
    assert "s3" not in {s["store"] for s in report["stores"]}
    only_a1 = objects_of(a1) - objects_of(a2)
    cache, local_remote = a.local_stores()
    assert not only_a1 & cache and not only_a1 & local_remote
    assert objects_of(a2) <= cache and objects_of(a2) <= local_remote


@pytest.mark.xfail(strict=True, reason=(
    "prune --no-fetch-tags, run again after a partial run (origin unreachable), deletes from "
    "the bucket the data of a backup whose tag is still on origin: the backup is gone from "
    "the local catalog, so nothing is 'removed', the tag on origin is neither checked nor "
    "deleted, and the shared store is swept (hdversion/ops/prune.py:155-165)"))
def test_a_second_no_fetch_tags_run_keeps_data_whose_tag_is_still_on_origin(
        clone_a: Clone) -> None:
    a, origin = clone_a, origin_of(clone_a)
    a1 = a.backup(2)
    a2 = a.backup(3)
    a.project.git("remote", "set-url", "origin", "/nonexistent")
    a.prune("--keep", "1", "--no-fetch-tags", "--grace", "0", code=3)
    keys = a.keys()
    # Origin answers again; the user runs the same command again (the hint says "run prune
    # again when the git remote answers").
    a.project.git("remote", "set-url", "origin", str(origin))
    a.prune("--keep", "1", "--no-fetch-tags", "--grace", "0", code=0)
    only_a1 = keys_of(objects_of(a1) - objects_of(a2))
    # Either the tag left on origin is deleted there, or the bucket keeps its data.
    assert a1["tag"] not in origin_tags(origin) or only_a1 <= a.keys(), (
        f"{a1['tag']} still on origin, {len(only_a1 & keys - a.keys())} of its objects "
        "deleted from the bucket")


# 4 -------------------------------------------------------------------------------------------
def test_a_kept_backup_lacking_an_object_everywhere_stops_prune(clone_a: Clone) -> None:
    a, origin = clone_a, origin_of(clone_a)
    a.backup(2)
    a2 = a.backup(3)
    model = next(f["md5"] for f in a2["files"] if f["path"] == MODEL)
    a.server.delete_object(a.bucket, key_of(model))
    for top in (a.root / ".dvc" / "cache", a.root / "backups"):
        (top / "files" / "md5" / model[:2] / model[2:]).unlink()
    before, tags_on_origin = a.state(), origin_tags(origin)
    result = a.project.cli("prune", "--keep", "1", "--cloud", a.storage)
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert f"{a2['tag']} (1 object(s))" in " ".join(result.stderr.split())
    assert a.state() == before and origin_tags(origin) == tags_on_origin


# 5 -------------------------------------------------------------------------------------------
def test_dry_run_bytes_then_grace_then_exact_deletion_in_each_backend(
        project: Project, cloud_backend: StorageServer, bucket: str) -> None:
    """Each SDK's listing gives sizes (the dry run's bytes) and ages (the grace period)."""
    configure(project, cloud_backend, bucket)
    a = Clone(project, cloud_backend, bucket)
    a1 = a.backup(2)
    a2 = a.backup(3)
    only_a1 = keys_of(objects_of(a1) - objects_of(a2))
    assert only_a1 <= a.keys()
    size = sum(len(cloud_backend.read_object(bucket, key)) for key in only_a1)
    before = a.state()

    dry = a.prune("--dry-run", "--grace", "0", "--keep", "1")
    assert dry["dry_run"] is True and dry["removed"] == [a1["tag"]]
    cloud = store_of(dry, cloud_backend.name)
    assert cloud["shared"] is True
    assert (cloud["objects"], cloud["bytes"], cloud["deleted"]) == (len(only_a1), size, 0)
    assert a.state() == before

    # The default grace (1h): every unused object in the bucket was just written.
    report = a.prune("--keep", "1")
    cloud = store_of(report, cloud_backend.name)
    assert cloud["kept_recent"] == len(only_a1) > 0
    assert cloud["objects"] == cloud["deleted"] == 0
    assert a.keys() == before[1]
    assert a.tags() == {a2["tag"]}

    # No grace: exactly those keys go (a1's tag is gone already; the sweep needs no memory).
    report = a.prune("--keep", "1", "--grace", "0")
    assert report["removed"] == []
    cloud = store_of(report, cloud_backend.name)
    assert (cloud["objects"], cloud["deleted"], cloud["bytes"]) == (len(only_a1),) * 2 + (size,)
    assert a.keys() == before[1] - only_a1
