"""Encrypted remotes end to end (issue 27), through the CLI as a user runs it: every command
works on an encrypted directory remote and encrypted buckets, nothing stored reveals an
artifact or its md5, a missing or wrong key is exit 7 naming the remote, and a tampered
object is exit 5 naming the backup and the file, with nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hdversion.errors import ExitCode
from hdversion.util.hashing import md5_file
from tests.conftest import HDVERSION, Project, run_cli
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX, configure, dvc_files
from tests.test_store_contract import endpoint_of

MODEL = "models/keras_mlp_model.h5"
WINDOW = 64


@dataclass
class Vault:
    """An encrypted remote of a project, and a way around hdversion to read and change
    what it holds."""

    project: Project
    name: str
    url: str
    stored: Callable[[], dict[str, bytes]]  # every stored key -> its bytes
    put: Callable[[str, bytes], None]  # a key relative to the remote's root
    env: dict[str, str]  # where this clone's user keeps the key
    remove: Callable[[str], None]  # a key relative to the remote's root
    endpoint: str | None = None  # a bucket's endpoint, for --remote-url

    def cli(self, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.project.cli(*args, env={**self.env, **(env or {})})

    def backup(self, *args: str) -> dict:
        extra = [] if self.name == "local" else ["--cloud", f"--storage={self.name}"]
        result = self.cli("backup", "--json", *extra, *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def remote_args(self) -> list[str]:
        return ["--remote", self.name]


def encrypt(project: Project, name: str, env: dict[str, str]) -> None:
    made = project.cli("key", "init", name, env=env)
    assert made.returncode == 0, made.stderr


@pytest.fixture(params=["directory", "s3", "azure"])
def vault(request: pytest.FixtureRequest, project: Project, tmp_path: Path,
          bucket_factory: Callable[[StorageServer], str]) -> Iterator[Vault]:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "user-config")}
    if request.param == "directory":
        root = project.root / "backups"
        root.mkdir(exist_ok=True)
        encrypt(project, "local", env)

        def keys() -> dict[str, bytes]:
            return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
                    if p.is_file()}

        def put(key: str, data: bytes) -> None:
            path = root / key
            path.chmod(0o644)
            path.write_bytes(data)

        yield Vault(project, "local", str(root), keys, put, env,
                    lambda k: (root / k).unlink())
        return
    server: StorageServer = request.getfixturevalue(f"{request.param}_server")
    bucket = bucket_factory(server)
    configure(project, server, bucket)
    encrypt(project, server.name, env)
    yield Vault(project, server.name, server.url_for(bucket, PREFIX),
                lambda: {k.removeprefix(f"{PREFIX}/"): server.read_object(bucket, k)
                         for k in server.list_keys(bucket, f"{PREFIX}/")},
                lambda k, d: server.corrupt_object(bucket, f"{PREFIX}/{k}", d), env,
                lambda k: server.delete_object(bucket, f"{PREFIX}/{k}"), endpoint_of(server))


def artifacts(project: Project, data: dict) -> dict[str, bytes]:
    """Every file of a backup, as the workspace holds it (git-stored files included)."""
    return {f["path"]: (project.root / f["path"]).read_bytes() for f in data["files"]}


def assert_reveals_nothing(vault: Vault, data: dict) -> None:
    stored = vault.stored()
    windows: set[bytes] = set()
    for blob in stored.values():
        windows.update(blob[i:i + WINDOW] for i in range(len(blob) - WINDOW + 1))
    for path, content in artifacts(vault.project, data).items():
        for i in range(len(content) - WINDOW + 1):
            assert content[i:i + WINDOW] not in windows, f"{path} shows at byte {i}"
    md5s = {f["md5"] for f in data["files"]} | {o["md5"].removesuffix(".dir")
                                                  for o in data["outputs"]}
    for key in stored:
        assert not any(m in key for m in md5s), key
    # Every object and record but the plain encryption ones is sealed.
    for key, blob in stored.items():
        if not key.startswith(("hdversion/encryption/", "hdversion/object-lock.json")):
            assert blob.startswith(b"hdvseal1"), key


def test_backup_restore_verify_cat_and_prune_on_an_encrypted_remote(vault: Vault,
                                                                    tmp_path: Path) -> None:
    project = vault.project
    first = vault.backup("-m", "sealed")
    assert all(r["ok"] for r in first.get("remotes", [])), first
    assert_reveals_nothing(vault, first)
    # Read back whole, every object decrypted and re-hashed.
    checked = vault.cli("verify", "--read-data", *vault.remote_args(), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Restore from the remote alone: the cache gone, the model damaged.
    shutil.rmtree(project.root / ".dvc" / "cache")
    project.damage(MODEL, b"what the user has now")
    restored = vault.cli("restore", "--force", *vault.remote_args(), "--json")
    assert restored.returncode == 0, restored.stderr
    for path, entry in dvc_files(first).items():
        assert md5_file(project.root / path)[0] == entry["md5"], path
    # One file, to stdout and to a file, from the remote.
    shutil.rmtree(project.root / ".dvc" / "cache")
    cat = subprocess.run([HDVERSION, "cat", "latest", MODEL, *vault.remote_args()],
                         cwd=project.root, capture_output=True, env={**os.environ, **vault.env})
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == (project.root / MODEL).read_bytes()
    out = tmp_path / "model.h5"
    got = vault.cli("get", "latest", MODEL, "-o", str(out), *vault.remote_args())
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == (project.root / MODEL).read_bytes()
    # A second backup, then prune: the first's objects go, by their keyed names.
    project.retrain(2)
    project.git("add", "-A")  # the branch no longer names the first backup's data
    project.git("commit", "-q", "-m", "retrained")
    second = vault.backup("-m", "retrained")
    before = {k for k in vault.stored() if k.startswith("files/")}
    pruned = vault.cli("prune", "--keep-last", "1", "--grace", "0s", *vault.remote_args(),
                       "--json")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    after = {k for k in vault.stored() if k.startswith("files/")}
    assert after < before, pruned.stdout
    assert_reveals_nothing(vault, second)
    checked = vault.cli("verify", "--read-data", *vault.remote_args(), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_no_key_or_a_wrong_key_is_exit_7_naming_the_remote(vault: Vault,
                                                           tmp_path: Path) -> None:
    vault.backup()
    nobody = {"XDG_CONFIG_HOME": str(tmp_path / "empty-config")}
    before = vault.stored()
    for env in (nobody, {**nobody, "HDVERSION_PASSPHRASE": "not the passphrase"}):
        result = vault.cli("verify", "--read-data", *vault.remote_args(), env=env)
        assert result.returncode == ExitCode.CONFIGURATION, result.stderr
        assert vault.name in result.stderr and "HDVERSION_" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert vault.stored() == before


def test_a_tampered_object_is_exit_5_naming_the_backup_and_file_and_never_written(
        vault: Vault) -> None:
    project = vault.project
    data = vault.backup()
    stored = vault.stored()
    objects = sorted(k for k in stored if k.startswith("files/"))
    # Object A's sealed bytes under B's name, and a flipped bit in every other object: no
    # copy anywhere is good (the cache is gone).
    first, second, *rest = objects
    vault.put(first, stored[second])
    for key in [second, *rest]:
        flipped = bytearray(stored[key])
        flipped[-1] ^= 1
        vault.put(key, bytes(flipped))
    shutil.rmtree(project.root / ".dvc" / "cache")
    if vault.name != "local":  # the plain local remote's good copies gone too
        shutil.rmtree(project.root / "backups" / "files")
    project.damage(MODEL, b"current model")
    before = {p: (project.root / p).read_bytes() for p in dvc_files(data)
              if (project.root / p).exists()}
    result = vault.cli("restore", "--force", *vault.remote_args())
    assert result.returncode == ExitCode.VERIFICATION_FAILED, result.stderr
    assert f"cannot restore {data['tag']}" in result.stderr and MODEL in result.stderr
    assert "no workspace file was changed" in result.stderr
    assert {p: (project.root / p).read_bytes() for p in before} == before


def test_an_encrypted_remote_and_a_plain_one_copy_both_ways(vault: Vault,
                                                           tmp_path: Path) -> None:
    project = vault.project
    data = vault.backup()
    plain = tmp_path / "plain-disk"
    run_cli(project.root, "remote", "add", "usb", str(plain), check=True)
    to_plain = vault.cli("copy", "latest", "--from", vault.name, "--to", "usb", "--json")
    assert to_plain.returncode == 0, to_plain.stderr
    for entry in dvc_files(data).values():  # plain DVC layout, readable by DVC
        obj = plain / "files" / "md5" / entry["md5"][:2] / entry["md5"][2:]
        assert md5_file(obj)[0] == entry["md5"]
    if vault.name == "local":
        return  # the other way round is the bucket's case below
    # And back: the vault emptied of objects, filled again from the plain disk.
    for key in [k for k in vault.stored() if k.startswith("files/")]:
        vault.put(key, b"")
    back = vault.cli("copy", "latest", "--from", "usb", "--to", vault.name, "--json")
    assert back.returncode == 0, back.stderr
    checked = vault.cli("verify", "--read-data", *vault.remote_args())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert_reveals_nothing(vault, data)


def test_recovery_from_the_bucket_alone_with_only_the_key(vault: Vault,
                                                          tmp_path: Path) -> None:
    if vault.name == "local":
        pytest.skip("the bucket-alone path is a cloud's (a directory remote is tested by "
                    "tests/test_remote_recovery.py)")
    data = vault.backup()
    target = tmp_path / "new-machine"
    env = {**os.environ, **vault.env}
    creds = vault.project.root / "config" / "cloud_credentials.json"
    endpoint = ["--endpoint-url", vault.endpoint] if vault.endpoint else []
    result = run_cli(tmp_path, "restore", "--remote-url", vault.url, *endpoint,
                     "--target", str(target), "--credentials", str(creds), env=env)
    assert result.returncode == 0, result.stderr
    for path, entry in dvc_files(data).items():
        assert md5_file(target / path)[0] == entry["md5"], path


def test_a_remote_whose_encryption_config_went_is_refused_by_a_clone_that_knew_it(
        vault: Vault) -> None:
    """Whoever may write to the bucket may delete its encryption config: the remote then
    looks plain. This clone opened it encrypted: it refuses it, sending nothing."""
    vault.backup()
    vault.remove("hdversion/encryption/config.json")
    before = vault.stored()
    vault.project.retrain(3)
    extra = [] if vault.name == "local" else ["--cloud", f"--storage={vault.name}"]
    result = vault.cli("backup", *extra)
    assert result.returncode in (ExitCode.CONFIGURATION, ExitCode.PARTIAL), result.stderr
    assert f"remote '{vault.name}'" in result.stderr and "was encrypted" in result.stderr
    assert vault.stored() == before  # not one plaintext byte sent


def test_sync_fills_an_encrypted_bucket(vault: Vault) -> None:
    if vault.name == "local":
        pytest.skip("every backup writes the local remote itself")
    made = vault.cli("backup", "--json")  # the local remote only
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    synced = vault.cli("sync", "--remote", vault.name, "--json")
    assert synced.returncode == 0, synced.stderr
    checked = vault.cli("verify", "--read-data", *vault.remote_args())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert_reveals_nothing(vault, data)
