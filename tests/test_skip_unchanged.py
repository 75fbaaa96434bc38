"""Skipping unchanged backups (issue 24): `backup --skip-if-unchanged`, the default of
`auto` (and so of `schedule`), compared against the newest regular backup not dated in the
future. No sleeps: backups made in one second take the next free second."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import Project


def _tags(project: Project) -> list[str]:
    return project.git("tag", "-l", "backup/*").split()


def _made(project: Project, *args: str) -> dict[str, object]:
    result = project.cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder`: (size, mtime) by relative path."""
    found = {}
    for top, _, names in os.walk(folder):
        for name in names:
            path = Path(top, name)
            info = path.stat()
            found[path.relative_to(folder).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def _journal(project: Project) -> list[dict[str, object]]:
    lines = (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_unchanged_auto_runs_keep_the_one_distinct_backup(project: Project) -> None:
    first = _made(project, "backup")["tag"]
    project.retrain(2)
    runs = [_made(project, "auto", "--keep", "5") for _ in range(6)]
    second = runs[0]["tag"]
    assert not runs[0]["skipped"] and second != first
    for run in runs[1:]:
        # The prune still runs after a skip (it removes nothing here).
        assert run["ok"] and run["skipped"] and run["tag"] == second and run["removed"] == []
        assert run["exit_code"] == 0
    assert sorted(_tags(project)) == sorted([first, second])
    autos = [e for e in _journal(project) if e["operation"] == "auto"]
    assert [e["skipped"] for e in autos] == [False] + [True] * 5
    assert all(e["result"] == "ok" and e["tag"] == second for e in autos)
    # One line for a cron log, naming the backup that holds this state.
    line = project.cli("auto", "--keep", "5")
    assert line.returncode == 0, line.stderr
    assert line.stdout.startswith(f"unchanged since {second}: no backup made; pruned 0")
    # --always backs up all the same.
    forced = _made(project, "auto", "--keep", "5", "--always")
    assert not forced["skipped"] and forced["tag"] not in (first, second)
    # A skipped run still applies the policy.
    pruned = _made(project, "auto", "--keep", "1")
    assert pruned["skipped"] and pruned["tag"] == forced["tag"]
    assert sorted(pruned["removed"]) == sorted([first, second])
    assert _tags(project) == [forced["tag"]]


def test_unchanged_backup_is_skipped_naming_the_tag_and_touching_no_store(
        project: Project) -> None:
    made = _made(project, "backup")
    tag = made["tag"]
    remote, cache = _listing(project.root / "backups"), _listing(project.root / ".dvc/cache")
    result = project.cli("backup", "--skip-if-unchanged")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"unchanged since {tag}: no backup made"
    assert _tags(project) == [tag]
    assert _listing(project.root / "backups") == remote
    assert _listing(project.root / ".dvc/cache") == cache
    skipped = _made(project, "backup", "--skip-if-unchanged")
    assert skipped["ok"] is True and skipped["skipped"] is True and skipped["tag"] == tag
    assert made["ok"] is True and made["skipped"] is False
    # The same keys as a backup made: the record of the backup that holds this state.
    assert set(skipped) == set(made)
    assert skipped["files"] == made["files"] and skipped["commit"] == made["commit"]
    entry = _journal(project)[-1]
    assert (entry["operation"], entry["result"], entry["tag"], entry["skipped"]) == (
        "backup", "ok", tag, True)
    # A user who asks for a backup gets one.
    assert _made(project, "backup")["tag"] != tag


def test_a_change_in_an_output_params_or_a_critical_file_makes_a_backup(
        project: Project) -> None:
    changes = {
        "an output": lambda: project.damage("models/sklearn_mlp_model.joblib", b"retrained"),
        "params.yaml": lambda: (project.root / "params.yaml").write_text("seed: 1\nlr: 0.1\n"),
        "config/config.yaml": lambda: (project.root / "config" / "config.yaml").write_text(
            (project.root / "config" / "config.yaml").read_text() + "# a note\n"),
    }
    tags = [_made(project, "backup")["tag"]]
    for what, change in changes.items():
        change()
        made = _made(project, "backup", "--skip-if-unchanged")
        assert not made["skipped"] and made["tag"] not in tags, what
        tags.append(made["tag"])
        # ... and that new backup is the state the next run compares with.
        again = _made(project, "backup", "--skip-if-unchanged")
        assert again["skipped"] and again["tag"] == made["tag"], what
    assert sorted(_tags(project)) == sorted(tags)


def test_missing_artifacts_are_a_change_unless_the_newest_backup_lacks_them(
        project: Project) -> None:
    first = _made(project, "backup")["tag"]
    (project.root / "models" / "sklearn_mlp_model.joblib").unlink()
    made = _made(project, "backup", "--skip-if-unchanged", "--allow-missing")
    assert not made["skipped"] and made["tag"] != first
    assert made["missing"] == ["models/sklearn_mlp_model.joblib"]
    again = _made(project, "backup", "--skip-if-unchanged", "--allow-missing")
    assert again["skipped"] and again["tag"] == made["tag"]


def test_a_backup_dated_in_the_future_is_not_the_one_compared_with(project: Project) -> None:
    first = _made(project, "backup")["tag"]
    project.retrain(2)
    second = _made(project, "backup")
    # The only backup of this state, forged into 2099: it is not "the newest backup".
    message = project.git("for-each-ref", "--format=%(contents)", f"refs/tags/{second['tag']}")
    manifest = json.loads(message.strip().splitlines()[-1])  # the JSON line is the last
    manifest["timestamp"] = "20990101_000000"
    subprocess.run(["git", "tag", "-a", "backup/20990101_000000", "-F", "-",
                    str(second["commit"])], cwd=project.root, check=True,
                   input=json.dumps(manifest), text=True)
    project.git("tag", "-d", str(second["tag"]))
    made = _made(project, "backup", "--skip-if-unchanged")
    assert not made["skipped"] and made["tag"] not in (first, "backup/20990101_000000")
    again = _made(project, "backup", "--skip-if-unchanged")
    assert again["skipped"] and again["tag"] == made["tag"]


def test_schedule_prune_weekly_backs_up_only_what_changed(project: Project) -> None:
    lines = json.loads(project.cli("schedule", "--prune-weekly", "--json").stdout)["lines"]
    backup_line = next(line for line in lines if " backup " in line)
    assert " backup --skip-if-unchanged --json " in backup_line
    auto = json.loads(project.cli("schedule", "--json").stdout)["lines"][0]
    assert " auto --json " in auto  # auto skips by default
