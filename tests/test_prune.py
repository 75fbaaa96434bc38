"""Prune against real git and DVC: what it removes, what it must never remove (kept backups,
pins, branches, the workspace), its refusals, and kills at every pause point.

A history of four backups (seeds 1, 2, 3, 1: the fourth shares every object with the first)
and a bare origin are built once per run and copied for each test (tests/histories.py)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hdversion.model.timestamps import format_timestamp
from hdversion.util.hashing import md5_file
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, run_cli, start_paused
from tests.histories import History, copy_history
from tests.test_newest import add_tags


def objects_of(data: dict) -> set[str]:
    """Every DVC object a backup needs: its files' and its directory listings."""
    return {f["md5"] for f in data["files"] if f["store"] == "dvc"} | {
        o["md5"] for o in data["outputs"] if o["md5"].endswith(".dir") and o["store"] == "dvc"}


def stored(root: Path) -> set[str]:
    """The objects a DVC store (cache or local remote) holds."""
    top = root / "files" / "md5"
    return {p.parent.name + p.name for p in top.glob("*/*") if p.is_file()} \
        if top.is_dir() else set()


def cache(history: History) -> set[str]:
    return stored(history.project.root / ".dvc" / "cache")


def remote(history: History) -> set[str]:
    return stored(history.project.root / "backups")


def restores_identically(history: History, data: dict, target: Path) -> None:
    result = history.cli("restore", "--json", "-t", data["timestamp"], "--target", str(target))
    assert result.returncode == 0, result.stderr
    for entry in data["files"]:
        assert md5_file(target / entry["path"])[0] == entry["md5"], entry["path"]


@pytest.fixture
def history(history_template: History, tmp_path: Path) -> Iterator[History]:
    yield copy_history(history_template, tmp_path)


def test_dry_run_prints_the_plan_and_changes_nothing(history: History) -> None:
    before = (history.local_tags(), history.origin_refs(), cache(history), remote(history))
    plan = history.prune("--keep", "2", "--dry-run")
    assert plan["dry_run"] is True
    decided = {b["tag"]: (b["keep"], b["reasons"]) for b in plan["backups"]}
    newest, second, third, oldest = reversed(history.tags)
    assert decided[newest] == (True, ["last 1/2"])
    assert decided[second] == (True, ["last 2/2"])
    assert decided[third] == (False, ["not kept by any rule"])
    assert decided[oldest] == (False, ["not kept by any rule"])
    # Seed 2's objects are used by nothing kept; seed 1's are shared with the newest.
    only_removed = objects_of(history.backups[1]) - objects_of(history.backups[3]) \
        - objects_of(history.backups[2])
    stores = {s["store"]: s for s in plan["stores"]}
    assert stores["local"]["objects"] == len(only_removed) > 0
    assert stores["local"]["bytes"] > 0 and stores["cache"]["objects"] == len(only_removed)
    assert (history.local_tags(), history.origin_refs(), cache(history), remote(history)) \
        == before

    text = history.cli("prune", "--keep=2", "--dry-run")
    assert text.returncode == 0, text.stderr
    assert "would remove 2" in text.stdout and "would free" in text.stdout


def test_prune_removes_tags_here_and_on_origin_and_only_unused_data(history: History,
                                                                     tmp_path: Path) -> None:
    result = history.prune("--keep=2")  # the original's spelling, verbatim
    kept, removed = history.backups[2:], history.backups[:2]
    assert sorted(result["removed"]) == sorted(b["tag"] for b in removed)
    assert history.local_tags() == {b["tag"] for b in kept}
    assert {r for r in history.origin_refs() if r.startswith("refs/tags/")} == {
        f"refs/tags/{b['tag']}" for b in kept}
    needed = set().union(*(objects_of(b) for b in kept))
    only_removed = set().union(*(objects_of(b) for b in removed)) - needed
    assert needed <= remote(history) and needed <= cache(history)
    assert not (only_removed & remote(history)) and not (only_removed & cache(history))
    for number, data in enumerate(kept):
        restores_identically(history, data, tmp_path / f"out{number}")
    # Nothing left to do: a second run removes and frees nothing.
    again = history.prune("--keep=2")
    assert again["removed"] == [] and all(s["objects"] == 0 for s in again["stores"])
    assert history.project.dvc("status", "-q").returncode == 0  # the workspace is whole


