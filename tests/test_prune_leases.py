"""Leases in a shared store (ops/leases.py; docs/design-decisions.md, "Leases in the shared
store"): two clones of one bare origin share a directory remote `nas` (outside both
repositories, so shared); B backs up into it, A prunes it. Interleavings are set with pause
points, ages with os.utime on the remote's files (the store's own clock: a directory's mtimes),
and a pruning clock ahead through prune's `now` (its clock seam), never by sleeping.

A's backups a1 (seed 2) and a2 (seed 3) are in `nas` with their objects aged two hours, so
that the grace period protects none of them: only the leases can."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_file
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused
from tests.test_prune_cloud import origin_tags, stored

Json = dict[str, Any]


def objects_of(data: Json) -> set[str]:
    return {f["md5"] for f in data["files"] if f["store"] == "dvc"} | {
        o["md5"] for o in data["outputs"] if o["md5"].endswith(".dir") and o["store"] == "dvc"}




def leases(nas: Path) -> list[Path]:
    folder = nas / "hdversion" / "locks"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def age(paths: list[Path], seconds: float) -> None:
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def backup(project: Project, seed: int | None, *args: str, code: int = 0) -> Json:
    if seed is not None:
        project.retrain(seed)
    remote = () if any(a.startswith("--remote=") for a in args) else ("--remote=nas",)
    result = project.cli("backup", "--json", *remote, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    data: Json = json.loads(result.stdout) if code == 0 else {}
    return data


def prune(project: Project, *args: str, code: int = 0) -> Json:
    result = project.cli("prune", "--json", "--remote=nas", *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    data: Json = json.loads(result.stdout)
    return data


def nas_sweep(report: Json) -> Json:
    [sweep] = [s for s in report["stores"] if s["store"] == "nas"]
    assert isinstance(sweep, dict)
    return sweep


def restores_whole(origin: Path, root: Path, made: Json, remote: str = "nas",
                   credentials: dict[str, str] | None = None) -> None:
    """A fresh clone restores the backup `made` (`backup --json`) from `remote` alone, every
    file byte for byte as the backup recorded it. `credentials`: the bucket's credentials
    file's content (it never travels through git)."""
    subprocess.run(["git", "clone", "-q", str(origin), str(root)], check=True)
    if credentials is not None:
        (root / "config" / "cloud_credentials.json").write_text(json.dumps(credentials))
    target = root.parent / f"{root.name}-restored"
    result = Project(root).cli("restore", "--json", f"--remote={remote}",
                               f"--timestamp={made['timestamp']}", "--target", str(target))
    assert result.returncode == 0, (made["tag"], result.stdout, result.stderr)
    for entry in made["files"]:
        assert md5_file(target / entry["path"])[0] == entry["md5"], (made["tag"], entry)


@dataclass
class Shared:
    a: Project
    b: Project
    origin: Path
    nas: Path
    a1: Json
    a2: Json


@pytest.fixture
def shared(project: Project, tmp_path: Path) -> Shared:
    """A with a1 and a2 in `nas` (objects aged 2 h) and on origin; B a clone of origin whose
    workspace holds a1's state (restored from `nas`): B's next backup reuses a1's objects."""
    a, nas = project, tmp_path / "nas"
    a.cli("remote", "add", "nas", str(nas), check=True)
    a.git("add", ".dvc/config")
    a.git("commit", "-q", "-m", "shared remote")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    a.git("remote", "add", "origin", str(origin))
    a.git("push", "-q", "origin", "main")
    a1, a2 = backup(a, 2), backup(a, 3)
    assert origin_tags(origin) == {a1["tag"], a2["tag"]}
    assert objects_of(a1) - objects_of(a2)
    age([p for p in (nas / "files" / "md5").glob("*/*")], 2 * 3600)
    assert not leases(nas)  # published backups leave none
    b = Project(tmp_path / "b")
    subprocess.run(["git", "clone", "-q", str(origin), str(b.root)], check=True)
    b.cli("restore", "--force", "--remote=nas", f"--timestamp={a1['timestamp']}", check=True)
    return Shared(a, b, origin, nas, a1, a2)


