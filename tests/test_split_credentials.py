"""Split credentials on moto with IAM enforced: a backup-only key (the policy of
docs/configuration.md, "Split credentials", word for word) backs up, syncs, verifies and
restores; prune with it exits 7 before anything is deleted (tags here and on origin, the
bucket, the local stores); prune with `--profile admin` works. A bulk delete the server
refuses is an error, never a count of objects deleted."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from hdversion.datastore.deletion import PROBE_KEY
from tests.cloud_fixtures import new_bucket_name
from tests.conftest import Project
from tests.storage_servers import S3_REGION, S3Server
from tests.test_cloud import CREDENTIAL_KEYS, PREFIX, configure
from tests.test_prune_cloud import make_origin, origin_tags, stored
from tests.test_restore import backup

pytestmark = pytest.mark.cloud
Json = dict[str, Any]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def documented_policy(bucket: str) -> str:
    block = re.search(r"<!-- policy: backup-only -->\n```json\n(.*?)```", DOCS.read_text(),
                      re.S)
    assert block is not None, "the backup-only policy left docs/configuration.md"
    policy = json.loads(block.group(1).replace("BUCKET", bucket).replace("PREFIX", PREFIX))
    # moto authorizes a HEAD of the bucket under an action of that name, AWS under
    # s3:ListBucket (which the policy grants): the one addition moto needs.
    policy["Statement"].append({"Effect": "Allow", "Action": "s3:HeadBucket",
                                "Resource": f"arn:aws:s3:::{bucket}"})
    return json.dumps(policy)


@dataclass
class Keys:
    writer: dict[str, str]  # as S3Server.dvc_remote_config's secrets
    admin: dict[str, str]


def make_users(server: S3Server, bucket: str, tag: str) -> Keys:
    """An IAM user under the documented backup-only policy, and one allowed everything."""
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name=S3_REGION,
                       aws_access_key_id=server.access_key_id,
                       aws_secret_access_key=server.secret_access_key)
    made = {}
    for role, policy in (("writer", documented_policy(bucket)),
                         ("admin", json.dumps({"Version": "2012-10-17", "Statement": [
                             {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))):
        user = f"{role}-{tag}"
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        iam.put_user_policy(UserName=user, PolicyName=role, PolicyDocument=policy)
        made[role] = {"access_key_id": key["AccessKeyId"],
                      "secret_access_key": key["SecretAccessKey"]}
    return Keys(made["writer"], made["admin"])


def aws_files(base: Path, admin: dict[str, str]) -> dict[str, str]:
    """An AWS credentials file with an `admin` profile, and nothing of this machine's."""
    credentials = base / "aws-credentials"
    credentials.write_text(f"[admin]\naws_access_key_id = {admin['access_key_id']}\n"
                           f"aws_secret_access_key = {admin['secret_access_key']}\n")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": str(base / "aws-config")}


@dataclass
class Setup:
    project: Project
    server: S3Server
    bucket: str
    origin: Path
    env: dict[str, str]
    first: Json
    second: Json

    def state(self) -> tuple[set[str], set[str], list[str], set[str], set[str]]:
        """Everything prune may change: tags here and on origin, every key in the bucket,
        the cache and the local remote."""
        root = self.project.root
        return (set(self.project.git("tag", "-l", "backup/*").split()),
                origin_tags(self.origin), self.server.list_keys(self.bucket),
                stored(root / ".dvc" / "cache"), stored(root / "backups"))

    def cli(self, *args: str) -> Any:
        return self.project.cli(*args, env=self.env)


@dataclass(frozen=True)
class Made:
    """The setup's two backups, made once per kind of bucket (read-only: tests copy it)."""

    root: Path
    origin: Path
    bucket: str
    locked: bool
    first: Json
    second: Json


@pytest.fixture(scope="module", params=["plain", "object-lock"])
def made(request: pytest.FixtureRequest, project_template: Path, s3_server: S3Server,
         tmp_path_factory: pytest.TempPathFactory) -> Made:
    """The project's S3 remote used with the backup-only key (in
    config/cloud_credentials.json, as a CI job has it), an `admin` AWS profile beside, a
    bare origin; two backups made with the backup-only key, the first in the bucket, the
    second synced there."""
    s3_server.start()
    base = tmp_path_factory.mktemp("split-credentials")
    bucket, locked = new_bucket_name(), request.param == "object-lock"
    s3_server.client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=locked)
    root = base / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    keys = make_users(s3_server, bucket, bucket)
    configure(project, s3_server, bucket, secrets=keys.writer)
    origin = make_origin(base)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    env = aws_files(base, keys.admin)

    first = backup(project, "--cloud", "--storage", "s3")
    project.retrain(7)
    result = project.cli("backup", "--json", env=env)
    assert result.returncode == 0, result.stderr
    second = json.loads(result.stdout)
    synced = project.cli("sync", "--json", "--storage", "s3", env=env)
    assert synced.returncode == 0, (synced.stdout, synced.stderr)
    return Made(root, origin, bucket, locked, first, second)


