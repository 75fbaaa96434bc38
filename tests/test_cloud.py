"""Cloud backups against real servers on 127.0.0.1: moto (S3), Azurite (Azure Blob) and the
GCS emulator. One suite, parametrized over every backend, plus the faults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hdversion.util.hashing import md5_file
from hdversion.util.pausepoints import PausePoint
from tests.cloud_fixtures import AUTHENTICATING
from tests.conftest import (
    Project,
    pause_marker,
    run_cli,
    start_paused,
    watch_renames_into_cache,
)
from tests.storage_servers import StorageServer

pytestmark = pytest.mark.cloud
MODEL = "models/keras_mlp_model.h5"
PREFIX = "hdv"
# The fixtures' secret option names -> config/cloud_credentials.json keys.
CREDENTIAL_KEYS = {"access_key_id": "aws_access_key_id",
                   "secret_access_key": "aws_secret_access_key",
                   "connection_string": "azure_connection_string"}
ENV_CHAIN = {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY",
             "connection_string": "AZURE_STORAGE_CONNECTION_STRING"}


@dataclass
class Cloud:
    project: Project
    server: StorageServer
    bucket: str

    @property
    def name(self) -> str:
        return self.server.name

    def cli(self, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return self.project.cli(*args, env=env)

    def backup(self, *args: str) -> dict:
        result = self.cli("backup", "--json", "--cloud", f"--storage={self.name}", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def object_key(self, md5: str) -> str:
        return f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}"

    def listed(self) -> list[dict]:
        result = self.cli("list", "--json", "--cloud", f"--storage={self.name}")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def configure(project: Project, server: StorageServer, bucket: str,
              secrets: dict[str, str] | None = None, root: Path | None = None) -> None:
    """Set a remote up the way a user does: `hdversion remote add` for the public part,
    config/cloud_credentials.json for the secrets."""
    public, default_secrets = server.dvc_remote_config(bucket)
    options = [f"-o{key}={value}" for key, value in public.items()]
    run_cli(root or project.root, "remote", "add", server.name,
            server.url_for(bucket, PREFIX), *options, check=True)
    write_credentials(root or project.root, secrets if secrets is not None else default_secrets)


def write_credentials(root: Path, secrets: dict[str, str]) -> None:
    path = root / "config" / "cloud_credentials.json"
    path.write_text(json.dumps({CREDENTIAL_KEYS[k]: v for k, v in secrets.items()}))
    path.chmod(0o600)
    with (root / ".gitignore").open("a") as ignore:
        ignore.write("config/cloud_credentials.json\n")


@pytest.fixture
def cloud(project: Project, cloud_backend: StorageServer, bucket: str) -> Iterator[Cloud]:
    configure(project, cloud_backend, bucket)
    yield Cloud(project, cloud_backend, bucket)


def dvc_files(data: dict) -> dict[str, dict]:
    return {f["path"]: f for f in data["files"] if f["store"] == "dvc"}


def forget_local_data(project: Project) -> None:
    shutil.rmtree(project.root / ".dvc" / "cache", ignore_errors=True)
    shutil.rmtree(project.root / "backups", ignore_errors=True)


def test_backup_list_restore_through_the_cloud(cloud: Cloud) -> None:
    data = cloud.backup("-m", "to the cloud")
    assert data["remotes"] == [{"name": cloud.name, "ok": True, "detail": ""}]
    keys = set(cloud.server.list_keys(cloud.bucket))
    for entry in dvc_files(data).values():
        key = cloud.object_key(entry["md5"])
        assert key in keys
        assert md5_file_bytes(cloud.server.read_object(cloud.bucket, key)) == entry["md5"]
    [listed] = cloud.listed()
    assert listed["complete"] is True and listed["missing_objects"] == 0

    forget_local_data(cloud.project)
    cloud.project.damage(MODEL)
    result = cloud.cli("restore", "--json", "--cloud", f"--storage={cloud.name}", "--force")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verified"]
    assert md5_file(cloud.project.root / MODEL)[0] == dvc_files(data)[MODEL]["md5"]


def md5_file_bytes(data: bytes) -> str:
    from hdversion.util.hashing import md5_bytes

    return md5_bytes(data)


def test_sync_pushes_every_backup_the_remote_lacks(cloud: Cloud) -> None:
    cloud.project.cli("backup", check=True)
    cloud.project.retrain(seed=3)
    cloud.project.cli("backup", check=True)
    assert [b["complete"] for b in cloud.listed()] == [False, False]
    result = cloud.cli("sync", f"--storage={cloud.name}", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["pushed"]) == 2
    assert [b["complete"] for b in cloud.listed()] == [True, True]
    again = json.loads(cloud.cli("sync", f"--storage={cloud.name}", "--json").stdout)
    assert again["pushed"] == {} and len(again["already_complete"]) == 2


def test_sync_checks_the_remote_itself_not_dvc_status(cloud: Cloud) -> None:
    data = cloud.backup()
    lost = dvc_files(data)[MODEL]["md5"]
    cloud.server.delete_object(cloud.bucket, cloud.object_key(lost))
    [listed] = cloud.listed()
    assert listed["complete"] is False and listed["missing_objects"] == 1
    assert cloud.cli("sync", f"--storage={cloud.name}").returncode == 0
    assert cloud.object_key(lost) in cloud.server.list_keys(cloud.bucket)


def test_disaster_recovery_from_a_fresh_clone(cloud: Cloud, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project = cloud.project
    project.git("add", ".dvc/config", ".gitignore")
    project.git("commit", "-q", "-m", "cloud remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    data = cloud.backup()
    assert data["git_remote"]["ok"] and data["git_remote"]["detail"] == "pushed"

    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(origin), str(fresh)], check=True)
    assert not (fresh / MODEL).exists()
    # This time the secrets come from the standard environment chains, not the file.
    _, secrets = cloud.server.dvc_remote_config(cloud.bucket)
    env = {ENV_CHAIN[key]: value for key, value in secrets.items()}
    listed = json.loads(run_cli(fresh, "list", "--json", check=True).stdout)
    assert [b["tag"] for b in listed] == [data["tag"]]
    result = run_cli(fresh, "restore", "--json", "--cloud", f"--storage={cloud.name}", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verified"]
    for entry in data["files"]:
        assert md5_file(fresh / entry["path"])[0] == entry["md5"], entry["path"]


def test_restore_fetches_a_tag_made_elsewhere(cloud: Cloud, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project = cloud.project
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    data = cloud.backup()
    result = run_cli(other, "restore", "--json", "--cloud", f"--storage={cloud.name}",
                     f"--timestamp={data['timestamp']}", "--target", str(tmp_path / "out"))
    # `other` has no remote config of its own (it was never committed): a clear error.
    assert result.returncode == 7, result.stderr
    assert f"no DVC remote named '{cloud.name}'" in result.stderr
    assert data["tag"] in subprocess.run(["git", "tag"], cwd=other, capture_output=True,
                                         text=True).stdout


def test_server_down_during_cloud_push_is_partial_then_sync(cloud: Cloud) -> None:
    proc = start_paused(cloud.project.root, PausePoint.BEFORE_CLOUD_PUSH, "backup", "--json",
                        "--cloud", f"--storage={cloud.name}")
    marker = pause_marker(cloud.project.root)
    cloud.server.stop()
    try:
        marker.unlink()
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        cloud.server.start()
    assert proc.returncode == 3, stderr
    data = json.loads(stdout)
    assert data["complete"] is False
    assert data["remotes"][0]["ok"] is False and "cannot reach" in data["remotes"][0]["detail"]
    # The local backup stands: tagged, and every object in the local remote.
    assert cloud.project.git("tag").split() == [data["tag"]]
    for entry in dvc_files(data).values():
        obj = cloud.project.root / "backups" / "files" / "md5" / entry["md5"][:2]
        assert md5_file(obj / entry["md5"][2:])[0] == entry["md5"]
    assert cloud.cli("sync", f"--storage={cloud.name}").returncode == 0
    assert [b["complete"] for b in cloud.listed()] == [True]


def test_fetch_of_named_objects_takes_only_whole_ones(cloud: Cloud) -> None:
    """A fetch given its objects (the bucket-to-cache path that skips DVC's index): what the
    cache lacks arrives read-only; a damaged object, even at its right size, and a missing
    one never reach the cache, and nothing partial is left beside them."""
    from hdversion.ops.project import Project as HdProject

    data = cloud.backup()
    objects = {f["md5"]: f["size"] for f in dvc_files(data).values()}
    assert len(objects) >= 3
    flipped, lost, *whole = sorted(objects)
    good = cloud.server.read_object(cloud.bucket, cloud.object_key(flipped))
    cloud.server.corrupt_object(cloud.bucket, cloud.object_key(flipped),
                                bytes([good[0] ^ 0xFF]) + good[1:])
    cloud.server.delete_object(cloud.bucket, cloud.object_key(lost))
    cache = cloud.project.root / ".dvc" / "cache"
    shutil.rmtree(cache)
    store = HdProject.open(cloud.project.root).store
    # A size may be unknown (a directory's listing): the md5 alone decides then.
    store.transfers.fetch(cloud.name, {**objects, whole[0]: None})
    for md5 in whole:
        path = store.cache_path(md5)
        assert md5_file(path)[0] == md5 and not path.stat().st_mode & 0o222
    assert not store.cache_path(flipped).exists() and not store.cache_path(lost).exists()
    assert not [p for p in cache.rglob("*.tmp")]


# The fetch, in a process that may not write a file past LIMIT bytes (RLIMIT_FSIZE): a
# download written whole before its size is checked fails there.
FETCH_UNDER_A_SIZE_LIMIT = """
import json, resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[4]), int(sys.argv[4])))
from hdversion.ops.project import Project
store = Project.open(Path(sys.argv[1])).store
store.transfers.fetch(sys.argv[3], json.loads(sys.stdin.read()))
"""


def test_an_object_larger_than_its_manifest_is_never_downloaded_whole(cloud: Cloud) -> None:
    """A bucket object far larger than the size its manifest records (damaged, or planted to
    fill the disk) is dropped at its size header or its first bytes too many."""
    data = cloud.backup()
    objects = {f["md5"]: f["size"] for f in dvc_files(data).values()}
    limit = 4 * 1024 * 1024
    assert max(objects.values()) < limit
    planted = max(objects, key=lambda md5: objects[md5])
    cloud.server.corrupt_object(cloud.bucket, cloud.object_key(planted),
                                b"\0" * (4 * limit))
    cache = cloud.project.root / ".dvc" / "cache"
    shutil.rmtree(cache)
    fetched = subprocess.run(
        [sys.executable, "-c", FETCH_UNDER_A_SIZE_LIMIT, str(cloud.project.root),
         data["tag"], cloud.name, str(limit)], input=json.dumps(objects),
        capture_output=True, text=True, timeout=300)
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    for md5 in objects:
        path = cache / "files" / "md5" / md5[:2] / md5[2:]
        assert path.is_file() == (md5 != planted), md5
    assert not [p for p in cache.rglob("*.tmp")]


def test_corrupt_object_in_bucket_refuses_before_touching_workspace(cloud: Cloud) -> None:
    data = cloud.backup()
    md5 = dvc_files(data)[MODEL]["md5"]
    cloud.server.corrupt_object(cloud.bucket, cloud.object_key(md5), b"bit rot in the bucket")
    forget_local_data(cloud.project)
    cloud.project.damage(MODEL, b"what the user has now")
    result = cloud.cli("restore", "--cloud", f"--storage={cloud.name}", "--force")
    assert result.returncode == 5, result.stderr
    assert MODEL in result.stderr and "no workspace file was changed" in result.stderr
    assert cloud.project.read(MODEL) == b"what the user has now"


def test_restore_streams_from_the_bucket_into_workspace_and_cache(cloud: Cloud) -> None:
    """restore --cloud into an empty cache reads each object from the bucket once, into its
    staged file and the cache in the same pass; a damaged object there is not kept, and the
    next store (the local remote) gives it."""
    data = cloud.backup()
    files = dvc_files(data)
    md5 = files[MODEL]["md5"]
    cloud.server.corrupt_object(cloud.bucket, cloud.object_key(md5), b"bit rot in the bucket")
    cache = cloud.project.root / ".dvc" / "cache"
    shutil.rmtree(cache)
    cloud.project.damage(MODEL, b"what the user has now")
    result = cloud.cli("restore", "--json", "--cloud", f"--storage={cloud.name}", "--force")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verified"]
    assert report["fetched_from"].get("local", 0) >= 1, report["fetched_from"]
    for path, entry in files.items():
        assert md5_file(cloud.project.root / path)[0] == entry["md5"], path
        cached = cache / "files" / "md5" / entry["md5"][:2] / entry["md5"][2:]
        assert md5_file(cached)[0] == entry["md5"], path
        assert cached.stat().st_mode & 0o222 == 0, path  # read-only, as DVC keeps them
    listings = [o["md5"] for o in data["outputs"] if o["md5"].endswith(".dir")]
    for name in listings:  # a directory's listing comes into the cache too
        assert (cache / "files" / "md5" / name[:2] / name[2:]).is_file()
    leftovers = [p for p in [*cache.rglob("*"), *(cloud.project.root / "models").rglob("*")]
                 if p.name.startswith(".hdversion") or p.name.endswith(".tmp")]
    assert leftovers == []
    assert cloud.project.dvc("status", "-q").returncode == 0


@pytest.mark.parametrize("cloud_backend", ["s3"], indirect=True)
def test_a_restore_from_a_bucket_fetches_no_file_into_the_cache_first(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files come straight from the bucket into their staged files (and the cache in
    the same pass): the fetch into the cache is asked for the directories' listings alone."""
    from hdversion.datastore.transfers import Transfers
    from hdversion.ops.restore import restore

    data = cloud.backup()
    forget_local_data(cloud.project)  # the bucket is the only store left
    for path in dvc_files(data):
        (cloud.project.root / path).unlink()
    asked: list[str] = []
    fetch = Transfers.fetch

    def recorded(self: Transfers, remote: str, objects: dict[str, int | None]) -> None:
        asked.extend(objects)
        fetch(self, remote, objects)
    monkeypatch.setattr(Transfers, "fetch", recorded)
    result = restore(repo=cloud.project.root, remote=cloud.name, force=True)
    assert result.all_verified and result.fetched_from == {cloud.name: len(dvc_files(data))}
    assert all(name.endswith(".dir") for name in asked), asked
    for path, entry in dvc_files(data).items():
        assert md5_file(cloud.project.root / path)[0] == entry["md5"], path


