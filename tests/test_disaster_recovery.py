"""docs/disaster-recovery.md, run as written: each runbook's commands, line by line, in the
disaster it is for, against real git, real DVC and the S3 server on 127.0.0.1. A line's
exit code must be the one its comment names (`# exit 5`), else 0; then the files it brings
back are compared with the backup's manifest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hdversion.util.hashing import md5_file
from tests.cloud_fixtures import new_bucket_name
from tests.conftest import Project
from tests.storage_servers import S3Server, StorageServer
from tests.test_cloud import PREFIX, configure, write_credentials
from tests.test_restore import MODEL, backup

DOC = Path(__file__).resolve().parents[1] / "docs" / "disaster-recovery.md"
SKLEARN = "models/sklearn_mlp_model.joblib"
_BLOCK = re.compile(r"<!-- runbook: ([a-z-]+) -->\n```bash\n(.*?)```", re.S)


def runbooks() -> dict[str, list[str]]:
    return {name: [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
            for name, body in _BLOCK.findall(DOC.read_text())}


def expected_code(line: str) -> int:
    match = re.search(r"#\s*exit (\d+)", line)
    return int(match.group(1)) if match else 0


@dataclass
class Ran:
    lines: list[str]
    codes: list[int]
    output: str


def run_runbook(name: str, cwd: Path, env: dict[str, str] | None = None) -> Ran:
    """Run one runbook in one shell (a `cd` carries over), recording each line's code."""
    lines = runbooks()[name]
    codes_file = cwd / f".runbook-{name}.codes"
    script = "".join(f'{line}\necho $? >> "{codes_file}"\n' for line in lines)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    result = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **(env or {}), "PATH": path}, timeout=600)
    codes = [int(c) for c in codes_file.read_text().split()] if codes_file.exists() else []
    codes_file.unlink(missing_ok=True)
    ran = Ran(lines, codes, result.stdout + result.stderr)
    assert codes == [expected_code(ln) for ln in lines], (
        list(zip(lines, codes, strict=False)), ran.output)
    return ran


def test_every_disaster_has_a_runbook_the_tests_run() -> None:
    assert list(runbooks()) == ["lost-file", "machine-lost", "bucket-only",
                                "bucket-corrupted", "air-gapped", "ransomware"]
    tested = {m.group(1) for m in re.finditer(r'run_runbook\("([a-z-]+)"',
                                               Path(__file__).read_text())}
    assert tested == set(runbooks())


def assert_restored(root: Path, made: dict) -> None:
    for entry in made["files"]:
        assert md5_file(root / entry["path"])[0] == entry["md5"], entry["path"]


def test_runbook_lost_file(project: Project) -> None:
    made = backup(project)
    (project.root / MODEL).unlink()
    project.damage(SKLEARN, b"overwritten by mistake")
    run_runbook("lost-file", project.root)
    assert_restored(project.root, made)
    safety = json.loads(project.cli("list", "--json", "--kind", "safety").stdout)
    assert len(safety) == 1  # the overwritten bytes were saved before the restore


