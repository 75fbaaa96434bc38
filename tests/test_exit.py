"""hdversion leaves without tearing the interpreter down (cli/app.py `_exit_now`): the exit
code, stdout, stderr and the journal must be exactly what a normal exit gives."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import HDVERSION, Project


def test_a_backup_exits_0_with_its_whole_output_and_journal_line(project: Project) -> None:
    made = project.cli("backup", "--json")
    assert made.returncode == 0, made.stderr
    tag = json.loads(made.stdout)["tag"]
    listed = project.cli("list", "--json")
    assert listed.returncode == 0
    assert [b["tag"] for b in json.loads(listed.stdout)] == [tag]
    journal = (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()
    assert [json.loads(line)["operation"] for line in journal][-2:] == ["backup", "list"]


def test_a_refusal_keeps_its_exit_code_and_message(project: Project) -> None:
    refused = project.cli("restore", "--timestamp", "nonsense")
    assert refused.returncode == 2
    assert "timestamp" in refused.stderr
    usage = project.cli("list", "--last", "0")
    assert usage.returncode == 2 and "--last" in usage.stderr


def test_a_reader_that_goes_away_is_not_a_success(project: Project) -> None:
    assert project.cli("backup").returncode == 0
    # stdout closed before hdversion writes: exit non-zero, and no traceback.
    proc = subprocess.Popen([HDVERSION, "list", "--json"], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    error = proc.stderr.read()
    assert proc.wait(timeout=120) != 0
    assert b"Traceback" not in error