# The GCS emulator accepts any credentials: only the backends that authenticate.
@pytest.mark.parametrize("cloud_backend", AUTHENTICATING, indirect=True)
def test_wrong_credentials_are_refused_before_any_work_and_never_printed(
        project: Project, cloud_backend: StorageServer, bucket: str) -> None:
    wrong = cloud_backend.wrong_credentials_config()
    assert wrong is not None, f"{cloud_backend.name} should check credentials"
    configure(project, cloud_backend, bucket, secrets=wrong)
    result = project.cli("backup", "--json", "--cloud", f"--storage={cloud_backend.name}")
    assert result.returncode == 7, result.stderr
    assert "credentials refused" in result.stderr
    assert project.git("tag") == ""  # refused before any work: no backup to mention
    # A local backup, then a restore that must reach the remote (the cache is gone).
    project.cli("backup", check=True)
    shutil.rmtree(project.root / ".dvc" / "cache")
    shutil.rmtree(project.root / "backups")
    project.damage(MODEL)
    restore = project.cli("restore", "--cloud", f"--storage={cloud_backend.name}", "--force")
    assert restore.returncode == 7 and "credentials refused" in restore.stderr
    assert project.read(MODEL) == b"damaged"
    forget = project.cli("list", "--cloud", f"--storage={cloud_backend.name}")
    assert forget.returncode == 7, forget.stderr
    secret = max(wrong.values(), key=len)
    key_part = secret.split("AccountKey=")[-1].split(";")[0]
    journal = (project.root / "logs" / "hdversion.jsonl").read_text()
    everything = result.stdout + result.stderr + restore.stdout + restore.stderr + \
        forget.stdout + forget.stderr + journal + (project.root / ".dvc" / "config").read_text()
    assert secret not in everything and key_part not in everything