def test_a_writer_between_its_push_and_its_tag_push_keeps_prune_off_the_store(
        shared: Shared, tmp_path: Path) -> None:
    """B's backup reuses a1's old objects (nothing uploaded) and waits before its tag push;
    A prunes a1: the store is busy (B's lease), nothing is swept there, and prune says why
    (exit 0: nothing is wrong). Once B's tag is on origin, a second prune sweeps what is
    truly unused (an object nothing uses), and B's backup restores whole in a fresh clone."""
    a, b, nas, a1, a2 = shared.a, shared.b, shared.nas, shared.a1, shared.a2
    unused = "ee" * 16  # an object nothing uses, old: what a sweep is for
    (nas / "files" / "md5" / "ee").mkdir(exist_ok=True)
    (nas / "files" / "md5" / "ee" / unused[2:]).write_bytes(b"nobody's")
    age([nas / "files" / "md5" / "ee" / unused[2:]], 2 * 3600)
    writer = start_paused(b.root, PausePoint.BEFORE_TAG_PUSH, "backup", "--json",
                          "--remote=nas")
    try:
        assert [p.name.split("-")[0] for p in leases(nas)] == ["shared"]
        before = stored(nas)

        result = a.cli("prune", "--keep-last", "1", "--remote=nas", "--grace", "0")
        assert result.returncode == 0, (result.stdout, result.stderr)
        assert "nas: not swept: store busy: 1 writer(s)" in result.stdout
        report = prune(a, "--keep-last", "1", "--grace", "0")  # nothing left to remove
        assert nas_sweep(report)["busy"].startswith("store busy: 1 writer(s) (backup on ")
        assert nas_sweep(report)["busy"].endswith("), swept next run")
        assert origin_tags(shared.origin) == {a2["tag"]}  # the tags go all the same
        assert stored(nas) == before
    finally:
        pause_marker(b.root).unlink(missing_ok=True)
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, (out, err)
    b1 = json.loads(out)
    assert objects_of(b1) == objects_of(a1) and b1["tag"] in origin_tags(shared.origin)
    assert not leases(nas)  # its tag is on origin: the lease is gone

    report = prune(a, "--keep-last", "1", "--grace", "0")
    assert report["removed"] == [a2["tag"]]  # a2's objects stay: A's workspace uses them
    sweep = nas_sweep(report)
    assert sweep["busy"] is None and sweep["deleted"] == 1
    assert stored(nas) == before - {unused}
    assert not leases(nas)  # prune's own lease is gone too
    restores_whole(shared.origin, tmp_path / "c", b1)


def test_a_killed_writer_blocks_the_sweep_until_its_lease_is_stale(shared: Shared) -> None:
    """B is killed (-9) between its push and its tag push: its lease stays. Judged by the
    store's clock against prune's own lease, it blocks the sweep while younger than 30
    minutes (29 min), never after (31 min); its tag never reached origin, so its backup is
    not one prune must keep."""
    a, b, nas, a1 = shared.a, shared.b, shared.nas, shared.a1
    writer = start_paused(b.root, PausePoint.BEFORE_TAG_PUSH, "backup", "--remote=nas")
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    [left] = leases(nas)
    before = stored(nas)

    age([left], 29 * 60)
    report = prune(a, "--keep-last", "1", "--grace", "0")
    assert report["removed"] == [a1["tag"]]
    assert "store busy: 1 writer(s)" in nas_sweep(report)["busy"]
    assert stored(nas) == before and leases(nas) == [left]

    age([left], 31 * 60)
    report = prune(a, "--keep-last", "1", "--grace", "0")
    sweep = nas_sweep(report)
    assert sweep["busy"] is None
    assert sweep["deleted"] == len(objects_of(a1) - objects_of(shared.a2)) > 0
    assert leases(nas) == [left]  # a dead run's lease is not prune's to remove


