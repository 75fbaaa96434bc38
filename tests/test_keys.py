"""Keys of encrypted remotes (issue 27): key records wrapping the master key, the keys a user
supplies, `key init/add/list/remove` and `remote add --encrypt`, on a real directory remote
and on S3 (moto). The sealing of data is tests/test_encrypted*.py's."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyrage
import pytest

from hdversion.crypto import keys
from hdversion.crypto.keys import (
    AgeIdentities,
    KeyFile,
    KeyRecordError,
    Passphrase,
    parse_record,
    unwrap,
    wrap,
)
from hdversion.crypto.master import MasterKey
from hdversion.errors import ExitCode, KeyUnavailableError
from tests.conftest import Project
from tests.test_errors import assert_clean_failure

KEYS = "hdversion/encryption/keys"
CONFIG = "hdversion/encryption/config.json"
# Cheap scrypt for the records these tests make by hand (the CLI's default costs ~0.4 s).
FAST = (2**10, 8, 1)
NO_KEYS = {"HDVERSION_KEY_FILE": "", "HDVERSION_PASSPHRASE": "",
           "HDVERSION_PASSPHRASE_FILE": "", "HDVERSION_AGE_IDENTITY": ""}


@pytest.fixture(autouse=True)
def own_key_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own default key folder (and no key from the environment)."""
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    for variable in NO_KEYS:
        monkeypatch.delenv(variable, raising=False)
    return folder / "hdversion" / "keys"


