"""The command line: one table of commands (cli/commands.py), one parser (cli/parser.py,
argparse over the `Opt`/`Arg` declarations). The top-level help and --version import no
command; a command imports its own module and reads its arguments the same way for every
command; a refusal is exit 2 with the rule that refused, and a JSON line under --json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hdversion import api
from hdversion.cli import commands, parser
from hdversion.cli.app import run, whole_parser
from hdversion.errors import UsageError
from tests.conftest import REPO_ROOT, Project

NEVER = ("typer", "pydantic", "dvc", "git", "rich", "shtab")
# A commit whose `list --json` is "today's" output for the byte comparison: the last one
# before the one parser (older ones need typer, no longer installed), whose list --json
# printed the bytes 57bbd20's did (this test compared them then).
BEFORE = "485f975ff170e675b794db2725d9fdf990d9f75c"


def run_main(cwd: Path, *args: str) -> tuple[int, str, str, list[str]]:
    """Exit code, stdout, stderr, and the heavy packages loaded, of `hdversion ARGS`."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('MODULES', sorted({m.split('.')[0] for m in sys.modules"
        f" if m.split('.')[0] in {NEVER!r}}}), file=sys.stderr))\n"
        f"sys.argv = ['hdversion', *{list(args)!r}]\n"
        "from hdversion.cli.app import main\nmain()\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    stderr, _, modules = result.stderr.rpartition("MODULES ")
    return result.returncode, result.stdout, stderr, json.loads(modules.replace("'", '"'))


def every_command() -> list[tuple[str, commands.Command]]:
    out = []
    for entry in commands.COMMANDS:
        if entry.subcommands:
            out += [(f"hdversion {entry.name} {s.name}", s) for s in entry.subcommands]
        else:
            out.append((f"hdversion {entry.name}", entry))
    return out


def parsed(name: str, *args: str) -> dict[str, Any]:
    """The keyword arguments `hdversion NAME ARGS` calls its function with."""
    entry = commands.find(name)
    assert entry is not None
    function = commands.function_of(entry)
    built = parser.build(f"hdversion {name}", function, "", None)
    return parser.parse(built, args)[0]


def refusal(name: str, *args: str) -> str:
    with pytest.raises(UsageError) as refused:
        parsed(name, *args)
    return refused.value.message


@pytest.mark.parametrize("args, code", [(("--help",), 0), (("-h",), 0), ((), 2),
                                        (("--version",), 0)])
def test_help_and_version_load_no_command(tmp_path: Path, args: tuple[str, ...],
                                          code: int) -> None:
    returncode, stdout, _, loaded = run_main(tmp_path, *args)
    assert returncode == code and loaded == []
    from hdversion import __version__

    expected = f"hdversion {__version__}" if args == ("--version",) else commands.usage()
    assert stdout == expected + "\n"


def test_the_top_level_help_lists_every_command_within_80_columns() -> None:
    usage = commands.usage()
    for entry in commands.COMMANDS:
        assert re.search(rf"^  {entry.name} +\S", usage, re.M), entry.name
    assert max(len(line) for line in usage.splitlines()) <= 80
    assert "Heart Disease" not in usage


