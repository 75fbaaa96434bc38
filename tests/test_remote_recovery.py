"""Recovery from a remote alone (`list/restore --remote-url`): the git server and every clone
are gone, only the bucket (or the local remote's directory) and its credentials are left.

Each backup writes its manifest (both parts) and its git-stored files beside DVC's objects;
from a directory that is no git repository, `list --remote-url` shows the backups and
`restore --remote-url --target DIR` gives back every file byte for byte. A hostile remote
(forged paths, a file list that is not the tag's, damaged, missing or oversized objects)
gets exit 5 and leaves DIR without a single file."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hdversion import api
from hdversion.api import list_bucket, restore_from_bucket
from hdversion.errors import ExitCode, HdversionError
from hdversion.model.remote_records import manifest_key, object_key
from hdversion.model.retention import Policy
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import md5_bytes, md5_file
from tests.conftest import Project, run_cli
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX, configure

Json = dict[str, Any]


def backup(project: Project, message: str = "", cloud: tuple[str, ...] = ()) -> Json:
    """A backup made in-process (the CLI is tested elsewhere), as `backup --json` says it."""
    result = api.backup(repo=project.root, message=message, remotes=cloud)
    assert result.failure() is None, result.failure()
    return {"tag": result.backup.tag, "timestamp": result.backup.timestamp,
            "commit": result.backup.commit, "files": [vars(f) for f in result.files]}


def files_in(top: Path) -> set[str]:
    """Every file under `top` (temporary files included), relative."""
    return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()} \
        if top.exists() else set()


def assert_restored(target: Path, made: Json) -> None:
    """Every file of the backup, byte-identical (by md5 and size), and nothing else."""
    assert files_in(target) == {f["path"] for f in made["files"]}
    for entry in made["files"]:
        assert md5_file(target / entry["path"]) == (entry["md5"], entry["size"]), entry["path"]


# -- a local remote (a directory): fast ----------------------------------------------------


@pytest.fixture(scope="module")
def local(project_template: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Project, Json]:
    """One project with one backup in its default local remote (`backups/`)."""
    root = tmp_path_factory.mktemp("bucket-local") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    return project, backup(project, "kept in a directory")


@pytest.fixture
def project_copy(local: tuple[Project, Json], tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Project:
    """A copy of the module's project (its backup included), free to change."""
    monkeypatch.setenv("HDVERSION_GIT_REMOTE", "")
    root = tmp_path / "project"
    shutil.copytree(local[0].root, root, symlinks=True)
    return Project(root)


@pytest.fixture
def remote_copy(local: tuple[Project, Json], tmp_path: Path) -> Path:
    """A copy of the local remote, free to be damaged."""
    copy = tmp_path / "remote"
    shutil.copytree(local[0].root / "backups", copy)
    return copy


def test_list_and_restore_from_a_directory_without_any_repository(
        local: tuple[Project, Json], tmp_path: Path) -> None:
    project, made = local
    remote = project.root / "backups"
    listed = run_cli(tmp_path, "list", "--json", "--remote-url", str(remote), check=True)
    [record] = json.loads(listed.stdout)
    assert record["tag"] == made["tag"] and record["message"] == "kept in a directory"
    assert record["total_files"] == len(made["files"])
    assert not (tmp_path / ".git").exists()

    restored = run_cli(tmp_path, "restore", "--json", "--remote-url", str(remote),
                       "--target", "out", check=True)
    report = json.loads(restored.stdout)
    assert report["verified"] is True and report["latest"] is True
    assert report["tag"] == made["tag"]
    assert {f["store"] for f in made["files"]} == {"dvc", "git"}
    assert_restored(tmp_path / "out", made)


def test_the_local_remote_holds_the_manifest_and_the_git_stored_files(
        local: tuple[Project, Json]) -> None:
    project, made = local
    folder = project.root / "backups" / "hdversion" / "backups" / made["timestamp"]
    record = json.loads((folder / "manifest.json").read_text())
    assert record["commit"] == made["commit"]
    assert md5_bytes(record["files"].encode()) == json.loads(record["tag"])["files_md5"]
    git_md5s = {f["md5"] for f in made["files"] if f["store"] == "git"}
    assert {p.name for p in (folder / "blobs").iterdir()} == git_md5s