def test_missing_bucket_is_named(project: Project, cloud_backend: StorageServer) -> None:
    configure(project, cloud_backend, "hdv-no-such-bucket")
    result = project.cli("backup", "--json", "--cloud", f"--storage={cloud_backend.name}")
    assert result.returncode == 7, result.stderr
    kind = "container" if cloud_backend.name == "azure" else "bucket"
    assert f"{kind} 'hdv-no-such-bucket' does not exist" in result.stderr
    assert project.git("tag") == ""
    probe = project.cli("remote", "test", cloud_backend.name)
    assert probe.returncode == 7
    assert "hdv-no-such-bucket" in probe.stdout


def test_remote_test_and_list(cloud: Cloud) -> None:
    probe = cloud.cli("remote", "test", cloud.name, "--json")
    assert probe.returncode == 0, probe.stdout + probe.stderr
    steps = json.loads(probe.stdout)["steps"]
    assert [(s["step"], s["ok"]) for s in steps] == [("write", True), ("read back", True),
                                                     ("delete", True)]
    assert not [k for k in cloud.server.list_keys(cloud.bucket) if "probe" in k]
    remotes = json.loads(cloud.cli("remote", "list", "--json").stdout)
    mine = next(r for r in remotes if r["name"] == cloud.name)
    assert mine["verify"] is True and mine["url"] == cloud.server.url_for(cloud.bucket, PREFIX)
    _, secrets = cloud.server.dvc_remote_config(cloud.bucket)
    config = (cloud.project.root / ".dvc" / "config").read_text()
    assert not [name for name, value in secrets.items() if value and value in config]


