"""verify (like `restic check [--read-data]`) and a restore that falls back from one damaged
store to the next: real git, real DVC, local remotes and the S3 server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hdversion import api
from hdversion.errors import UsageError
from hdversion.model.remote_records import manifest_key
from hdversion.model.verification import Subset, content_problem, size_problem
from hdversion.util.hashing import md5_file
from tests.conftest import Project, run_cli
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX, configure
from tests.test_prune import objects_of
from tests.test_restore import MODEL, backup, object_path, workspace_state

# -- the pure rules -----------------------------------------------------------------------

MD5S = [f"{i:032x}" for i in range(40)]


@pytest.mark.parametrize("text", ["0%", "101%", "-5%", "0/3", "4/3", "1/0", "ten", "", "10"])
def test_a_bad_subset_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="read-data-subset"):
        Subset.parse(text)


@pytest.mark.parametrize(("text", "count"), [("10%", 4), ("2.5%", 1), ("100%", 40),
                                             ("33%", 14)])
def test_a_percentage_rounds_up_and_a_seed_repeats_it(text: str, count: int) -> None:
    subset = Subset.parse(text)
    first = subset.choose(MD5S, seed=7)
    assert len(first) == count == math.ceil(40 * subset.percent / 100)  # type: ignore[operator]
    assert subset.choose(list(reversed(MD5S)), seed=7) == first  # order-independent
    assert set(first) <= set(MD5S)
    if count < 40:
        assert any(subset.choose(MD5S, seed=s) != first for s in range(8, 20))


def test_groups_read_every_object_exactly_once() -> None:
    groups = [Subset.parse(f"{n}/7").choose(MD5S, seed=0) for n in range(1, 8)]
    everything = [md5 for group in groups for md5 in group]
    assert sorted(everything) == sorted(MD5S)  # each once, none twice


def test_verdicts() -> None:
    assert size_problem(10, 10) is None and size_problem(None, 3) is None
    assert size_problem(10, 9) == "size differs: 9 bytes, not 10"
    good = "0" * 32
    assert content_problem(good, good, 5, None) is None
    assert content_problem(good + ".dir", good, 5, None) is None  # a listing's name
    assert "corrupt" in (content_problem(good, "1" * 32, 5, None) or "")
    assert content_problem(good, None, 0, "missing") == "missing"


# -- verify against real stores -----------------------------------------------------------

def verify(project: Project, *args: str) -> tuple[int, dict, str]:
    result = project.cli("verify", "--json", "--offline", *args)
    return result.returncode, json.loads(result.stdout.splitlines()[-1]), result.stderr


def flip_a_byte(path: Path) -> None:
    """Same-size corruption: what no listing can see."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def test_verify_checks_the_listing_and_read_data_finds_same_size_corruption(
        project: Project) -> None:
    made = backup(project)
    needed = objects_of(made)
    code, report, _ = verify(project)
    assert code == 0 and report["ok"] and not report["read_data"]
    assert report["objects"] == len(needed) and report["read"] == 0
    assert [b["tag"] for b in report["backups"]] == [made["tag"]]

    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    flip_a_byte(object_path(project.root / "backups", md5))
    stores_before = {p: p.read_bytes() for p in (project.root / "backups").rglob("*")
                     if p.is_file()}
    # The listing sees the right size: only reading the bytes finds it (restic's lesson).
    assert verify(project)[0] == 0
    code, report, stderr = verify(project, "--read-data")
    assert code == 5, stderr
    assert report["read"] == len(needed)
    [problem] = report["backups"][0]["problems"]
    assert problem["md5"] == md5 and problem["paths"] == [MODEL]
    assert problem["problem"].startswith("corrupt")
    assert made["tag"] in stderr and "copy --from" in stderr
    # verify reports; it changes nothing.
    assert {p: p.read_bytes() for p in (project.root / "backups").rglob("*")
            if p.is_file()} == stores_before