def test_usage_errors_change_nothing(local: tuple[Project, Json], tmp_path: Path) -> None:
    remote = str(local[0].root / "backups")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    for args in [
        ("restore", "--remote-url", remote),  # no --target: there is no workspace
        ("restore", "--remote-url", remote, "--target", "x", "--only", "a", "--cloud"),
        ("list", "--endpoint-url", "http://127.0.0.1:1"),  # without --remote-url
    ]:
        result = run_cli(tmp_path, *args)
        assert result.returncode == ExitCode.USAGE, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
    for target, timestamp, url, code in [
        ("full", None, remote, ExitCode.USAGE),  # not empty
        ("x", "20990101_000000", remote, ExitCode.NO_SUCH_BACKUP),
        ("x", "2099", remote, ExitCode.NO_SUCH_BACKUP),  # a prefix of no backup
        ("x", "2099*", remote, ExitCode.USAGE),
        ("x", None, str(tmp_path / "nowhere"), ExitCode.CONFIGURATION),
        ("x", None, "ftp://host/x", ExitCode.USAGE),
    ]:
        with pytest.raises(HdversionError) as caught:
            restore_from_bucket(url, target=tmp_path / target, ref=timestamp)
        assert caught.value.exit_code == code, caught.value.message
    assert files_in(tmp_path) == {"full/mine.txt"}


def forge(remote: Path, timestamp: str, change: Callable[[Json, Json], bool]) -> None:
    """Rewrite a backup's manifest in the remote: `change(tag, file_list)` edits the two
    parts in place; it returns whether the tag's files_md5 is to follow the new list (a
    careful forger) or not."""
    path = remote / manifest_key(timestamp)
    record = json.loads(path.read_text())
    tag, files = json.loads(record["tag"]), json.loads(record["files"])
    follow = change(tag, files)
    record["files"] = json.dumps(files, sort_keys=True, separators=(",", ":")) + "\n"
    if follow:
        tag["files_md5"] = md5_bytes(record["files"].encode())
    record["tag"] = json.dumps(tag, sort_keys=True, separators=(",", ":"))
    path.write_text(json.dumps(record))


def model_entry(files: Json) -> Json:
    [entry] = [f for f in files["files"] if f["path"] == "models/keras_mlp_model.h5"]
    assert isinstance(entry, dict)
    return entry


def escape_path(tag: Json, files: Json) -> bool:
    model_entry(files)["path"] = "../escaped.h5"
    return True


def into_git_hooks(tag: Json, files: Json) -> bool:
    model_entry(files)["path"] = ".git/hooks/post-checkout"
    return True


def file_and_folder(tag: Json, files: Json) -> bool:
    """The model listed as a file and as the folder of another file (inside its output), the
    tag's outputs forged to agree."""
    moved = "models/sklearn_mlp_model.joblib"
    [other] = [f for f in files["files"] if f["path"] == moved]
    other["path"] = "models/keras_mlp_model.h5/inside"
    [model] = [o for o in tag["outputs"] if o["path"] == "models/keras_mlp_model.h5"]
    model["nfiles"] += 1
    model["size"] += other["size"]
    tag["outputs"] = [o for o in tag["outputs"] if o["path"] != moved]
    return True


def list_not_the_tags(tag: Json, files: Json) -> bool:
    model_entry(files)["path"] = "models/other.h5"
    return False


def damage_object(remote: Path, entry: Json, how: str) -> None:
    path = remote / object_key(entry["md5"])
    data = bytearray(path.read_bytes())
    path.chmod(0o644)
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "missing":
        path.unlink()
    elif how == "oversized":
        path.write_bytes(bytes(data) + b"x" * 5000)
    elif how == "truncated":
        path.write_bytes(bytes(data[:-1]))


@pytest.mark.parametrize("attack", [escape_path, into_git_hooks, list_not_the_tags,
                                    "flip", "missing", "oversized", "truncated"],
                         ids=lambda a: a if isinstance(a, str) else a.__name__)
