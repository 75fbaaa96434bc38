"""Every command's --json is one object in one envelope: `ok` and `exit_code` (the code the
process exits with), `tag` wherever one backup is concerned; a failure is the same envelope
with `error` and `hint`. (`list` and `remote list` print a JSON array: one record per
backup or remote, as restic's `snapshots --json` does.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Project

# Each command line, the exit code it ends with in the scenario below, and whether its
# output names one backup (`tag`).
RUNS: list[tuple[tuple[str, ...], int, bool]] = [
    (("backup", "-m", "second"), 0, True),
    (("backup", "--skip-if-unchanged"), 0, True),
    (("restore", "--dry-run", "latest"), 0, True),
    (("show", "latest"), 0, True),
    (("diff", "latest"), 0, False),
    (("status",), 0, False),
    (("pin", "latest", "-m", "prod"), 0, True),
    (("unpin", "latest"), 0, True),
    (("verify",), 0, False),
    (("prune", "--dry-run"), 0, False),
    (("export", "latest", "-o", "{tmp}/b.tar"), 0, True),
    (("import", "{tmp}/b.tar", "--target", "{tmp}/imported"), 0, True),
    (("schedule",), 0, False),
    (("report", "-o", "{tmp}/r.html"), 0, False),
    (("remote", "add", "spare", "{tmp}/spare"), 0, False),
    (("copy", "--from", "local", "--to", "spare"), 0, False),
    (("sync", "--remote", "spare"), 0, False),
    (("remote", "test", "spare"), 0, False),
    (("auto", "--offline"), 0, True),
    (("prune", "--keep-last", "1", "--offline", "--keep-deleted-within", "1d"), 0, False),
    (("undelete", "latest"), 0, True),
    # failures: the same envelope, with the error
    (("restore", "19990101_000000"), 4, False),
    (("show", "nonsense"), 2, False),
    (("status", "--max-age", "30m"), 2, False),
    (("prune", "--keep-lats", "1"), 2, False),
    (("undelete", "19990101_000000"), 4, False),
]


@pytest.fixture
def one_backup(project: Project) -> Project:
    project.cli("backup", "-m", "first", check=True)
    (project.root / "params.yaml").write_text("seed: 7\n")
    return project


def test_every_command_s_json_is_one_envelope(one_backup: Project, tmp_path: Path) -> None:
    seen = []
    for argv, code, names_a_backup in RUNS:
        args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
        result: subprocess.CompletedProcess[str] = one_backup.cli(*args, "--json")
        assert result.returncode == code, (argv, result.stdout, result.stderr)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, (argv, result.stdout)
        record = json.loads(lines[0])
        assert isinstance(record, dict), argv
        assert record["exit_code"] == code and record["ok"] is (code == 0), (argv, record)
        if code:
            assert record["error"] and "hint" in record, (argv, record)
        if names_a_backup:
            assert record["tag"].startswith("backup/"), (argv, record)
        seen.append(argv[0])
    every = {"backup", "restore", "show", "diff", "status", "pin", "unpin", "verify", "prune",
             "export", "import", "schedule", "report", "remote", "copy", "sync", "auto",
             "undelete"}
    assert every <= set(seen)


def test_copy_names_its_remotes_as_its_options_do(one_backup: Project, tmp_path: Path) -> None:
    """`target` is a folder (restore, import); copy's remotes are `from` and `to`."""
    one_backup.cli("remote", "add", "spare", str(tmp_path / "spare"), check=True)
    record = json.loads(one_backup.cli("copy", "--from", "local", "--to", "spare", "--json",
                                       check=True).stdout)
    assert (record["from"], record["to"]) == ("local", "spare") and "target" not in record
