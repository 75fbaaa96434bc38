"""Deleted backups against real git and DVC and a throwaway bare origin: prune keeps a removed
backup's tag object and its data for the undelete window, `list --deleted` shows it,
`undelete` brings back the very same tag (here, in another clone, on origin); after the
window a sweep takes the data and undelete says so, changing nothing; tombstones expire.

Times are explicit: prune and undelete take `now` (the clock seam) where the window matters.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from hdversion import api
from hdversion.errors import VerificationError
from hdversion.model.deleted import Tombstone
from hdversion.model.durations import Duration
from hdversion.model.retention import Policy
from hdversion.util.clock import now_utc
from tests.conftest import Project
from tests.histories import History, copy_history
from tests.test_prune import (
    cache,
    objects_of,
    remote,
    restores_identically,
)

PRUNED = "refs/hdversion/pruned/"
# The settings without the template's `keep_deleted_within: 0`: the default window (7 days).
DEFAULT_SETTINGS = "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"


def with_default_window(template: History, base: Path) -> History:
    """A copy of test_prune's history whose prunes keep the default undelete window."""
    made = copy_history(template, base)
    (made.project.root / "config" / "config.yaml").write_text(DEFAULT_SETTINGS)
    return made


@pytest.fixture
def history(history_template: History, tmp_path: Path) -> History:
    return with_default_window(history_template, tmp_path)
DELETED = "refs/hdversion/deleted/"


def tag_ids(project: Project) -> dict[str, str]:
    out = project.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/tags/backup/")
    return dict(line.split(" ") for line in out.splitlines())


def origin_ids(history: History) -> dict[str, str]:
    out = subprocess.run(["git", "ls-remote", "--refs", str(history.origin)], check=True,
                         capture_output=True, text=True).stdout
    return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def refs_here(project: Project, namespace: str) -> set[str]:
    return set(project.git("for-each-ref", "--format=%(refname)", namespace).split())


