"""The command line without typer: the top-level help, --version and the plain forms of
`list` (and of backup, restore, status, auto and prune) are answered from the command table
and the `Opt` declarations, loading neither typer (nor pydantic, which typer loads), nor rich for
JSON, nor DVC or GitPython (list); and they say exactly what the typer app says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from hdversion import api
from hdversion.cli import commands
from hdversion.cli.argv import parse
from hdversion.cli.typer_app import app, typer_signature
from tests.conftest import REPO_ROOT, Project

NEVER = ("typer", "pydantic", "dvc", "git", "rich")
# The last commit whose `list --json` is "today's" output for the byte comparison.
BEFORE = "57bbd20af00e29f4dc985ea32b48cb7ad48954df"


def run_main(cwd: Path, *args: str, typer_app: bool = False) -> tuple[int, str, str, list[str]]:
    """Exit code, stdout, stderr, and the heavy packages loaded, of `hdversion ARGS` run by
    main() (or straight by the typer app)."""
    entry = ("from hdversion.cli.app import setup\nsetup()\n"
             "from hdversion.cli.typer_app import app as main" if typer_app
             else "from hdversion.cli.app import main")
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('MODULES', sorted({m.split('.')[0] for m in sys.modules"
        f" if m.split('.')[0] in {NEVER!r}}}), file=sys.stderr))\n"
        f"sys.argv = ['hdversion', *{list(args)!r}]\n"
        f"{entry}\nmain()\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    stderr, _, modules = result.stderr.rpartition("MODULES ")
    return result.returncode, result.stdout, stderr, json.loads(modules.replace("'", '"'))


def test_the_top_level_help_lists_what_the_typer_app_has() -> None:
    root: Any = typer.main.get_command(app)
    assert list(root.commands) == [c.name for c in commands.COMMANDS]
    for entry in commands.COMMANDS:
        built = root.commands[entry.name]
        assert (built.short_help or built.help) == entry.help, entry.name
        assert list(getattr(built, "commands", {})) == [s.name for s in entry.subcommands]
        for sub in entry.subcommands:
            assert built.commands[sub.name].short_help == sub.help
    ctx = root.make_context("hdversion", ["--help"], resilient_parsing=True)
    options = {name: param.help for param in root.get_params(ctx) for name in param.opts}
    assert options == {"--version": commands.VERSION_HELP,
                       **dict.fromkeys(commands.HELP_NAMES, commands.HELP_HELP)}
    usage = commands.usage()
    for entry in commands.COMMANDS:
        assert any(line.split(None, 1) == [entry.name, entry.help]
                   for line in usage.splitlines()), entry.name
    for name in ("--version", *commands.HELP_NAMES):
        assert name in usage


@pytest.mark.parametrize("args, code", [(("--help",), 0), (("-h",), 0), ((), 2),
                                        (("--version",), 0)])
def test_help_and_version_load_no_typer(tmp_path: Path, args: tuple[str, ...],
                                        code: int) -> None:
    returncode, stdout, _, loaded = run_main(tmp_path, *args)
    assert returncode == code and loaded == []
    from hdversion import __version__

    expected = f"hdversion {__version__}" if args == ("--version",) else commands.usage()
    assert stdout == expected + "\n"


LIST = commands.find("list")
assert LIST is not None


BACKUP = commands.find("backup")
assert BACKUP is not None


def typer_kwargs(args: list[str], command: commands.Command = LIST) -> dict[str, Any] | None:
    """What typer calls the command with, or None when it refuses the arguments."""
    seen: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> None:
        seen.append(kwargs)

    record.__signature__ = typer_signature(commands.function_of(command))  # type: ignore[attr-defined]
    single = typer.Typer(add_completion=False)
    single.command()(record)
    try:
        typer.main.get_command(single).main(args, standalone_mode=False)
    except Exception:  # a usage error, or typer.Exit
        return None
    return seen[0] if seen else None


@pytest.mark.parametrize("args", [
    [], ["--json"], ["--json", "--json"], ["--offline"], ["--last", "3"], ["--last=3"],
    ["--last", "1", "--last", "7"], ["--kind", "safety"], ["--kind=backup", "--json"],
    ["--kind", "anything"], ["--storage", "s3", "--cloud"], ["--remote", "mine"],
    ["--remote-url", "s3://b/p", "--endpoint-url", "http://x", "--credentials", "c.json"],
    ["--kind", "a=b"],
])
def test_plain_arguments_are_read_as_typer_reads_them(args: list[str]) -> None:
    assert parse(commands.function_of(LIST), args) == typer_kwargs(args) is not None


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["--last", "0"], ["--last", "x"], ["--last", "-1"], ["--last", "01"],
    ["--last"], ["--json=1"], ["--bogus"], ["--"], ["extra"], ["--kind", "--json"],
    ["--kind", ""], ["--jso"],
])
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse(commands.function_of(LIST), args) is None


@pytest.mark.parametrize("args", [
    [], ["-m", "nightly"], ["--message", "new model", "--json"], ["--message=why"],
    ["--allow-missing"], ["--wait", "0"], ["--wait", "30"], ["--wait=2.5"],
    ["--storage", "s3"], ["--storage", "s3", "--storage", "gcp", "--cloud"],
    ["--storage=azure"], ["--remote", "mine"], ["--cloud"],
    ["--storage", "nonsense"],  # refused later, by cloud_remotes, in both paths
])
def test_plain_backup_arguments_are_read_as_typer_reads_them(args: list[str]) -> None:
    assert parse(commands.function_of(BACKUP), args) == typer_kwargs(args, BACKUP) is not None


@pytest.mark.parametrize("args", [
    ["--wait", "abc"], ["--wait", "-1"], ["--wait", "1e3"], ["--wait"], ["--storage"],
    ["-m"], ["-m=x"], ["-mx"], ["-m", ""], ["-m", "-x"], ["--json=yes"], ["--help"],
    ["extra"], ["--"],
])
def test_anything_unusual_in_a_backup_is_left_to_typer(args: list[str]) -> None:
    assert parse(commands.function_of(BACKUP), args) is None


RESTORE = commands.find("restore")
assert RESTORE is not None


@pytest.mark.parametrize("args", [
    [], ["--force"], ["-t", "20261126_101500"], ["--timestamp=20261126_101500", "--json"],
    ["--target", "elsewhere"], ["--only", "models", "--only", "data/x.npz"], ["--dry-run"],
    ["--storage", "s3"], ["--cloud", "--storage", "gcp"], ["--wait", "0"], ["--offline"],
    ["--remote-url", "s3://b/p", "--target", "t"], ["-t", "not-a-time"],
])
def test_plain_restore_arguments_are_read_as_typer_reads_them(args: list[str]) -> None:
    assert parse(commands.function_of(RESTORE), args) == typer_kwargs(args, RESTORE) \
        is not None


@pytest.mark.parametrize("args", [["-t"], ["-t=x"], ["--only"], ["--target", ""],
                                  ["--force=1"], ["T"], ["--wait", "x"]])
def test_anything_unusual_in_a_restore_is_left_to_typer(args: list[str]) -> None:
    assert parse(commands.function_of(RESTORE), args) is None


AUTO, PRUNE, STATUS = commands.find("auto"), commands.find("prune"), commands.find("status")
assert AUTO is not None and PRUNE is not None and STATUS is not None


@pytest.mark.parametrize("command, args", [
    (AUTO, []), (AUTO, ["-m", "nightly", "--keep-daily", "7", "--keep-within=2w", "--grace", "0"]),
    (AUTO, ["--storage", "s3", "--storage", "azure", "--no-fetch-tags", "--wait", "60"]),
    (AUTO, ["--keep-best", "3", "--metric=loss", "--keep-safety-within", "14d", "--json"]),
    (AUTO, ["--keep", "0"]), (AUTO, ["--keep-hourly", "24", "--keep-yearly", "2", "--cloud"]),
    (PRUNE, []), (PRUNE, ["--keep", "0", "--keep-best", "3", "--metric", "ensemble.roc_auc"]),
    (PRUNE, ["--dry-run", "--allow-incomplete", "--storage", "gcp", "--json"]),
    (PRUNE, ["--keep-weekly", "4", "--keep-monthly=6", "--remote", "mine", "--grace", "2h"]),
    (PRUNE, ["--keep-within", "nonsense"]),  # refused later, by the policy, in both paths
    (STATUS, []), (STATUS, ["--max-age", "26h", "--offline", "--json"]),
    (STATUS, ["--max-age=0h"]),  # refused later, by status itself, in both paths
])
def test_plain_auto_prune_and_status_arguments_are_read_as_typer_reads_them(
        command: commands.Command, args: list[str]) -> None:
    assert parse(commands.function_of(command), args) == typer_kwargs(args, command) \
        is not None


@pytest.mark.parametrize("command, args", [
    (AUTO, ["--keep"]), (AUTO, ["--keep", "x"]), (AUTO, ["--keep", "-1"]), (AUTO, ["-m"]),
    (AUTO, ["--help"]), (AUTO, ["extra"]), (PRUNE, ["--dry-run=1"]), (PRUNE, ["--wait", "x"]),
    (PRUNE, ["--keep-daily", "1.5"]), (PRUNE, ["--grace"]),
    (PRUNE, ["--metric=-loss"]),  # a value that looks like an option: typer decides
    (STATUS, ["--max-age"]), (STATUS, ["--offline=1"]), (STATUS, ["now"]),
])
def test_anything_unusual_in_auto_prune_or_status_is_left_to_typer(command: commands.Command,
                                                            args: list[str]) -> None:
    assert parse(commands.function_of(command), args) is None


def test_cron_s_auto_runs_without_typer(project: Project) -> None:
    """`hdversion auto` as cron runs it: a backup and a prune, neither typer nor pydantic
    loaded; its JSON is what the typer app prints for the same run, apart from the new
    backup's own names and times."""
    code, stdout, err, loaded = run_main(project.root, "auto", "--keep", "1", "--json")
    assert code == 0, err
    assert "typer" not in loaded and "pydantic" not in loaded, loaded
    plain = json.loads(stdout)
    # --always: nothing changed since the plain run's backup.
    code, stdout, err, _ = run_main(project.root, "auto", "--keep", "1", "--always", "--json",
                                    typer_app=True)
    assert code == 0, err
    typed = json.loads(stdout)
    assert set(plain) == set(typed)
    assert plain["exit_code"] == typed["exit_code"] == 0
    # --keep 1: the typer run's prune removed the plain run's backup.
    assert typed["removed"] == [plain["tag"]] != [typed["tag"]], (plain, typed)
    assert project.git("tag", "-l", "backup/*").split() == [typed["tag"]]
    # And a monitor's `status --max-age`: the same verdict, without typer either.
    code, stdout, err, loaded = run_main(project.root, "status", "--max-age", "1h", "--json")
    assert code == 0 and "typer" not in loaded and "pydantic" not in loaded, (err, loaded)
    typed_status = run_main(project.root, "status", "--max-age", "1h", "--json",
                            typer_app=True)
    plain_status, typer_status = json.loads(stdout), json.loads(typed_status[1])
    plain_status.pop("now"), typer_status.pop("now")  # the time of each run
    assert (code, plain_status) == (typed_status[0], typer_status)
    assert plain_status["stale"] is False and plain_status["latest"] == typed["tag"]