def test_the_settings_policy_and_the_default(history: History) -> None:
    (history.project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"
        "retention:\n  keep_last: 3\n")
    plan = history.prune("--dry-run")
    assert plan["policy"].startswith("last 3")
    assert [b["keep"] for b in plan["backups"]] == [True, True, True, False]
    (history.project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n")
    plan = history.prune("--dry-run")
    assert plan["policy"].startswith("last 5")  # the original's default
    assert all(b["keep"] for b in plan["backups"])


def test_pinned_backups_stay_and_pins_travel_through_origin(history: History,
                                                           tmp_path: Path) -> None:
    oldest = history.backups[0]
    pinned = history.cli("pin", oldest["timestamp"], "-m", "in production")
    assert pinned.returncode == 0, pinned.stderr
    assert f"refs/hdversion/pins/{oldest['timestamp']}" in history.origin_refs()
    listed = json.loads(history.cli("list", "--json").stdout)
    assert next(b["pinned"] for b in listed if b["tag"] == oldest["tag"])["reason"] \
        == "in production"
    assert "pinned: in production" in history.cli("list").stdout

    # A second clone that never saw the pin: prune fetches it from origin first.
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(history.origin), str(other)], check=True)
    subprocess.run(["git", "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*"], cwd=other,
                   check=True)
    plan = json.loads(run_cli(other, "prune", "--json", "--keep", "1", "--dry-run",
                              "--allow-incomplete").stdout)
    decided = {b["tag"]: b for b in plan["backups"]}
    assert decided[oldest["tag"]]["keep"]
    assert decided[oldest["tag"]]["reasons"] == ["pinned: in production"]

    result = history.prune("--keep", "1")
    assert oldest["tag"] in history.local_tags()
    restores_identically(history, oldest, tmp_path / "pinned")
    assert oldest["tag"] not in result["removed"]

    assert history.cli("unpin", oldest["timestamp"]).returncode == 0
    assert f"refs/hdversion/pins/{oldest['timestamp']}" not in history.origin_refs()
    result = history.prune("--keep", "1")
    assert oldest["tag"] in result["removed"]
    assert history.cli("unpin", oldest["timestamp"]).returncode == 4


def test_branches_and_the_workspace_keep_their_data(history: History) -> None:
    # A branch at the commit of a backup about to be removed keeps that backup's data.
    second = history.backups[1]
    history.project.git("branch", "experiment", second["commit"])
    # The workspace moves on without a backup: its data is in the cache only.
    history.project.retrain(7)
    lock = (history.project.root / "dvc.lock").read_text()
    history.prune("--keep", "1")
    assert second["tag"] not in history.local_tags()
    assert objects_of(second) <= cache(history)
    assert objects_of(second) <= remote(history)
    assert history.project.dvc("status", "-q").returncode == 0
    assert (history.project.root / "dvc.lock").read_text() == lock
    assert "md5" in lock


def truncate(path: Path) -> None:
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-1])


@pytest.mark.parametrize("damage", [Path.unlink, truncate], ids=["deleted", "truncated"])
def test_a_kept_backup_that_lacks_data_stops_prune_before_anything(
        history: History, damage: Callable[[Path], None]) -> None:
    """Held at another size than the backup recorded is not held: a truncated object in
    every store stops prune as a missing one does."""
    newest = history.backups[-1]
    model = next(f["md5"] for f in newest["files"]
                 if f["path"] == "models/keras_mlp_model.h5")
    for top in (history.project.root / ".dvc" / "cache", history.project.root / "backups"):
        damage(top / "files" / "md5" / model[:2] / model[2:])
    before = (history.local_tags(), history.origin_refs(), cache(history), remote(history))
    result = history.cli("prune", "--keep", "1")
    assert result.returncode == 5, result.stderr
    assert newest["tag"] in result.stderr and "nothing was removed" in result.stderr
    assert (history.local_tags(), history.origin_refs(), cache(history), remote(history)) \
        == before
    # The dry run says the same, after its plan.
    assert history.cli("prune", "--keep", "1", "--dry-run").returncode == 5
    # Told to go on, it removes nothing that a kept backup uses.
    history.prune("--keep", "1", "--allow-incomplete")
    assert objects_of(newest) - {model} <= remote(history)


def test_origin_unreachable_refuses_unless_told_this_clone_is_alone(history: History) -> None:
    history.project.git("remote", "set-url", "origin", str(history.origin.parent / "gone"))
    before = (history.local_tags(), cache(history), remote(history))
    result = history.cli("prune", "--keep", "1")
    assert result.returncode == 7, result.stderr
    assert "--offline" in result.stderr and "nothing was removed" in result.stderr
    assert (history.local_tags(), cache(history), remote(history)) == before
    # This clone alone: it prunes here, and says that origin still has the tags (exit 3).
    result = history.cli("prune", "--keep", "1", "--offline")
    assert result.returncode == 3, result.stderr
    assert "still on git remote origin" in result.stderr
    assert history.local_tags() == {history.backups[-1]["tag"]}


