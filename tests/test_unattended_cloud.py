"""Several cloud remotes (the 3-2-1 rule) against the real S3 and GCS servers on 127.0.0.1:
every backup goes to each, each is checked by its own listing and reported; one that fails
is exit 3 with the local backup standing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX, configure
from tests.test_prune import objects_of

pytestmark = pytest.mark.cloud


def keys(server: StorageServer, bucket: str) -> set[str]:
    return {key for key in server.list_keys(bucket) if key.startswith(f"{PREFIX}/files/")}


def expected_keys(data: dict) -> set[str]:
    return {f"{PREFIX}/files/md5/{m[:2]}/{m[2:]}" for m in objects_of(data)}


# 40 s (two emulators, each push checked): the long tier keeps `make test` under 15 minutes.
@pytest.mark.reliability
def test_backup_to_several_remotes_reports_each(
        project: Project, s3_server: StorageServer, gcs_server: StorageServer,
        bucket_factory: Callable[[StorageServer], str]) -> None:
    s3_bucket, gcs_bucket = bucket_factory(s3_server), bucket_factory(gcs_server)
    configure(project, s3_server, s3_bucket)
    public, _ = gcs_server.dvc_remote_config(gcs_bucket)
    options = [f"-o{key}={value}" for key, value in public.items()]
    assert project.cli("remote", "add", "gcp", gcs_server.url_for(gcs_bucket, PREFIX),
                       *options).returncode == 0

    result = project.cli("backup", "--json", "--storage", "s3", "--storage", "gcp")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(r["name"], r["ok"]) for r in data["remotes"]] == [("s3", True), ("gcp", True)]
    assert expected_keys(data) <= keys(s3_server, s3_bucket)
    assert expected_keys(data) <= keys(gcs_server, gcs_bucket)

    # The settings' default set, and one remote down: exit 3, the backup stands.
    (project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"
        "  remotes: [s3, gcp]\n")
    project.retrain(2)
    # Both remotes answer the check before any work; then the GCS server goes down.
    proc = start_paused(project.root, PausePoint.BEFORE_CLOUD_PUSH, "backup", "--json")
    gcs_server.stop()
    try:
        pause_marker(project.root).unlink()
        out, err = proc.communicate(timeout=300)
    finally:
        gcs_server.start()
    assert proc.returncode == 3, err
    assert "gcp failed" in err
    data = json.loads(out)
    assert [(r["name"], r["ok"]) for r in data["remotes"]] == [("s3", True), ("gcp", False)]
    assert data["tag"] in project.git("tag")
    assert expected_keys(data) <= keys(s3_server, s3_bucket)


def test_the_ci_script_backs_up_to_s3_and_pushes_the_tag(
        project: Project, s3_server: StorageServer,
        bucket_factory: Callable[[StorageServer], str], tmp_path: Path) -> None:
    """scripts/ci_backup.sh alone (the workflow's own steps: tests/test_ci_workflow.py):
    against the S3 server and a bare origin, credentials only in the environment, no git
    identity; a missing secret named before any work."""
    bucket = bucket_factory(s3_server)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    project.git("config", "--unset", "user.name")
    project.git("config", "--unset", "user.email")
    public, secrets = s3_server.dvc_remote_config(bucket)
    env = {**os.environ, "HDVERSION": str(Path(sys.executable).with_name("hdversion")),
           "HDVERSION_S3_URL": s3_server.url_for(bucket, PREFIX),
           "HDVERSION_S3_ENDPOINT": public["endpointurl"],
           "AWS_ACCESS_KEY_ID": secrets["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": secrets["secret_access_key"],
           "GITHUB_SHA": "0123abc", "HOME": str(tmp_path)}
    script = Path(__file__).resolve().parents[1] / "scripts" / "ci_backup.sh"
    done = subprocess.run(["bash", str(script)], cwd=project.root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["exit_code"] == 0 and data["backup"]["remotes"] == [
        {"name": "s3", "ok": True, "detail": ""}]
    on_origin = subprocess.run(["git", "ls-remote", "--tags", str(origin)], check=True,
                               capture_output=True, text=True).stdout
    assert f"refs/tags/{data['tag']}" in on_origin
    assert any(key.startswith(f"{PREFIX}/files/md5/") for key in s3_server.list_keys(bucket))
    assert "0123abc" in project.git("tag", "-n1", data["tag"])
    # Without the secrets it says what is missing, before any work.
    missing = subprocess.run(["bash", str(script)], cwd=project.root,
                             env={k: v for k, v in env.items() if k != "AWS_SECRET_ACCESS_KEY"},
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "AWS_SECRET_ACCESS_KEY" in missing.stderr


@pytest.mark.reliability
def test_four_clones_back_up_to_one_bucket_and_one_origin_at_once(
        project: Project, s3_server: StorageServer,
        bucket_factory: Callable[[StorageServer], str], tmp_path: Path) -> None:
    """CI jobs on four machines at once: no tag lost or overwritten, every backup restores."""
    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("add", ".dvc/config", ".gitignore")
    project.git("commit", "-q", "-m", "s3 remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    _, secrets = s3_server.dvc_remote_config(bucket)
    clones = []
    for number in range(4):
        root = tmp_path / f"machine{number}"
        shutil.copytree(project.root, root, symlinks=True)  # the same data, another clone
        clone = Project(root)
        clone.retrain(10 + number)
        clones.append(clone)
    hdversion = str(Path(sys.executable).with_name("hdversion"))
    runs = [subprocess.Popen([hdversion, "backup", "--json", "--storage", "s3"], cwd=c.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in clones]
    results = [(p.communicate(timeout=600), p.returncode) for p in runs]
    for (_out, err), code in results:
        assert code == 0, err
    made = [json.loads(out) for (out, _), _ in results]
    tags = {m["tag"] for m in made}
    assert len(tags) == 4
    on_origin = subprocess.run(["git", "ls-remote", "--tags", "--refs", str(origin)],
                               check=True, capture_output=True, text=True).stdout
    for data in made:
        assert f"refs/tags/{data['tag']}" in on_origin
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(origin), str(fresh)], check=True)
    from tests.test_cloud import write_credentials
    write_credentials(fresh, secrets)
    for data in made:
        out = tmp_path / f"restored-{data['timestamp']}"
        restored = subprocess.run([hdversion, "restore", "--json", "--storage", "s3", "-t",
                                   data["timestamp"], "--target", str(out)], cwd=fresh,
                                  capture_output=True, text=True, timeout=300)
        assert restored.returncode == 0, restored.stderr
        assert json.loads(restored.stdout)["verified"]
