"""Every command in one table: its name, the function that implements it (module under
hdversion.cli, function) and the line that lists it. The typer app is built from this table
one command at a time (cli/typer_app.py: `hdversion backup` imports cmd_backup alone), and
the top-level help is printed from it without loading typer (`usage`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

SUMMARY = ("Verified backups of the Heart Disease Prediction project's models and data "
           "(DVC + git).")
VERSION_HELP = "Print the version and exit."
HELP_NAMES = ("--help", "-h")  # the first is the one error messages suggest
HELP_HELP = "Show this message and exit."


class Command(NamedTuple):
    name: str
    module: str  # hdversion.cli.<module>
    function: str
    help: str  # one line, in the list of commands
    # Every option is a cli.options.Opt and the module loads no typer: `main` reads the
    # arguments and runs the function without typer when they are plain (cli/argv.py).
    plain: bool = False
    subcommands: tuple[Command, ...] = ()  # a group (`remote add`): module/function unused


COMMANDS: tuple[Command, ...] = (
    Command("backup", "cmd_backup", "backup",
            "Back up every critical artifact: DVC cache + local remote, then a git tag.",
            plain=True),
    Command("list", "cmd_list", "list_backups",
            "List backups, newest first; with a remote, whether each is complete there.",
            plain=True),
    Command("restore", "cmd_restore", "restore",
            "Restore a backup, verified: nothing is touched until every object checks out.",
            plain=True),
    Command("sync", "cmd_sync", "sync",
            "Push every backup that a remote lacks (checked against the remote's listing)."),
    Command("copy", "cmd_copy", "copy",
            "Copy backups from one remote to another, re-hashing every object on the way."),
    Command("export", "cmd_export", "export",
            "Write one backup into one archive (its files and manifest), to carry anywhere."),
    Command("import", "cmd_import", "import_archive",
            "Restore a backup from an archive, verified."),
    Command("prune", "cmd_prune", "prune",
            "Remove the backups a retention policy does not keep, then their data.",
            plain=True),
    Command("auto", "cmd_auto", "auto",
            "Back up if anything changed, then prune: for cron and CI.",
            plain=True),
    Command("schedule", "cmd_schedule", "schedule",
            "Print (or install) the crontab lines that run `hdversion auto`."),
    Command("show", "cmd_show", "show",
            "One backup in full: manifest, files, metrics, params, pin, remotes."),
    Command("diff", "cmd_diff", "diff",
            "Compare a backup with another or with the workspace. Changes nothing."),
    Command("status", "cmd_status", "status",
            "What changed since the latest backup, and what each remote holds.",
            plain=True),
    Command("pin", "cmd_pin", "pin",
            "Pin a backup: prune never removes it. The pin is pushed to the git remote."),
    Command("unpin", "cmd_pin", "unpin", "Remove a pin, here and on the git remote."),
    Command("verify", "cmd_verify", "verify",
            "Check that backups can be restored from a remote (--read-data: read back)."),
    Command("report", "cmd_report", "report",
            "Write one self-contained HTML page about the backups."),
    Command("remote", "", "", "Storage remotes (DVC remotes): add, list, test.", subcommands=(
        Command("add", "cmd_remote", "add",
                "Add (or replace) a remote in .dvc/config, with download verification on."),
        Command("list", "cmd_remote", "list_remotes", "List the DVC remotes hdversion can use."),
        Command("test", "cmd_remote", "test",
                "Write, read back and delete a probe object: a clear verdict on a remote."),
    )),
)


def find(name: str) -> Command | None:
    return next((c for c in COMMANDS if c.name == name), None)


def function_of(entry: Command) -> Callable[..., Any]:
    """The function behind a command, as written (its defaults may be `Opt`)."""
    module = importlib.import_module(f"hdversion.cli.{entry.module}")
    function: Callable[..., Any] = getattr(module, entry.function)
    return function


def usage(prog: str = "hdversion") -> str:
    """The top-level help, plain (as git's or restic's): the same options and commands as
    the typer app, which renders every other help."""
    width = max(len(c.name) for c in COMMANDS)
    options = [("--version", VERSION_HELP), (", ".join(sorted(HELP_NAMES, key=len)), HELP_HELP)]
    option_width = max(len(name) for name, _ in options)
    return "\n".join([
        f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...",
        "",
        f"  {SUMMARY}",
        "",
        "Options:",
        *(f"  {name:<{option_width}}  {text}" for name, text in options),
        "",
        "Commands:",
        *(f"  {c.name:<{width}}  {c.help}" for c in COMMANDS),
        "",
        f"Run `{prog} COMMAND --help` for a command's options.",
    ])