@pytest.mark.reliability  # long tier: a race with upload speed (the exact one is above)
def test_s3_server_stopped_in_the_middle_of_a_push(project: Project, s3_server: StorageServer,
                                                    bucket_factory: Callable[[StorageServer], str]
                                                    ) -> None:
    """A real outage mid-transfer (S3 only: moto stops at once and keeps its data across a
    restart; the pause-point test above covers every backend)."""
    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket)
    many = project.root / "data" / "many"
    many.mkdir()
    for i in range(400):
        (many / f"part-{i:03d}.bin").write_bytes(os.urandom(16 * 1024))
    assert project.dvc("add", "-q", "data/many").returncode == 0
    # One attempt per request, so that the push fails in a second instead of retrying.
    env = {**os.environ, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hdversion")), "backup", "--json", "--cloud",
         "--storage=s3"], cwd=project.root, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # An object, not the writer's lease (hdversion/locks/), which is written first.
    while not any("/files/md5/" in k for k in s3_server.list_keys(bucket)):
        assert time.monotonic() < deadline and proc.poll() is None, "the push never started"
        time.sleep(0.005)
    s3_server.stop()
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        s3_server.start()
    data = json.loads(stdout)
    total = len(dvc_files(data))
    landed = len([k for k in s3_server.list_keys(bucket) if "/files/md5/" in k])
    assert 0 < landed < total, "the server did not stop in the middle of the push"
    assert proc.returncode == 3, stderr
    assert data["remotes"][0]["ok"] is False
    assert project.git("tag").split() == [data["tag"]]
    assert cloud_listing(project, "s3")[0]["complete"] is False
    assert project.cli("sync", "--storage=s3").returncode == 0
    assert cloud_listing(project, "s3")[0]["complete"] is True


