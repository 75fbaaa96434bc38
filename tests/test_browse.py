"""Browsing and fetching one file (`ls`, `cat`, `get`, `find`; ops/browse.py), in a clone and
from a remote alone. Every byte comes from the chain of verified sources (or, from a remote
alone, its store) and is checked before stdout or FILE get any of it; manifests are
untrusted: a forged tag or a hostile bucket gets its paths escaped, its sizes bounded and its
damaged objects refused (exit 5), with nothing on stdout and no FILE."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hdversion import api
from hdversion.errors import ExitCode
from hdversion.model.remote_records import object_key
from hdversion.paths import QUARANTINE, TEMP_PREFIX
from hdversion.util.hashing import md5_bytes
from tests.conftest import HDVERSION, Project, run_cli
from tests.test_errors import assert_clean_failure
from tests.test_remote_recovery import (
    backup,
    bucket_args,
    env_credentials,
    escape_path,
    forge,
)
from tests.test_restore import MODEL, object_path, workspace_state
from tests.test_sources import forged_with_a_wrong_git_file
from tests.test_trust import forge as forge_tag

Json = dict[str, Any]
SKLEARN = "models/sklearn_mlp_model.joblib"
STUDY = "models/optuna/study_0.pkl"


def cat(cwd: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    """`hdversion cat ARGS`, stdout as bytes."""
    return subprocess.run([HDVERSION, "cat", *args], cwd=cwd, capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def assert_refused(result: subprocess.CompletedProcess[bytes], code: int, *phrases: str
                   ) -> None:
    """Refused with `code`, each phrase in the message, and not one byte on stdout."""
    stderr = result.stderr.decode()
    assert result.returncode == code, (result.returncode, stderr)
    assert result.stdout == b"", result.stdout[:100]
    assert "Traceback" not in stderr
    for phrase in phrases:
        assert phrase in stderr, stderr


def entry(made: Json, path: str) -> Json:
    [found] = [f for f in made["files"] if f["path"] == path]
    assert isinstance(found, dict)
    return found


def temp_files(top: Path) -> list[Path]:
    return list(top.rglob(TEMP_PREFIX + "*"))


@pytest.fixture(scope="module")
def saved(project_template: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Project, Json]:
    """One project with one backup (in the cache and the local remote `backups/`)."""
    root = tmp_path_factory.mktemp("browse") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    return project, backup(project, "for browsing")


@pytest.fixture
def copy(saved: tuple[Project, Json], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> tuple[Project, Json]:
    """A copy of the module's project, free to damage or to forge tags in."""
    monkeypatch.setenv("HDVERSION_GIT_REMOTE", "")
    root = tmp_path / "project"
    shutil.copytree(saved[0].root, root, symlinks=True)
    return Project(root), saved[1]


# -- ls --------------------------------------------------------------------------------------


def test_ls_lists_a_backup_s_files_or_those_under_a_path(saved: tuple[Project, Json]
                                                         ) -> None:
    project, made = saved
    listed = json.loads(project.cli("ls", "latest", "--json", "--offline", check=True).stdout)
    assert listed["tag"] == made["tag"] and listed["ok"] is True
    assert listed["files"] == [{k: f[k] for k in ("path", "size", "md5", "store")}
                               for f in made["files"]]
    assert {f["store"] for f in listed["files"]} == {"dvc", "git"}
    # Every name the grammar reads; a folder by whole components, `./` and `/` tolerated.
    for name, path in ((made["timestamp"], "models"), (made["tag"], "./models/"),
                       (made["timestamp"][:11], "models/optuna")):
        found = json.loads(project.cli("ls", name, path, "--json", "--offline",
                                       check=True).stdout)
        assert [f["path"] for f in found["files"]] == [
            f["path"] for f in made["files"] if f["path"].startswith(path.strip("./") + "/")]
    one = json.loads(project.cli("ls", "latest", MODEL, "--json", "--offline").stdout)
    assert [f["path"] for f in one["files"]] == [MODEL]
    table = project.cli("ls", "latest", "models/optuna", "--offline", check=True).stdout
    assert STUDY in table and entry(made, STUDY)["md5"] in table and "dvc" in table
    # A partial component, or a glob, names nothing: exit 4, naming it.
    for path in ("models/opt", "models/*"):
        result = project.cli("ls", "latest", path, "--offline")
        assert_clean_failure(result, ExitCode.NO_SUCH_BACKUP,
                             f"backup {made['tag']} has no file or folder {path!r}")
    assert_clean_failure(project.cli("ls", "20990101", "--offline"), ExitCode.NO_SUCH_BACKUP,
                         "no backup has a timestamp starting with '20990101'")