def test_a_writer_whose_lease_lapsed_confirms_its_objects_again_before_its_tag(
        shared: Shared, tmp_path: Path) -> None:
    """B stops between its push and its tag push for longer than its lease lives (aged 31
    minutes: a suspended laptop); A's prune meanwhile finds no live writer and sweeps a1's
    objects, which B reuses. Before its tag push B sees its lease lapsed, puts back what the
    store lacks from its cache, and only then publishes: its backup restores whole."""
    a, b, nas, a1 = shared.a, shared.b, shared.nas, shared.a1
    writer = start_paused(b.root, PausePoint.BEFORE_TAG_PUSH, "backup", "--json",
                          "--remote=nas")
    try:
        [lease] = leases(nas)
        age([lease], 31 * 60)
        report = prune(a, "--keep-last", "1", "--grace", "0")
        assert report["removed"] == [a1["tag"]] and nas_sweep(report)["busy"] is None
        swept = objects_of(a1) - objects_of(shared.a2)
        assert swept and not swept & stored(nas)
    finally:
        pause_marker(b.root).unlink(missing_ok=True)
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, (out, err)
    b1 = json.loads(out)
    assert objects_of(b1) == objects_of(a1) and objects_of(b1) <= stored(nas)
    restores_whole(shared.origin, tmp_path / "c", b1)


def test_a_forged_lease_holds_the_sweep_no_longer_than_a_real_one(shared: Shared) -> None:
    """Whoever can write to the store can drop files in its locks/ folder: a lease whose
    content is garbage or oversized still counts as a writer (keeping too much is the safe
    mistake), named by its key, and only while young by the store's clock; a file whose
    name is no lease's is not one. Nothing it says can make it last longer."""
    a, nas, a1 = shared.a, shared.nas, shared.a1
    folder = nas / "hdversion" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / ("shared-" + "ab" * 8)
    garbage.write_bytes(b"\x00\x1b[31mnot json" + b"x" * 100_000)
    (folder / "evil").write_text(json.dumps({"kind": "shared", "stale_after": "never"}))
    before = stored(nas)
    report = prune(a, "--keep-last", "1", "--grace", "0")
    busy = nas_sweep(report)["busy"]
    assert busy.startswith("store busy: 1 writer(s)") and garbage.name in busy, busy
    assert "\x1b" not in json.dumps(report) and stored(nas) == before

    age([garbage, folder / "evil"], 31 * 60)
    report = prune(a, "--keep-last", "1", "--grace", "0")
    sweep = nas_sweep(report)
    assert sweep["busy"] is None
    assert sweep["deleted"] == len(objects_of(a1) - objects_of(shared.a2)) > 0


def test_a_writer_that_finds_a_prune_sweeping_waits_or_fails_with_exit_6(
        shared: Shared, tmp_path: Path) -> None:
    """A's prune holds its exclusive lease and has read the tags (paused there); B's backup,
    which would reuse a1's objects that this prune is about to delete, pushes nothing and
    fails with exit 6 naming the prune. After the prune, B backs up again: the objects go up
    anew and the backup restores whole. (Planted bug: prune reading the tags before it puts
    its lease in; then B's backup completes while prune is paused, and prune deletes its
    data.)"""
    a, b, nas, a1 = shared.a, shared.b, shared.nas, shared.a1
    pruner = start_paused(a.root, PausePoint.AFTER_TAG_FETCH, "prune", "--json",
                          "--keep-last", "1", "--remote=nas", "--grace", "0")
    try:
        result = b.cli("backup", "--json", "--remote=nas", "--wait", "0")
        assert result.returncode == 6, (result.stdout, result.stderr)
        assert "remote 'nas' is being pruned (prune on" in result.stderr
        assert "nothing was pushed there" in result.stderr
        assert [p.name.split("-")[0] for p in leases(nas)] == ["exclusive"]
    finally:
        pause_marker(a.root).unlink(missing_ok=True)
        out, err = pruner.communicate(timeout=120)
    assert pruner.returncode == 0, (out, err)
    assert json.loads(out)["removed"] == [a1["tag"]]
    assert not (objects_of(a1) - objects_of(shared.a2)) & stored(nas)

    b1 = backup(b, None)
    assert objects_of(b1) == objects_of(a1) and objects_of(b1) <= stored(nas)
    restores_whole(shared.origin, tmp_path / "c", b1)