def deleted_json(project: Project, *args: str) -> list[dict]:
    result = project.cli("list", "--deleted", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_prune_then_list_deleted_then_undelete_restores_byte_identical(
        history: History, tmp_path: Path) -> None:
    before = tag_ids(history.project)
    oldest, seed2, seed3, _newest = history.backups
    pruned = history.prune("--keep", "1")
    assert pruned["removed"] == [seed3["tag"], seed2["tag"], oldest["tag"]]
    assert pruned["keep_deleted_within"] == "7d"
    # Within the window the deleted backups' data stays in every store.
    for data in (seed2, seed3):
        assert objects_of(data) <= cache(history) and objects_of(data) <= remote(history)
    # Their tag objects are kept, here and on origin, beside their tombstones.
    there = origin_ids(history)
    for data in (oldest, seed2, seed3):
        ref = f"refs/tags/{data['tag']}"
        assert ref not in there
        assert there[DELETED + data["timestamp"]] == before[ref]
        assert PRUNED + data["timestamp"] in there

    listed = deleted_json(history.project)
    assert [r["tag"] for r in listed] == [seed3["tag"], seed2["tag"], oldest["tag"]]
    record = listed[1]
    assert record["whole"] is True and record["missing_objects"] == 0 and record["tag_kept"]
    assert record["tag_object"] == before[f"refs/tags/{seed2['tag']}"]
    assert record["by"] and record["deleted_at"] and record["undeletable_until"]
    text = history.cli("list", "--deleted")
    assert text.returncode == 0 and seed2["tag"] in text.stdout and "whole" in text.stdout

    result = history.cli("undelete", "--json", seed2["timestamp"])
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["tag"] == seed2["tag"] and answer["ok"] is True
    assert answer["lacking"] == {"local": 0}
    # The very same tag object, here and on origin; its kept tag gone from both, and its
    # tombstone replaced by undelete's mark, which buries nothing.
    ref = f"refs/tags/{seed2['tag']}"
    assert tag_ids(history.project)[ref] == before[ref] == origin_ids(history)[ref]
    assert DELETED + seed2["timestamp"] not in origin_ids(history)
    assert DELETED + seed2["timestamp"] not in refs_here(history.project, DELETED)
    mark = origin_ids(history)[PRUNED + seed2["timestamp"]]
    assert json.loads(history.project.git("cat-file", "blob", mark))["schema"] \
        == "hdversion/undeleted"
    assert [r["tag"] for r in deleted_json(history.project)] == [seed3["tag"], oldest["tag"]]
    restores_identically(history, seed2, tmp_path / "restored")
    # A prune by the same policy removes it again, and it can come back again.
    again = history.prune("--keep", "1")
    assert again["removed"] == [seed2["tag"]]


def test_undelete_in_a_second_clone_that_fetched_the_tombstone(history: History,
                                                               tmp_path: Path) -> None:
    """A fresh clone of origin that never had the tag: the tombstone and the kept tag object
    come with the fetch; the data is in the local remote it shares with the first clone."""
    before = tag_ids(history.project)
    seed2 = history.backups[1]
    history.prune("--keep", "1")
    other = Project(tmp_path / "other")
    subprocess.run(["git", "clone", "-q", str(history.origin), str(other.root)], check=True)
    added = other.dvc("remote", "add", "--local", "-f", "local",
                      str(history.project.root / "backups"))
    assert added.returncode == 0, added.stderr
    listed = {r["tag"]: r for r in deleted_json(other)}
    assert listed[seed2["tag"]]["whole"] is True
    result = other.cli("undelete", "--json", f"backup/{seed2['timestamp']}")
    assert result.returncode == 0, result.stderr
    ref = f"refs/tags/{seed2['tag']}"
    assert tag_ids(other)[ref] == before[ref] == origin_ids(history)[ref]
    # The first clone, which holds the tombstone, gets the tag back with its next fetch
    # (undelete's mark replaced its tombstone), keeps it, and its prune leaves it on origin.
    relisted = history.cli("list", "--json")
    assert seed2["tag"] in {r["tag"] for r in json.loads(relisted.stdout)}
    assert tag_ids(history.project)[ref] == before[ref]
    history.prune("--keep", "4")
    assert origin_ids(history)[ref] == before[ref]
    restores_identically(history, seed2, tmp_path / "restored")


def test_after_the_window_a_sweep_takes_the_data_and_undelete_changes_nothing(
        history: History) -> None:
    seed2 = history.backups[1]
    start = now_utc()
    api.prune(repo=history.project.root, policy=Policy(last=1), now=start)
    assert objects_of(seed2) <= remote(history)
    # Six days later the data is still kept; eight days later the sweep takes it.
    kept = api.prune(repo=history.project.root, policy=Policy(last=1),
                     now=start + timedelta(days=6))
    assert seed2["tag"] in kept.deleted_kept and objects_of(seed2) <= remote(history)
    swept = api.prune(repo=history.project.root, policy=Policy(last=1),
                      now=start + timedelta(days=8))
    assert swept.deleted_kept == []
    only_seed2 = objects_of(seed2) - objects_of(history.backups[3])
    assert only_seed2 and not only_seed2 & remote(history) and not only_seed2 & cache(history)

    state = (tag_ids(history.project), origin_ids(history),
             refs_here(history.project, "refs/hdversion/"))
    with pytest.raises(VerificationError) as refused:
        api.undelete(seed2["timestamp"], repo=history.project.root,
                     now=start + timedelta(days=8))
    assert refused.value.message.startswith(
        f"the data of {seed2['tag']} was swept after its undelete window ended on ")
    assert "it cannot be brought back; nothing was changed" in refused.value.message
    # Through the command line (its own clock: inside the window, so "gone", not "swept").
    result = history.cli("undelete", seed2["timestamp"])
    assert result.returncode == 5, result.stderr
    assert f"the data of {seed2['tag']} is gone" in result.stderr
    assert "cannot be brought back" in result.stderr
    assert (tag_ids(history.project), origin_ids(history),
            refs_here(history.project, "refs/hdversion/")) == state
    listed = {r["tag"]: r for r in deleted_json(history.project)}
    assert listed[seed2["tag"]]["whole"] is False and listed[seed2["tag"]]["missing_objects"]


def test_a_zero_window_sweeps_at_once(history: History) -> None:
    seed2 = history.backups[1]
    only_seed2 = objects_of(seed2) - objects_of(history.backups[3])
    pruned = history.prune("--keep", "1", "--keep-deleted-within", "0")
    assert pruned["keep_deleted_within"] == "0h"
    assert not only_seed2 & remote(history) and not only_seed2 & cache(history)


def test_tombstones_expire_after_the_window_and_the_margin(history: History) -> None:
    start = now_utc()
    removed = api.prune(repo=history.project.root, policy=Policy(last=1), now=start).removed_tags
    stamps = {tag.removeprefix("backup/") for tag in removed}
    names = {ns + t for t in stamps for ns in (PRUNED, DELETED)}
    assert names <= set(origin_ids(history))
    # 7 days of window and 30 of margin: not yet after 36 days, and a dry run only says so.
    early = api.prune(repo=history.project.root, policy=Policy(last=1),
                      now=start + timedelta(days=36))
    assert early.tombstones_expired == []
    dry = api.prune(repo=history.project.root, policy=Policy(last=1), dry_run=True,
                    now=start + timedelta(days=38))
    assert set(dry.tombstones_expired) == stamps
    assert names <= set(origin_ids(history))
    late = api.prune(repo=history.project.root, policy=Policy(last=1),
                     now=start + timedelta(days=38))
    assert set(late.tombstones_expired) == stamps
    assert not names & set(origin_ids(history))
    assert not refs_here(history.project, PRUNED) | refs_here(history.project, DELETED)
    assert deleted_json(history.project) == []


def test_names_resolve_among_the_deleted_only_and_never_widen(history: History) -> None:
    seed2, newest = history.backups[1], history.backups[3]
    history.prune("--keep", "1")
    state = (tag_ids(history.project), origin_ids(history))
    day = seed2["timestamp"][:9]  # the four backups share their day, and more
    cases = [
        (("2026*",), 2, "malformed"),
        ((day,), 2, "names 3 backups among the deleted backups"),
        ((newest["timestamp"],), 4, f"{newest['tag']} is not deleted: it is a backup here"),
        (("19990101_000000",), 4, "no deleted backup backup/19990101_000000"),
        (("1999",), 4, "no backup among the deleted backups has a timestamp starting with"),
    ]
    for args, code, phrase in cases:
        result = history.cli("undelete", *args)
        assert result.returncode == code, (args, result.stderr)
        assert phrase in result.stderr, (args, result.stderr)
    assert (tag_ids(history.project), origin_ids(history)) == state


OBJECT = "a" * 40


@pytest.mark.parametrize("data, parsed", [
    (b'{"schema": "hdversion/pruned", "tag_object": "%s", "pruned_at": "2026-12-01T10:00:00+00:00"}'
     % OBJECT.encode(), True),
    (b'{"schema": "hdversion/pruned", "tag_object": "not an id"}', False),
    (b'{"schema": "something/else", "tag_object": "%s"}' % OBJECT.encode(), False),
    (b"[1, 2]", False), (b"\xff", False), (None, False),
])
def test_a_tombstone_parses_only_when_it_names_a_tag_object(data: bytes | None,
                                                            parsed: bool) -> None:
    assert (Tombstone.parse("20261201_100000", data) is not None) is parsed


@pytest.mark.parametrize("pruned_at, days_later, within, expired", [
    ("2026-12-01T10:00:00+00:00", 6, True, False),
    ("2026-12-01T10:00:00+00:00", 8, False, False),
    ("2026-12-01T10:00:00+00:00", 36, False, False),
    ("2026-12-01T10:00:00+00:00", 38, False, True),
    ("2027-06-01T10:00:00+00:00", 38, True, False),  # dated in the future: kept
    ("yesterday", 400, True, False),  # no time: kept, never expires by age
])
def test_the_window_and_the_expiry_by_the_tombstones_time(pruned_at: str, days_later: int,
                                                         within: bool, expired: bool) -> None:
    from datetime import UTC, datetime

    data = json.dumps({"schema": "hdversion/pruned", "tag_object": OBJECT,
                       "pruned_at": pruned_at}).encode()
    stone = Tombstone.parse("20261201_100000", data)
    assert stone is not None
    now = datetime(2026, 12, 1, 10, tzinfo=UTC) + timedelta(days=days_later)
    assert stone.within(Duration(days=7), now) is within
    assert stone.expired(Duration(days=7), now) is expired


def origin_git(history: History, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(history.origin), *args], check=True,
                          capture_output=True, text=True).stdout


