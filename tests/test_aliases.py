"""Aliases against real git and DVC and throwaway bare origins: set, move, rm and the history
that travels with the ref; every command that names a backup takes an alias; two clones moving
one alias at once (one winner, exit 6 for the other, stopped at a pause point); prune keeps an
aliased backup, in another clone too; records that do not parse name nothing.

test_prune's history (four backups, seeds 1, 2, 3, 1, and a bare origin) is copied for each
test."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hdversion.errors import ManifestError, UsageError
from hdversion.model.aliases import AliasRecord, parse_tag_object
from hdversion.model.names import check_alias
from hdversion.util.hashing import md5_file
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, start_paused
from tests.histories import History, copy_history

ALIASES = "refs/hdversion/aliases/"


@pytest.fixture
def history(history_template: History, tmp_path: Path) -> History:
    return copy_history(history_template, tmp_path)


def ok(project: Project, *args: str) -> dict | list:
    result = project.cli(*args, "--json")
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    data: dict | list = json.loads(result.stdout)
    return data


def refused(project: Project, code: int, *args: str) -> str:
    result = project.cli(*args)
    assert result.returncode == code, (args, result.stdout, result.stderr)
    return result.stderr


def origin_ids(origin: Path) -> dict[str, str]:
    out = subprocess.run(["git", "ls-remote", "--refs", str(origin), ALIASES + "*"],
                         check=True, capture_output=True, text=True).stdout
    return {ref.removeprefix(ALIASES): sha
            for sha, ref in (line.split("\t") for line in out.splitlines())}


def clone(history: History, root: Path) -> Project:
    """A clone of origin that shares the first clone's local remote (its data)."""
    subprocess.run(["git", "clone", "-q", str(history.origin), str(root)], check=True)
    other = Project(root)
    added = other.dvc("remote", "add", "--local", "-f", "local",
                      str(history.project.root / "backups"))
    assert added.returncode == 0, added.stderr
    return other


def restored(project: Project, name: str, target: Path, backup: dict) -> None:
    result = project.cli("restore", "--json", name, "--target", str(target))
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["tag"] == backup["tag"]
    for entry in backup["files"]:
        assert md5_file(target / entry["path"])[0] == entry["md5"], entry["path"]


# 1 -------------------------------------------------------------------------------------------
def test_set_move_rm_and_the_history_that_travels_with_the_ref(history: History) -> None:
    project = history.project
    first, second = history.backups[0], history.backups[1]
    made = ok(project, "alias", "set", "prod", first["timestamp"], "-m", "passed review")
    assert made["tag"] == first["tag"] and made["changed"] and made["git_remote"] == "origin"
    assert made["previous"] is None
    assert origin_ids(history.origin)["prod"] == made["record"]
    assert ok(project, "alias", "list") == [
        {k: made[k] for k in ("alias", "tag", "timestamp", "commit", "by", "at", "reason",
                              "removed", "record", "previous")}]

    moved = ok(project, "alias", "set", "prod", second["timestamp"], "-m", "better")
    assert moved["replaced"] == first["tag"] and moved["previous"] == made["record"]
    # Set to what it names already: nothing written.
    again = ok(project, "alias", "set", "prod", f"backup/{second['timestamp']}")
    assert not again["changed"] and again["record"] == moved["record"]
    # An alias of an alias names that backup as it is now.
    assert ok(project, "alias", "set", "staging", "prod")["tag"] == second["tag"]

    removed = ok(project, "alias", "rm", "prod", "-m", "rolled back")
    assert removed["removed"] and removed["tag"] is None
    assert [a["alias"] for a in ok(project, "alias", "list")] == ["staging"]
    assert "'prod' names no backup: no alias is called so" in refused(project, 2, "show",
                                                                     "prod")
    assert "no alias 'prod'" in refused(project, 4, "alias", "rm", "prod")
    ok(project, "alias", "set", "prod", first["timestamp"])

    found = ok(project, "alias", "history", "prod")
    assert isinstance(found, dict) and found["complete"]
    assert [(r["tag"], r["reason"]) for r in found["history"]] == [
        (first["tag"], ""), (None, "rolled back"), (second["tag"], "better"),
        (first["tag"], "passed review")]
    assert all("@" in r["by"] and r["at"].endswith("+00:00") for r in found["history"])
    table = project.cli("alias", "history", "prod").stdout
    assert "rolled back" in table and "(removed)" in table
    listed = project.cli("alias", "list").stdout
    assert "staging" in listed and second["timestamp"] in listed
    assert max(len(line) for line in (table + listed).splitlines()) <= 80, table + listed

    # The whole history is reachable from the ref: a fresh clone that fetches the one ref
    # walks it, and so does this one after git gc.
    project.git("gc", "-q", "--prune=now")
    assert ok(project, "alias", "history", "prod") == found
    other = Project(history.project.root.parent / "fresh")
    subprocess.run(["git", "clone", "-q", str(history.origin), str(other.root)], check=True)
    assert ok(other, "alias", "history", "prod") == found


