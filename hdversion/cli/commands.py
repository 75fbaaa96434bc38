"""Every command in one table: its name, the function that implements it (module under
hdversion.cli, function), the line that lists it and one example. The top-level help is
printed from it without importing any command; a command's module is imported only when
that command runs or shows its help (cli/app.py)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

HELP_NAMES = ("--help", "-h")  # the first is the one error messages suggest
HELP_HELP = "Show this message and exit."
QUIET = ("-q", "--quiet")
VERBOSE = ("-v", "--verbose")
QUIET_HELP = "Print only errors and warnings (and --json's output)."
VERBOSE_HELP = "Print more: every row, not only what changed."
SUMMARY = "Verified backups of a DVC project's models and data, as git tags (DVC + git)."
VERSION_HELP = "Print the version and exit."
CONFIG = "--config"
CONFIG_HELP = ("Read hdversion's settings from this file (also: HDVERSION_CONFIG; default: "
               ".hdversion.yaml, else config/config.yaml).")


class Command(NamedTuple):
    name: str
    module: str  # hdversion.cli.<module>
    function: str
    help: str  # one line, in the list of commands
    example: str = ""  # one command line (or a few), shown at the end of its help
    subcommands: tuple[Command, ...] = ()  # a group (`remote add`): module/function unused


COMMANDS: tuple[Command, ...] = (
    Command("backup", "cmd_backup", "backup",
            "Back up every tracked artifact: DVC cache + local remote, then a git tag.",
            'hdversion backup -m "after tuning"'),
    Command("add", "cmd_add", "add",
            "Track new artifacts as `dvc add` does, read once and ready for the next backup.",
            "hdversion add data/images"),
    Command("list", "cmd_list", "list_backups",
            "List backups, newest first; with a remote, whether each is complete there.",
            "hdversion list --last 10"),
    Command("restore", "cmd_restore", "restore",
            "Restore a backup, verified: nothing is touched until every object checks out.",
            "hdversion restore latest --only models/"),
    Command("sync", "cmd_sync", "sync",
            "Push every backup that a remote lacks (checked against the remote's listing).",
            "hdversion sync --remote s3"),
    Command("copy", "cmd_copy", "copy",
            "Copy backups from one remote to another, re-hashing every object on the way.",
            "hdversion copy --from local --to s3"),
    Command("export", "cmd_export", "export",
            "Write one backup into one archive (its files and manifest), to carry anywhere.",
            "hdversion export latest -o backup.tar.gz"),
    Command("import", "cmd_import", "import_archive",
            "Restore a backup from an archive, verified.",
            "hdversion import backup.tar.gz --target restored/"),
    Command("prune", "cmd_prune", "prune",
            "Remove the backups a retention policy does not keep, then their data.",
            "hdversion prune --keep-last 5 --keep-daily 7 --dry-run"),
    Command("undelete", "cmd_undelete", "undelete",
            "Bring back a pruned backup while its data is kept (list --deleted).",
            "hdversion undelete 20261201_093000"),
    Command("auto", "cmd_auto", "auto",
            "Back up if anything changed, then prune: for cron and CI.",
            "hdversion auto --remote s3 --json"),
    Command("schedule", "cmd_schedule", "schedule",
            "Print (or install) the crontab lines that run `hdversion auto`.",
            "hdversion schedule --at 02:30 --install"),
    Command("show", "cmd_show", "show",
            "One backup in full: manifest, files, metrics, params, pin, remotes.",
            "hdversion show latest"),
    Command("diff", "cmd_diff", "diff",
            "Compare a backup with another or with the workspace. Changes nothing.",
            "hdversion diff 20261201 latest"),
    Command("status", "cmd_status", "status",
            "What changed since the latest backup, and what each remote holds.",
            "hdversion status --max-age 26h"),
    Command("ls", "cmd_ls", "ls", "A backup's files: size, store (dvc or git), md5 and path.",
            "hdversion ls latest models/"),
    Command("cat", "cmd_cat", "cat", "Write one file of a backup to stdout, verified first.",
            "hdversion cat latest params.yaml"),
    Command("get", "cmd_get", "get",
            "Write one file of a backup to FILE, verified and atomic (no clone needed).",
            "hdversion get latest models/sklearn_mlp_model.joblib -o model.joblib"),
    Command("find", "cmd_find", "find",
            "Which backups hold a path matching a glob, or given bytes (--md5).",
            "hdversion find '*.joblib'"),
    Command("pin", "cmd_pin", "pin",
            "Pin a backup: prune never removes it. The pin is pushed to the git remote.",
            'hdversion pin latest -m "in production"'),
    Command("unpin", "cmd_pin", "unpin", "Remove a pin, here and on the git remote.",
            "hdversion unpin 20261201_093000"),
    Command("alias", "", "", "Aliases (prod, staging): names moved from backup to backup.",
            subcommands=(
        Command("set", "cmd_alias", "set_alias",
                "Point an alias at a backup, on the git remote first (atomic).",
                'hdversion alias set prod 20261201_093000 -m "passed review"'),
        Command("rm", "cmd_alias", "remove_alias",
                "Remove an alias (its history stays); prune may then remove its backup.",
                "hdversion alias rm staging"),
        Command("list", "cmd_alias", "list_aliases", "List the aliases and their backups.",
                "hdversion alias list --json"),
        Command("history", "cmd_alias", "history",
                "Every move of an alias: when, by whom, from which backup to which, why.",
                "hdversion alias history prod"),
    )),
    Command("verify", "cmd_verify", "verify",
            "Check that backups can be restored from a remote (--read-data: read back).",
            "hdversion verify --all --remote s3 --read-data"),
    Command("report", "cmd_report", "report",
            "Write one self-contained HTML page about the backups.",
            "hdversion report -o backups.html"),
    Command("remote", "", "", "Storage remotes (DVC remotes): add, list, test.", subcommands=(
        Command("add", "cmd_remote", "add",
                "Add (or replace) a remote in .dvc/config, with download verification on.",
                "hdversion remote add s3 s3://my-bucket/hdversion"),
        Command("list", "cmd_remote", "list_remotes", "List the DVC remotes hdversion can use.",
                "hdversion remote list --json"),
        Command("test", "cmd_remote", "test",
                "Write, read back and delete a probe object: a clear verdict on a remote.",
                "hdversion remote test s3"),
    )),
    Command("key", "", "", "Keys of an encrypted remote: init, add, list, remove.",
            subcommands=(
        Command("init", "cmd_key", "init",
                "Make an empty remote encrypted (its first key: a new key file).",
                "hdversion key init nas"),
        Command("add", "cmd_key", "add",
                "Add a key (key file, passphrase, age recipient); nothing is re-encrypted.",
                "hdversion key add s3 --passphrase  # asked twice, or HDVERSION_NEW_PASSPHRASE"),
        Command("list", "cmd_key", "list_keys",
                "List a remote's keys and which one opened it.",
                "hdversion key list s3 --json"),
        Command("remove", "cmd_key", "remove",
                "Remove a key (never the last one).",
                "hdversion key remove s3 0123456789abcdef"),
    )),
    Command("completion", "cmd_completion", "completion",
            "Print a shell completion script (bash, zsh or tcsh).",
            "hdversion completion bash >> ~/.bash_completion"),
)


def find(name: str, table: tuple[Command, ...] = COMMANDS) -> Command | None:
    return next((c for c in table if c.name == name), None)


def function_of(entry: Command) -> Callable[..., Any]:
    """The function behind a command."""
    module = importlib.import_module(f"hdversion.cli.{entry.module}")
    function: Callable[..., Any] = getattr(module, entry.function)
    return function


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    """Name and help in two columns, wrapped at 80 (help fits a terminal's default width)."""
    import textwrap

    width = max(len(name) for name, _ in rows)
    lines = []
    for name, text in rows:
        wrapped = textwrap.wrap(text, 79 - width - 4) or [""]
        lines.append(f"  {name:<{width}}  {wrapped[0]}")
        lines.extend(f"  {'':<{width}}  {more}" for more in wrapped[1:])
    return lines


def usage(prog: str = "hdversion") -> str:
    """The top-level help, plain (as git's or restic's)."""
    options = [("--version", VERSION_HELP), (f"{CONFIG} FILE", CONFIG_HELP),
               (", ".join(QUIET), QUIET_HELP), (", ".join(VERBOSE), VERBOSE_HELP),
               (", ".join(sorted(HELP_NAMES, key=len)), HELP_HELP)]
    return "\n".join([
        f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...",
        "",
        f"  {SUMMARY}",
        "",
        "Options:",
        *_rows(options),
        "",
        "Commands:",
        *_rows([(c.name, c.help) for c in COMMANDS]),
        "",
        f"Run `{prog} COMMAND --help` for a command's options and an example.",
    ])


def group_usage(group: Command, prog: str = "hdversion") -> str:
    return "\n".join([
        f"Usage: {prog} {group.name} [OPTIONS] COMMAND [ARGS]...",
        "",
        f"  {group.help}",
        "",
        "Commands:",
        *_rows([(c.name, c.help) for c in group.subcommands]),
        "",
        f"Run `{prog} {group.name} COMMAND --help` for a command's options and an example.",
    ])
