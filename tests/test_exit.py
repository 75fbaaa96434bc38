"""hdversion leaves without tearing the interpreter down (cli/app.py `_exit_now`): the exit
code, stdout, stderr and the journal must be exactly what a normal exit gives."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import HDVERSION, Project


def _buffered(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """hdversion ARGS with stdout block-buffered, as on a machine without PYTHONUNBUFFERED
    (set here): what is not flushed before the exit is lost."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([HDVERSION, *args], cwd=project.root, capture_output=True,
                          text=True, env=env, timeout=300)


def test_a_backup_exits_0_with_its_whole_output_and_journal_line(project: Project) -> None:
    made = _buffered(project, "backup", "--json")
    assert made.returncode == 0, made.stderr
    tag = json.loads(made.stdout)["tag"]
    listed = _buffered(project, "list", "--json")
    assert listed.returncode == 0
    assert [b["tag"] for b in json.loads(listed.stdout)] == [tag]
    shown = _buffered(project, "list")  # through rich, not print
    assert shown.returncode == 0 and tag.removeprefix("backup/") in shown.stdout
    journal = (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()
    assert [json.loads(line)["operation"] for line in journal][-3:] == ["backup", "list", "list"]


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