# 2 -------------------------------------------------------------------------------------------
def test_every_command_that_names_a_backup_takes_an_alias(history: History,
                                                          tmp_path: Path) -> None:
    project = history.project
    first = history.backups[1]  # seed 2; the latest is seed 1
    ok(project, "alias", "set", "prod", first["timestamp"])
    assert ok(project, "show", "prod")["tag"] == first["tag"]
    diff = project.cli("diff", "prod", "latest")
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.startswith(f"{first['tag']} → {history.backups[-1]['tag']}")
    assert "seed  2 → 1" in diff.stdout
    restored(project, "prod", tmp_path / "prod", first)
    assert ok(project, "pin", "prod")["tag"] == first["tag"]
    assert ok(project, "unpin", "prod")["tag"] == first["tag"]
    exported = project.cli("export", "prod", "-o", str(tmp_path / "prod.tar.gz"))
    assert exported.returncode == 0, exported.stderr

    listed = {r["tag"]: r for r in ok(project, "list")}
    assert listed[first["tag"]]["aliases"] == ["prod"]
    assert all(r["aliases"] == [] for t, r in listed.items() if t != first["tag"])
    uncached = {r["tag"]: r for r in ok(project, "list", "--last", "10", "--offline")}
    assert uncached[first["tag"]]["aliases"] == ["prod"]
    assert "@prod seed 2" in project.cli("list").stdout
    report = ok(project, "report", "-o", str(tmp_path / "page.html"))
    assert report["aliases"] == {"prod": first["tag"]}
    assert '<span class="badge alias">prod</span>' in (tmp_path / "page.html").read_text()


# 3 -------------------------------------------------------------------------------------------
def test_a_second_clone_sees_aliases_after_list_and_restore(history: History,
                                                           tmp_path: Path) -> None:
    first = history.backups[0]
    other = clone(history, tmp_path / "other")  # before the alias exists
    ok(history.project, "alias", "set", "prod", first["timestamp"])
    restored(other, "prod", tmp_path / "restored", first)
    assert ok(other, "alias", "list")[0]["tag"] == first["tag"]
    # Moved in the first clone: `list` here fetches the move.
    ok(history.project, "alias", "set", "prod", history.backups[2]["timestamp"])
    listed = {r["tag"]: r["aliases"] for r in ok(other, "list")}
    assert listed[history.backups[2]["tag"]] == ["prod"] and listed[first["tag"]] == []


