"""Running without a person: one JSON line per run (so that `>> logs/cron.jsonl` is a JSON
Lines file), a journal line with its duration for every run, waiting for the lock."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Project


def test_json_output_is_one_line_per_run_and_appends_as_json_lines(project: Project,
                                                                  tmp_path: Path) -> None:
    runs = [
        ("backup", "--json", "-m", "nightly"),
        ("list", "--json"),
        ("restore", "--json", "--target", str(tmp_path / "out"), "--only", "models"),
        ("prune", "--json", "--keep", "1", "--dry-run"),
        ("restore", "--json", "-t", "19990101_000000"),  # an error is one line too
        ("remote", "list", "--json"),
    ]
    cron_log = tmp_path / "cron.jsonl"
    with cron_log.open("a") as log:
        for args in runs:
            result = project.cli(*args)
            assert result.stdout.count("\n") == 1, (args, result.stdout)
            log.write(result.stdout)
    records = [json.loads(line) for line in cron_log.read_text().splitlines()]
    assert len(records) == len(runs)
    assert records[0]["tag"].startswith("backup/")
    assert records[4]["exit_code"] == 4

    journal = [json.loads(line) for line in
               (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()]
    assert [j["operation"] for j in journal] == ["backup", "list", "restore", "prune",
                                                 "restore"]
    for entry in journal:
        assert isinstance(entry["duration_s"], float) and entry["duration_s"] >= 0, entry
    assert journal[0]["duration_s"] > 0.1  # a backup does real work
    restored = journal[2]
    assert restored["target"] == str(tmp_path / "out") and restored["only"] == ["models"]
    assert journal[4]["exit_code"] == 4 and journal[4]["only"] == []