def test_a_hostile_remote_gets_exit_5_and_writes_nothing(
        local: tuple[Project, Json], remote_copy: Path, tmp_path: Path,
        attack: str | Callable[[Json, Json], bool]) -> None:
    _, made = local
    if isinstance(attack, str):
        [model] = [f for f in made["files"] if f["path"] == "models/keras_mlp_model.h5"]
        damage_object(remote_copy, model, attack)
    else:
        forge(remote_copy, made["timestamp"], attack)
    target = tmp_path / "out"
    with pytest.raises(HdversionError) as caught:
        restore_from_bucket(str(remote_copy), target=target, ref=made["timestamp"])
    assert caught.value.exit_code == ExitCode.VERIFICATION_FAILED, caught.value.message
    # Which rule refused: the size bound stops a longer object before its hash could.
    rule = {"oversized": "holds more than the", "truncated": "its manifest records",
            "flip": "data hashes to", "missing": "is missing in"}
    if isinstance(attack, str):
        assert rule[attack] in caught.value.message, caught.value.message
    assert files_in(tmp_path) - {f"remote/{p}" for p in files_in(remote_copy)} == set()
    assert not target.exists()
    assert not list(tmp_path.rglob(TEMP_PREFIX + "*"))
    assert not (tmp_path.parent / "escaped.h5").exists()



def test_a_file_listed_as_the_folder_of_another_is_refused_before_any_write(
        local: tuple[Project, Json], remote_copy: Path, tmp_path: Path) -> None:
    """Found out before the first write (every restore checks it), not half-way through the
    renames."""
    _, made = local
    forge(remote_copy, made["timestamp"], file_and_folder)
    target = tmp_path / "out"
    with pytest.raises(HdversionError) as caught:
        restore_from_bucket(str(remote_copy), target=target, ref=made["timestamp"])
    assert caught.value.exit_code == ExitCode.VERIFICATION_FAILED, caught.value.message
    assert "lists models/keras_mlp_model.h5 as a file and as the folder of " \
        "models/keras_mlp_model.h5/inside" in caught.value.message
    assert not target.exists()

def test_an_empty_target_is_left_empty_after_a_failure(
        local: tuple[Project, Json], remote_copy: Path, tmp_path: Path) -> None:
    _, made = local
    [model] = [f for f in made["files"] if f["path"] == "models/keras_mlp_model.h5"]
    damage_object(remote_copy, model, "flip")
    (tmp_path / "out").mkdir()
    with pytest.raises(HdversionError) as caught:
        restore_from_bucket(str(remote_copy), target=tmp_path / "out")
    assert caught.value.exit_code == ExitCode.VERIFICATION_FAILED
    assert "models/keras_mlp_model.h5" in caught.value.message
    assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())