# -- cat -------------------------------------------------------------------------------------


def test_cat_writes_the_file_s_bytes_to_stdout(saved: tuple[Project, Json]) -> None:
    project, made = saved
    for path in (MODEL, "params.yaml", STUDY):  # objects, and a file kept in git
        result = cat(project.root, made["timestamp"], path, "--offline")
        assert result.returncode == 0, result.stderr
        assert result.stdout == project.read(path)
    assert_refused(cat(project.root, "latest", "models/optuna", "--offline"), ExitCode.USAGE,
                   "'models/optuna' is a folder of " + made["tag"])
    assert_refused(cat(project.root, "latest", "models/nothing.h5", "--offline"),
                   ExitCode.NO_SUCH_BACKUP, "has no file or folder 'models/nothing.h5'")


def test_cat_into_a_closed_pipe_is_not_a_traceback(saved: tuple[Project, Json]) -> None:
    project, _ = saved
    result = subprocess.run(f"{HDVERSION} cat latest {MODEL} --offline | head -c 10",
                            shell=True, cwd=project.root, capture_output=True, timeout=120)
    assert result.stdout == project.read(MODEL)[:10]
    assert b"Traceback" not in result.stderr and b"Error" not in result.stderr


def test_a_large_file_is_spooled_to_disk_not_held_in_memory(
        saved: tuple[Project, Json], monkeypatch: pytest.MonkeyPatch) -> None:
    from hdversion.ops import browse

    project, made = saved
    monkeypatch.setattr(browse, "SPOOL_IN_MEMORY", 16 * 1024)
    with api.open(MODEL, ref=made["timestamp"], repo=project.root, offline=True) as opened:
        assert opened._stream._rolled  # type: ignore[attr-defined]
        assert opened.read() == project.read(MODEL)
    with api.open(STUDY, ref=made["timestamp"], repo=project.root, offline=True) as opened:
        assert not opened._stream._rolled  # type: ignore[attr-defined]
    # The file as joblib and friends read it: a seekable binary file, closed after use.
    opened = api.open(MODEL, ref=made["timestamp"], repo=project.root, offline=True)
    assert opened.seekable() and opened.read(4) == project.read(MODEL)[:4]
    opened.seek(0)
    assert opened.read() == project.read(MODEL) and opened.file.path == MODEL
    opened.close()
    with pytest.raises(ValueError, match="closed file"):
        opened.read()
    assert api.read(STUDY, ref=made["timestamp"], repo=project.root,
                    offline=True) == project.read(STUDY)


def test_a_damaged_cache_copy_gives_way_to_the_local_remote(
        copy: tuple[Project, Json]) -> None:
    """Same size, other bytes: found by the hash as the spool fills, quarantined (as restore
    does), and the local remote's copy read instead."""
    project, made = copy
    md5 = entry(made, MODEL)["md5"]
    cached = object_path(project.root / ".dvc" / "cache", md5)
    flip(cached)
    result = cat(project.root, "latest", MODEL, "--offline")
    assert result.returncode == 0, result.stderr
    assert md5_bytes(result.stdout) == md5
    assert f"{cached}: data hashes to" in result.stderr.decode()  # which rule: the hash
    assert "trying the next copy" in result.stderr.decode()
    assert len(list((project.root / QUARANTINE).iterdir())) == 1