def test_a_forged_kept_tag_on_origin_brings_back_nothing(history: History) -> None:
    """Someone with push rights to origin replaces a deleted backup's kept tag object by one
    of their own: the same name and manifest, another commit (the newest backup's). Its
    tombstone still names the real one: undelete refuses by that rule, and changes nothing
    here or on origin."""
    seed2, newest = history.backups[1], history.backups[-1]
    history.prune("--keep", "1")
    real = origin_git(history, "rev-parse", DELETED + seed2["timestamp"]).strip()
    message = origin_git(history, "cat-file", "tag", real).split("\n\n", 1)[1]
    forged_tag = (f"object {newest['commit']}\ntype commit\ntag {seed2['tag']}\n"
                  f"tagger Mallory <m@example.com> 1700000000 +0000\n\n{message}")
    forged = subprocess.run(["git", "--git-dir", str(history.origin), "mktag"],
                            input=forged_tag, check=True, capture_output=True,
                            text=True).stdout.strip()
    origin_git(history, "update-ref", DELETED + seed2["timestamp"], forged)
    before_here = tag_ids(history.project), refs_here(history.project, "refs/hdversion/")
    before_origin = origin_ids(history)

    result = history.cli("undelete", "--json", seed2["timestamp"])
    assert result.returncode == 5, (result.stdout, result.stderr)
    error = json.loads(result.stdout)["error"]
    assert f"names tag object {forged[:12]}" in error and "a stray or forged ref" in error
    assert f"names {real[:12]}" in error
    assert tag_ids(history.project) == before_here[0]
    assert refs_here(history.project, "refs/hdversion/") == before_here[1]
    assert origin_ids(history) == {**before_origin, DELETED + seed2["timestamp"]: forged}


