"""-q and -v: one level for the whole run, before the command or after it. -q prints
nothing a person would read on success (errors and warnings still go to stderr); --json's
output is the same at every level."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_config_before_the_command_names_the_settings_file(project: Project,
                                                           tmp_path: Path) -> None:
    """`--config FILE` is read by every command of the run (through $HDVERSION_CONFIG, so
    hooks see it too); a file that is not there is exit 7 naming the option."""
    settings = tmp_path / "elsewhere.yaml"
    settings.write_text("retention:\n  keep_last: 1\n  keep_dialy: 7\n")
    refused = project.cli("--config", str(settings), "prune", "--dry-run")
    assert refused.returncode == 7 and "keep_dialy" in refused.stderr
    assert str(settings.name) in refused.stderr
    settings.write_text("retention:\n  keep_last: 1\n")
    project.cli("backup", "-m", "one", check=True)
    planned = json.loads(project.cli(f"--config={settings}", "prune", "--dry-run", "--json",
                                     check=True).stdout)
    assert planned["exit_code"] == 0
    missing = project.cli("--config", str(tmp_path / "nope.yaml"), "status", "--json")
    assert missing.returncode == 7 and "--config" in missing.stderr
    assert json.loads(missing.stdout)["exit_code"] == 7