@pytest.mark.parametrize("how", ["flip", "truncated", "longer", "missing"])
def test_damage_everywhere_is_exit_5_with_nothing_on_stdout_and_no_file(
        copy: tuple[Project, Json], tmp_path: Path, how: str) -> None:
    project, made = copy
    md5 = entry(made, MODEL)["md5"]
    for root in (project.root / ".dvc" / "cache", project.root / "backups"):
        damage(object_path(root, md5), how)
    in_remote = object_path(project.root / "backups", md5)
    remote_bytes = in_remote.read_bytes() if in_remote.exists() else None
    before = workspace_state(project)
    # The message names the backup, the file and every store asked.
    said = (f"cannot read {MODEL} of {made['tag']}, nothing was written",
            f"object {md5} missing or corrupt in the cache and in remote(s) 'local'")
    assert_refused(cat(project.root, "latest", MODEL, "--offline"),
                   ExitCode.VERIFICATION_FAILED, *said)
    out = tmp_path / "model.h5"
    got = project.cli("get", "latest", MODEL, "-o", str(out), "--offline")
    # The remote's damaged copy is still there to be warned about ("trying the next copy").
    assert got.returncode == ExitCode.VERIFICATION_FAILED and "Traceback" not in got.stderr
    assert f"error: cannot get {MODEL} of {made['tag']}, {out} was not written" in got.stderr
    assert not out.exists() and not temp_files(tmp_path)
    assert workspace_state(project) == before
    # A read changes no remote, not even a damaged copy in it (DVC's own fetch removed it).
    assert (in_remote.read_bytes() if in_remote.exists() else None) == remote_bytes


def test_a_git_stored_file_that_is_not_the_manifest_s_is_refused(project: Project,
                                                                 tmp_path: Path) -> None:
    forged_with_a_wrong_git_file(project, "params.yaml")
    assert_refused(cat(project.root, "20240101_000000", "params.yaml", "--offline"),
                   ExitCode.VERIFICATION_FAILED,
                   "cannot read params.yaml of backup/20240101_000000, nothing was written: "
                   "the file in its commit does not match the manifest")


# -- get -------------------------------------------------------------------------------------


def test_get_writes_one_verified_file_and_leaves_the_workspace_alone(
        copy: tuple[Project, Json], tmp_path: Path) -> None:
    project, made = copy
    project.damage(MODEL, b"the workspace's own")
    before = workspace_state(project)
    out = tmp_path / "model.h5"
    report = json.loads(project.cli("get", made["timestamp"], MODEL, "-o", str(out),
                                    "--json", "--offline", check=True).stdout)
    assert report["verified"] is True and report["output"] == str(out)
    assert report["md5"] == entry(made, MODEL)["md5"] == md5_bytes(out.read_bytes())
    assert workspace_state(project) == before
    # An existing FILE is refused, then replaced with --overwrite (the word export uses).
    out.write_bytes(b"mine")
    assert_clean_failure(project.cli("get", "latest", SKLEARN, "-o", str(out), "--offline"),
                         ExitCode.USAGE, f"{out} exists; nothing was written", "--overwrite")
    assert out.read_bytes() == b"mine"
    project.cli("get", "latest", SKLEARN, "-o", str(out), "--overwrite", "--offline",
                check=True)
    assert md5_bytes(out.read_bytes()) == entry(made, SKLEARN)["md5"]
    # A folder: the file's own name in it.
    project.cli("get", "latest", "params.yaml", "-o", str(tmp_path), "--offline", check=True)
    assert (tmp_path / "params.yaml").read_bytes() == project.read("params.yaml")
    assert_clean_failure(project.cli("get", "latest", "params.yaml", "-o", str(tmp_path),
                                     "--offline"), ExitCode.USAGE, "exists")
    assert not temp_files(tmp_path)


# -- hostile manifests in a clone (forged tags) ---------------------------------------------

FORGED = "20240101_000000"


def forge_with(project: Project, made: Json, extra: Json) -> None:
    """A forged, self-consistent backup tag holding one more file."""
    forge_tag(project, made, FORGED, 2, [*made["files"], extra])