def test_the_api_loads_each_name_from_its_operation() -> None:
    typed = set()
    for line in (REPO_ROOT / "hdversion" / "api.py").read_text().splitlines():
        if line.startswith("    from hdversion.ops."):
            typed.add(line.split(" as ")[-1])
    assert typed == set(api.__all__)
    for name in api.__all__:
        assert getattr(api, name).__module__.startswith("hdversion.ops.")


def test_list_reads_tags_without_typer_dvc_or_gitpython(project: Project,
                                                       tmp_path: Path) -> None:
    """Backups, a safety backup, a pin, broken tags and an origin to fetch from: each plain
    form of `list` loads none of the heavy packages (rich only for the table), prints what
    the typer app prints, and `list --json` prints today's bytes."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    made = json.loads(project.cli("backup", "--json", "-m", "seed = 1", check=True).stdout)
    message = json.loads(project.git("tag", "-l", "--format=%(contents)",
                                     made["tag"]).strip().splitlines()[-1])
    message.update(timestamp="20200101_000000", kind="safety", message="before a restore")
    project.git("tag", "-a", "-m", json.dumps(message), "backup/20200101_000000",
                made["commit"])
    project.cli("pin", made["timestamp"], "-m", "in production", check=True)
    plain_forms = (["list", "--json"], ["list"],
                   ["list", "--offline", "--kind", "backup", "--last", "1", "--json"])
    for args in plain_forms:
        code, _, err, loaded = run_main(project.root, *args)
        assert code == 0 and "warning" not in err, err
        assert loaded == ([] if "--json" in args else ["rich"]), args
    records = json.loads(run_main(project.root, "list", "--json")[1])
    assert [(r["kind"], r["message"]) for r in records] == [
        ("backup", "seed = 1"), ("safety", "before a restore")]
    assert records[0]["pinned"]["reason"] == "in production"

    project.git("tag", "backup/not-a-time")
    project.git("tag", "-a", "-m", "{broken", "backup/20190101_000000")
    for args in plain_forms:
        plain = run_main(project.root, *args)
        typed = run_main(project.root, *args, typer_app=True)
        if "--json" not in args:  # the table's ages move on between the runs
            plain, typed = plain[::2], typed[::2]
        assert plain[:3] == typed[:3], args

    # The reference reads tag messages of the first form only (the JSON line alone, which
    # this hdversion reads too): the backup's tag is made again in that form, here and on
    # the origin `list` fetches from.
    json_line = project.git("tag", "-l", "--format=%(contents)",
                            made["tag"]).strip().splitlines()[-1]
    project.git("tag", "-f", "-a", "--cleanup=verbatim", "-m", json_line, made["tag"],
                made["commit"])
    project.git("push", "-q", "-f", "origin", f"refs/tags/{made['tag']}")
    old = tmp_path / "old"
    archive = subprocess.run(["git", "archive", BEFORE, "hdversion"], cwd=REPO_ROOT,
                             capture_output=True)
    # Not skipped: a check that quietly stops running is worse than one that says why.
    assert archive.returncode == 0, (
        f"commit {BEFORE[:7]}, the reference for list --json's bytes, is not in this clone "
        "(a shallow clone?): `git fetch --unshallow` brings it")
    old.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    today = subprocess.run([sys.executable, "-m", "hdversion", "list", "--json"],
                           cwd=project.root, capture_output=True,
                           env={**os.environ, "PYTHONPATH": str(old)})
    now = subprocess.run([sys.executable, "-m", "hdversion", "list", "--json"],
                         cwd=project.root, capture_output=True)
    assert today.returncode == now.returncode == 0
    assert now.stdout == today.stdout and now.stderr == today.stderr