@pytest.mark.parametrize("prog, entry", every_command(), ids=lambda v: str(v)[:30])
def test_every_command_has_one_help_within_80_columns_with_an_example(
        prog: str, entry: commands.Command, capsys: pytest.CaptureFixture[str]) -> None:
    function = commands.function_of(entry)
    built = parser.build(prog, function, (function.__doc__ or "").strip(), entry.example)
    with pytest.raises(SystemExit) as done:
        parser.parse(built, ["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Usage: {prog} [OPTIONS]")
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert f"Example:\n\n  {entry.example.splitlines()[0]}" in text
    assert entry.example.startswith(prog)
    assert not re.search(r"<\w+(\[\w+\])?>|Heart Disease|%\(|\{'option_strings", text), text
    assert text.count("--help") == 1


@pytest.mark.parametrize("name, usage", [
    ("verify", "hdversion verify [OPTIONS] [T...]"), ("show", "hdversion show [OPTIONS] T"),
    ("restore", "hdversion restore [OPTIONS] [T]"),
    ("diff", "hdversion diff [OPTIONS] T1 [T2]"), ("copy", "hdversion copy [OPTIONS] [T...]"),
    ("export", "hdversion export [OPTIONS] T"), ("pin", "hdversion pin [OPTIONS] T"),
])
def test_usage_lines_name_the_backups_a_command_takes(name: str, usage: str) -> None:
    entry = commands.find(name)
    assert entry is not None
    params = parser.params_of(commands.function_of(entry))
    assert parser.usage_line(f"hdversion {name}", params) == usage


def test_options_are_read_with_their_types_and_defaults() -> None:
    assert parsed("list") == {
        "cloud": False, "storage": None, "remote": None, "offline": False, "last": None,
        "kind": None, "as_json": False, "remote_url": None, "endpoint_url": None,
        "credentials": None, "metric": None, "deleted": False}
    values = parsed("list", "--json", "--last=3", "--kind", "safety", "--credentials", "c.j")
    assert (values["as_json"], values["last"], values["kind"]) == (True, 3, "safety")
    assert values["credentials"] == Path("c.j")
    assert parsed("list", "--last", "1", "--last", "7")["last"] == 7  # the last one wins
    backup = parsed("backup", "-m", "why", "--storage", "s3", "--storage=gcp", "--wait=2.5")
    assert (backup["message"], backup["storage"], backup["wait"]) == ("why", ["s3", "gcp"], 2.5)
    assert parsed("backup", "-mwhy")["message"] == "why"
    assert parsed("verify", "20261201", "latest")["timestamps"] == ["20261201", "latest"]
    assert parsed("verify")["timestamps"] == []
    assert parsed("restore", "2026")["backup"] == "2026"
    assert parsed("restore", "-t", "2026")["timestamp"] == "2026"
    assert parsed("prune", "--metric=-loss", "--keep-best", "2")["metric"] == "-loss"
    # --keep is the seed's name of --keep-last
    assert parsed("prune", "--keep", "4")["keep"] == parsed("prune", "--keep-last", "4")["keep"]
    assert parsed("prune", "--keep", "-1")["keep"] == -1  # refused by the policy, naming it


@pytest.mark.parametrize("name, args, rule", [
    ("list", ["--jsn"], "no such option --jsn for `hdversion list`"),
    ("list", ["--json=1"], "--json takes no value (got '1')"),
    ("list", ["--last", "x"], "--last: 'x' is not a whole number"),
    ("list", ["--last"], "--last: needs a value"),
    ("list", ["extra"], "unrecognized arguments: extra"),
    ("list", ["--", "--json"], "unrecognized arguments: -- --json"),
    ("backup", ["--wait", "-1"], "--wait: -1 is below the minimum 0"),
    ("backup", ["--wait", "1e3"], "--wait: '1e3' is not a number of seconds"),
    ("restore", ["--target", ""], "--target: an empty path"),
    ("copy", ["--to", "s3"], "missing, and required: --from"),
    ("show", [], "missing, and required: T"),
    ("prune", ["--keep-lats", "3"], "no such option --keep-lats"),
    ("prune", ["--kee", "3"], "no such option --kee"),  # no abbreviations: a typo is refused
    ("restore", ["a", "b"], "unrecognized arguments: b"),
    ("export", ["latest", "-o", "x.tar", "--force"], "no such option --force"),
])
def test_a_refusal_names_its_rule(name: str, args: list[str], rule: str) -> None:
    assert rule in refusal(name, *args)


def test_a_typo_is_answered_with_the_closest_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError) as refused:
        parsed("prune", "--keep-lats", "3")
    assert refused.value.hint is not None
    assert refused.value.hint.startswith("did you mean --keep-last or")
    with pytest.raises(SystemExit) as done:
        run(["lst"])
    assert done.value.code == 2
    assert capsys.readouterr().err == ("error: no such command 'lst'\n"
                                       "hint: did you mean list or ls? see `hdversion --help`\n")


@pytest.mark.parametrize("args", [
    ["list", "--jsn", "--json"], ["list", "--json", "--last", "x"], ["lst", "--json"],
    ["remote", "ad", "--json"], ["show", "--json"], ["--bogus", "list", "--json"],
])
def test_with_json_a_refusal_is_one_json_line_on_stdout(tmp_path: Path,
                                                        args: list[str]) -> None:
    code, stdout, stderr, loaded = run_main(tmp_path, *args)
    assert code == 2
    line = json.loads(stdout)
    assert set(line) == {"ok", "error", "hint", "exit_code"}
    assert (line["ok"], line["exit_code"]) == (False, 2)
    assert stderr.startswith(f"error: {line['error']}\n")
    assert stdout.count("\n") == 1 and loaded == []