@pytest.fixture
def setup(made: Made, s3_server: S3Server, tmp_path: Path) -> Setup:
    """A copy of `made` of the test's own: the project, the origin, a bucket of the same
    kind holding the same objects (copied by the server, metadata and all), and a
    backup-only and an admin key of its own, whose policies name that bucket."""
    s3_server.start()
    bucket = new_bucket_name()
    client = s3_server.client
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=made.locked)
    for key in s3_server.list_keys(made.bucket):
        client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": made.bucket, "Key": key})
    root = tmp_path / "project"
    shutil.copytree(made.root, root, symlinks=True)
    project = Project(root)
    config = root / ".dvc" / "config"
    config.write_text(config.read_text().replace(made.bucket, bucket))
    keys = make_users(s3_server, bucket, bucket)
    credentials = root / "config" / "cloud_credentials.json"
    credentials.write_text(json.dumps({CREDENTIAL_KEYS[k]: v for k, v in keys.writer.items()}))
    origin = tmp_path / "origin.git"
    shutil.copytree(made.origin, origin, symlinks=True)
    project.git("remote", "set-url", "origin", str(origin))
    return Setup(project, s3_server, bucket, origin, aws_files(tmp_path, keys.admin),
                 made.first, made.second)


def test_a_backup_only_key_backs_up_verifies_restores_but_cannot_prune(
        setup: Setup, tmp_path: Path) -> None:
    project = setup.project
    verified = setup.cli("verify", "--all", "--storage", "s3", "--read-data", "--json")
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    # Restore from the bucket alone: the cache and the local remote emptied first.
    shutil.rmtree(project.root / ".dvc" / "cache")
    shutil.rmtree(project.root / "backups")
    restored = setup.cli("restore", setup.first["tag"], "--storage", "s3", "--target",
                         str(tmp_path / "restored"), "--json")
    assert restored.returncode == 0, (restored.stdout, restored.stderr)
    for entry in setup.first["files"]:
        assert (tmp_path / "restored" / entry["path"]).stat().st_size == entry["size"]
    # The writer removed its own leases: nothing left under hdversion/locks/.
    assert not [k for k in setup.server.list_keys(setup.bucket) if "/hdversion/locks/" in k]

    before = setup.state()
    refused = setup.cli("prune", "--keep-last", "1", "--storage", "s3", "--json")
    assert refused.returncode == 7, (refused.stdout, refused.stderr)
    error = json.loads(refused.stdout)
    assert "refuses deletions with these credentials" in error["error"], error
    assert "--profile admin" in error["hint"]
    assert setup.state() == before  # nothing deleted anywhere, not even a tag
    # The probe leaves nothing, not even a delete marker on the versioned bucket.
    assert PROBE_KEY not in json.dumps(setup.server.client.list_object_versions(
        Bucket=setup.bucket, Prefix=PREFIX), default=str)

    pruned = setup.cli("prune", "--keep-last", "1", "--storage", "s3", "--json",
                       "--keep-deleted-within", "0", "--grace", "0", "--profile", "admin")
    assert pruned.returncode == 0, (pruned.stdout, pruned.stderr)
    assert json.loads(pruned.stdout)["removed"] == [setup.first["tag"]]
    tags, on_origin, keys, _, _ = setup.state()
    assert tags == on_origin == {setup.second["tag"]}
    assert len(keys) < len(before[2])  # objects of the first backup swept with admin's key
    assert PROBE_KEY not in json.dumps(setup.server.client.list_object_versions(
        Bucket=setup.bucket, Prefix=PREFIX), default=str)


def test_a_profile_no_aws_file_has_or_that_applies_to_nothing_changes_nothing(
        setup: Setup) -> None:
    before = setup.state()
    missing = setup.cli("prune", "--keep-last", "1", "--storage", "s3", "--json",
                        "--profile", "nosuch")
    assert missing.returncode == 7, (missing.stdout, missing.stderr)
    assert "nosuch" in json.loads(missing.stdout)["error"]
    no_s3 = setup.cli("prune", "--keep-last", "1", "--json", "--profile", "admin")
    assert no_s3.returncode == 2, (no_s3.stdout, no_s3.stderr)
    assert "names an AWS profile, for S3 remotes" in json.loads(no_s3.stdout)["error"]
    assert setup.state() == before


def test_auto_with_a_backup_only_key_backs_up_then_names_the_refused_prune(
        setup: Setup) -> None:
    before = setup.state()
    setup.project.retrain(9)
    result = setup.cli("auto", "--keep-last", "1", "--storage", "s3", "--json")
    assert result.returncode == 7, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    made = data["tag"]
    assert data["backup"]["complete"] and "refuses deletions" in data["prune_error"]
    assert "refuses deletions with these credentials" in json.dumps(data)
    tags, on_origin, _, _, _ = setup.state()
    assert tags == before[0] | {made} and on_origin == before[1] | {made}


def test_a_bulk_delete_the_server_refuses_is_an_error_not_a_count(setup: Setup) -> None:
    """Below prune's probe: S3 answers a refused bulk delete with 200 and the refusals in
    its body, which s3fs drops; the store reads them. On a locked bucket deletions go
    version by version, and a refused one counts as kept (never as deleted)."""
    from hdversion.config.credentials import CloudCredentials
    from hdversion.datastore.records import open_url
    from hdversion.datastore.store import store_of
    from hdversion.errors import DeletionRefusedError

    credentials = CloudCredentials.read(setup.project.root / "config" /
                                        "cloud_credentials.json")
    records = open_url(setup.server.url_for(setup.bucket, PREFIX), setup.server.endpoint,
                       credentials)
    store = store_of("s3", records)
    md5 = setup.first["files"][0]["md5"]
    keys = setup.server.list_keys(setup.bucket)
    if records.locked_bucket():
        outcome = store.delete([md5])
        assert len(outcome) == 0 and list(outcome.locked) == [md5]
    else:
        with pytest.raises(DeletionRefusedError) as refused:
            store.delete([md5])
        assert "stopped after 0 object(s)" in refused.value.message
        assert "AccessDenied" in refused.value.message
    assert setup.server.list_keys(setup.bucket) == keys