def cli(project: Project, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return project.cli(*args, env={**NO_KEYS, **env})


def add_directory_remote(project: Project, tmp_path: Path, name: str = "nas") -> Path:
    remote = tmp_path / name
    remote.mkdir()
    project.cli("remote", "add", name, str(remote), check=True)
    return remote


def listed(project: Project, remote: str = "nas", **env: str) -> dict[str, Any]:
    done = cli(project, "key", "list", remote, "--json", **env)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def opened_by(project: Project, remote: str = "nas", **env: str) -> str:
    [key] = [k for k in listed(project, remote, **env)["keys"] if k["opened"]]
    return str(key["id"])


def key_init(project: Project, *args: str, **env: str) -> dict[str, Any]:
    done = cli(project, "key", "init", *args, "--json", **env)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def key_add(project: Project, *args: str, **env: str) -> dict[str, Any]:
    done = cli(project, "key", "add", *args, "--json", **env)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def record_path(remote: Path, key_id: str) -> Path:
    return remote / KEYS / f"{key_id}.json"


# -- key records (pure) ------------------------------------------------------------------------


def test_each_kind_of_key_opens_its_record_and_no_other() -> None:
    master = MasterKey.new()
    key_file = KeyFile.new()
    identity = pyrage.x25519.Identity.generate()
    made = {"keyfile": (wrap(master, key_file, "a"), key_file),
            "passphrase": (wrap(master, Passphrase(b"correct horse"), "b", scrypt=FAST),
                           Passphrase(b"correct horse")),
            "age": (wrap(master, str(identity.to_public()), "c"),
                    AgeIdentities(f"# made by a test\n{identity}\n"))}
    for kind, (record, supplied) in made.items():
        read = parse_record(record.to_json(), record.id)
        assert read == record and read.kind == kind
        assert unwrap(read, master.repository, supplied) == master
    wrong = [KeyFile.new(), Passphrase(b"correct horse."),
             AgeIdentities(str(pyrage.x25519.Identity.generate()))]
    for (record, _), supplied in zip(made.values(), wrong, strict=True):
        assert unwrap(record, master.repository, supplied) is None
    # A record is bound to its remote and its id: copied elsewhere, or renamed, it opens
    # nothing.
    record, supplied = made["keyfile"]
    assert unwrap(record, MasterKey.new().repository, supplied) is None
    renamed = keys.KeyRecord(keys.new_id(), record.kind, record.created, record.label,
                             record.wrapped)
    assert unwrap(renamed, master.repository, supplied) is None


def _tampered(record: keys.KeyRecord, change: Callable[[dict[str, Any]], None]) -> bytes:
    data = json.loads(record.to_json())
    change(data)
    return json.dumps(data).encode()


@pytest.mark.parametrize("change, rule", [
    (lambda d: d["scrypt"].update(n=2**30), "asks scrypt for N=1073741824"),
    (lambda d: d["scrypt"].update(n=3 * 2**10), "a power of two up to 2**20"),
    (lambda d: d["scrypt"].update(r=32), "asks scrypt for r=32"),
    (lambda d: d["scrypt"].update(p=8), "asks scrypt for p=8"),
    (lambda d: d["scrypt"].update(n="1024"), "'n' is missing or not a int"),
    (lambda d: d.update(id="0123456789abcdef"), "names another id"),
    (lambda d: d.update(kind="rot13"), "unknown kind 'rot13'"),
    (lambda d: d.update(wrapped="not base64!"), "wrapped key is not base64"),
    (lambda d: d.update(wrapped=base64.b64encode(b"x" * 70).decode()),
     "wrapped key is 70 bytes"),
    (lambda d: d.update(version=2), "record of version 1"),
    (lambda d: d.update(label="x" * 20_000), "is over 16384 bytes"),
])
def test_a_hostile_key_record_is_refused_when_read_by_its_rule(
        change: Callable[[dict[str, Any]], None], rule: str) -> None:
    record = wrap(MasterKey.new(), Passphrase(b"pw"), "a", scrypt=FAST)
    with pytest.raises(KeyRecordError) as refused:
        parse_record(_tampered(record, change), record.id)
    assert rule in str(refused.value)


def test_a_bit_flip_in_the_wrapped_key_opens_nothing() -> None:
    master, key_file = MasterKey.new(), KeyFile.new()
    record = wrap(master, key_file, "a")
    for position in (0, 12, len(record.wrapped) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(record.wrapped)
        flipped[position] ^= 1
        bad = keys.KeyRecord(record.id, record.kind, record.created, record.label,
                             bytes(flipped))
        assert unwrap(bad, master.repository, key_file) is None


def test_key_files_are_one_line_of_32_bytes() -> None:
    made = KeyFile.new()
    assert keys.parse_key_file(made.text()) == made
    assert made.text().startswith("hdversion-key-1:") and made.text().count("\n") == 1
    for text, rule in (("hdversion-key-2:AAAA", "not an hdversion key file"),
                       ("hdversion-key-1:" + base64.b64encode(b"x" * 16).decode(),
                        "holds 16 bytes, not 32")):
        with pytest.raises(KeyRecordError, match=rule):
            keys.parse_key_file(text)


# -- key init / add / list / remove on a directory remote -------------------------------------


def test_no_test_sees_the_real_config_folder() -> None:
    from tests import conftest

    assert conftest.CONFIG_HOME.startswith(tempfile.gettempdir())
    assert os.environ["XDG_CONFIG_HOME"].startswith(tempfile.gettempdir())
    for variable in NO_KEYS:
        assert variable not in os.environ


def test_remote_add_encrypt_writes_a_key_file_and_says_what_losing_it_means(
        project: Project, tmp_path: Path, own_key_folder: Path) -> None:
    remote = tmp_path / "nas"
    done = cli(project, "remote", "add", "nas", str(remote), "--encrypt")
    assert done.returncode == 0, done.stderr
    [key_file] = own_key_folder.iterdir()
    config = json.loads((remote / CONFIG).read_text())
    assert config == {"format": "hdversion-encryption", "version": 1,
                      "repository": config["repository"], "cipher": "AES-256-GCM",
                      "names": "HMAC-SHA256", "chunk": 1048576}
    assert key_file.name == f"{config['repository']}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(own_key_folder.stat().st_mode) == 0o700
    assert str(key_file) in done.stderr
    assert "LOSING IT LOSES THE BACKUPS" in done.stderr
    assert "key add nas --passphrase" in done.stderr
    assert "Plain DVC cannot read this remote" in done.stderr
    assert "encrypted" in done.stdout
    # Opened by the default key file, with nothing in the environment.
    [record] = (remote / KEYS).iterdir()
    assert opened_by(project) == record.name.removesuffix(".json")
    # --json: one line on stdout, the warning still on stderr.
    other = cli(project, "remote", "add", "nas2", str(tmp_path / "nas2"), "--encrypt", "--json")
    assert other.returncode == 0, other.stderr
    added = json.loads(other.stdout)
    assert added["ok"] and added["encrypted"] and added["key_file"].startswith(
        str(own_key_folder))
    assert "LOSING IT LOSES THE BACKUPS" in other.stderr


def test_each_source_of_a_key_unlocks(project: Project, tmp_path: Path,
                                      own_key_folder: Path) -> None:
    add_directory_remote(project, tmp_path)
    first = key_init(project, "nas")["key"]["id"]
    by_passphrase = key_add(project, "nas", "--passphrase",
                            HDVERSION_NEW_PASSPHRASE="tr0ub4dor")["key"]["id"]
    key_file = tmp_path / "carry" / "nas.key"
    key_file.parent.mkdir()
    added = key_add(project, "nas", "--key-file", str(key_file))
    by_key_file = added["key"]["id"]
    assert added["key_file"] == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    identity = pyrage.x25519.Identity.generate()
    by_age = key_add(project, "nas", "--age-recipient",
                     str(identity.to_public()))["key"]["id"]
    identity_file = tmp_path / "age.txt"
    identity_file.write_text(f"# created: now\n{identity}\n")
    phrase_file = tmp_path / "phrase"
    phrase_file.write_text("tr0ub4dor\n")
    assert opened_by(project) == first  # the default key file
    for folder in own_key_folder.iterdir():  # now only what the environment names
        folder.unlink()
    assert opened_by(project, HDVERSION_PASSPHRASE="tr0ub4dor") == by_passphrase
    assert opened_by(project, HDVERSION_PASSPHRASE_FILE=str(phrase_file)) == by_passphrase
    assert opened_by(project, HDVERSION_KEY_FILE=str(key_file)) == by_key_file
    assert opened_by(project, HDVERSION_AGE_IDENTITY=str(identity_file)) == by_age
    # An existing key file given to `key add` is used as it is, not replaced.
    before = key_file.read_bytes()
    add_directory_remote(project, tmp_path, "nas2")
    key_init(project, "nas2", "--key-file", str(key_file))
    assert key_file.read_bytes() == before
    assert opened_by(project, "nas2", HDVERSION_KEY_FILE=str(key_file))
    rows = {k["id"]: k for k in listed(project, HDVERSION_KEY_FILE=str(key_file))["keys"]}
    assert {r["kind"] for r in rows.values()} == {"keyfile", "passphrase", "age"}


def test_a_missing_or_wrong_key_is_exit_7_naming_the_remote_and_how_to_supply_one(
        project: Project, tmp_path: Path, own_key_folder: Path) -> None:
    add_directory_remote(project, tmp_path)
    repository = key_init(project, "nas", "--passphrase",
                          HDVERSION_NEW_PASSPHRASE="right")["repository"]
    variables = ("HDVERSION_KEY_FILE", "HDVERSION_PASSPHRASE", "HDVERSION_PASSPHRASE_FILE",
                 "HDVERSION_AGE_IDENTITY", str(own_key_folder / f"{repository}.key"))
    none = cli(project, "key", "list", "nas")
    assert_clean_failure(none, ExitCode.CONFIGURATION, "remote 'nas'", "is encrypted and no "
                         "key was supplied", *variables)
    wrong = cli(project, "key", "list", "nas", HDVERSION_PASSPHRASE="wrong")
    assert_clean_failure(wrong, ExitCode.CONFIGURATION, "no key supplied opens remote 'nas'",
                         "HDVERSION_PASSPHRASE: wrong passphrase", *variables)
    # Another remote's key file: distinct from a wrong passphrase.
    add_directory_remote(project, tmp_path, "other")
    key_init(project, "other")
    [other_key] = own_key_folder.iterdir()
    foreign = cli(project, "key", "list", "nas", HDVERSION_KEY_FILE=str(other_key))
    assert_clean_failure(foreign, ExitCode.CONFIGURATION, "no key supplied opens remote 'nas'",
                         "the remote has no keyfile key")
    key_add(project, "nas", "--key-file", str(tmp_path / "nas.key"),
            HDVERSION_PASSPHRASE="right")
    foreign = cli(project, "key", "list", "nas", HDVERSION_KEY_FILE=str(other_key))
    assert_clean_failure(foreign, ExitCode.CONFIGURATION,
                         "this key file is not one of this remote's keys")
    typo = cli(project, "key", "list", "nas", HDVERSION_KEY_FILE=str(tmp_path / "nope"))
    assert_clean_failure(typo, ExitCode.CONFIGURATION, "HDVERSION_KEY_FILE names",
                         "which cannot be read")
    # Nothing was asked of the JSON reader but one refusal line.
    as_json = cli(project, "key", "list", "nas", "--json")
    assert json.loads(as_json.stdout)["exit_code"] == ExitCode.CONFIGURATION


def test_a_tampered_key_record_is_refused_by_its_rule(project: Project,
                                                      tmp_path: Path) -> None:
    remote = add_directory_remote(project, tmp_path)
    key_id = key_init(project, "nas")["key"]["id"]
    path = record_path(remote, key_id)
    good = path.read_bytes()
    # A bit flipped in the wrapped key: authentication fails, which reads as "not this
    # key" (the two cannot be told apart), said so.
    data = json.loads(good)
    wrapped = bytearray(base64.b64decode(data["wrapped"]))
    wrapped[20] ^= 1
    data["wrapped"] = base64.b64encode(bytes(wrapped)).decode()
    path.write_text(json.dumps(data))
    assert_clean_failure(cli(project, "key", "list", "nas"), ExitCode.CONFIGURATION,
                         "is not one of this remote's keys", "or they were altered")
    # A record under another name.
    data = json.loads(good)
    data["id"] = "0123456789abcdef"
    path.write_text(json.dumps(data))
    assert_clean_failure(cli(project, "key", "list", "nas"), ExitCode.CONFIGURATION,
                         f"key record {key_id} names another id", "(refused)")
    # Renamed whole (file and id): bound to its id by the associated data.
    renamed = record_path(remote, "0123456789abcdef")
    renamed.write_text(json.dumps(data))
    path.unlink()
    assert_clean_failure(cli(project, "key", "list", "nas"), ExitCode.CONFIGURATION,
                         "or they were altered")
    renamed.unlink()
    # A passphrase record asking scrypt for 128 GiB: refused before any work.
    path.write_bytes(good)
    hostile = wrap(MasterKey(json.loads((remote / CONFIG).read_text())["repository"],
                             b"\0" * 32), Passphrase(b"pw"), "x", scrypt=FAST)
    data = json.loads(hostile.to_json())
    data["scrypt"]["n"] = 2**30
    record_path(remote, hostile.id).write_text(json.dumps(data))
    done = cli(project, "key", "list", "nas", HDVERSION_PASSPHRASE="pw",
               XDG_CONFIG_HOME=str(tmp_path / "elsewhere"))
    assert_clean_failure(done, ExitCode.CONFIGURATION,
                         f"key record {hostile.id} asks scrypt for N=1073741824",
                         "the remote has no passphrase key")
    # The default key file still opens; `key list` shows the hostile record unread.
    rows = {k["id"]: k for k in listed(project)["keys"]}
    assert rows[key_id]["opened"] and "N=1073741824" in rows[hostile.id]["problem"]
    # config.json is plain too: checked field by field, exit 5 naming the field.
    config = remote / CONFIG
    good_config = json.loads(config.read_text())
    for change, rule in (({"chunk": 4096}, "its chunk is 4096, not 1048576"),
                         ({"version": 2}, "made by a newer hdversion"),
                         ({"repository": "../../x"}, "its repository is not 32 hex digits")):
        config.write_text(json.dumps({**good_config, **change}))
        assert_clean_failure(cli(project, "key", "list", "nas"),
                             ExitCode.VERIFICATION_FAILED, "is not an encryption config", rule)


def test_keys_rotate_and_the_last_key_and_the_key_in_use_stay(
        project: Project, tmp_path: Path, own_key_folder: Path) -> None:
    add_directory_remote(project, tmp_path)
    old = key_init(project, "nas")["key"]["id"]
    new = key_add(project, "nas", "--passphrase",
                  HDVERSION_NEW_PASSPHRASE="new one")["key"]["id"]
    # Only the old key supplied: it is the one in use, and removing it would lock this
    # user out.
    in_use = cli(project, "key", "remove", "nas", old)
    assert_clean_failure(in_use, ExitCode.USAGE, f"refusing to remove key {old}",
                         "it is the key that opened remote 'nas'", "in this run",
                         "no other key supplied opens it")
    # With the new key supplied too, the old one goes.
    gone = cli(project, "key", "remove", "nas", old, "--json",
               HDVERSION_PASSPHRASE="new one")
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["key"]["id"] == old
    assert opened_by(project, HDVERSION_PASSPHRASE="new one") == new
    assert [k["id"] for k in listed(project, HDVERSION_PASSPHRASE="new one")["keys"]] == [new]
    # The old key file opens nothing now.
    assert_clean_failure(cli(project, "key", "list", "nas"), ExitCode.CONFIGURATION,
                         "no key supplied opens remote 'nas'", "the remote has no keyfile key")
    last = cli(project, "key", "remove", "nas", new, HDVERSION_PASSPHRASE="new one")
    assert_clean_failure(last, ExitCode.USAGE, f"refusing to remove key {new}: it is the "
                         "last key of remote 'nas'", "its backups are lost")
    unknown = cli(project, "key", "remove", "nas", "0123456789abcdef",
                  HDVERSION_PASSPHRASE="new one")
    assert_clean_failure(unknown, ExitCode.USAGE, "has no key 0123456789abcdef")
    assert_clean_failure(cli(project, "key", "add", "nas"), ExitCode.USAGE, "which new key?")
    # A new passphrase is never read from a pipe or the command line.
    no_terminal = cli(project, "key", "add", "nas", "--passphrase",
                      HDVERSION_PASSPHRASE="new one")
    assert_clean_failure(no_terminal, ExitCode.USAGE, "asked on a terminal",
                         "HDVERSION_NEW_PASSPHRASE")
    both = cli(project, "key", "add", "nas", "--passphrase", "--key-file", "k")
    assert_clean_failure(both, ExitCode.USAGE, "give one new key, not --key-file and "
                         "--passphrase")


def test_key_init_refuses_a_remote_that_holds_data(project: Project, tmp_path: Path,
                                                   own_key_folder: Path) -> None:
    holds = {"files/md5/ab/" + "c" * 30: "holds DVC objects",
             "hdversion/backups/20261201_093000/manifest.json": "holds backups",
             "hdversion/aliases/prod.json": "holds hdversion's records (hdversion/aliases)"}
    for number, (key, rule) in enumerate(holds.items()):
        remote = add_directory_remote(project, tmp_path, f"full{number}")
        (remote / key).parent.mkdir(parents=True)
        (remote / key).write_text("data")
        done = cli(project, "key", "init", f"full{number}")
        assert_clean_failure(done, ExitCode.USAGE, rule, "would mix the two")
        assert not (remote / "hdversion" / "encryption").exists()
        added = cli(project, "remote", "add", f"again{number}", str(remote), "--encrypt")
        assert_clean_failure(added, ExitCode.USAGE, rule)
        assert f"again{number}" not in project.cli("remote", "list").stdout
    assert not own_key_folder.exists() or not list(own_key_folder.iterdir())
    # Empty folders (a prune took every backup and its objects), leases and a leftover
    # key record of an attempt that died before its config are no data.
    remote = add_directory_remote(project, tmp_path)
    for folder in ("files/md5/ab", "hdversion/backups", "hdversion/locks", KEYS):
        (remote / folder).mkdir(parents=True)
    (remote / KEYS / "0123456789abcdef.json").write_text("{}")
    key_id = key_init(project, "nas")["key"]["id"]
    assert [p.name for p in (remote / KEYS).iterdir()] == [f"{key_id}.json"]
    assert_clean_failure(cli(project, "key", "init", "nas"), ExitCode.USAGE,
                         "is already encrypted", "key add")


def test_master_key_of_reads_one_record_of_a_plain_remote_and_unlocks_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_key_folder: Path) -> None:
    from hdversion.datastore import keyring
    from hdversion.datastore.records import open_url

    plain = tmp_path / "plain"
    plain.mkdir()
    records = open_url(str(plain))
    reads: list[str] = []
    real_read = type(records).read
    monkeypatch.setattr(type(records), "read",
                        lambda self, key, limit: reads.append(key) or real_read(self, key,
                                                                                limit))
    assert keyring.master_key_of(records) is None
    assert reads == [CONFIG]
    monkeypatch.setattr(keyring, "_UNLOCKED", {})
    encrypted = tmp_path / "encrypted"
    encrypted.mkdir()
    master, _ = keyring.Keyring(open_url(str(encrypted))).create(KeyFile.new())
    keyring._UNLOCKED.clear()  # as a new process finds it
    monkeypatch.setenv("HDVERSION_PASSPHRASE", "pw")
    with pytest.raises(KeyUnavailableError, match="the remote has no passphrase key"):
        keyring.master_key_of(open_url(str(encrypted)))
    keyring._UNLOCKED[master.repository] = keyring.Unlocked(master, "", "test")
    keyring.Keyring(open_url(str(encrypted))).add(Passphrase(b"pw"))
    keyring._UNLOCKED.clear()
    # Two opens in one process: one scrypt.
    derived: list[int] = []
    real_derive = keys.Scrypt.derive
    monkeypatch.setattr(keys.Scrypt, "derive",
                        lambda self, p: derived.append(1) or real_derive(self, p))
    assert keyring.master_key_of(open_url(str(encrypted))) == master
    assert keyring.master_key_of(open_url(str(encrypted))) == master
    assert len(derived) == 1


# -- S3 (moto) -----------------------------------------------------------------------------


@pytest.mark.cloud
def test_keys_of_an_encrypted_s3_remote(project: Project, s3_server: Any,
                                        bucket_factory: Callable[[Any], str]) -> None:
    from tests.test_cloud import PREFIX, configure

    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket)
    made = key_init(project, "s3", "--passphrase", HDVERSION_NEW_PASSPHRASE="s3 secret")
    first = made["key"]["id"]
    assert sorted(s3_server.list_keys(bucket, PREFIX)) == [
        f"{PREFIX}/{CONFIG}", f"{PREFIX}/{KEYS}/{first}.json"]
    assert json.loads(s3_server.read_object(bucket, f"{PREFIX}/{CONFIG}"))[
        "repository"] == made["repository"]
    assert opened_by(project, "s3", HDVERSION_PASSPHRASE="s3 secret") == first
    assert_clean_failure(cli(project, "key", "list", "s3", HDVERSION_PASSPHRASE="nope"),
                         ExitCode.CONFIGURATION, "no key supplied opens remote 's3'",
                         "wrong passphrase", "HDVERSION_KEY_FILE")
    second = key_add(project, "s3", "--key-file", str(project.root.parent / "s3.key"),
                     HDVERSION_PASSPHRASE="s3 secret")["key"]["id"]
    done = cli(project, "key", "remove", "s3", first, HDVERSION_PASSPHRASE="s3 secret",
               HDVERSION_KEY_FILE=str(project.root.parent / "s3.key"))
    assert done.returncode == 0, done.stderr
    assert [k["id"] for k in listed(project, "s3", HDVERSION_KEY_FILE=str(
        project.root.parent / "s3.key"))["keys"]] == [second]
    assert_clean_failure(cli(project, "key", "init", "s3"), ExitCode.USAGE,
                         "is already encrypted")