def test_safety_backups_have_their_own_rule(history: History) -> None:
    from hdversion import api
    from hdversion.model.retention import Policy
    from hdversion.util.clock import now_utc

    # A restore over unsaved changes makes a safety backup.
    history.project.damage("models/keras_mlp_model.h5", b"unsaved experiment")
    restored = history.cli("restore", "--json", "-t", history.backups[1]["timestamp"])
    assert restored.returncode == 0, restored.stderr
    safety = json.loads(restored.stdout)["safety_backup"]
    assert safety
    plan = api.prune(repo=history.project.root, policy=Policy(last=1), dry_run=True)
    decided = {d.backup.tag: d for d in plan.plan.decisions}
    assert decided[safety].keep  # kept 14 days by default
    assert decided[safety].reasons == ("safety backup within 14d",)
    # The newest regular backup, not the safety backup, is "last 1/1".
    assert decided[history.tags[-1]].reasons == ("last 1/1",)
    later = api.prune(repo=history.project.root, policy=Policy(last=1), dry_run=True,
                      now=now_utc() + timedelta(days=15))
    assert not {d.backup.tag: d for d in later.plan.decisions}[safety].keep


def test_refused_policies_change_nothing(history: History) -> None:
    before = (history.local_tags(), history.origin_refs(), cache(history), remote(history))
    for args, phrase in ((("--keep", "0"), "keeps no backup"),
                         (("--keep", "-2"), "cannot be negative"),
                         (("--keep-within", "0d"), "keeps no backup"),
                         (("--keep-best", "2"), "needs --metric"),
                         (("--metric", "ensemble.roc_auc"), "give both"),
                         (("--keep-within", "forever"), "malformed duration")):
        result = history.cli("prune", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert phrase in result.stderr, (args, result.stderr)
    assert (history.local_tags(), history.origin_refs(), cache(history), remote(history)) \
        == before


def test_keep_best_keeps_the_best_model(history: History) -> None:
    # Seeds 1, 2, 3, 1 give ROC-AUC 0.801, 0.802, 0.803, 0.801.
    plan = history.prune("--keep", "1", "--keep-best", "1", "--metric", "ensemble.roc_auc",
                         "--dry-run")
    decided = {b["tag"]: b for b in plan["backups"]}
    assert decided[history.tags[2]]["reasons"] == ["best 1 by ensemble.roc_auc"]
    assert decided[history.tags[2]]["metric"] == pytest.approx(0.803)
    assert [b["keep"] for b in plan["backups"]] == [True, True, False, False]



TYPO = "ensemble.roc_acu"  # the backups record ensemble.roc_auc


def settings_retention(history: History, body: str) -> None:
    (history.project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"
        f"retention:\n{body}")


def test_a_metric_no_backup_records_is_refused_before_any_change(history: History) -> None:
    before = (history.local_tags(), history.origin_refs(), cache(history), remote(history))
    for dry_run in ((), ("--dry-run",)):
        # The dry run answers as the real run would: a refusal, not a plan of removals.
        result = history.cli("prune", "--keep-best", "2", "--metric", TYPO, *dry_run)
        assert result.returncode == 2, result.stderr
        assert f"no backup records the metric '{TYPO}'; nothing was removed" in result.stderr
        assert "metrics the backups record:" in result.stderr
        assert "'ensemble.roc_auc'" in result.stderr
    # Lower-is-better spelling: the same name, the same refusal.
    result = history.cli("prune", "--keep-best", "2", f"--metric=-{TYPO}")
    assert result.returncode == 2 and "no backup records the metric" in result.stderr
    # From the settings it is a configuration error (7), named as such.
    settings_retention(history, f"  keep_best: 2\n  metric: {TYPO}\n")
    for args in ((), ("--dry-run",)):
        result = history.cli("prune", *args)
        assert result.returncode == 7, result.stderr
        assert (f"config/config.yaml: retention.metric: no backup records the metric "
                f"'{TYPO}'; nothing was removed") in result.stderr
    assert (history.local_tags(), history.origin_refs(), cache(history), remote(history)) \
        == before


def test_a_metric_only_some_backups_record_is_no_typo(history: History) -> None:
    # The newest backup records other metrics only (an evaluation that changed).
    history.project.root.joinpath("metrics.json").write_text('{"other": {"score": 1}}')
    newest = history.cli("backup", "--json")
    assert newest.returncode == 0, newest.stderr
    tag = json.loads(newest.stdout)["tag"]
    plan = history.prune("--keep-best", "1", "--metric", "ensemble.roc_auc", "--dry-run")
    decided = {b["tag"]: b for b in plan["backups"]}
    assert decided[history.tags[2]]["reasons"] == ["best 1 by ensemble.roc_auc"]
    assert decided[tag]["reasons"] == ["newest backup (always kept)"]


@pytest.mark.parametrize("point", [PausePoint.BEFORE_TAG_DELETE, PausePoint.AFTER_TAG_DELETE,
                                   PausePoint.BETWEEN_DELETES])
@pytest.mark.parametrize("how", [
    pytest.param(signal.SIGKILL, id="kill-9"),
    # Ctrl-C unwinds through the same steps; the long tier runs it.
    pytest.param(signal.SIGINT, id="ctrl-c", marks=pytest.mark.reliability),
])
def test_an_interrupted_prune_keeps_every_kept_backup_and_finishes_when_run_again(
        history: History, point: PausePoint, how: signal.Signals, tmp_path: Path) -> None:
    proc = start_paused(history.project.root, point, "prune", "--keep", "2")
    proc.send_signal(how)
    proc.communicate(timeout=60)
    pause_marker(history.project.root).unlink(missing_ok=True)
    assert proc.returncode == (-9 if how == signal.SIGKILL else 130)
    kept, removed = history.backups[2:], history.backups[:2]
    needed = set().union(*(objects_of(b) for b in kept))
    assert needed <= remote(history) and needed <= cache(history)
    assert {b["tag"] for b in kept} <= history.local_tags()
    restores_identically(history, kept[0], tmp_path / "mid")

    history.prune("--keep", "2")
    only_removed = set().union(*(objects_of(b) for b in removed)) - needed
    assert history.local_tags() == {b["tag"] for b in kept}
    assert not (only_removed & remote(history)) and not (only_removed & cache(history))
    assert not any(r.endswith(b["tag"]) for r in history.origin_refs() for b in removed)
    restores_identically(history, kept[1], tmp_path / "after")


def test_a_remote_named_cache_is_that_remote_not_the_dvc_cache(history: History,
                                                                tmp_path: Path) -> None:
    """Prune tells its stores apart by kind, not by name: a DVC remote named `cache` is
    swept as that remote (and its manifests pruned), the DVC cache as the cache."""
    named_cache = tmp_path / "remote-named-cache"
    shutil.copytree(history.project.root / "backups", named_cache)
    assert history.cli("remote", "add", "cache", str(named_cache)).returncode == 0
    result = history.prune("--keep=2", "--remote=cache", "--grace", "0")
    kept, removed = history.backups[2:], history.backups[:2]
    needed = set().union(*(objects_of(b) for b in kept))
    only_removed = set().union(*(objects_of(b) for b in removed)) - needed
    urls = [Path(s["url"]).name for s in result["stores"] if s["store"] == "cache"]
    assert sorted(urls) == ["md5", named_cache.name]  # the DVC cache and the remote
    for store in (named_cache, history.project.root / ".dvc" / "cache"):
        assert needed <= stored(store), store
        assert not (only_removed & stored(store)), store
    assert sorted((named_cache / "hdversion" / "backups").iterdir()) == sorted(
        named_cache / "hdversion" / "backups" / b["timestamp"] for b in kept)


def test_a_long_dry_run_table_shows_runs_of_alike_decisions_as_one_row(
        project: Project) -> None:
    """rich took minutes to draw 100,000 rows: a long table folds each run of alike
    decisions into one row; --json still lists every backup."""
    project.cli("backup", check=True)
    real = project.git("tag", "-l", "backup/*").split()[-1]
    now = datetime.now(UTC)
    stamps = [format_timestamp(now - timedelta(hours=hours)) for hours in range(1, 61)]
    add_tags(project, real, stamps)
    result = project.cli("prune", "--dry-run", "--keep-last", "3", "--offline")
    assert result.returncode == 0, result.stderr
    assert "61 backup(s): keep 3, would remove 58" in result.stdout
    assert f"{stamps[-1]} .." in result.stdout and "(58 backups)" in result.stdout
    assert stamps[5] not in result.stdout  # inside the run: not a row of its own
    listed = project.cli("prune", "--dry-run", "--keep-last", "3", "--offline", "--json")
    assert len(json.loads(listed.stdout)["backups"]) == 61