# 4 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("exists", [False, True], ids=["create", "move"])
def test_two_clones_moving_one_alias_at_once_end_with_one_winner(history: History,
                                                                 tmp_path: Path,
                                                                 exists: bool) -> None:
    """Clone A has read the alias (absent, or naming backup 3) and made its record; clone B
    moves the alias meanwhile. A's push finds origin changed: it exits 6 and changes
    nothing; B's move stands, here, on origin and in A."""
    a, b = history.project, clone(history, tmp_path / "b")
    if exists:
        ok(a, "alias", "set", "prod", history.backups[2]["timestamp"])
    paused = start_paused(a.root, PausePoint.BEFORE_ALIAS_PUSH, "alias", "set", "prod",
                          history.backups[0]["timestamp"], "--json")
    won = ok(b, "alias", "set", "prod", history.backups[1]["timestamp"], "-m", "from b")
    pause_marker(a.root).unlink()
    out, err = paused.communicate(timeout=120)
    assert paused.returncode == 6, (out, err)
    lost = json.loads(out)
    assert lost["ok"] is False and lost["exit_code"] == 6
    assert "alias 'prod' was moved on git remote 'origin' since this run read it" in err
    assert f"now: {history.backups[1]['tag']}" in err
    assert origin_ids(history.origin)["prod"] == won["record"]
    assert a.git("rev-parse", ALIASES + "prod").strip() == won["record"]
    found = ok(a, "alias", "history", "prod")
    assert found["history"][0]["reason"] == "from b"
    assert len(found["history"]) == (2 if exists else 1)
    # Run again, A's move wins over the one it now knows.
    assert ok(a, "alias", "set", "prod", history.backups[0]["timestamp"])["replaced"] \
        == history.backups[1]["tag"]


def test_two_moves_released_at_once_end_with_exactly_one_winner(history: History,
                                                                tmp_path: Path) -> None:
    """Both clones have read the alias (naming backup 3) and made their record, then go on
    together: whichever pushes first wins; the other exits 6, whatever the order."""
    a, b = history.project, clone(history, tmp_path / "b")
    ok(a, "alias", "set", "prod", history.backups[2]["timestamp"])
    ok(b, "alias", "list")  # b knows the alias: both lease on the same record
    runs = [start_paused(project.root, PausePoint.BEFORE_ALIAS_PUSH, "alias", "set", "prod",
                         history.backups[n]["timestamp"], "--json")
            for project, n in ((a, 0), (b, 1))]
    for project in (a, b):
        pause_marker(project.root).unlink()
    outcomes = [(run.communicate(timeout=120), run.returncode) for run in runs]
    assert sorted(code for _, code in outcomes) == [0, 6], outcomes
    [((won, _), _)] = [o for o in outcomes if o[1] == 0]
    [((_, lost), _)] = [o for o in outcomes if o[1] == 6]
    assert "was moved on git remote 'origin' since this run read it" in lost
    winner = json.loads(won)
    assert origin_ids(history.origin)["prod"] == winner["record"]
    for project in (a, b):
        history_here = ok(project, "alias", "history", "prod")["history"]
        assert [r["record"] for r in history_here][:1] == [winner["record"]]
        assert len(history_here) == 2


# 5 -------------------------------------------------------------------------------------------
def test_an_aliased_backup_is_never_pruned_in_any_clone(history: History,
                                                        tmp_path: Path) -> None:
    first = history.backups[0]
    ok(history.project, "alias", "set", "prod", first["timestamp"])
    # A clone that never saw the alias: prune fetches it before deciding.
    other = Project(tmp_path / "other")
    subprocess.run(["git", "clone", "-q", str(history.origin), str(other.root)], check=True)
    subprocess.run(["git", "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*"],
                   cwd=other.root, check=True)
    plan = ok(other, "prune", "--keep", "1", "--dry-run", "--allow-incomplete")
    decided = {b["tag"]: b for b in plan["backups"]}
    assert decided[first["tag"]]["keep"] and decided[first["tag"]]["reasons"] == ["alias prod"]

    result = history.prune("--keep", "1")
    assert first["tag"] not in result["removed"] and first["tag"] in history.local_tags()
    restored(history.project, "prod", tmp_path / "kept", first)
    # Removed: the backup is the retention policy's again.
    ok(history.project, "alias", "rm", "prod")
    assert first["tag"] in history.prune("--keep", "1")["removed"]
    # The history still names it; the alias names nothing.
    assert ok(history.project, "alias", "history", "prod")["history"][1]["tag"] == first["tag"]