@pytest.fixture
def in_s3(project: Project, tmp_path: Path, s3_server: StorageServer,
          bucket_factory: Callable[[StorageServer], str]) -> tuple[Project, dict, dict]:
    """The project with a bare origin and an S3 remote, one backup in both; the bucket's
    credentials as the runbooks' variables."""
    bucket = bucket_factory(s3_server)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    configure(project, s3_server, bucket)
    # As a user does: the remote's public settings are committed and pushed with the code.
    project.git("commit", "-q", "-am", "an S3 remote")
    project.git("push", "-q", "origin", "main")
    public, secrets = s3_server.dvc_remote_config(bucket)
    made = backup(project, "--storage", "s3")
    env = {"GIT_URL": str(origin), "BUCKET_URL": s3_server.url_for(bucket, PREFIX),
           "S3_ENDPOINT": public["endpointurl"], "AWS_DEFAULT_REGION": public["region"],
           "AWS_ACCESS_KEY_ID": secrets["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": secrets["secret_access_key"]}
    return project, made, env


@pytest.mark.cloud
def test_runbook_machine_lost(in_s3: tuple[Project, dict, dict], tmp_path: Path) -> None:
    _, made, env = in_s3
    new_machine = tmp_path / "new-machine"
    new_machine.mkdir()
    run_runbook("machine-lost", new_machine, env)
    assert_restored(new_machine / "heart-disease", made)


@pytest.mark.cloud
def test_runbook_bucket_only(in_s3: tuple[Project, dict, dict], tmp_path: Path) -> None:
    _, made, env = in_s3
    nothing = tmp_path / "no-clone"
    nothing.mkdir()
    run_runbook("bucket-only", nothing, env)
    assert_restored(nothing / "recovered", made)


@pytest.mark.cloud
def test_runbook_bucket_corrupted(in_s3: tuple[Project, dict, dict],
                                  s3_server: StorageServer) -> None:
    project, made, env = in_s3
    bucket = env["BUCKET_URL"].removeprefix("s3://").split("/")[0]
    entry = next(f for f in made["files"] if f["path"] == MODEL)
    key = f"{PREFIX}/files/md5/{entry['md5'][:2]}/{entry['md5'][2:]}"
    s3_server.corrupt_object(bucket, key, b"\0" * entry["size"])
    ran = run_runbook("bucket-corrupted", project.root, env)
    assert MODEL in ran.output
    # Whole again: a restore from S3 alone, with the cache and the local remote gone.
    for store in (".dvc/cache", "backups"):
        subprocess.run(["rm", "-rf", str(project.root / store)], check=True)
    (project.root / MODEL).unlink()
    assert project.cli("restore", "--force", "--storage", "s3").returncode == 0
    assert_restored(project.root, made)


def test_runbook_air_gapped(project: Project, tmp_path: Path) -> None:
    made = backup(project)
    run_runbook("air-gapped", project.root, {"T": made["timestamp"]})
    assert_restored(project.root / "air-gapped", made)


@pytest.mark.cloud
@pytest.mark.skipif(shutil.which("aws") is None, reason="the runbook uses the AWS CLI")
def test_runbook_ransomware(project: Project, tmp_path: Path, s3_server: S3Server) -> None:
    """The remote locked (`remote add --lock`); the attacker, with the backup machine's
    key, deletes every object of the bucket and the local copies; the locked versions
    cannot be deleted, and the runbook brings the backup back from them alone."""
    bucket = new_bucket_name()
    s3_server.client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    public, secrets = s3_server.dvc_remote_config(bucket)
    write_credentials(project.root, secrets)
    added = project.cli("remote", "add", "s3", s3_server.url_for(bucket, PREFIX),
                        *(f"-o{k}={v}" for k, v in public.items()), "--lock", "1d")
    assert added.returncode == 0, added.stderr
    made = backup(project, "--cloud", "--storage", "s3")

    client = s3_server.client  # the backup machine's key
    keys = s3_server.list_keys(bucket, PREFIX + "/")
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert s3_server.list_keys(bucket) == []
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    refused = client.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})
    assert len(refused.get("Errors", [])) == len(versions) == len(keys)
    shutil.rmtree(project.root)

    nothing = tmp_path / "after-the-attack"
    nothing.mkdir()
    env = {"BUCKET_URL": s3_server.url_for(bucket, PREFIX),
           "S3_ENDPOINT": public["endpointurl"], "AWS_DEFAULT_REGION": public["region"],
           "AWS_ACCESS_KEY_ID": secrets["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": secrets["secret_access_key"]}
    ran = run_runbook("ransomware", nothing, env)
    assert f"{len(keys)}\n" in ran.output
    assert_restored(nothing / "recovered", made)