def test_a_missing_object_and_a_truncated_one_without_reading(project: Project) -> None:
    made = backup(project)
    files = {f["path"]: f["md5"] for f in made["files"] if f["store"] == "dvc"}
    object_path(project.root / "backups", files[MODEL]).unlink()
    truncated = object_path(project.root / "backups", files["data/processed/processed_data.npz"])
    truncated.chmod(0o644)
    truncated.write_bytes(truncated.read_bytes()[:100])
    code, report, stderr = verify(project)
    assert code == 5
    problems = {p["paths"][0]: p["problem"] for p in report["backups"][0]["problems"]}
    assert problems[MODEL] == "missing"
    assert problems["data/processed/processed_data.npz"].startswith("size differs: 100 bytes")
    assert "1 missing, 1 damaged" in stderr

    # --repair replaces both from the cache's good copies, and reads them back.
    code, report, stderr = verify(project, "--repair")
    assert code == 0, stderr
    assert report["repair"] and all(p["repaired"] for p in report["backups"][0]["problems"])
    code, report, _ = verify(project, "--read-data")
    assert code == 0 and report["backups"][0]["problems"] == []


def test_repair_without_a_good_copy_anywhere_is_exit_5(project: Project) -> None:
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    flip_a_byte(object_path(project.root / ".dvc" / "cache", md5))
    flip_a_byte(object_path(project.root / "backups", md5))
    code, report, _ = verify(project, "--read-data", "--repair")
    assert code == 5
    [problem] = report["backups"][0]["problems"]
    assert problem["md5"] == md5 and not problem["repaired"]
    # The damaged remote copy is left as it was: even a damaged copy is somebody's.
    assert object_path(project.root / "backups", md5).is_file()


@pytest.fixture(scope="module")
def history(project_template: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Project, dict, dict]:
    """Two backups that the read-only tests share."""
    root = tmp_path_factory.mktemp("verify") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    first = backup(project)
    project.retrain(2)
    second = backup(project)
    assert project.cli("remote", "add", "far", "s3://bucket/p", "--endpoint-url",
                       "http://127.0.0.1:9").returncode == 0
    return project, first, second


def test_subsets_all_and_named_backups(history: tuple[Project, dict, dict]) -> None:
    project, first, second = history
    everything = objects_of(first) | objects_of(second)

    def check(*timestamps: str, **options: object) -> api.VerifyResult:
        return api.verify(repo=project.root, refs=timestamps, offline=True, **options)  # type: ignore[arg-type]

    result = check(every=True, subset="50%")
    assert result.ok and result.seed is not None
    assert result.read == math.ceil(len(everything) / 2)
    again = check(every=True, subset="50%", seed=result.seed)
    assert [c.read for c in again.checks] == [c.read for c in result.checks]
    assert {c.backup.tag for c in result.checks} == {first["tag"], second["tag"]}

    assert sum(check(every=True, subset=f"{n}/3").read for n in (1, 2, 3)) == len(everything)

    assert [c.backup.tag for c in check(first["timestamp"]).checks] == [first["tag"]]
    assert [c.backup.tag for c in check(f"backup/{first['timestamp']}").checks] == [
        first["tag"]]
    # Without arguments: the latest backup.
    assert [c.backup.tag for c in check().checks] == [second["tag"]]

    with pytest.raises(UsageError, match="not both"):
        check(first["timestamp"], every=True)
    with pytest.raises(UsageError, match="not both"):
        check(read_data=True, subset="5%")


@pytest.mark.parametrize(("args", "code", "phrase"), [
    (("2026",), 2, "timestamp"),
    (("20990101_000000",), 4, "no backup"),
    (("--read-data-subset", "0%"), 2, "read-data-subset"),
    (("--storage", "dropbox"), 2, "unknown storage"),
    (("--remote", "nowhere"), 7, "no DVC remote named 'nowhere'"),
    (("--remote", "far"), 7, "cannot reach remote 'far'"),
    (("--remote", "far", "--repair"), 7, "cannot reach remote 'far'"),
])
def test_bad_verify_input(history: tuple[Project, dict, dict], args: tuple[str, ...],
                          code: int, phrase: str) -> None:
    project = history[0]
    result = project.cli("verify", "--offline", *args)
    assert result.returncode == code, result.stderr
    assert phrase in result.stderr and "Traceback" not in result.stderr


# -- restore: one bad store does not stop it ---------------------------------------------

def add_mirror(project: Project, tmp_path: Path) -> Path:
    mirror = tmp_path / "mirror"
    assert project.cli("remote", "add", "mirror", str(mirror)).returncode == 0
    assert project.cli("sync", "--remote", "mirror").returncode == 0
    return mirror