def test_without_json_a_refusal_prints_nothing_on_stdout(tmp_path: Path) -> None:
    code, stdout, stderr, _ = run_main(tmp_path, "list", "--jsn")
    assert (code, stdout) == (2, "")
    assert stderr == ("error: no such option --jsn for `hdversion list`\n"
                      "hint: did you mean --json? see `hdversion list --help`\n")


def test_storage_local_points_to_the_local_remote(tmp_path: Path) -> None:
    code, _, stderr, _ = run_main(tmp_path, "list", "--storage", "local")
    assert code == 2 and "the local remote is --remote local" in stderr


def test_completion_covers_every_command(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hdversion", "completion", "bash"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for _, entry in every_command():
        assert entry.name in result.stdout
    assert "--keep-last" in result.stdout and "--read-data-subset" in result.stdout
    check = subprocess.run(["bash", "-n"], input=result.stdout, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stderr
    wrong = subprocess.run([sys.executable, "-m", "hdversion", "completion", "fish"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "no completion for shell 'fish'" in wrong.stderr


def test_the_whole_parser_reads_what_each_command_reads() -> None:
    root = whole_parser()
    namespace = root.parse_args(["prune", "--keep-last", "3", "--json"])
    assert (namespace.keep, namespace.as_json) == (3, True)


def test_cron_s_auto_and_a_monitor_s_status_load_no_cli_framework(project: Project) -> None:
    code, stdout, err, loaded = run_main(project.root, "auto", "--keep", "1", "--json")
    assert code == 0, err
    assert not {"typer", "pydantic", "shtab"} & set(loaded), loaded
    assert json.loads(stdout)["exit_code"] == 0
    code, stdout, err, loaded = run_main(project.root, "status", "--max-age", "1h", "--json")
    assert code == 0 and not {"typer", "pydantic", "shtab"} & set(loaded), (err, loaded)
    assert json.loads(stdout)["stale"] is False


def test_the_api_loads_each_name_from_its_operation() -> None:
    typed = set()
    for line in (REPO_ROOT / "hdversion" / "api.py").read_text().splitlines():
        if line.startswith("    from hdversion."):
            typed.add(line.split(" as ")[-1])
    assert typed == set(api.__all__)
    for name in api.__all__:  # an operation's name from ops, a record's or error's from its own
        assert getattr(api, name).__module__.startswith(
            ("hdversion.ops.", "hdversion.model.", "hdversion.util.", "hdversion.errors"))


def test_list_reads_tags_without_dvc_gitpython_or_rich(project: Project,
                                                       tmp_path: Path) -> None:
    """Backups, a safety backup, a pin, broken tags and an origin to fetch from: each form
    of `list` loads none of the heavy packages (rich only for the table), and `list --json`
    prints today's bytes."""
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
    project.cli("alias", "set", "prod", made["timestamp"], check=True)
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
    assert [r["aliases"] for r in records] == [["prod"], []]

    project.git("tag", "backup/not-a-time")
    project.git("tag", "-a", "-m", "{broken", "backup/20190101_000000")
    for args in plain_forms:
        code, _, err, _ = run_main(project.root, *args)
        # `--last 1` reads the newest tags only (ops/newest.py): the broken ones are older,
        # never read, so not warned about.
        skipped = 0 if "--last" in args else 2
        assert code == 0 and err.count("warning: skipped tag") == skipped, (args, err)

    # The reference reads tag messages of the first form only (the JSON line alone, which
    # this hdversion reads too): the backup's tag is made again in that form, here and on
    # the origin `list` fetches from.
    json_line = project.git("tag", "-l", "--format=%(contents)",
                            made["tag"]).strip().splitlines()[-1]
    project.git("tag", "-f", "-a", "--cleanup=verbatim", "-m", json_line, made["tag"],
                made["commit"])
    project.git("push", "-q", "-f", "origin", f"refs/tags/{made['tag']}")
    # The reference knows no `retention.keep_deleted_within` (the template's): settings it
    # reads without a warning.
    (project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n")
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
    # Each record's `aliases` (issue 26) is new; everything else is the reference's bytes.
    listed = json.loads(now.stdout)
    assert [r.pop("aliases") for r in listed] == [["prod"], []]
    assert (json.dumps(listed, sort_keys=True) + "\n").encode() == today.stdout
    assert now.stderr == today.stderr