def cloud_listing(project: Project, storage: str) -> list[dict]:
    result = project.cli("list", "--json", "--cloud", f"--storage={storage}")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_unreachable_endpoint_fails_clearly(project: Project) -> None:
    from tests.storage_servers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    project.cli("remote", "add", "s3", "s3://bucket/p", "--endpoint-url", endpoint, check=True)
    result = project.cli("backup", "--json", "--cloud", "--storage=s3")
    assert result.returncode == 7, result.stderr
    assert f"cannot reach remote 's3' at {endpoint}" in result.stderr
    assert project.git("tag") == ""
    probe = project.cli("remote", "test", "s3", "--json")
    assert probe.returncode == 7
    assert [s["step"] for s in json.loads(probe.stdout)["steps"]] == ["connect"]
    # Restore needs the remote only for what the cache lacks (unchanged files need nothing).
    project.cli("backup", check=True)
    forget_local_data(project)
    project.damage(MODEL)
    for command in (["list", "--cloud", "--storage=s3"], ["sync", "--storage=s3"],
                    ["restore", "--cloud", "--storage=s3", "--force"]):
        failed = project.cli(*command)
        assert failed.returncode == 7, (command, failed.stderr)
        assert "cannot reach" in failed.stderr
    assert project.read(MODEL) == b"damaged"