def test_restore_tries_the_next_store_when_cache_and_local_remote_are_bad(
        project: Project, tmp_path: Path) -> None:
    made = backup(project)
    mirror = add_mirror(project, tmp_path)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    flip_a_byte(object_path(project.root / ".dvc" / "cache", md5))
    flip_a_byte(object_path(project.root / "backups", md5))
    project.damage(MODEL)
    result = project.cli("restore", "--json", "--force")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["fetched_from"] == {"mirror": 1}
    assert report["quarantined_objects"] == [md5]
    assert md5_file(project.root / MODEL)[0] == md5
    assert object_path(mirror, md5).is_file()


def test_restore_names_every_store_when_none_has_good_data(project: Project,
                                                           tmp_path: Path) -> None:
    made = backup(project)
    mirror = add_mirror(project, tmp_path)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    for store in (project.root / ".dvc" / "cache", project.root / "backups", mirror):
        flip_a_byte(object_path(store, md5))
    project.damage(MODEL, b"current")
    before = workspace_state(project)
    result = project.cli("restore", "--force")
    assert result.returncode == 5
    assert "remote(s) 'local', 'mirror'" in result.stderr
    assert workspace_state(project) == before


def test_an_unreachable_remote_named_first_is_skipped_when_another_has_the_data(
        project: Project) -> None:
    made = backup(project)
    assert project.cli("remote", "add", "s3", "s3://bucket/p", "--endpoint-url",
                       "http://127.0.0.1:9").returncode == 0
    shutil.rmtree(project.root / ".dvc" / "cache")
    project.damage(MODEL)
    result = project.cli("restore", "--json", "--force", "--storage", "s3")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "s3" in report["unusable_remotes"] and report["fetched_from"] == {"local": 1}
    assert "remote 's3' skipped" not in result.stdout  # warnings go to stderr
    model = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    assert md5_file(project.root / MODEL)[0] == model


def test_the_named_remote_unreachable_and_no_other_store_has_the_data_is_exit_7(
        project: Project) -> None:
    backup(project)
    assert project.cli("remote", "add", "s3", "s3://bucket/p", "--endpoint-url",
                       "http://127.0.0.1:9").returncode == 0
    shutil.rmtree(project.root / ".dvc" / "cache")
    shutil.rmtree(project.root / "backups")
    project.damage(MODEL, b"current")
    before = workspace_state(project)
    result = project.cli("restore", "--force", "--storage", "s3")
    assert result.returncode == 7, result.stderr
    assert workspace_state(project) == before


# -- a cloud remote -------------------------------------------------------------------------

@pytest.mark.cloud
def test_verify_read_data_finds_same_size_corruption_in_s3(
        project: Project, s3_server: StorageServer,
        bucket_factory: Callable[[StorageServer], str]) -> None:
    bucket = bucket_factory(s3_server)
    configure(project, s3_server, bucket)
    made = backup(project, "--storage", "s3")
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    key = f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}"
    size = next(f["size"] for f in made["files"] if f["path"] == MODEL)
    s3_server.corrupt_object(bucket, key, b"\0" * size)

    listed = project.cli("list", "--json", "--offline", "--storage", "s3")
    assert json.loads(listed.stdout)[0]["complete"]  # the listing cannot tell
    assert verify(project, "--storage", "s3")[0] == 0
    code, report, _ = verify(project, "--storage", "s3", "--read-data")
    assert code == 5
    assert [p["md5"] for p in report["backups"][0]["problems"]] == [md5]
    assert report["read"] == len(objects_of(made))

    # --repair uploads the cache's good copy over it; a second read finds nothing.
    code, report, _ = verify(project, "--storage", "s3", "--read-data", "--repair")
    assert code == 0 and report["backups"][0]["problems"][0]["repaired"]
    assert verify(project, "--storage", "s3", "--read-data")[1]["ok"]

    # The manifest gone, the objects whole: the bucket cannot restore alone, verify says
    # so; with an object gone too, --repair brings it back and then writes the manifest.
    manifest = f"{PREFIX}/{manifest_key(made['timestamp'])}"
    s3_server.delete_object(bucket, manifest)
    code, report, stderr = verify(project, "--storage", "s3")
    assert code == 5, stderr
    assert "no manifest in 's3'" in stderr
    assert report["backups"][0]["manifest"] == "missing"
    assert report["backups"][0]["problems"] == []
    s3_server.delete_object(bucket, key)
    code, report, stderr = verify(project, "--storage", "s3", "--repair")
    assert code == 0, stderr
    assert manifest in s3_server.list_keys(bucket)
    assert report["backups"][0]["manifest"] == "written"
    assert verify(project, "--storage", "s3")[1]["backups"][0]["manifest"] == "ok"
    # A restore from S3 skipping a damaged object: the local-remote tests above.


