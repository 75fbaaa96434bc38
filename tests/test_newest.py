"""The newest backups read a window of tags at a time (ops/newest.py): `list --last N`,
`show T`, `latest` and `status` read the tags that can answer, and answer as the whole
catalog does."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from hdversion.model.timestamps import TAG_PREFIX, format_timestamp
from hdversion.ops.newest import WINDOWS, since_patterns
from tests.conftest import Project


def _matches(patterns: list[str], timestamp: str) -> int:
    # Each pattern is a head and `*`: git's glob, as the tags' grammar has no `*` or `?`.
    return sum((TAG_PREFIX + timestamp).startswith(p.removesuffix("*")) for p in patterns)


def test_a_window_holds_every_name_at_or_after_its_head_once_and_no_older() -> None:
    rng = random.Random(28)
    moment = "20261207_034401"
    for _ in range(1000):
        stamp = format_timestamp(datetime(1990, 1, 1, tzinfo=UTC)
                                 + timedelta(seconds=rng.randrange(3_600_000_000)))
        for length in WINDOWS:
            head = moment[:length]
            expected = 1 if stamp[:length] >= head else 0
            assert _matches(since_patterns(moment, length), stamp) == expected, (stamp, head)


def _message(project: Project, tag: str) -> str:
    return project.git("for-each-ref", "--format=%(contents)", f"refs/tags/{tag}").strip()


def add_tags(project: Project, source: str, stamps: list[str], broken: bool = False) -> None:
    """Backup tags named `stamps`, each with `source`'s manifest retimed (or, `broken`, a
    manifest that names another timestamp), in one `git fast-import`."""
    human, manifest = _message(project, source).splitlines()[0], json.loads(
        _message(project, source).splitlines()[-1])
    commit = project.git("rev-parse", f"{source}^{{commit}}").strip()
    stream = []
    for stamp in stamps:
        manifest["timestamp"] = "20000101_000000" if broken else stamp
        text = f"{human}\n\n" + json.dumps(manifest)
        stream.append(f"tag {TAG_PREFIX}{stamp}\nfrom {commit}\ntagger b <b@b> 0 +0000\n"
                      f"data {len(text.encode())}\n{text}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=project.root, check=True,
                   input="".join(stream).encode())


def _listed(project: Project, *args: str) -> tuple[list[str], str]:
    result = project.cli("list", "--json", "--offline", *args)
    assert result.returncode == 0, result.stderr
    return [r["tag"] for r in json.loads(result.stdout)], result.stderr


@pytest.fixture
def spread(project: Project) -> tuple[Project, str]:
    """Backups in every window: dated in the future, today, this month, this year, this
    decade and before; the real one made now. Its tag."""
    project.cli("backup", check=True)
    real = project.git("tag", "-l", f"{TAG_PREFIX}*").split()[-1]
    now = datetime.now(UTC)
    stamps = [format_timestamp(now - timedelta(days=d)) for d in (
        1, 20, 200, 2000, 5000, 9000)] + [format_timestamp(now - timedelta(hours=h))
                                           for h in (1, 2)]
    add_tags(project, real, [*stamps, "20990101_000000"])
    return project, real


def test_list_last_n_is_the_whole_lists_first_n_in_every_window(
        spread: tuple[Project, str]) -> None:
    project, real = spread
    whole, _ = _listed(project)
    assert len(whole) == 10 and whole[0] == f"{TAG_PREFIX}20990101_000000"
    for last in (1, 3, 8, 10, 11):
        assert _listed(project, "--last", str(last))[0] == whole[:last]
    table = project.cli("list", "--offline", "--last", "3")
    assert table.returncode == 0 and real.removeprefix(TAG_PREFIX) in table.stdout


def test_list_last_n_reads_only_the_windows_it_needs(spread: tuple[Project, str]) -> None:
    """A broken tag a decade old: the whole list says it skipped it; the newest three are
    read from this month's window and never see it."""
    project, real = spread
    add_tags(project, real, ["20100101_000000"], broken=True)
    skipped = "skipped tag backup/20100101_000000: manifest says 20000101_000000"
    assert skipped in _listed(project)[1]
    newest, stderr = _listed(project, "--last", "3")
    assert len(newest) == 3 and "skipped" not in stderr


def test_latest_is_the_newest_valid_regular_backup_not_in_the_future(
        spread: tuple[Project, str]) -> None:
    project, real = spread
    add_tags(project, real, [format_timestamp(datetime.now(UTC) + timedelta(seconds=5))],
              broken=True)
    shown = project.cli("show", "latest", "--offline", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["tag"] == real
    assert project.cli("restore", "latest", "--offline", "--dry-run").returncode == 0


def test_a_name_is_refused_as_the_whole_catalog_refuses_it(
        spread: tuple[Project, str]) -> None:
    project, real = spread
    stamp = real.removeprefix(TAG_PREFIX)
    add_tags(project, real, [stamp[:-1] + ("1" if stamp[-1] == "0" else "0")])
    ambiguous = project.cli("show", stamp[:-1], "--offline")
    assert ambiguous.returncode == 2 and f"'{stamp[:-1]}' names 2 backups" in ambiguous.stderr
    add_tags(project, real, ["20110101_000000"], broken=True)
    invalid = project.cli("show", "20110101_000000", "--offline")
    assert invalid.returncode != 0
    assert ("backup backup/20110101_000000 exists but its manifest is invalid: manifest "
            "says 20000101_000000") in invalid.stderr
    missing = project.cli("show", "20120101_000000", "--offline")
    assert missing.returncode == 4 and "no backup backup/20120101_000000" in missing.stderr
    word = project.cli("show", "prod", "--offline")
    assert word.returncode == 2 and "'prod' names no backup" in word.stderr
