"""-q and -v: one level for the whole run, before the command or after it. -q prints
nothing a person would read on success (errors and warnings still go to stderr); --json's
output is the same at every level."""

from __future__ import annotations

import json

from tests.conftest import Project


def test_quiet_prints_nothing_on_success_and_json_stays(project: Project) -> None:
    quiet = project.cli("-q", "backup", "-m", "first")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert len(project.git("tag", "-l", "backup/*").split()) == 1  # it did happen
    after = project.cli("status", "-q")
    assert (after.returncode, after.stdout) == (0, "")
    record = json.loads(project.cli("backup", "-q", "--json", "--skip-if-unchanged").stdout)
    assert record["skipped"] is True and record["exit_code"] == 0


def test_quiet_still_says_why_it_failed(project: Project) -> None:
    failed = project.cli("-q", "restore", "19990101_000000")
    assert failed.returncode == 4 and failed.stdout == ""
    assert failed.stderr.startswith("error: no backup")


def test_verbose_before_or_after_the_command_lists_every_row(project: Project) -> None:
    project.cli("backup", "-m", "first", check=True)
    (project.root / "params.yaml").write_text("seed: 7\n")
    short = project.cli("status", "--offline", check=True).stdout
    for args in (("-v", "status", "--offline"), ("status", "--offline", "-v"),
                 ("status", "--offline", "--all")):
        every = project.cli(*args, check=True).stdout
        assert "(--all to show)" in short and "(--all to show)" not in every, args