@pytest.mark.parametrize("beside", ["foreign", "changed"])
def test_a_target_with_staged_files_is_completed_only_if_a_killed_restore_left_it(
        local: tuple[Project, Json], tmp_path: Path, beside: str) -> None:
    """A re-run completes what a killed restore left (staged files, and files of the backup
    each whole); a staged file beside another file, or beside a file of the backup that is
    not the backup's, is no such thing: refused as not empty, nothing touched."""
    project, made = local
    remote = str(project.root / "backups")
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    (out / "models" / f"{TEMP_PREFIX}1-0").write_bytes(b"half staged")
    model = "models/keras_mlp_model.h5"
    (out / model).write_bytes(project.read(model))  # renamed in before the kill
    resumed = restore_from_bucket(remote, target=out)
    assert resumed.failure() is None and resumed.all_verified
    assert_restored(out, made)
    [report] = [f for f in resumed.files if f.path == model]
    assert report.action == "unchanged"

    other = tmp_path / "other"
    (other / "models").mkdir(parents=True)
    (other / "models" / f"{TEMP_PREFIX}1-0").write_bytes(b"half staged")
    if beside == "foreign":
        (other / "notes.txt").write_text("mine")
    else:
        (other / model).write_bytes(b"not the backup's model")
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    with pytest.raises(HdversionError) as caught:
        restore_from_bucket(remote, target=other)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "is not empty" in caught.value.message
    assert {p: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before

def test_invalid_manifests_are_listed_as_skipped(
        local: tuple[Project, Json], remote_copy: Path, tmp_path: Path) -> None:
    _, made = local
    folders = remote_copy / "hdversion" / "backups"
    shutil.copytree(folders / made["timestamp"], folders / "20200101_000000")  # moved
    (folders / "not-a-timestamp").mkdir()
    (folders / "20200102_000000").mkdir()  # an unfinished backup: no manifest
    listed = list_bucket(str(remote_copy))
    assert [b.tag for b in listed.catalog.backups] == [made["tag"]]
    why = dict(listed.catalog.invalid)
    assert "folder 20200101_000000" in why["backup/20200101_000000"]
    assert "no manifest" in why["backup/20200102_000000"]
    assert "not YYYYMMDD_HHMMSS" in why["backup/not-a-timestamp"]
    result = run_cli(tmp_path, "list", "--remote-url", str(remote_copy))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("skipped") == 3


def test_prune_deletes_the_manifests_of_pruned_backups_and_sync_writes_missing_ones(
        local: tuple[Project, Json], project_copy: Project, tmp_path: Path) -> None:
    first, project = local[1], project_copy
    project.retrain(2)
    second = backup(project, "second")
    remote = project.root / "backups"
    folders = remote / "hdversion" / "backups"
    assert {p.name for p in folders.iterdir()} == {first["timestamp"], second["timestamp"]}
    # An older hdversion wrote no manifest: sync writes it.
    shutil.rmtree(folders / second["timestamp"])
    synced = api.sync(repo=project.root, remote="local")
    assert synced.failure() is None and list(synced.manifests) == [second["tag"]]
    assert (folders / second["timestamp"] / "manifest.json").is_file()

    # A prune killed after deleting the manifest leaves the rest of the folder: still the
    # pruned backup's, finished by the prune.
    (folders / first["timestamp"] / "manifest.json").unlink()
    pruned = api.prune(repo=project.root, policy=Policy(last=1))
    assert pruned.failure() is None
    assert pruned.manifests_deleted == {"local": [first["timestamp"]]}
    assert {p.name for p in folders.iterdir()} == {second["timestamp"]}
    listed = list_bucket(str(remote))
    assert [b.tag for b in listed.catalog.backups] == [second["tag"]]
    target = tmp_path / "restored"
    result = restore_from_bucket(str(remote), target=target)
    assert result.failure() is None and result.backup.tag == second["tag"]
    assert_restored(target, second)


def test_copy_writes_the_manifests_so_the_target_alone_lists_and_restores(
        local: tuple[Project, Json], project_copy: Project, tmp_path: Path) -> None:
    """The disaster path: a backup copied to a USB disk is restorable from that disk alone,
    and a disk that an older `copy` filled with objects only gets its manifests on the next
    copy."""
    first, project = local[1], project_copy
    project.retrain(2)
    second = backup(project, "second")
    usb = tmp_path / "usb"  # a new directory remote, made by the copy
    assert project.cli("remote", "add", "usb", str(usb)).returncode == 0
    copied = project.cli("copy", "--from", "local", "--to", "usb", "--json")
    assert copied.returncode == 0, copied.stderr
    assert set(json.loads(copied.stdout)["manifests"]) == {first["tag"], second["tag"]}
    listed = run_cli(tmp_path, "list", "--json", "--remote-url", str(usb))
    assert listed.returncode == 0, listed.stderr
    assert [b["tag"] for b in json.loads(listed.stdout)] == [second["tag"], first["tag"]]
    for made in (first, second):
        target = tmp_path / f"restored-{made['timestamp']}"
        restored = run_cli(tmp_path, "restore", "--json", "--remote-url", str(usb),
                           "-t", made["timestamp"], "--target", str(target))
        assert restored.returncode == 0, restored.stderr
        assert_restored(target, made)

    # Objects without manifests (an older copy): copied again, the manifests come.
    shutil.rmtree(usb / "hdversion")
    again = project.cli("copy", "--from", "local", "--to", "usb", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["already"] == [first["tag"], second["tag"]] and report["copied"] == {}
    assert set(report["manifests"]) == {first["tag"], second["tag"]}
    assert [b.tag for b in list_bucket(str(usb)).catalog.backups] == [second["tag"],
                                                                       first["tag"]]


def test_list_of_a_remote_with_objects_but_no_manifest_says_so(
        local: tuple[Project, Json], remote_copy: Path, tmp_path: Path) -> None:
    shutil.rmtree(remote_copy / "hdversion")
    result = run_cli(tmp_path, "list", "--remote-url", str(remote_copy))
    assert result.returncode == ExitCode.NO_SUCH_BACKUP, (result.stdout, result.stderr)
    assert "holds DVC objects but no backup manifest" in result.stderr
    assert "sync" in result.stderr and "copy" in result.stderr
    # An empty remote holds no backups, and says only that.
    (tmp_path / "empty").mkdir()
    empty = run_cli(tmp_path, "list", "--json", "--remote-url", str(tmp_path / "empty"))
    assert empty.returncode == 0 and json.loads(empty.stdout) == [], empty.stderr


def test_a_failed_manifest_write_is_a_partial_backup(project_copy: Project) -> None:
    folders = project_copy.root / "backups" / "hdversion"
    shutil.rmtree(folders)
    folders.write_text("a file where the folder must go")
    result = api.backup(repo=project_copy.root)
    failure = result.failure()
    assert failure is not None and failure.exit_code == ExitCode.PARTIAL
    assert "manifest in local" in failure.message
    assert result.backup.tag in project_copy.git("tag", "-l")


# -- cloud remotes --------------------------------------------------------------------------


def env_credentials(server: StorageServer) -> dict[str, str]:
    """The server's credentials as the SDKs read them from the environment."""
    _, secrets = server.dvc_remote_config("any")
    names = {"access_key_id": "AWS_ACCESS_KEY_ID",
             "secret_access_key": "AWS_SECRET_ACCESS_KEY",
             "connection_string": "AZURE_STORAGE_CONNECTION_STRING"}
    return {names[k]: v for k, v in secrets.items()}


def bucket_args(server: StorageServer, bucket: str) -> list[str]:
    args = ["--remote-url", server.url_for(bucket, PREFIX)]
    if server.name != "azure":
        args += ["--endpoint-url", server.endpoint]
    return args


def cloud_round_trip(project: Project, server: StorageServer, bucket: str,
                     tmp_path: Path) -> Json:
    """Back up to the bucket, then list and restore from a directory that is no repository,
    with the credentials of the environment only (the CLI, as a user runs it)."""
    configure(project, server, bucket)
    made = backup(project, "to the cloud", cloud=(server.name,))
    keys = set(server.list_keys(bucket))
    assert f"{PREFIX}/{manifest_key(made['timestamp'])}" in keys
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = env_credentials(server)
    listed = run_cli(outside, "list", "--json", *bucket_args(server, bucket), env=env)
    assert listed.returncode == 0, listed.stderr
    assert [r["tag"] for r in json.loads(listed.stdout)] == [made["tag"]]
    restored = run_cli(outside, "restore", "--json", *bucket_args(server, bucket),
                       "--target", "out", env=env)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["verified"] is True
    assert_restored(outside / "out", made)
    assert subprocess.run(["git", "rev-parse"], cwd=outside,
                          capture_output=True).returncode != 0
    return made


@pytest.fixture
def no_git_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HDVERSION_GIT_REMOTE", "")


@pytest.mark.cloud
@pytest.mark.usefixtures("no_git_remote")
def test_s3_bucket_alone(project: Project, s3_server: StorageServer,
                         bucket_factory: Callable[[StorageServer], str],
                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = bucket_factory(s3_server)
    made = cloud_round_trip(project, s3_server, bucket, tmp_path)
    url = s3_server.url_for(bucket, PREFIX)
    # A damaged object (same size), then a missing one, in the bucket: 5, nothing written.
    [model] = [f for f in made["files"] if f["path"] == "models/keras_mlp_model.h5"]
    key = f"{PREFIX}/{object_key(model['md5'])}"
    data = bytearray(s3_server.read_object(bucket, key))
    data[100] ^= 0xFF
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", env_credentials(s3_server)["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY",
                       env_credentials(s3_server)["AWS_SECRET_ACCESS_KEY"])
    for damage in (lambda: s3_server.corrupt_object(bucket, key, bytes(data)),
                   lambda: s3_server.delete_object(bucket, key)):
        damage()
        with pytest.raises(HdversionError) as caught:
            restore_from_bucket(url, target=tmp_path / "damaged", endpoint_url=s3_server.endpoint)
        assert caught.value.exit_code == ExitCode.VERIFICATION_FAILED, caught.value.message
        assert not (tmp_path / "damaged").exists()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # A credentials file instead of the environment (config/cloud_credentials.json's format).
    secrets = tmp_path / "cloud_credentials.json"  # the name no_secret_left_behind spares
    secrets.write_text(json.dumps({"aws_access_key_id": env_credentials(s3_server)[
        "AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env_credentials(s3_server)[
        "AWS_SECRET_ACCESS_KEY"], "s3_endpoint_url": s3_server.endpoint}))
    assert [b.tag for b in list_bucket(url, credentials=secrets).catalog.backups] == [
        made["tag"]]
    # No credentials at all, refused ones, an endpoint nobody answers, a missing bucket: 7,
    # each naming the URL.
    for env, endpoint, where in [
        ({}, s3_server.endpoint, url),
        ({"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong-secret-0000"},
         s3_server.endpoint, url),
        (env_credentials(s3_server), "http://127.0.0.1:9", url),
        (env_credentials(s3_server), s3_server.endpoint, f"s3://no-such-{bucket}/x"),
    ]:
        with monkeypatch.context() as patched:
            for name, value in env.items():
                patched.setenv(name, value)
            with pytest.raises(HdversionError) as caught:
                list_bucket(where, endpoint_url=endpoint)
        assert caught.value.exit_code == ExitCode.CONFIGURATION, caught.value.message
        assert where in caught.value.message
        assert "wrong-secret-0000" not in caught.value.message


@pytest.mark.reliability
@pytest.mark.cloud
@pytest.mark.usefixtures("no_git_remote")
def test_prune_deletes_the_pruned_backups_manifest_from_the_bucket(
        project: Project, s3_server: StorageServer,
        bucket_factory: Callable[[StorageServer], str], tmp_path: Path) -> None:
    bucket = bucket_factory(s3_server)
    first = cloud_round_trip(project, s3_server, bucket, tmp_path)
    project.retrain(3)
    second = backup(project, "second", cloud=("s3",))
    pruned = api.prune(repo=project.root, policy=Policy(last=1), remote="s3")
    assert pruned.failure() is None
    assert pruned.manifests_deleted["s3"] == [first["timestamp"]]
    keys = set(s3_server.list_keys(bucket, f"{PREFIX}/hdversion/"))
    assert not any(first["timestamp"] in key for key in keys)
    assert f"{PREFIX}/{manifest_key(second['timestamp'])}" in keys
    outside = tmp_path / "elsewhere"
    again = run_cli(outside, "restore", "--json", *bucket_args(s3_server, bucket),
                    "--target", "again", env=env_credentials(s3_server))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["tag"] == second["tag"]
    assert_restored(outside / "again", second)


@pytest.mark.reliability
@pytest.mark.cloud
@pytest.mark.usefixtures("no_git_remote")
@pytest.mark.parametrize("backend", ["azure", "gcp"])
def test_azure_and_gcs_bucket_alone(project: Project, backend: str,
                                    request: pytest.FixtureRequest,
                                    bucket_factory: Callable[[StorageServer], str],
                                    tmp_path: Path) -> None:
    server: StorageServer = request.getfixturevalue(
        {"azure": "azure_server", "gcp": "gcs_server"}[backend])
    cloud_round_trip(project, server, bucket_factory(server), tmp_path)


def test_a_backup_killed_before_its_remote_manifest_is_completed_by_sync(
        project: Project, tmp_path: Path) -> None:
    """kill -9 at the last step of a backup (its blobs are in the local remote, its
    manifest not yet): the backup stands, the bucket lists nothing half-made, and the next
    `sync` writes the manifest so that the remote alone restores it."""
    from hdversion.util.pausepoints import PausePoint
    from tests.conftest import pause_marker, start_paused

    proc = start_paused(project.root, PausePoint.BEFORE_REMOTE_MANIFEST, "backup", "--json")
    proc.kill()
    proc.wait()
    pause_marker(project.root).unlink(missing_ok=True)
    [tag] = project.git("tag").split()
    remote = project.root / "backups"
    # Nothing half-made is listed; the objects without a manifest are named as such.
    half = run_cli(tmp_path, "list", "--json", "--remote-url", str(remote))
    assert half.returncode == ExitCode.NO_SUCH_BACKUP, half.stderr
    assert "holds DVC objects but no backup manifest (1 folder(s) there have no valid " \
        "manifest)" in json.loads(half.stdout)["error"]
    assert run_cli(project.root, "sync", "--remote", "local", check=True).returncode == 0
    listed = json.loads(run_cli(tmp_path, "list", "--json", "--remote-url", str(remote),
                                check=True).stdout)
    assert [r["tag"] for r in listed] == [tag]
    target = tmp_path / "restored"
    run_cli(tmp_path, "restore", "--remote-url", str(remote), "--target", str(target),
            check=True)
    assert md5_file(target / "models/keras_mlp_model.h5")[0] == \
        md5_file(project.root / "models/keras_mlp_model.h5")[0]