def test_a_pruning_clock_hours_ahead_deletes_no_young_object(shared: Shared) -> None:
    """B's new objects (seed 7), its tag never pushed and its lease gone, are minutes old by
    the store's clock: a prune whose own clock is five hours ahead keeps them for the grace
    period (1 h), counted back from the store's time of prune's lease."""
    from hdversion.model.retention import Policy
    from hdversion.ops.prune import prune as prune_api

    a, b, nas = shared.a, shared.b, shared.nas
    b.retrain(7)
    result = b.cli("backup", "--json", "--remote=nas", env={"HDVERSION_GIT_REMOTE": ""})
    assert result.returncode == 0, (result.stdout, result.stderr)
    b1 = json.loads(result.stdout)
    young = objects_of(b1) - objects_of(shared.a1) - objects_of(shared.a2)
    assert young and young <= stored(nas)
    for lease in leases(nas):  # its unpublished backup's lease, as if it had expired
        lease.unlink()

    ahead = now_utc() + timedelta(hours=5)
    result_api = prune_api(repo=a.root, policy=Policy(last=2), remote="nas", now=ahead)
    [sweep] = [s for s in result_api.stores if s.store.name == "nas"]
    assert sweep.recent == len(young) and not set(sweep.garbage) & young
    assert young <= stored(nas)


# -- the long tier -------------------------------------------------------------------------
STRESS_BACKUPS = int(os.environ.get("HDVERSION_LEASE_STRESS_BACKUPS", "16"))


def stress(a: Project, b: Project, origin: Path, remote: str, backups_made: int,
           tmp_path: Path, secrets: dict[str, str] | None = None) -> dict[str, int]:
    """B backs up `backups_made` times into `remote` (seeds 2 and 3 alternate, so most
    backups reuse objects already there, some of them a pruned backup's; every fourth is new
    bytes) while A prunes in a loop with --keep-last 1 --grace 0. Every prune must succeed
    (it refuses when the backup it keeps lacks data); afterwards every tag on origin restores
    byte for byte from `remote` in a fresh clone. Returns the figures."""
    import threading

    made: dict[str, Json] = {}
    failures: list[str] = []
    done = threading.Event()

    def backups() -> None:
        try:
            for i in range(backups_made):
                b.retrain(100 + i if i % 4 == 3 else 2 + i % 2)
                result = b.cli("backup", "--json", f"--remote={remote}", "--wait", "120")
                if result.returncode != 0:
                    failures.append(f"backup {i}: {result.returncode} {result.stderr}")
                    return
                data = json.loads(result.stdout)
                made[data["tag"]] = data
        finally:
            done.set()

    writer = threading.Thread(target=backups)
    writer.start()
    rounds = busy = 0
    while not done.is_set() or rounds == 0:
        result = a.cli("prune", "--json", "--keep-last", "1", "--grace", "0",
                       f"--remote={remote}")
        rounds += 1
        assert result.returncode == 0, (rounds, result.stdout, result.stderr)
        [sweep] = [s for s in json.loads(result.stdout)["stores"] if s["store"] == remote]
        busy += sweep["busy"] is not None
    writer.join()
    assert not failures, failures
    tags = origin_tags(origin)
    assert tags and tags <= set(made)
    for n, tag in enumerate(sorted(tags)):
        restores_whole(origin, tmp_path / f"check-{n}", made[tag], remote, secrets)
    return {"backups": len(made), "reused": sum(i % 4 != 3 and i >= 2
                                                 for i in range(backups_made)),
            "prune_rounds": rounds, "busy_rounds": busy, "tags_checked": len(tags)}