# One backend: the SDKs' retry loops against a stopped server last a minute on the others,
# and the loop under test is hdversion's own, the same for every backend.
@pytest.mark.parametrize("cloud_backend", ["s3"], indirect=True)
def test_an_outage_in_the_middle_of_the_uploads_is_exact(cloud: Cloud) -> None:
    """The server stops after exactly one of three re-uploads (a pause point inside
    hdversion's own transfer loop, not a race with upload speed): sync is partial (exit 3),
    one object is whole again, two are still truncated, and the next sync repairs the rest."""
    data = cloud.backup()
    md5s = sorted({f["md5"] for f in dvc_files(data).values()})[:3]
    whole = {md5: cloud.server.read_object(cloud.bucket, cloud.object_key(md5)) for md5 in md5s}
    for md5 in md5s:
        cloud.server.corrupt_object(cloud.bucket, cloud.object_key(md5),
                                    whole[md5][: len(whole[md5]) // 2])
    root = cloud.project.root
    proc = start_paused(root, PausePoint.BETWEEN_UPLOADS, "sync", "--json",
                        f"--storage={cloud.name}", env={"AWS_MAX_ATTEMPTS": "1"})
    cloud.server.stop()
    try:
        pause_marker(root).unlink()
        _, stderr = proc.communicate(timeout=300)
    finally:
        cloud.server.start()
    assert proc.returncode == 3, stderr
    repaired = [md5 for md5 in md5s
                if cloud.server.read_object(cloud.bucket, cloud.object_key(md5)) == whole[md5]]
    assert len(repaired) == 1
    assert cloud.listed()[0]["complete"] is False
    assert cloud.cli("sync", f"--storage={cloud.name}").returncode == 0
    assert all(cloud.server.read_object(cloud.bucket, cloud.object_key(md5)) == whole[md5]
               for md5 in md5s)
    assert cloud.listed()[0]["complete"] is True


def test_truncated_object_in_bucket_is_seen_and_replaced_by_sync(cloud: Cloud) -> None:
    data = cloud.backup()
    md5 = dvc_files(data)[MODEL]["md5"]
    key = cloud.object_key(md5)
    whole = cloud.server.read_object(cloud.bucket, key)
    cloud.server.corrupt_object(cloud.bucket, key, whole[: len(whole) // 2])
    [listed] = cloud.listed()
    assert listed["complete"] is False and listed["missing_objects"] == 1
    result = cloud.cli("sync", f"--storage={cloud.name}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert cloud.server.read_object(cloud.bucket, key) == whole
    assert cloud.listed()[0]["complete"] is True


def test_missing_credentials_are_named(project: Project, s3_server: StorageServer,
                                       bucket_factory: Callable[[StorageServer], str]) -> None:
    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket, secrets={})  # no key anywhere: file, env, profile
    result = project.cli("backup", "--json", "--cloud", "--storage=s3")
    assert result.returncode == 7, result.stderr
    assert "credentials missing" in result.stderr and "does not exist" not in result.stderr
    assert project.git("tag") == ""
    project.cli("backup", check=True)
    for command in (["list", "--cloud", "--storage=s3"], ["sync", "--storage=s3"]):
        failed = project.cli(*command)
        assert failed.returncode == 7, (command, failed.stderr)
        assert "credentials missing" in failed.stderr
    probe = project.cli("remote", "test", "s3")
    assert probe.returncode == 7 and "credentials missing" in probe.stdout


@pytest.mark.reliability
@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_damage_in_a_cloud_remote(cloud: Cloud, how: str) -> None:
    """Each server, each damage: with no local copy left, restore refuses before touching the
    workspace; a damage the listing can see is replaced by `sync` from the local cache."""
    data = cloud.backup()
    md5 = dvc_files(data)[MODEL]["md5"]
    key = cloud.object_key(md5)
    whole = cloud.server.read_object(cloud.bucket, key)
    if how == "flip":
        cloud.server.corrupt_object(cloud.bucket, key, bytes([whole[0] ^ 0xFF]) + whole[1:])
    elif how == "truncate":
        cloud.server.corrupt_object(cloud.bucket, key, whole[: len(whole) // 2])
    else:
        cloud.server.delete_object(cloud.bucket, key)
    saved = cloud.project.root.parent / "saved"
    shutil.copytree(cloud.project.root / ".dvc" / "cache", saved / "cache")
    shutil.copytree(cloud.project.root / "backups", saved / "backups")
    forget_local_data(cloud.project)
    cloud.project.damage(MODEL, b"what the user has now")
    result = cloud.cli("restore", "--cloud", f"--storage={cloud.name}", "--force")
    assert result.returncode == 5, result.stderr
    assert cloud.project.read(MODEL) == b"what the user has now"
    shutil.copytree(saved / "cache", cloud.project.root / ".dvc" / "cache", dirs_exist_ok=True)
    shutil.copytree(saved / "backups", cloud.project.root / "backups", dirs_exist_ok=True)
    outcome = "refused without a local copy (exit 5)"
    if how != "flip":  # a same-size flip needs `verify --read-data` (not yet built)
        assert cloud.cli("sync", f"--storage={cloud.name}").returncode == 0
        assert cloud.server.read_object(cloud.bucket, key) == whole
        outcome += "; sync replaced it from the cache"
    from tests.test_reliability import record

    record(kind="corruption", store=f"{cloud.name} server", object="file", damage=how,
           outcome=outcome, ok=True)


@pytest.mark.parametrize("cloud_backend", ["s3"], indirect=True)
def test_damaged_bytes_in_the_only_bucket_never_enter_the_cache(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the bucket the only store, objects come from it into the cache (Transfers.fetch's
    download, _download_absent): one byte flipped there (the same size, so only its hash
    tells) must never be renamed into the cache. Every rename into the cache is watched
    in-process, since a later re-hash would quarantine a damaged copy and hide that it was
    ever there (fails with the rename moved before the md5 check in _download_absent)."""
    from hdversion import api
    from hdversion.errors import HdversionError

    data = cloud.backup()
    listing = next(o["md5"] for o in data["outputs"] if o["md5"].endswith(".dir"))
    for md5 in (listing, dvc_files(data)[MODEL]["md5"]):
        key = cloud.object_key(md5)
        whole = bytearray(cloud.server.read_object(cloud.bucket, key))
        whole[len(whole) // 2] ^= 1  # the same size: found wrong only by its hash
        cloud.server.corrupt_object(cloud.bucket, key, bytes(whole))
    forget_local_data(cloud.project)  # the bucket is the only store left
    cache = cloud.project.root / ".dvc" / "cache"
    cloud.project.damage(MODEL, b"what the user has now")
    damaged = watch_renames_into_cache(monkeypatch, cache)
    with pytest.raises(HdversionError) as refused:
        api.restore(repo=cloud.project.root, remote=cloud.name, force=True, offline=True)
    assert refused.value.exit_code == 5, refused.value
    assert "no workspace file was changed" in str(refused.value)
    assert damaged == []
    assert not (cache / "files" / "md5" / listing[:2] / listing[2:]).exists()
    assert cloud.project.read(MODEL) == b"what the user has now"