def test_ls_and_find_escape_what_a_forged_path_would_do_to_a_terminal(
        copy: tuple[Project, Json], tmp_path: Path) -> None:
    project, made = copy
    evil = "models/\x1b[2J\x1b]0;pwned\x07\u202egnp.exe\nrm -rf"
    study = entry(made, STUDY)
    forge_with(project, made, {**study, "path": evil})
    shown = "models/\\x1b[2J\\x1b]0;pwned\\x07\\u202egnp.exe\\x0arm -rf"
    for args in (("ls", FORGED, "--offline"), ("find", "models/*", "--offline")):
        result = project.cli(*args)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
        assert shown in result.stdout, result.stdout
    # JSON carries the path as it is (json escapes it), for a program to decide.
    listed = json.loads(project.cli("ls", FORGED, "--json", "--offline").stdout)
    assert evil in [f["path"] for f in listed["files"]]
    # `get -o DIR` would name a file after it: refused (the rule about names), nothing written.
    got = project.cli("get", FORGED, evil, "-o", str(tmp_path), "--offline")
    assert_clean_failure(got, ExitCode.USAGE, "holds control characters; nothing was written")
    assert list(tmp_path.iterdir()) == [project.root]


def test_a_forged_size_is_refused_before_the_first_byte(copy: tuple[Project, Json],
                                                        tmp_path: Path) -> None:
    project, made = copy
    study = entry(made, STUDY)
    forge_with(project, made, {**study, "path": "models/huge.bin", "size": 10**15})
    out = tmp_path / "huge.bin"
    got = project.cli("get", FORGED, "models/huge.bin", "-o", str(out), "--offline")
    assert_clean_failure(got, ExitCode.UNEXPECTED,
                         f"models/huge.bin of backup/{FORGED} is 1000000000000000 bytes by its "
                         "manifest", "free; nothing was written")
    assert not out.exists() and not temp_files(tmp_path)
    assert_refused(cat(project.root, FORGED, "models/huge.bin", "--offline"),
                   ExitCode.UNEXPECTED, "is 1000000000000000 bytes by its manifest",
                   "TMPDIR")


@pytest.mark.parametrize("path, rule", [("../escaped.pkl", "unsafe file path"),
                                        ("/etc/escaped.pkl", "unsafe file path"),
                                        (STUDY, "a path is listed twice")])
def test_a_forged_file_list_is_not_trusted(copy: tuple[Project, Json], tmp_path: Path,
                                           path: str, rule: str) -> None:
    project, made = copy
    forge_with(project, made, {**entry(made, STUDY), "path": path})
    for args in (("ls", FORGED), ("get", FORGED, path, "-o", str(tmp_path / "x"))):
        assert_clean_failure(project.cli(*args, "--offline"), ExitCode.VERIFICATION_FAILED,
                             f"backup backup/{FORGED}", rule)
    assert_refused(cat(project.root, FORGED, path, "--offline"),
                   ExitCode.VERIFICATION_FAILED, rule)
    assert not (tmp_path / "x").exists() and not (project.root.parent / "escaped.pkl").exists()
    # find reads every other backup, and says which it skipped and why.
    found = project.cli("find", "*.h5", "--json", "--offline")
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    assert [f["tag"] for f in report["found"]] == [made["tag"]]
    assert [s["tag"] for s in report["skipped"]] == [f"backup/{FORGED}"]
    assert rule in report["skipped"][0]["why"] and "skipped" in found.stderr


# -- find ------------------------------------------------------------------------------------


def test_find_by_glob_or_md5_across_backups_in_one_git_call(
        copy: tuple[Project, Json], monkeypatch: pytest.MonkeyPatch) -> None:
    project, first = copy
    project.retrain(2)
    second = backup(project, "second")
    result = json.loads(project.cli("find", "*.joblib", "--json", "--offline",
                                    check=True).stdout)
    assert [(f["tag"], f["path"]) for f in result["found"]] == [
        (second["tag"], SKLEARN), (first["tag"], SKLEARN)]
    assert result["found"][1]["md5"] == entry(first, SKLEARN)["md5"]
    # `*` crosses folders; `?` one character; no match is exit 4, with found: [] in JSON.
    assert len(json.loads(project.cli("find", "models/*", "--json", "--offline").stdout)[
        "found"]) == 2 * len([f for f in first["files"] if f["path"].startswith("models/")])
    none = project.cli("find", "*.onnx", "--json", "--offline")
    assert none.returncode == ExitCode.NO_SUCH_BACKUP
    assert json.loads(none.stdout)["found"] == [] and json.loads(none.stdout)["exit_code"] == 4
    assert "none of 2 backup(s) holds a path matching '*.onnx'" in none.stderr
    # The bytes of the first backup's model: only that backup holds them.
    md5 = entry(first, MODEL)["md5"]
    for given in (md5, md5[:8].upper()):
        found = json.loads(project.cli("find", "--md5", given, "--json", "--offline",
                                       check=True).stdout)["found"]
        assert [(f["tag"], f["path"]) for f in found] == [(first["tag"], MODEL)]
    assert_clean_failure(project.cli("find", "--md5", md5[:7]), ExitCode.USAGE,
                         "prefix of at least 8")
    assert_clean_failure(project.cli("find", "x", "--md5", md5), ExitCode.USAGE,
                         "a PATTERN or --md5 HASH")
    # Every file list at once: one git call, whatever the number of backups.
    from hdversion.gitrepo import GitRepo

    calls: list[int] = []
    real = GitRepo.read_files

    def counted(self: GitRepo, specs: list[tuple[str, str]]) -> list[bytes | None]:
        calls.append(len(specs))
        return real(self, specs)

    monkeypatch.setattr(GitRepo, "read_files", counted)
    assert len(api.find_files("*.pkl", repo=project.root, offline=True).found) == 6
    assert calls == [2]