# 6 -------------------------------------------------------------------------------------------
def test_without_a_git_remote_aliases_are_local(history: History) -> None:
    project = history.project
    project.git("remote", "remove", "origin")
    made = ok(project, "alias", "set", "prod", "latest")
    assert made["git_remote"] is None and "kept locally" in made["detail"]
    assert made["tag"] == history.backups[-1]["tag"]
    assert ok(project, "show", "prod")["tag"] == history.backups[-1]["tag"]
    assert origin_ids(history.origin) == {}
    # Its backup's tag gone here: the alias says what it names.
    project.git("tag", "-d", history.backups[-1]["tag"])
    assert f"alias 'prod' names {history.backups[-1]['tag']}, which is not here" in refused(
        project, 4, "show", "prod")
    # With a git remote again, the next move takes the alias there, its history whole.
    project.git("remote", "add", "origin", str(history.origin))
    moved = ok(project, "alias", "set", "prod", history.backups[0]["timestamp"])
    assert moved["git_remote"] == "origin" and moved["previous"] == made["record"]
    assert origin_ids(history.origin)["prod"] == moved["record"]
    fresh = Project(history.project.root.parent / "fresh")
    subprocess.run(["git", "clone", "-q", str(history.origin), str(fresh.root)], check=True)
    assert [r["record"] for r in ok(fresh, "alias", "history", "prod")["history"]] == [
        moved["record"], made["record"]]