@pytest.mark.reliability
def test_backups_reusing_bytes_and_prunes_in_a_loop_lose_nothing(shared: Shared,
                                                                  tmp_path: Path) -> None:
    """The stress of `stress` on the shared directory remote."""
    from tests.test_reliability import record

    figures = stress(shared.a, shared.b, shared.origin, "nas", STRESS_BACKUPS, tmp_path)
    record(test="lease-stress-directory", **figures)


@pytest.mark.reliability
@pytest.mark.cloud
def test_backups_and_prunes_in_a_loop_lose_nothing_in_an_s3_bucket(
        project: Project, s3_server: Any, bucket_factory: Any, tmp_path: Path) -> None:
    """The stress of `stress` on one S3 bucket (moto's server) both clones share."""
    from tests.test_cloud import configure
    from tests.test_reliability import record

    a = project
    configure(a, s3_server, bucket_factory(s3_server))
    a.git("add", ".dvc/config", ".gitignore")
    a.git("commit", "-q", "-m", "shared bucket")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    a.git("remote", "add", "origin", str(origin))
    a.git("push", "-q", "origin", "main")
    a1 = backup(a, 2, "--remote=s3")
    backup(a, 3, "--remote=s3")
    b = Project(tmp_path / "b")
    subprocess.run(["git", "clone", "-q", str(origin), str(b.root)], check=True)
    secrets = json.loads((a.root / "config" / "cloud_credentials.json").read_text())
    (b.root / "config" / "cloud_credentials.json").write_text(json.dumps(secrets))
    b.cli("restore", "--force", "--remote=s3", f"--timestamp={a1['timestamp']}", check=True)
    figures = stress(a, b, origin, "s3", STRESS_BACKUPS // 2, tmp_path, secrets)
    record(test="lease-stress-s3", **figures)


# -- the rules alone ----------------------------------------------------------------------
def test_a_lease_is_judged_against_the_readers_own_lease_in_the_store() -> None:
    """Live: under 30 minutes older than the lease just written (by the store's times), or
    newer than it; the reader's own lease and the other kind are never counted."""
    from hdversion.model.leases import STALE_AFTER, Held, live

    probe = 1_000_000.0
    held = [Held("exclusive-own", "exclusive", probe),
            Held("shared-fresh", "shared", probe - STALE_AFTER + 1),
            Held("shared-stale", "shared", probe - STALE_AFTER),
            Held("shared-newer", "shared", probe + 3600),  # its store clock: ahead of ours
            Held("exclusive-other", "exclusive", probe - 60)]
    assert [h.name for h in live(held, "exclusive-own", "shared")] == ["shared-fresh",
                                                                       "shared-newer"]
    assert [h.name for h in live(held, "exclusive-own", "exclusive")] == ["exclusive-other"]


def test_a_running_writer_writes_its_lease_again(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The refresher rewrites every lease of the run (its time in the store moves on) until
    the run ends."""
    from hdversion.datastore.records import open_url
    from hdversion.model.leases import Lease
    from hdversion.ops import leases as ops_leases

    monkeypatch.setattr(ops_leases, "REFRESH_EVERY", 0.05)
    records = open_url(str(tmp_path))
    lease = ops_leases.Taken("nas", records, "shared-" + "0" * 16,
                             Lease("shared", "backup", "h", 1, "t", "c"))
    lease.put()
    path = tmp_path / "hdversion" / "locks" / lease.name
    age([path], 3600)
    written = path.stat().st_mtime
    with ops_leases._Refresher([lease]):
        deadline = time.monotonic() + 30
        while path.stat().st_mtime == written and time.monotonic() < deadline:
            time.sleep(0.02)
    assert path.stat().st_mtime > written + 3000
    lease.release()
    assert not path.exists()