# -- from a remote alone --------------------------------------------------------------------


def test_ls_cat_get_find_from_a_directory_remote_without_any_repository(
        saved: tuple[Project, Json], tmp_path: Path) -> None:
    project, made = saved
    url = ["--remote-url", str(project.root / "backups")]
    listed = json.loads(run_cli(tmp_path, "ls", "latest", "models", "--json", *url,
                                check=True).stdout)
    assert listed["remote_url"] == str(project.root / "backups")
    assert [f["path"] for f in listed["files"]] == [
        f["path"] for f in made["files"] if f["path"].startswith("models/")]
    for path in (MODEL, "params.yaml"):
        result = cat(tmp_path, made["timestamp"][:8], path, *url)
        assert result.returncode == 0, result.stderr
        assert result.stdout == project.read(path)
    run_cli(tmp_path, "get", "latest", SKLEARN, "-o", "model.joblib", *url, check=True)
    assert (tmp_path / "model.joblib").read_bytes() == project.read(SKLEARN)
    found = json.loads(run_cli(tmp_path, "find", "*.joblib", "--json", *url,
                               check=True).stdout)
    assert [(f["tag"], f["path"]) for f in found["found"]] == [(made["tag"], SKLEARN)]
    assert_clean_failure(run_cli(tmp_path, "cat", "latest", MODEL, "--offline", *url),
                         ExitCode.USAGE, "--offline cannot be used with it")
    assert {p.name for p in tmp_path.iterdir()} == {"model.joblib"}


@pytest.fixture
def remote_copy(saved: tuple[Project, Json], tmp_path: Path) -> Path:
    copied = tmp_path / "remote"
    shutil.copytree(saved[0].root / "backups", copied)
    return copied


@pytest.mark.parametrize("how, rule", [
    ("flip", "data hashes to"), ("truncated", "its manifest records"),
    ("longer", "holds more than the"), ("missing", "is missing")])
def test_a_damaged_object_in_a_remote_alone_is_exit_5_and_writes_nothing(
        saved: tuple[Project, Json], remote_copy: Path, tmp_path: Path, how: str,
        rule: str) -> None:
    _, made = saved
    md5 = entry(made, MODEL)["md5"]
    damage(remote_copy / object_key(md5), how)
    url = ["--remote-url", str(remote_copy)]
    work = tmp_path / "work"
    work.mkdir()
    assert_refused(cat(work, "latest", MODEL, *url), ExitCode.VERIFICATION_FAILED,
                   f"cannot read {MODEL} of {made['tag']} from {remote_copy}", rule,
                   str(remote_copy / object_key(md5)) if how != "missing" else "")
    got = run_cli(work, "get", "latest", MODEL, "-o", "model.h5", *url)
    assert_clean_failure(got, ExitCode.VERIFICATION_FAILED, rule, "model.h5 was not written")
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("attack, rule", [(escape_path, "unsafe file path")])
def test_a_hostile_manifest_in_a_remote_is_refused(
        saved: tuple[Project, Json], remote_copy: Path, tmp_path: Path,
        attack: Callable[[Json, Json], bool], rule: str) -> None:
    _, made = saved
    forge(remote_copy, made["timestamp"], attack)
    url = ["--remote-url", str(remote_copy)]
    for args in (("ls", made["timestamp"]),
                 ("get", made["timestamp"], "../escaped.h5", "-o", "x")):
        assert_clean_failure(run_cli(tmp_path, *args, *url), ExitCode.VERIFICATION_FAILED,
                             rule)
    # find skips it, and says so: no backup left to hold anything is exit 4.
    found = run_cli(tmp_path, "find", "*", *url)
    assert found.returncode == ExitCode.NO_SUCH_BACKUP, found.stderr
    assert f"warning: skipped {made['tag']}" in found.stderr and rule in found.stderr
    assert "error: none of 0 backup(s)" in found.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "escaped.h5").exists()