def test_undelete_killed_after_its_push_leaves_the_backup_back_everywhere(
        history: History, tmp_path: Path) -> None:
    """kill -9 once origin has the tag back and nothing here changed: the next command that
    fetches brings it here (the mark replaces this clone's tombstone), it restores
    byte-identical, and a second undelete says it is a backup, changing nothing."""
    import signal

    from hdversion.util.pausepoints import PausePoint
    from tests.conftest import start_paused

    seed2 = history.backups[1]
    history.prune("--keep", "1")
    ref = f"refs/tags/{seed2['tag']}"
    killed = start_paused(history.project.root, PausePoint.AFTER_UNDELETE_PUSH, "undelete",
                          seed2["timestamp"])
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert ref in origin_ids(history) and ref not in tag_ids(history.project)

    listed = history.cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert seed2["tag"] in {r["tag"] for r in json.loads(listed.stdout)}
    assert tag_ids(history.project)[ref] == origin_ids(history)[ref]
    assert seed2["tag"] not in {r["tag"] for r in deleted_json(history.project)}
    again = history.cli("undelete", "--json", seed2["timestamp"])
    assert again.returncode == 4, (again.stdout, again.stderr)
    assert "is not deleted: it is a backup here" in json.loads(again.stdout)["error"]
    restores_identically(history, seed2, tmp_path / "restored")


def test_auto_takes_the_undelete_window_as_prune_does(history: History) -> None:
    seed2 = history.backups[1]
    only_seed2 = objects_of(seed2) - objects_of(history.backups[3])
    result = history.cli("auto", "--json", "--keep-last", "1", "--keep-deleted-within", "0")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert seed2["tag"] in json.loads(result.stdout)["removed"]
    # A zero window swept its data at once (the default keeps it 7 days).
    assert only_seed2 and not only_seed2 & remote(history) and not only_seed2 & cache(history)
    bad = history.cli("auto", "--json", "--keep-last", "1", "--keep-deleted-within", "7m")
    assert bad.returncode == 2 and "could be minutes or months" in bad.stdout
