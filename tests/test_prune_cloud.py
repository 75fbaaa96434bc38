"""Prune against real cloud servers on 127.0.0.1 and a throwaway bare origin: clones sharing one
bucket (another clone's backup, an upload whose tag is not pushed yet), an origin that does not
answer, a kept backup that lacks data, and each SDK's listing (sizes, ages).

Two backups, a1 and a2, are made once per module by `backup --cloud --storage s3` (see the
`template` fixture); each test works on a copy of that project, with its own bucket (a copy of
the template's objects; `sync` for the other backends) and its own bare origin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import md5_file
from tests.cloud_fixtures import new_bucket_name
from tests.conftest import Project
from tests.storage_servers import StorageServer
from tests.test_cloud import MODEL, PREFIX, configure, write_credentials

pytestmark = pytest.mark.cloud
Json = dict[str, Any]  # what `--json` prints


def objects_of(data: Json) -> set[str]:
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


def origin_tags(origin: Path) -> set[str]:
    out = subprocess.run(["git", "ls-remote", "--refs", str(origin), "refs/tags/*"],
                         check=True, capture_output=True, text=True).stdout
    return {line.split("\t")[1].removeprefix("refs/tags/") for line in out.splitlines()}


def store_of(report: Json, name: str) -> Json:
    [store] = [s for s in report["stores"] if s["store"] == name]
    assert isinstance(store, dict)
    return store


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

    def backup(self, seed: int, *args: str, env: dict[str, str] | None = None) -> Json:
        self.project.retrain(seed)
        result = self.project.cli("backup", "--json", "--cloud", self.storage, "-m",
                                  f"seed {seed}", *args, env=env)
        assert result.returncode == 0, (result.stdout, result.stderr)
        data: Json = json.loads(result.stdout)
        return data

    def prune(self, *args: str, code: int = 0) -> Json:
        result = self.project.cli("prune", "--json", "--cloud", self.storage, *args)
        assert result.returncode == code, (result.stdout, result.stderr)
        data: Json = json.loads(result.stdout)
        return data

    def tags(self) -> set[str]:
        return set(self.project.git("tag", "-l", "backup/*").split())

    def keys(self) -> set[str]:
        """The DVC objects in the bucket (its `hdversion/` folders are not objects)."""
        return {k for k in self.server.list_keys(self.bucket) if "/files/md5/" in k}

    def local_stores(self) -> tuple[set[str], set[str]]:
        return stored(self.root / ".dvc" / "cache"), stored(self.root / "backups")

    def state(self) -> tuple[set[str], set[str], set[str], set[str]]:
        """Everything prune may change here and in the bucket: tags, keys, cache, local
        remote."""
        return (self.tags(), self.keys(), *self.local_stores())


@dataclass
class History:
    a: Clone
    origin: Path
    a1: Json  # `backup --json`
    a2: Json


@dataclass(frozen=True)
class Template:
    root: Path
    bucket: str
    a1: Json
    a2: Json


def make_origin(base: Path) -> Path:
    origin = base / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    return origin


def another_clone(origin: Path, root: Path, server: StorageServer, bucket: str,
                  restore: bool = True) -> Clone:
    """A clone of origin with the credentials written (they never travel through git) and,
    when `restore`, the latest backup restored from the bucket (the `dvc add`ed raw data is in
    no commit). No `--force`: the branch's params.yaml differs from the backup's, but git
    holds it, so it needs no safety backup."""
    subprocess.run(["git", "clone", "-q", str(origin), str(root)], check=True)
    _, secrets = server.dvc_remote_config(bucket)
    write_credentials(root, secrets)
    clone = Clone(Project(root), server, bucket)
    if restore:
        result = clone.project.cli("restore", "--json", "--cloud", clone.storage)
        assert result.returncode == 0, (result.stdout, result.stderr)
    return clone


@pytest.fixture(scope="module")
def template(project_template: Path, s3_server: StorageServer,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """Made once per module: the project with the S3 remote (its public config committed, the
    secrets in the git-ignored credentials file) and two backups, a1 (seed 2) and a2 (seed 3),
    made by `backup --cloud --storage s3` into a bucket of the template's own. The branch
    holds seed 1, the workspace seed 3."""
    bucket = new_bucket_name()
    s3_server.create_bucket(bucket)
    root = tmp_path_factory.mktemp("template") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    configure(project, s3_server, bucket)
    project.git("add", ".dvc/config", ".gitignore")
    project.git("commit", "-q", "-m", "cloud remote")
    a = Clone(project, s3_server, bucket)
    a1, a2 = a.backup(2), a.backup(3)
    yield Template(root, bucket, a1, a2)
    s3_server.start()
    s3_server.delete_bucket(bucket)


def copy_template(template: Template, base: Path) -> Project:
    project = Project(base / "project")
    shutil.copytree(template.root, project.root, symlinks=True)
    return project


@pytest.fixture
def s3_bucket(s3_server: StorageServer, bucket_factory: Callable[[StorageServer], str]) -> str:
    return bucket_factory(s3_server)


@pytest.fixture
def history(template: Template, s3_server: StorageServer, s3_bucket: str, tmp_path: Path
            ) -> History:
    """Clone A: a copy of the template, its remote pointed at this test's bucket (committed),
    the template bucket's objects copied there, main and the backup tags pushed to a bare
    origin."""
    project = copy_template(template, tmp_path)
    config = project.root / ".dvc" / "config"
    config.write_text(config.read_text().replace(template.bucket, s3_bucket))
    project.git("commit", "-q", "-m", "this test's bucket", ".dvc/config")
    for key in s3_server.list_keys(template.bucket):
        s3_server.corrupt_object(s3_bucket, key, s3_server.read_object(template.bucket, key))
    origin = make_origin(tmp_path)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main", "refs/tags/*:refs/tags/*")
    a = Clone(project, s3_server, s3_bucket)
    assert a.keys() == keys_of(objects_of(template.a1) | objects_of(template.a2))
    assert origin_tags(origin) == {template.a1["tag"], template.a2["tag"]}
    return History(a, origin, template.a1, template.a2)


# 1 -------------------------------------------------------------------------------------------
def test_another_clones_backup_survives_a_prune_here(history: History, tmp_path: Path) -> None:
    """A prunes with a tag of B's it has never fetched: prune fetches it and keeps it, and b1
    is restorable from the bucket in a third clone; a1's and a2's tags are gone from origin,
    and from the bucket exactly the objects only a1 used (a2's stay: A's workspace uses
    them)."""
    a, origin, a1, a2 = history.a, history.origin, history.a1, history.a2
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
    only_a1 = objects_of(a1) - objects_of(a2) - objects_of(b1)
    assert only_a1
    assert a.keys() == before - keys_of(only_a1)
    s3 = store_of(report, "s3")
    assert (s3["deleted"], s3["kept_recent"]) == (len(only_a1), 0)

    c = another_clone(origin, tmp_path / "c", a.server, a.bucket, restore=False)
    target = tmp_path / "restored"
    result = c.project.cli("restore", "--json", "--cloud", c.storage,
                           f"--timestamp={b1['timestamp']}", "--target", str(target))
    assert result.returncode == 0, (result.stdout, result.stderr)
    for entry in b1["files"]:
        assert md5_file(target / entry["path"])[0] == entry["md5"], entry["path"]


# 2 -------------------------------------------------------------------------------------------
def test_an_upload_whose_tag_is_not_on_origin_yet_stays_for_the_grace_period(
        history: History, tmp_path: Path) -> None:
    """B's backup is in the bucket, its tag not on origin. No pause point gives that state
    (BEFORE_TAG and BEFORE_CLOUD_PUSH both come before the cloud push, and none lies between
    the cloud push and the tag push), so B's tag push is turned off (HDVERSION_GIT_REMOTE="").
    B leaves its lease in the bucket (its tag is not on origin): A's prune does not sweep it.
    Once that lease is gone (removed here by hand: a lease's age cannot be set back on S3;
    tests/test_prune_leases.py ages one in a directory remote), A's prune keeps B's objects
    for the grace period and reports them; `--grace 0` deletes them."""
    a, origin = history.a, history.origin
    b = another_clone(origin, tmp_path / "b", a.server, a.bucket)
    before_b = a.keys()
    b1 = b.backup(5, env={"HDVERSION_GIT_REMOTE": ""})
    assert b1["tag"] not in origin_tags(origin)
    fresh = a.keys() - before_b
    assert fresh and fresh == keys_of(objects_of(b1) - objects_of(history.a1)
                                      - objects_of(history.a2))
    before = a.state()
    [lease] = [k for k in a.server.list_keys(a.bucket) if "/hdversion/locks/shared-" in k]

    report = a.prune("--keep", "2", "--grace", "0")
    assert "store busy: 1 writer(s)" in store_of(report, "s3")["busy"]
    assert a.state() == before

    a.server.delete_object(a.bucket, lease)
    report = a.prune("--keep", "2")  # nothing to remove: only the sweep
    assert report["removed"] == []
    s3 = store_of(report, "s3")
    assert s3["shared"] is True
    assert s3["kept_recent"] == len(fresh)
    assert (s3["objects"], s3["deleted"], s3["bytes"]) == (0, 0, 0)
    assert a.state() == before

    report = a.prune("--keep", "2", "--grace", "0")
    s3 = store_of(report, "s3")
    assert s3["kept_recent"] == 0
    assert s3["objects"] == s3["deleted"] == len(fresh)
    assert a.keys() == before[1] - fresh
    assert a.tags() == before[0] and a.local_stores() == before[2:]


# 3 -------------------------------------------------------------------------------------------
def test_origin_unreachable_refuses_and_no_fetch_tags_keeps_the_shared_store(
        history: History) -> None:
    a, origin, a1, a2 = history.a, history.origin, history.a1, history.a2
    a.project.git("remote", "set-url", "origin", "/nonexistent")
    before = a.state()
    result = a.project.cli("prune", "--keep", "1", "--cloud", a.storage)
    assert result.returncode == 7, (result.stdout, result.stderr)
    assert "--offline" in result.stderr and "nothing was removed" in result.stderr
    assert a.state() == before

    # This clone alone: a1 goes here (its tag, and its data in the stores only this clone
    # uses), but its tag is still on origin, so the bucket, which other clones read, keeps
    # every object; exit 3 says so.
    result = a.project.cli("prune", "--json", "--keep", "1", "--cloud", a.storage,
                           "--no-fetch-tags", "--grace", "0")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "still on git remote origin" in result.stderr
    report = json.loads(result.stdout)
    assert report["removed"] == [a1["tag"]]
    assert report["git_remote"]["ok"] is False
    [bucket_sweep] = [s for s in report["stores"] if s["store"] == "s3"]
    assert bucket_sweep["skipped"] and bucket_sweep["deleted"] == 0
    assert a.tags() == {a2["tag"]}
    assert origin_tags(origin) == {a1["tag"], a2["tag"]}
    assert a.keys() == before[1]
    only_a1 = objects_of(a1) - objects_of(a2)
    cache, local_remote = a.local_stores()
    assert not only_a1 & cache and not only_a1 & local_remote
    assert objects_of(a2) <= cache and objects_of(a2) <= local_remote


def test_a_second_no_fetch_tags_run_keeps_data_whose_tag_is_still_on_origin(
        history: History) -> None:
    a, origin, a1, a2 = history.a, history.origin, history.a1, history.a2
    a.project.git("remote", "set-url", "origin", "/nonexistent")
    a.prune("--keep", "1", "--no-fetch-tags", "--grace", "0", code=3)
    only_a1 = keys_of(objects_of(a1) - objects_of(a2))
    assert only_a1 <= a.keys() and a1["tag"] in origin_tags(origin)
    # Origin answers again, and the same command is run again ("run prune again when the
    # git remote answers", says the hint of the partial run).
    a.project.git("remote", "set-url", "origin", str(origin))
    a.prune("--keep", "1", "--no-fetch-tags", "--grace", "0")
    # Either the tag left on origin is deleted there, or the bucket keeps its data.
    assert a1["tag"] not in origin_tags(origin) or only_a1 <= a.keys(), (
        f"{a1['tag']} still on origin, {len(only_a1 - a.keys())} of its "
        f"{len(only_a1)} own objects deleted from the bucket")


# 4 -------------------------------------------------------------------------------------------
def test_a_kept_backup_lacking_an_object_everywhere_stops_prune(history: History) -> None:
    a, origin, a2 = history.a, history.origin, history.a2
    model = next(f["md5"] for f in a2["files"] if f["path"] == MODEL)
    a.server.delete_object(a.bucket, key_of(model))
    for top in (a.root / ".dvc" / "cache", a.root / "backups"):
        (top / "files" / "md5" / model[:2] / model[2:]).unlink()
    before, tags_on_origin = a.state(), origin_tags(origin)
    result = a.project.cli("prune", "--keep", "1", "--cloud", a.storage)
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert f"{a2['tag']} (1 object(s))" in " ".join(result.stderr.split())
    assert "nothing was removed" in " ".join(result.stderr.split())
    assert a.state() == before and origin_tags(origin) == tags_on_origin


# 5 -------------------------------------------------------------------------------------------
def test_dry_run_bytes_then_grace_then_exact_deletion_in_each_backend(
        template: Template, cloud_backend: StorageServer, bucket: str, tmp_path: Path) -> None:
    """Each SDK's listing gives sizes (the dry run's bytes) and ages (the grace period)."""
    project = copy_template(template, tmp_path)
    configure(project, cloud_backend, bucket)  # for s3: the same remote, this test's bucket
    a, a1, a2 = Clone(project, cloud_backend, bucket), template.a1, template.a2
    result = project.cli("sync", "--json", a.storage)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert a.keys() == keys_of(objects_of(a1) | objects_of(a2))
    name = cloud_backend.name
    only_a1 = keys_of(objects_of(a1) - objects_of(a2))
    size = sum(len(cloud_backend.read_object(bucket, key)) for key in only_a1)
    before = a.state()

    dry = a.prune("--dry-run", "--grace", "0", "--keep", "1")
    assert dry["dry_run"] is True and dry["removed"] == [a1["tag"]]
    cloud = store_of(dry, name)
    assert cloud["shared"] is True
    assert (cloud["objects"], cloud["bytes"], cloud["deleted"]) == (len(only_a1), size, 0)
    assert a.state() == before

    # The default grace (1h): every unused object in the bucket was just written.
    report = a.prune("--keep", "1")
    cloud = store_of(report, name)
    assert cloud["kept_recent"] == len(only_a1) > 0
    assert (cloud["objects"], cloud["deleted"], cloud["bytes"]) == (0, 0, 0)
    assert a.keys() == before[1]
    assert a.tags() == {a2["tag"]}

    # No grace: exactly those keys go (a1's tag is gone already; the sweep needs no memory).
    report = a.prune("--keep", "1", "--grace", "0")
    assert report["removed"] == []
    cloud = store_of(report, name)
    assert (cloud["objects"], cloud["deleted"], cloud["bytes"]) == (len(only_a1),) * 2 + (size,)
    assert cloud["kept_recent"] == 0
    assert a.keys() == before[1] - only_a1


# 6 -------------------------------------------------------------------------------------------
def test_a_pruned_backup_does_not_come_back_through_another_clone(
        history: History, tmp_path: Path) -> None:
    a, origin, a1, a2 = history.a, history.origin, history.a1, history.a2
    b = another_clone(origin, tmp_path / "b", a.server, a.bucket, restore=False)
    assert b.tags() == {a1["tag"], a2["tag"]}
    a.prune("--keep", "1", "--grace", "0")
    assert origin_tags(origin) == {a2["tag"]}
    b.project.cli("sync", b.storage)
    assert origin_tags(origin) == {a2["tag"]}, "a1's tag is back on origin, its data gone"


# 7 -------------------------------------------------------------------------------------------
def test_the_grace_period_covers_old_objects_an_untagged_backup_reuses(
        template: Template, tmp_path: Path) -> None:
    """A shared remote on a local path (outside the repository, so shared; its objects' ages
    can be set back two hours, which no cloud server here allows). The grace period cannot
    protect objects B's backup reuses (DVC uploads nothing, their times stay old): B's lease
    does. Its tag is not on origin when it ends, so it leaves its lease to expire, and A's
    prune does not sweep the store meanwhile (ops/leases.py)."""
    project, a1 = copy_template(template, tmp_path), template.a1
    nas = tmp_path / "nas"
    project.cli("remote", "add", "nas", str(nas), check=True)
    origin = make_origin(tmp_path)
    project.git("add", ".dvc/config")
    project.git("commit", "-q", "-m", "shared remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main", "refs/tags/*:refs/tags/*")
    project.cli("sync", "--remote=nas", check=True)
    two_hours_ago = time.time() - 2 * 3600
    for obj in (nas / "files" / "md5").glob("*/*"):
        os.utime(obj, (two_hours_ago, two_hours_ago))
    # B goes back to a1's state and backs it up (the same objects); its tag is not pushed yet.
    b = Project(tmp_path / "b")
    subprocess.run(["git", "clone", "-q", str(origin), str(b.root)], check=True)
    b.cli("restore", "--force", "--remote=nas", f"--timestamp={a1['timestamp']}", check=True)
    result = b.cli("backup", "--json", "--remote=nas", env={"HDVERSION_GIT_REMOTE": ""})
    assert result.returncode == 0, (result.stdout, result.stderr)
    b1 = json.loads(result.stdout)
    assert objects_of(b1) == objects_of(a1) and b1["tag"] not in origin_tags(origin)

    result = project.cli("prune", "--json", "--keep", "1", "--remote=nas")  # grace 1h
    assert result.returncode == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert report["removed"] == [a1["tag"]]
    assert "store busy: 1 writer(s) (backup on" in store_of(report, "nas")["busy"]
    lost = objects_of(b1) - stored(nas)
    assert not lost, f"{len(lost)} object(s) of B's untagged backup deleted from the remote"


# 9 -------------------------------------------------------------------------------------------
def test_what_a_killed_write_leaves_in_a_bucket_is_not_an_object(history: History) -> None:
    """Keys named like a killed write (`model/leftovers.py`; a directory remote copied into
    a bucket brings them) are no objects: prune's sweep neither counts nor deletes them, and
    `list --remote` still finds every backup complete."""
    a = history.a
    md5 = sorted(objects_of(history.a2))[0]
    folder = f"{PREFIX}/files/md5/{md5[:2]}"
    partials = {f"{folder}/{TEMP_PREFIX}{md5[2:]}.16454", f"{folder}/{md5[2:]}.{'D' * 22}.tmp"}
    for key in partials:
        a.server.corrupt_object(a.bucket, key, b"half an object")

    report = a.prune("--keep", "2", "--grace", "0")
    s3 = store_of(report, "s3")
    assert (s3["objects"], s3["deleted"], s3["kept_recent"]) == (0, 0, 0)
    assert partials <= a.keys()
    result = a.project.cli("list", "--json", "--cloud", a.storage)
    assert result.returncode == 0, result.stderr
    assert all(b["complete"] for b in json.loads(result.stdout))