# 7 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, rule", [
    ("latest", "'latest' already names the newest backup"),
    ("backup/20261206_110000", "it would read as a backup tag"),
    ("20261206_110000", "it would read as a timestamp or a prefix of one"),
    ("2026", "it would read as a timestamp or a prefix of one"),
    ("1abc", "it would read as a timestamp or a prefix of one"),
    ("Prod", "an alias is a lower-case letter"),
    ("-prod", "an alias is a lower-case letter"),
    ("prod/eu", "an alias is a lower-case letter"),
    ("pr od", "an alias is a lower-case letter"),
    ("p" * 64, "an alias is a lower-case letter"),
    ("prod\n", "an alias is a lower-case letter"),
    ("a..b", "git cannot name a ref so"),
    ("prod.lock", "git cannot name a ref so"),
    ("prod.", "git cannot name a ref so"),
])
def test_a_name_that_could_be_read_as_something_else_is_refused(name: str, rule: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_alias(name)
    assert rule in caught.value.message and caught.value.exit_code == 2


def test_the_cli_refuses_a_bad_name_and_a_bad_reason_before_any_work(history: History) -> None:
    project = history.project
    assert "'latest' already names the newest backup" in refused(
        project, 2, "alias", "set", "latest", "latest")
    assert "one line of at most 500 printable characters" in refused(
        project, 2, "alias", "set", "prod", "latest", "-m", "two\nlines")
    assert "'nope' names no backup: no alias is called so" in refused(
        project, 2, "restore", "nope", "--target", "x")
    assert origin_ids(history.origin) == {}


# 8 -------------------------------------------------------------------------------------------
def _forge(project: Project, name: str, message: str, target: str | None = None,
           kind: str = "tree") -> str:
    """A tag object holding `message` under the alias's ref, as a hostile origin could."""
    target = target or project.git("hash-object", "-t", "tree", "-w", "--stdin").strip()
    body = (f"object {target}\ntype {kind}\ntag {name}\n"
            f"tagger X <x@example.invalid> 1 +0000\n\n{message}\n")
    made = subprocess.run(["git", "mktag"], cwd=project.root, input=body, text=True,
                          check=True, capture_output=True).stdout.strip()
    project.git("update-ref", ALIASES + name, made)
    return made


def test_records_that_do_not_parse_name_nothing(history: History) -> None:
    project = history.project
    first = history.backups[0]
    good = ok(project, "alias", "set", "prod", first["timestamp"])
    record = json.loads(project.git("for-each-ref", "--format=%(contents)", ALIASES + "prod"))
    _forge(project, "broken", "{not json")
    _forge(project, "other", json.dumps({**record, "alias": "prod"}))
    _forge(project, "future", json.dumps({**record, "alias": "future", "tag": "backup/x"}))
    project.git("update-ref", ALIASES + "light", first["commit"])
    listed = project.cli("alias", "list", "--json")
    assert [a["alias"] for a in json.loads(listed.stdout)] == ["prod"]
    for name, why in (("broken", "record is not JSON"), ("other", "record is for another alias"),
                      ("future", "tag is not backup/YYYYMMDD_HHMMSS"),
                      ("light", "not an annotated tag but a commit")):
        assert f"skipped alias '{name}': {why}" in listed.stderr
        assert f"alias '{name}' is not trusted" in refused(project, 5, "show", name)
    # `list` says so too, and names the good alias.
    shown = project.cli("list", "--json", "--offline")
    assert "skipped alias 'broken'" in shown.stderr
    assert {r["tag"]: r["aliases"] for r in json.loads(shown.stdout)}[first["tag"]] == ["prod"]

    # A record whose `previous` is not the object its tag points at: its history stops there
    # (exit 5), the records before it are not trusted. (Offline: a fetch would put origin's
    # record back.)
    forged = _forge(project, "prod", json.dumps({**record, "previous": "0" * 40}),
                    target=good["record"], kind="tag")
    result = project.cli("alias", "history", "prod", "--json", "--offline")
    assert result.returncode == 5, result.stderr
    assert json.loads(result.stdout)["history"] == []
    assert f"record {forged}: previous is not the object the record's tag points at" \
        in result.stderr


@pytest.mark.parametrize("change, why", [
    ({"schema": "hdversion/pin"}, "not an hdversion alias"),
    ({"extra": 1}, "record keys are"),
    ({"commit": "abc"}, "commit is not an object id"),
    ({"tag": None}, "removal record names a commit"),
    ({"previous": "g" * 40}, "previous is not an object id"),
    ({"reason": "x" * 501}, "reason is not a string of at most 500"),
    ({"reason": "a\x1b[31m"}, "control character"),
    ({"by": 7}, "by is not a string"),
    ({"at": "yesterday"}, "at is not an ISO 8601 time"),
    ({"at": "2026-12-06T10:00:00"}, "at has no time zone"),
])
def test_a_record_is_checked_field_by_field(change: dict, why: str) -> None:
    record = {"schema": "hdversion/alias", "alias": "prod", "tag": "backup/20261206_100000",
              "commit": "a" * 40, "by": "u@h", "at": "2026-12-06T10:00:00+00:00",
              "reason": "", "previous": None}
    assert AliasRecord.parse("prod", json.dumps(record), "b" * 40, "c" * 40).tag \
        == "backup/20261206_100000"
    with pytest.raises(ManifestError, match=why):
        AliasRecord.parse("prod", json.dumps({**record, **change}), "b" * 40, "c" * 40)


def test_records_and_tag_objects_are_read_with_bounds() -> None:
    with pytest.raises(ManifestError, match="longer than 4096"):
        AliasRecord.parse("prod", "[" * 5000, "b" * 40, "c" * 40)
    with pytest.raises(ManifestError, match="not JSON"):
        AliasRecord.parse("prod", "[" * 4000, "b" * 40, "c" * 40)
    with pytest.raises(ManifestError, match="larger than"):
        parse_tag_object(b"object x\n\n" + b"x" * 10_000)
    with pytest.raises(ManifestError, match="no message"):
        parse_tag_object(b"object x\ntype tag")
    assert parse_tag_object(b"object ab\ntype tag\ntag p\n\n{}\n") == ("ab", "tag", "{}")


def test_the_history_walk_is_bounded(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    from hdversion import api
    from hdversion.ops import aliases

    for backup in history.backups[:3]:
        ok(history.project, "alias", "set", "prod", backup["timestamp"])
    monkeypatch.setattr(aliases, "MAX_HISTORY", 2)
    found = api.alias_history("prod", repo=history.project.root, offline=True)
    assert [r.tag for r in found.records] == [b["tag"] for b in history.backups[2:0:-1]]
    assert found.stopped == "cut at 2 records" and found.failure() is None