# -- the manifest that lets a remote alone restore (issue 22, item 5's rule) ---------------

def test_verify_says_a_remote_lacks_a_manifest_and_repair_writes_it(
        project: Project, tmp_path: Path) -> None:
    """A remote whose objects are whole but whose manifest is gone cannot restore alone:
    verify says so (exit 5, as for a missing object), and --repair writes the manifest
    through sync's code, with or without an object to repair."""
    usb = tmp_path / "usb"
    assert project.cli("remote", "add", "usb", str(usb)).returncode == 0
    made = backup(project, "--remote", "usb")
    shutil.rmtree(usb / "hdversion")
    code, report, stderr = verify(project, "--remote", "usb")
    assert code == 5, stderr
    assert report["backups"][0]["manifest"] == "missing" and not report["ok"]
    assert "no manifest in 'usb'" in stderr and "verify --repair" in stderr
    assert not (usb / "hdversion").exists()  # verify reports; it changes nothing

    # An object deleted too: the repair brings it back, then writes the manifest.
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    object_path(usb, md5).unlink()
    code, report, stderr = verify(project, "--remote", "usb", "--repair")
    assert code == 0, stderr
    assert report["backups"][0]["problems"][0]["repaired"]
    listed = run_cli(tmp_path, "list", "--json", "--remote-url", str(usb))
    assert listed.returncode == 0, listed.stderr
    assert [b["tag"] for b in json.loads(listed.stdout)] == [made["tag"]]
    assert report["backups"][0]["manifest"] == "written"

    # No object to repair, only the manifest missing: --repair still writes it.
    shutil.rmtree(usb / "hdversion")
    code, report, stderr = verify(project, "--remote", "usb", "--repair")
    assert code == 0, stderr
    assert report["backups"][0]["problems"] == []
    assert report["backups"][0]["manifest"] == "written"
    assert run_cli(tmp_path, "list", "--remote-url", str(usb)).returncode == 0
    assert verify(project, "--remote", "usb")[1]["backups"][0]["manifest"] == "ok"


def test_repair_writes_no_manifest_for_a_backup_still_broken(project: Project,
                                                             tmp_path: Path) -> None:
    """A manifest in a remote means its backup is whole there: none is written while an
    object has no good copy anywhere."""
    made = backup(project)
    md5 = next(f["md5"] for f in made["files"] if f["path"] == MODEL)
    shutil.rmtree(project.root / "backups" / "hdversion")
    object_path(project.root / ".dvc" / "cache", md5).unlink()
    object_path(project.root / "backups", md5).unlink()
    code, report, stderr = verify(project, "--repair")
    assert code == 5, stderr
    assert report["backups"][0]["manifest"] == "missing"
    assert not (project.root / "backups" / "hdversion").exists()


def test_a_remote_named_cache_is_verified_as_that_remote(project: Project,
                                                         tmp_path: Path) -> None:
    """`verify --remote cache` checks the DVC remote named `cache`, not the DVC cache: a
    remote that holds a backup's manifest but none of its objects cannot restore it."""
    named_cache = tmp_path / "remote-named-cache"
    assert project.cli("remote", "add", "cache", str(named_cache)).returncode == 0
    made = backup(project, "--remote", "cache")
    shutil.rmtree(named_cache / "files")
    code, report, stderr = verify(project, "--remote", "cache")
    assert code == 5, stderr
    assert "cannot be fully restored from 'cache'" in stderr
    [check] = report["backups"]
    assert check["manifest"] == "ok"
    assert {p["md5"] for p in check["problems"]} == objects_of(made)
    assert all(p["missing"] for p in check["problems"])