# -- S3 (moto) -------------------------------------------------------------------------------


@pytest.mark.cloud
def test_a_deployment_machine_gets_the_model_from_s3_alone(
        project: Project, s3_server: Any, bucket_factory: Callable[[Any], str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_cloud import PREFIX, configure

    monkeypatch.setenv("HDVERSION_GIT_REMOTE", "")
    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket)
    made = backup(project, "to s3", cloud=("s3",))
    machine = tmp_path / "deploy"
    machine.mkdir()
    env = env_credentials(s3_server)
    url = bucket_args(s3_server, bucket)
    run_cli(machine, "get", "latest", SKLEARN, "-o", "model.joblib", *url, env=env,
            check=True)
    assert (machine / "model.joblib").read_bytes() == project.read(SKLEARN)
    result = cat(machine, "latest", "params.yaml", *url, env=env)
    assert result.returncode == 0 and result.stdout == project.read("params.yaml")
    found = json.loads(run_cli(machine, "find", "--md5", entry(made, MODEL)["md5"], "--json",
                               *url, env=env, check=True).stdout)
    assert [f["path"] for f in found["found"]] == [MODEL]
    # Same size, other bytes in the bucket: exit 5 naming the rule and the object.
    key = f"{PREFIX}/{object_key(entry(made, MODEL)['md5'])}"
    data = bytearray(s3_server.read_object(bucket, key))
    data[100] ^= 0xFF
    s3_server.corrupt_object(bucket, key, bytes(data))
    assert_refused(cat(machine, "latest", MODEL, *url, env=env),
                   ExitCode.VERIFICATION_FAILED, f"cannot read {MODEL} of {made['tag']}",
                   "data hashes to", key)
    got = run_cli(machine, "get", "latest", MODEL, "-o", "model.h5", *url, env=env)
    assert_clean_failure(got, ExitCode.VERIFICATION_FAILED, "data hashes to")
    assert {p.name for p in machine.iterdir()} == {"model.joblib"}
    # In the clone, the damaged bucket copy is never read: the cache's is good.
    in_clone = cat(project.root, "latest", MODEL, "--storage", "s3", "--offline")
    assert in_clone.returncode == 0 and in_clone.stdout == project.read(MODEL)


# -- helpers ---------------------------------------------------------------------------------


def flip(path: Path) -> None:
    damage(path, "flip")


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    path.chmod(0o644)
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "truncated":
        path.write_bytes(bytes(data[:-1]))
    elif how == "longer":
        path.write_bytes(bytes(data) + b"x" * 5000)
    elif how == "missing":
        path.unlink()


# -- the pure rules (model/browse.py) ---------------------------------------------------------


@pytest.mark.parametrize("path, expected", [
    ("models/a.h5", "models/a.h5"), ("models/été ü.h5", "models/été ü.h5"),
    ("a\nb", "a\\x0ab"), ("a\x1b[31m", "a\\x1b[31m"), ("a\u202eb", "a\\u202eb"),
    ("a\u2028b", "a\\u2028b"), ("a\x9bb", "a\\x9bb"), ("a\\x1b", "a\\\\x1b"),
])
def test_shown_escapes_what_a_terminal_would_obey(path: str, expected: str) -> None:
    from hdversion.model.browse import shown

    assert shown(path) == expected


@pytest.mark.parametrize("given, normal", [
    ("models", "models"), ("models/", "models"), ("./models/", "models"), (".", ""),
    ("", ""), ("./", ""), ("models/a.h5", "models/a.h5")])
def test_a_path_is_normalized_not_globbed(given: str, normal: str) -> None:
    from hdversion.model.browse import normalized_path, under
    from hdversion.model.manifest import FileEntry

    assert normalized_path(given) == normal
    files = [FileEntry("models/a.h5", "0" * 32, 1), FileEntry("models/ab/c", "1" * 32, 1),
             FileEntry("modelsx", "2" * 32, 1)]
    assert [f.path for f in under(files, "models/a")] == []
    assert [f.path for f in under(files, "models")] == ["models/a.h5", "models/ab/c"]


@pytest.mark.parametrize("pattern, path, found", [
    ("*.joblib", "models/x.joblib", True), ("models/*", "models/optuna/s.pkl", True),
    ("*.JOBLIB", "models/x.joblib", False), ("models/?.h5", "models/a.h5", True),
    ("models/[ab].h5", "models/c.h5", False), ("models", "models/a.h5", False)])
def test_the_glob_is_fnmatch_over_the_whole_path(pattern: str, path: str, found: bool) -> None:
    from hdversion.model.browse import matches

    assert matches(path, pattern) is found


@pytest.mark.parametrize("given, ok", [
    ("A" * 32, True), ("0123abcd", True), ("0123abc", False), ("g" * 32, False),
    ("0" * 33, False), ("", False)])
def test_an_md5_query_is_hex_of_8_to_32_digits(given: str, ok: bool) -> None:
    from hdversion.errors import UsageError
    from hdversion.model.browse import md5_query

    if ok:
        assert md5_query(given) == given.lower()
    else:
        with pytest.raises(UsageError):
            md5_query(given)


def test_a_deployment_machine_gets_prod_from_the_bucket_alone(
        project: Project, s3_server: Any, bucket_factory: Callable[[Any], str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`alias set` writes the alias's record into the remotes the backups go to, `sync` into
    the one it fills: a machine with the bucket alone fetches `prod`. A record forged in the
    bucket is refused by its rule; a removed alias names nothing."""
    from tests.test_cloud import PREFIX, configure

    monkeypatch.setenv("HDVERSION_GIT_REMOTE", "")
    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket)
    first = backup(project, "first", cloud=("s3",))
    project.retrain(5)
    backup(project, "second", cloud=("s3",))
    run_cli(project.root, "alias", "set", "prod", first["timestamp"], check=True)
    # No remote is in backup.remotes here: the alias reaches the bucket with sync.
    key = f"{PREFIX}/hdversion/aliases/prod.json"
    assert key not in s3_server.list_keys(bucket)
    synced = json.loads(run_cli(project.root, "sync", "--storage", "s3", "--json",
                                check=True).stdout)
    assert synced["aliases"]["ok"] is True
    machine = tmp_path / "deploy"
    machine.mkdir()
    env = env_credentials(s3_server)
    url = bucket_args(s3_server, bucket)
    run_cli(machine, "get", "prod", SKLEARN, "-o", "model.joblib", *url, env=env, check=True)
    assert (machine / "model.joblib").read_bytes() == \
        cat(project.root, first["timestamp"], SKLEARN).stdout
    listed = json.loads(run_cli(machine, "ls", "prod", SKLEARN, "--json", *url, env=env,
                                check=True).stdout)
    assert listed["tag"] == first["tag"]
    assert_refused(cat(machine, "staging", SKLEARN, *url, env=env),
                   ExitCode.NO_SUCH_BACKUP, "no alias 'staging' in")
    record = json.loads(s3_server.read_object(bucket, key))
    record["tag"] = "backup/../../etc"
    s3_server.corrupt_object(bucket, key, json.dumps(record).encode())
    assert_refused(cat(machine, "prod", SKLEARN, *url, env=env),
                   ExitCode.VERIFICATION_FAILED, "the record of alias 'prod' is not trusted",
                   "tag is not backup/YYYYMMDD_HHMMSS")
    run_cli(project.root, "alias", "rm", "prod", check=True)
    run_cli(project.root, "sync", "--storage", "s3", check=True)
    assert_refused(cat(machine, "prod", SKLEARN, *url, env=env),
                   ExitCode.NO_SUCH_BACKUP, "alias 'prod' was removed")
